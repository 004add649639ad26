/*
 * proto.h - the hgca wire protocol: control-socket messages and the layout
 * of a client's shared-memory region (DESIGN.md sections 4 and 5).
 *
 * Shared by hgcad and libhgca-client, never installed.  Everything here is
 * seen by two processes built at different times, so:
 *
 *   Bump HGCA_PROTO_VERSION whenever any struct, constant or meaning in
 *   this file changes.  Peers with different versions refuse each other.
 *
 * Layout rules: fixed-size little-endian fields, explicit padding, no
 * pointers (the region holds offsets from its own start), sizes checked by
 * static assertions below.
 */
#ifndef HGCA_SHM_PROTO_H
#define HGCA_SHM_PROTO_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define HGCA_PROTO_VERSION 3

#define HGCA_CACHELINE 64
/* Distance between words written by different sides: two lines, so the
 * adjacent-line prefetcher does not pair them either. */
#define HGCA_LINE_PAD 128

/* ------------------------------------------------------------------ */
/* Control messages (SOCK_SEQPACKET, one struct per message).          */
/* ------------------------------------------------------------------ */

#define HGCA_MSG_MAGIC 0x41434748u	/* "HGCA" read as little-endian */
#define HGCA_MSG_MAX 4096		/* no message is longer */
#define HGCA_POLICY_MAX 64		/* bytes of a policy text, NUL included */

/*
 * The header of every message.  Its first eight bytes (magic, version,
 * type) keep this layout in every version, so a peer of any version can
 * read the version and refuse with a clear error.
 */
struct hgca_msg_hdr {
	uint32_t magic;		/* HGCA_MSG_MAGIC */
	uint16_t version;	/* the sender's HGCA_PROTO_VERSION */
	uint16_t type;		/* enum hgca_msg_type */
	uint32_t len;		/* bytes of the whole message */
	int32_t status;		/* replies: 0 or a negative errno */
};

enum hgca_msg_type {
	HGCA_MSG_HELLO = 1,	/* client -> daemon: first message */
	HGCA_MSG_WELCOME = 2,	/* daemon -> client: + region memfd */
	HGCA_MSG_ERROR = 3,	/* daemon -> client: refused, then closes */
	HGCA_MSG_STATUS = 4,	/* request (header only) and reply */
	HGCA_MSG_CLIENTS = 5,	/* request and reply: one page of clients */
	HGCA_MSG_LOG_LEVEL = 6,	/* admin: set the daemon's log level */
	HGCA_MSG_QUARANTINE = 7,/* daemon -> client notice, then closes */
	HGCA_MSG_SHUTDOWN = 8,	/* daemon -> client notice, then closes */
};

/* Rights of a connection (from the daemon's allow-list). */
enum hgca_wire_rights {
	HGCA_WIRE_RIGHTS_NONE = 0,
	HGCA_WIRE_RIGHTS_READ = 1,	/* use the service, read status */
	HGCA_WIRE_RIGHTS_ADMIN = 2,	/* also change the daemon */
};

#define HGCA_HELLO_F_CONTROL 0x1u	/* control only: no region */

/* Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_msg_hello {
	struct hgca_msg_hdr h;
	uint32_t flags;		/* HGCA_HELLO_F_* */
	uint32_t entries;	/* ring entries wanted, 0 = daemon's default */
	uint64_t region_size;	/* bytes wanted, 0 = daemon's default */
	uint64_t rsvd[2];	/* zero */
};

/* Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_msg_welcome {
	struct hgca_msg_hdr h;
	uint32_t client_id;
	uint32_t rights;	/* enum hgca_wire_rights */
	uint64_t region_size;	/* 0 for a control-only connection */
};

/* Bump HGCA_PROTO_VERSION when this changes (except h.version, which
 * always carries the daemon's version). */
struct hgca_msg_error {
	struct hgca_msg_hdr h;	/* h.status: the negative errno */
	char text[120];		/* NUL-terminated, for logs and tools */
};

/* Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_msg_status {
	struct hgca_msg_hdr h;
	char version[32];	/* the daemon's package version */
	char backend[16];	/* event loop: "io_uring" or "epoll" */
	uint64_t uptime_ns;
	uint64_t requests;	/* descriptors consumed since start */
	uint64_t quarantined;	/* clients quarantined since start */
	uint32_t clients;	/* connections with a region now */
	uint32_t connections;	/* all control connections now */
	uint32_t pollers;
	uint32_t spin_ns;	/* current spin budget */
	uint32_t rights;	/* the asker's rights */
	uint32_t regions;	/* regions mapped, draining ones included */
	int32_t pid;		/* the daemon's process id */
	uint32_t workers;	/* attention worker threads */
	uint32_t kv_pools;	/* KV pools (one per NUMA node used) */
	uint32_t pad;
	uint64_t kv_bytes;	/* KV pool memory mapped */
	uint64_t kv_slabs;	/* 2 MiB slabs of the pools */
	uint64_t kv_slabs_free;	/* of which free */
	uint64_t kv_pages;	/* pages in use */
	char policy[HGCA_POLICY_MAX];	/* the default policy */
};

/* One client, as listed by HGCA_MSG_CLIENTS.
 * Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_wire_client {
	uint32_t id;
	int32_t pid;
	uint32_t uid;
	uint32_t gid;
	uint32_t rights;
	uint32_t state;		/* enum hgca_region_state */
	uint64_t region_size;
	uint64_t requests;
	uint32_t inflight;
	uint32_t models;	/* declared */
	uint32_t seqs;		/* open sequences */
	uint32_t pad;
	uint64_t kv_bytes;	/* K+V page bytes held */
	uint64_t attends;	/* attention requests completed */
	uint64_t work_bytes;	/* bytes its finished tasks scanned */
	uint64_t tasks;		/* tasks finished */
	uint64_t max_bypass;	/* most bytes of others' tasks started while
				 * one of its tasks waited */
};

#define HGCA_CLIENTS_PER_MSG 32

/* Request: h + start index.  Reply: h + total, n, then n clients.
 * Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_msg_clients {
	struct hgca_msg_hdr h;
	uint32_t start;		/* first index wanted */
	uint32_t total;		/* reply: clients in all */
	uint32_t n;		/* reply: entries that follow */
	uint32_t pad;
	struct hgca_wire_client c[HGCA_CLIENTS_PER_MSG];
};

/* Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_msg_log_level {
	struct hgca_msg_hdr h;
	char level[16];		/* "error", "warning", "info", "debug" */
};

/* ------------------------------------------------------------------ */
/* The region: header, ring controls, ring entries, staging arena.     */
/* ------------------------------------------------------------------ */

#define HGCA_REGION_MAGIC 0x3147455241434748ull	/* "HGCAREG1" */

/* Daemon -> client state word in the region header. */
enum hgca_region_state {
	HGCA_REGION_ACTIVE = 0,
	HGCA_REGION_DRAINING = 1,	/* SIGTERM: no new submissions */
	HGCA_REGION_QUARANTINED = 2,	/* the client broke the protocol */
	HGCA_REGION_CLOSED = 3,		/* the daemon let go of the region */
};

/*
 * A doorbell (one per ring; the ring's consumer sleeps on it).  The waiter
 * sets @sleeping, fences, re-checks the ring and futex-waits on @seq; the
 * producer publishes, fences, and only if @sleeping is set clears it, bumps
 * @seq and wakes (shm/bell.c).  Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_bell {
	_Atomic uint32_t seq;		/* futex word */
	_Atomic uint32_t sleeping;	/* 1 while the consumer may sleep */
};

/*
 * Control words of one single-producer/single-consumer ring.  Indices are
 * free-running uint32_t (slot = index & (entries - 1)); each sits on its
 * own pair of cache lines.  Every entry starts with a stamp, index + 1,
 * written after the rest of the entry and before the tail (shm/ring.h).
 * Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_ring_ctl {
	alignas(HGCA_LINE_PAD) _Atomic uint32_t head;	/* consumer writes */
	alignas(HGCA_LINE_PAD) _Atomic uint32_t tail;	/* producer writes */
	alignas(HGCA_LINE_PAD) struct hgca_bell bell;	/* consumer sleeps */
};

