/* ops.c - the opcode table and the checks common to every descriptor. */
#include "config.h"

#include <string.h>

#include "daemon/ops.h"

static const struct op_def op_table[HGCA_OP_MAX] = {
	[HGCA_OP_NOP] = { "nop", op_nop, HGCA_NOP_F_SUM | HGCA_NOP_F_DELAY },
	[HGCA_OP_MODEL_DECLARE] = { "model_declare", op_model_declare, 0 },
	[HGCA_OP_SEQ_OPEN] = { "seq_open", op_seq, 0 },
	[HGCA_OP_SEQ_CLOSE] = { "seq_close", op_seq, 0 },
	[HGCA_OP_SEQ_TRUNCATE] = { "seq_truncate", op_seq, 0 },
	[HGCA_OP_SEQ_LENGTH] = { "seq_length", op_seq, 0 },
	[HGCA_OP_KV_APPEND] = { "kv_append", op_kv_append, 0 },
	[HGCA_OP_ATTEND] = { "attend", op_attend, 0 },
};

enum op_verdict
ops_dispatch(struct client *c, const struct hgca_sqe *sqe,
	     struct hgca_cqe *cqe, const char **why)
{
	const struct op_def *op = sqe->opcode < HGCA_OP_MAX ?
				  &op_table[sqe->opcode] : NULL;

	if (!op || !op->fn) {
		*why = "unknown opcode";
		return OP_VIOLATION;
	}
	if (sqe->flags & ~op->flags) {
		*why = "unknown flags for the opcode";
		return OP_VIOLATION;
	}
	if (sqe->rsvd0 || sqe->rsvd1 || (sqe->tag & HGCA_TAG_VAL)) {
		*why = "reserved descriptor fields are not zero";
		return OP_VIOLATION;
	}
	memset(cqe, 0, sizeof(*cqe));
	cqe->tag = sqe->tag;
	return op->fn(c, sqe, cqe, why);
}

int
ops_start(void)
{
	return op_nop_start();
}

void
ops_stop(void)
{
	op_nop_stop();
}
