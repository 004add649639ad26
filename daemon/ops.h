/*
 * ops.h - the data plane's one opcode table.
 *
 * The poller copies each descriptor into private memory and calls
 * ops_dispatch(), which checks what every descriptor must satisfy (known
 * opcode, known flags, reserved header fields zero) and calls the
 * opcode's handler with the copy and a completion pre-filled with the tag
 * and res = 0.  A handler returns:
 *
 *	OP_DONE		the completion is filled in (res may be a negative
 *			errno: an error a correct client can make);
 *	OP_PENDING	it called client_hold() and handed the work to a
 *			thread that will call client_complete() once;
 *	OP_VIOLATION	the descriptor is one only a broken client sends
 *			(offsets outside the region, contradictory fields):
 *			*why says what, and the client is quarantined.
 *
 * To add an opcode: define it and its payload in shm/proto.h (bumping
 * HGCA_PROTO_VERSION), write a handler, add one line to op_table in ops.c.
 */
#ifndef HGCA_DAEMON_OPS_H
#define HGCA_DAEMON_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/client.h"
#include "shm/proto.h"

enum op_verdict { OP_DONE, OP_PENDING, OP_VIOLATION };

typedef enum op_verdict (*op_handler)(struct client *c,
				      const struct hgca_sqe *sqe,
				      struct hgca_cqe *cqe, const char **why);

struct op_def {
	const char *name;
	op_handler fn;
	uint8_t flags;		/* the flag bits the opcode accepts */
};

enum op_verdict ops_dispatch(struct client *c, const struct hgca_sqe *sqe,
			     struct hgca_cqe *cqe, const char **why);

/* Start and stop the threads handlers use (the NOP's delay thread).
 * ops_stop() completes what is still queued.  0 or -errno. */
int ops_start(void);
void ops_stop(void);

/* Handlers (one file per family). */
enum op_verdict op_nop(struct client *c, const struct hgca_sqe *sqe,
		       struct hgca_cqe *cqe, const char **why);
int op_nop_start(void);
void op_nop_stop(void);

/* The attention service's opcodes (op_svc.c, op_attend.c). */
enum op_verdict op_model_declare(struct client *c, const struct hgca_sqe *sqe,
				 struct hgca_cqe *cqe, const char **why);
enum op_verdict op_seq(struct client *c, const struct hgca_sqe *sqe,
		       struct hgca_cqe *cqe, const char **why);
enum op_verdict op_kv_append(struct client *c, const struct hgca_sqe *sqe,
			     struct hgca_cqe *cqe, const char **why);
enum op_verdict op_attend(struct client *c, const struct hgca_sqe *sqe,
			  struct hgca_cqe *cqe, const char **why);

/* [off, off + len) inside the staging arena, off aligned to
 * HGCA_STAGE_ALIGN? */
bool op_stage_ok(const struct client *c, uint64_t off, uint64_t len);

#endif /* HGCA_DAEMON_OPS_H */