/*
 * The region header, at offset 0.  Written by the daemon before the memfd
 * is passed; afterwards the daemon only writes the status line and never
 * reads the header back (the client can write anything in its region).
 * Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_region_hdr {
	uint64_t magic;		/* HGCA_REGION_MAGIC */
	uint32_t version;	/* HGCA_PROTO_VERSION */
	uint32_t client_id;
	uint64_t size;		/* bytes of the whole region */
	uint32_t sq_entries;	/* power of two */
	uint32_t cq_entries;	/* power of two, >= sq_entries */
	uint32_t sqe_size;	/* sizeof(struct hgca_sqe) */
	uint32_t cqe_size;	/* sizeof(struct hgca_cqent) */
	uint64_t sq_ctl_off;	/* struct hgca_ring_ctl of the submission ring */
	uint64_t cq_ctl_off;	/* ... of the completion ring */
	uint64_t sq_off;	/* sq_entries descriptors */
	uint64_t cq_off;	/* cq_entries completion entries */
	uint64_t cqv_off;	/* cq_entries completion values (res, val) */
	uint64_t stage_off;	/* the staging arena: requests' offsets */
	uint64_t stage_size;	/*   are relative to stage_off */
	/* Status line, written by the daemon only. */
	alignas(HGCA_LINE_PAD) _Atomic uint32_t state;	/* hgca_region_state */
	_Atomic uint32_t spin_ns;	/* the daemon's spin budget now */
};

/* ------------------------------------------------------------------ */
/* Descriptors.                                                        */
/* ------------------------------------------------------------------ */

/* Opcodes.  0 is never valid, so a zeroed descriptor is refused. */
enum hgca_opcode {
	HGCA_OP_NOP = 1,
	HGCA_OP_MODEL_DECLARE = 2,	/* struct hgca_sqe_stage + wire_model */
	HGCA_OP_SEQ_OPEN = 3,		/* struct hgca_sqe_seq */
	HGCA_OP_SEQ_CLOSE = 4,		/* struct hgca_sqe_seq */
	HGCA_OP_SEQ_TRUNCATE = 5,	/* struct hgca_sqe_seq */
	HGCA_OP_SEQ_LENGTH = 6,		/* struct hgca_sqe_seq */
	HGCA_OP_KV_APPEND = 7,		/* struct hgca_sqe_append */
	HGCA_OP_ATTEND = 8,		/* struct hgca_sqe_stage + wire_attend */
	HGCA_OP_MAX		/* one past the last opcode */
};

/* NOP flags. */
#define HGCA_NOP_F_SUM 0x1u	/* checksum stage[off, off + len) */
#define HGCA_NOP_F_DELAY 0x2u	/* complete after delay_us, from another thread */
#define HGCA_NOP_DELAY_MAX_US 10000000u	/* more: error completion -EINVAL */

/* Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_sqe_nop {
	uint64_t value;		/* echoed in cqe.val[0] */
	uint64_t off;		/* HGCA_NOP_F_SUM: offset in the staging arena */
	uint64_t len;		/* HGCA_NOP_F_SUM: bytes, 1 .. stage_size */
	uint32_t delay_us;	/* HGCA_NOP_F_DELAY: 1 .. HGCA_NOP_DELAY_MAX_US */
	uint32_t rsvd0;		/* zero */
	uint64_t rsvd[2];	/* zero */
};

/*
 * The service's opcodes.  Validation follows DESIGN.md section 4: an
 * offset or length outside the staging arena, an offset not a multiple of
 * HGCA_STAGE_ALIGN, a reserved field set, or fields that contradict each
 * other quarantine the client; an unknown id, a shape or size not matching
 * the model, a bad policy text or a quota answer with an error completion
 * (res < 0) and change nothing.
 */
#define HGCA_STAGE_ALIGN 8u	/* staging offsets of the service's opcodes */

/* Element types of K/V and outputs (the values of attn_dtype). */
enum hgca_wire_dtype {
	HGCA_WIRE_F32 = 0,
	HGCA_WIRE_BF16 = 1,
	HGCA_WIRE_F16 = 2,
};

