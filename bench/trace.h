/*
 * trace.h - binary traces of attention inputs (Q, K, V per layer and KV head
 * over several decode steps), so that the accuracy benchmark can evaluate
 * tensors dumped from a real model as well as its generated workload.  The
 * format is specified in hgca-trace(5); in short, everything little-endian:
 *
 *   header, 128 bytes:
 *     0   char[8]  magic "HGCATRC\0"
 *     8   u32      version (TRACE_VERSION)
 *     12  u32      byte-order mark 0x01020304
 *     16  u32      header size (128)
 *     20  u32      dtype of K and V (enum attn_dtype: 0 f32, 1 bf16, 2 f16)
 *     24  u32      layers
 *     28  u32      hq: query heads per layer
 *     32  u32      hkv: KV heads per layer (hkv divides hq)
 *     36  u32      d: head dimension
 *     40  u64      tokens: keys per (layer, KV head)
 *     48  u32      steps: decode steps (queries per query head)
 *     52  f32      softmax scale, 0 for 1/sqrt(d)
 *     56  u8[64]   reserved, zero
 *     120 u64      checksum of the header (this field read as 0) and pos
 *   pos:  i64[steps], query position of each step, 0 <= pos < tokens,
 *         non-decreasing; the query of step t sees keys 0..pos[t]
 *   then one block per (layer, KV head), layer-major:
 *     Q  f32[steps][G][d]  G = hq / hkv query heads h*G .. h*G+G-1
 *     K  dtype[tokens][d]  keys as the kernel sees them (after RoPE)
 *     V  dtype[tokens][d]
 *     u64 checksum of Q, K and V as stored
 *
 * Checksums are trace_checksum() over the bytes as stored in the file.
 *
 * Errors: calls return 0 or a negative errno and never print.  A file that
 * is not a trace of this version (magic, version, byte order, header size,
 * reserved bytes, longer than its header says) gives -EPROTO; a checksum
 * mismatch -EBADMSG; header fields out of range, or a path that is not a
 * regular file, -EINVAL; a file shorter than its header says (truncated), or
 * a failed read or write, -EIO; open(2) errors as they are.
 * Ownership: the caller owns every buffer passed in; a trace or writer owns
 * its file descriptor until closed.
 */
#ifndef HGCA_BENCH_TRACE_H
#define HGCA_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "attn/attn.h"

#define TRACE_MAGIC "HGCATRC"	/* 7 characters and the NUL */
#define TRACE_VERSION 1
#define TRACE_BOM 0x01020304u
#define TRACE_HEADER_SIZE 128
#define TRACE_MAX_D 1024

struct trace_dims {
	enum attn_dtype dt;	/* K/V element type */
	int layers;		/* >= 1 */
	int hq, hkv;		/* >= 1, hq a multiple of hkv */
	int d;			/* 1..TRACE_MAX_D */
	int64_t tokens;		/* >= 1 */
	int steps;		/* >= 1 */
	float scale;		/* finite and >= 0; 0 means 1/sqrt(d) */
};

/* 0 or -EINVAL. */
int trace_dims_check(const struct trace_dims *dm);
/* The softmax scale to use: dm->scale, or 1/sqrt(d) when it is 0. */
float trace_scale(const struct trace_dims *dm);
/* Bytes of one (layer, KV head) block, checksum included. */
uint64_t trace_block_bytes(const struct trace_dims *dm);
/* Size of the whole file. */
uint64_t trace_file_bytes(const struct trace_dims *dm);

/* The format's 64-bit checksum of @n bytes (little-endian 64-bit words,
 * the last one zero-padded, mixed with the length). */
uint64_t trace_checksum(const void *p, size_t n);

/* The same checksum over bytes given in pieces of any length. */
struct trace_hash {
	uint64_t h, len;
	unsigned char tail[8];
};
void trace_hash_init(struct trace_hash *th);
void trace_hash_add(struct trace_hash *th, const void *p, size_t n);
uint64_t trace_hash_end(const struct trace_hash *th);

/*
 * Writing: trace_writer_open creates (or truncates) @path, writes the header
 * and @pos [dm->steps]; then trace_writer_put writes the blocks in file order
 * (layer 0 KV head 0, layer 0 KV head 1, ...): @q f32 [steps][G][d] and @k, @v
 * [tokens][d] in dm->dt.  trace_writer_close finishes and closes the file; it
 * returns -EINVAL if fewer blocks than layers * hkv were put (the file is
 * then incomplete and should be removed).  open: 0, -EINVAL (bad dims or
 * positions), -ENOMEM, an open(2) errno, -EIO.  put: 0, -EINVAL (all blocks
 * already written), -EIO (a failed write: the writer is then unusable).
 * close: 0, -EINVAL, -EIO; it frees the writer in every case.
 */
struct trace_writer;

int trace_writer_open(struct trace_writer **out, const char *path,
		      const struct trace_dims *dm, const int64_t *pos);
int trace_writer_put(struct trace_writer *w, const float *q, const void *k,
		     const void *v);
int trace_writer_close(struct trace_writer *w);

/*
 * Reading: trace_open reads and checks the header and positions and the
 * file's size (0, -EPROTO, -EBADMSG, -EINVAL, -EIO, -ENOMEM, or an open(2)
 * errno).  trace_read reads the block of (@layer, @kvh) into @q, @k, @v
 * (shapes as for trace_writer_put) and checks its checksum: 0, -EINVAL
 * (indices out of range), -EIO, -EBADMSG.  On error the buffers hold
 * garbage.  trace_close(NULL) is a no-op.
 */
struct trace;

int trace_open(struct trace **out, const char *path);
const struct trace_dims *trace_get_dims(const struct trace *t);
/* [steps] query positions. */
const int64_t *trace_get_pos(const struct trace *t);
int trace_read(struct trace *t, int layer, int kvh, float *q, void *k,
	       void *v);
void trace_close(struct trace *t);

#endif /* HGCA_BENCH_TRACE_H */