/*
 * MODEL_DECLARE: a struct hgca_wire_model at stage[off], len == its size.
 * cqe.val[0] = the model's id.  Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_sqe_stage {
	uint64_t off;		/* in the staging arena, aligned */
	uint64_t len;		/* the size of the struct it holds */
	uint64_t rsvd[4];	/* zero */
};

/* A model's shape, in staging.  Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_wire_model {
	uint32_t layers;
	uint32_t hq, hkv;	/* query and KV heads, hq % hkv == 0 */
	uint32_t d;		/* head dimension */
	uint32_t dtype;		/* enum hgca_wire_dtype of K and V */
	uint32_t window;	/* W tokens, a multiple of the page size */
	uint32_t page;		/* tokens per page, 0 = the daemon's */
	float scale;		/* softmax scale, 0 = 1/sqrt(d) */
	char policy[HGCA_POLICY_MAX];	/* default policy, "" = the
					 * daemon's; NUL-terminated */
	uint64_t rsvd[2];	/* zero */
};

/*
 * SEQ_OPEN (model; cqe.val[0] = the sequence's id), SEQ_CLOSE (seq),
 * SEQ_TRUNCATE (seq, n: tokens dropped from every layer; cqe.val[0] =
 * tokens left in layer 0), SEQ_LENGTH (seq, layer; cqe.val[0] = tokens).
 * Fields an opcode does not use are zero.
 * Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_sqe_seq {
	uint32_t model;
	uint32_t seq;
	uint64_t n;
	uint32_t layer;
	uint32_t rsvd0;		/* zero */
	uint64_t rsvd[3];	/* zero */
};

/*
 * KV_APPEND: @n tokens of @layer of @seq, K at stage[k_off] and V at
 * stage[v_off], each @bytes long, token-major [n][hkv][d] in the model's
 * dtype; the daemon copies them before it completes.  cqe.val[0] = tokens
 * in the layer now.  Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_sqe_append {
	uint32_t seq;
	uint32_t layer;
	uint64_t n;
	uint64_t k_off, v_off;	/* aligned; may not overlap */
	uint64_t bytes;		/* of K, and of V */
	uint64_t rsvd;		/* zero */
};

/* ATTEND's flags (struct hgca_wire_attend). */
#define HGCA_ATTEND_F_POS 0x1u	/* pos_off holds [nseq] int64 positions */
#define HGCA_ATTEND_F_STATS 0x2u	/* stats wanted at stats_off */
#define HGCA_ATTEND_F_POLICY 0x4u	/* policy overrides the model's */

/*
 * ATTEND: a struct hgca_wire_attend at stage[off] (struct hgca_sqe_stage).
 * The daemon copies it, the sequence ids and the positions before it
 * queues the work; it reads the queries and writes the outputs and stats
 * in staging until it posts the completion.  Row i of sequence b sees the
 * keys at positions <= pos[b] + i (without F_POS: pos[b] = its length at
 * @layer minus qlen).  Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_wire_attend {
	uint32_t model;
	uint32_t layer;
	uint32_t nseq;		/* B, 1..1024 */
	uint32_t qlen;		/* L, 1..64 */
	uint32_t out_dtype;	/* HGCA_WIRE_F32 or HGCA_WIRE_BF16 */
	uint32_t flags;		/* HGCA_ATTEND_F_* */
	uint64_t seqs_off;	/* [B] uint32_t sequence ids */
	uint64_t pos_off;	/* F_POS: [B] int64_t; else zero */
	uint64_t q_off, q_len;	/* [B][L][hq][d] fp32 */
	uint64_t out_off, out_len;	/* [B][L][hq][d] in out_dtype */
	uint64_t stats_off, stats_len;	/* F_STATS: [B][L][hq] wire_stats;
					 * else zero */
	char policy[HGCA_POLICY_MAX];	/* F_POLICY: NUL-terminated text;
					 * else all zero */
	uint64_t rsvd[4];	/* zero */
};

/* What one query row (one head at one position) got.
 * Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_wire_stats {
	int64_t entries;	/* keys included */
	int64_t bytes;		/* K+V bytes read for it, window included */
	double delta;		/* certified bound on the dropped fraction */
};

/*
 * A submission descriptor: 64 bytes, one cache line.  Offsets and lengths
 * only, never pointers.  Fields the opcode does not use must be zero.
 * The stamp (index + 1) is written last, by shm_ring_publish(): it tells
 * the consumer the entry is ready (shm/ring.h).
 * Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_sqe {
	_Atomic uint32_t stamp;	/* the ring's, not the request's */
	uint8_t opcode;		/* enum hgca_opcode */
	uint8_t flags;		/* opcode's flags */
	uint16_t rsvd0;		/* zero */
	uint32_t tag;		/* returned in the completion; bit 31
				 * (HGCA_TAG_VAL) zero */
	uint32_t rsvd1;		/* zero */
	union {
		struct hgca_sqe_nop nop;
		struct hgca_sqe_stage stage;
		struct hgca_sqe_seq seq;
		struct hgca_sqe_append append;
		uint64_t raw[6];
	} u;
};

/*
 * What a completion says: res is 0 (or a count) on success, a negative
 * errno for an error a correct client can make; val holds op-specific
 * results (NOP: value, checksum).  Not itself on the wire: it travels as
 * a struct hgca_cqent and, unless res and both values are zero, a struct
 * hgca_cqval.
 */
struct hgca_cqe {
	int32_t res;
	uint32_t tag;		/* the descriptor's tag */
	uint64_t val[2];
};

/* In a descriptor's tag: reserved (zero); in a completion entry's: the
 * completion's res and values are in its struct hgca_cqval. */
#define HGCA_TAG_VAL 0x80000000u

/*
 * A completion ring entry: 8 bytes, eight to a line, stamped like a
 * descriptor: the descriptor's tag, with HGCA_TAG_VAL set when res or a
 * value is not zero.  Those are then in the struct hgca_cqval at the same
 * index of the array at cqv_off, written before the stamp; without the
 * flag they are zero and that entry is not written (a plain NOP's
 * completion moves an eighth of a line).
 * Bump HGCA_PROTO_VERSION when this changes.
 */
struct hgca_cqent {
	_Atomic uint32_t stamp;	/* the ring's */
	uint32_t tag;		/* the descriptor's tag | HGCA_TAG_VAL */
};

/* Bump HGCA_PROTO_VERSION when this changes. */
struct hgca_cqval {
	int32_t res;
	uint32_t rsvd;		/* zero */
	uint64_t val[2];
	uint64_t pad;		/* zero */
};

_Static_assert(sizeof(struct hgca_msg_hdr) == 16, "message header");
_Static_assert(sizeof(struct hgca_msg_hello) == 48, "hello");
_Static_assert(sizeof(struct hgca_sqe) == 64, "descriptor is one line");
_Static_assert(sizeof(struct hgca_sqe_nop) == 48, "nop payload");
_Static_assert(sizeof(struct hgca_cqent) == 8, "completion entry");
_Static_assert(sizeof(struct hgca_cqval) == 32, "completion values");
_Static_assert(sizeof(struct hgca_sqe_stage) == 48, "stage payload");
_Static_assert(sizeof(struct hgca_sqe_seq) == 48, "seq payload");
_Static_assert(sizeof(struct hgca_sqe_append) == 48, "append payload");
_Static_assert(sizeof(struct hgca_wire_model) == 112, "wire model");
_Static_assert(sizeof(struct hgca_wire_attend) == 184, "wire attend");
_Static_assert(sizeof(struct hgca_wire_stats) == 24, "wire stats");
_Static_assert(sizeof(struct hgca_ring_ctl) == 3 * HGCA_LINE_PAD, "ring ctl");
_Static_assert(sizeof(struct hgca_msg_clients) <= HGCA_MSG_MAX, "clients fits");
_Static_assert(sizeof(struct hgca_region_hdr) <= 4096, "header fits a page");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "lock-free 32-bit atomics");

#endif /* HGCA_SHM_PROTO_H */
