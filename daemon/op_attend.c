/*
 * op_attend.c - HGCA_OP_ATTEND: attention for a batch of sequences at one
 * layer, queued to the service's workers.  The arguments, sequence ids and
 * positions are copied into private memory; the queries are read from the
 * staging arena and the outputs and stats written into it by the workers,
 * until the completion is posted (the client keeps those staging bytes
 * reserved until it reaps the completion).  The region stays mapped until
 * the service lets go of the client, so a client that dies with work in
 * flight cannot make a worker write into unmapped memory.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "attn/paged.h"
#include "daemon/ops.h"
#include "daemon/service.h"

/* Workers write struct attn_row_stats straight into staging. */
_Static_assert(sizeof(struct attn_row_stats) == sizeof(struct hgca_wire_stats) &&
	       offsetof(struct attn_row_stats, entries) ==
	       offsetof(struct hgca_wire_stats, entries) &&
	       offsetof(struct attn_row_stats, bytes) ==
	       offsetof(struct hgca_wire_stats, bytes) &&
	       offsetof(struct attn_row_stats, delta) ==
	       offsetof(struct hgca_wire_stats, delta),
	       "wire stats are the engine's row stats");
_Static_assert((int)HGCA_WIRE_F32 == (int)ATTN_F32 &&
	       (int)HGCA_WIRE_BF16 == (int)ATTN_BF16 &&
	       (int)HGCA_WIRE_F16 == (int)ATTN_F16, "wire dtypes");

#define ATTEND_FLAGS (HGCA_ATTEND_F_POS | HGCA_ATTEND_F_STATS | \
		      HGCA_ATTEND_F_POLICY)

/* One request in flight: its completion and private copies. */
struct attend_op {
	struct client *c;
	struct hgca_cqe cqe;
	struct attn_policy pol;
	uint32_t *seqs;		/* [B] */
	int64_t *pos;		/* [B] or NULL */
};

static bool
zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Flags, reserved fields and the fields flags switch off. */
static bool
args_consistent(const struct hgca_wire_attend *w)
{
	uint32_t f = w->flags;

	return !(f & ~ATTEND_FLAGS) && zero(w->rsvd, sizeof(w->rsvd)) &&
	       (f & HGCA_ATTEND_F_POS || !w->pos_off) &&
	       (f & HGCA_ATTEND_F_STATS || (!w->stats_off && !w->stats_len)) &&
	       (f & HGCA_ATTEND_F_POLICY ?
		memchr(w->policy, 0, sizeof(w->policy)) != NULL :
		zero(w->policy, sizeof(w->policy)));
}

/* Every buffer inside the staging arena and aligned (B already bounded). */
static bool
args_in_stage(const struct client *c, const struct hgca_wire_attend *w)
{
	uint64_t B = w->nseq;

	return op_stage_ok(c, w->seqs_off, B * sizeof(uint32_t)) &&
	       (!(w->flags & HGCA_ATTEND_F_POS) ||
		op_stage_ok(c, w->pos_off, B * sizeof(int64_t))) &&
	       op_stage_ok(c, w->q_off, w->q_len) &&
	       op_stage_ok(c, w->out_off, w->out_len) &&
	       (!(w->flags & HGCA_ATTEND_F_STATS) ||
		op_stage_ok(c, w->stats_off, w->stats_len));
}

/* What a correct client can still get wrong: 0 or -EINVAL. */
static int
args_valid(const struct hgca_wire_attend *w)
{
	if (w->nseq < 1 || w->nseq > SVC_MAX_BATCH || w->qlen < 1 ||
	    w->qlen > ATTN_MAX_QLEN ||
	    (w->out_dtype != HGCA_WIRE_F32 && w->out_dtype != HGCA_WIRE_BF16) ||
	    w->layer > SVC_MAX_LAYERS)
		return -EINVAL;
	return 0;
}

/* The buffers' sizes against the model: 0, -ENOENT or -EINVAL. */
static int
sizes_match(struct svc_client *cl, const struct hgca_wire_attend *w)
{
	struct svc_model_desc m;
	uint64_t rows;
	int rc = svc_model_shape(cl, w->model, &m);

	if (rc)
		return rc;
	/* At most 2^10 * 2^6 * 2^10 rows of 2^9 values: no overflow. */
	rows = (uint64_t)w->nseq * w->qlen * (uint64_t)m.hq;
	if (w->q_len != rows * m.d * sizeof(float) ||
	    w->out_len != rows * m.d * attn_dtype_size(w->out_dtype) ||
	    (w->flags & HGCA_ATTEND_F_STATS &&
	     w->stats_len != rows * sizeof(struct hgca_wire_stats)))
		return -EINVAL;
	return 0;
}

static void
attend_done(void *cookie, int status)
{
	struct attend_op *op = cookie;

	op->cqe.res = status;
	client_complete(op->c, &op->cqe);
	free(op);
}

/* The private copy of the request; NULL when out of memory. */
static struct attend_op *
op_new(struct client *c, const struct hgca_wire_attend *w,
       const struct hgca_cqe *cqe)
{
	size_t B = w->nseq;
	struct attend_op *op = malloc(sizeof(*op) + B * (sizeof(uint32_t) +
							sizeof(int64_t)));

	if (!op)
		return NULL;
	op->c = c;
	op->cqe = *cqe;
	op->pos = (int64_t *)(op + 1);
	op->seqs = (uint32_t *)(op->pos + B);
	memcpy(op->seqs, c->stage + w->seqs_off, B * sizeof(uint32_t));
	if (w->flags & HGCA_ATTEND_F_POS)
		memcpy(op->pos, c->stage + w->pos_off, B * sizeof(int64_t));
	else
		op->pos = NULL;
	return op;
}

/* Queue the request; 0 (the completion comes later) or a negative errno. */
static int
attend_queue(struct client *c, struct svc_client *cl,
	     const struct hgca_wire_attend *w, struct attend_op *op)
{
	struct svc_attend a = {
		.model = w->model, .layer = (int)w->layer, .B = (int)w->nseq,
		.seqs = op->seqs, .pos = op->pos, .L = (int)w->qlen,
		.q = (const float *)(c->stage + w->q_off),
		.out = c->stage + w->out_off,
		.out_dt = (enum attn_dtype)w->out_dtype,
		.stats = w->flags & HGCA_ATTEND_F_STATS ?
			 (struct attn_row_stats *)(c->stage + w->stats_off) :
			 NULL,
	};
	int rc;

	if (w->flags & HGCA_ATTEND_F_POLICY) {
		if (attn_policy_parse(w->policy, &op->pol) < 0)
			return -EINVAL;
		a.policy = &op->pol;
	}
	client_hold(c);	/* before: done may run before submit returns */
	rc = svc_attend_submit(cl, &a, attend_done, op);
	if (rc < 0)
		client_unhold(c);
	return rc;
}

enum op_verdict
op_attend(struct client *c, const struct hgca_sqe *sqe, struct hgca_cqe *cqe,
	  const char **why)
{
	const struct hgca_sqe_stage *st = &sqe->u.stage;
	struct hgca_wire_attend w;
	struct attend_op *op;
	struct svc_client *cl;
	int rc;

	if (!zero(st->rsvd, sizeof(st->rsvd)) || st->len != sizeof(w) ||
	    !op_stage_ok(c, st->off, st->len)) {
		*why = "ATTEND: arguments outside the staging arena, "
		       "misaligned, or reserved fields set";
		return OP_VIOLATION;
	}
	memcpy(&w, c->stage + st->off, sizeof(w));	/* private copy */
	if (!args_consistent(&w)) {
		*why = "ATTEND: fields contradict the flags or reserved "
		       "fields set";
		return OP_VIOLATION;
	}
	if ((cqe->res = args_valid(&w)))
		return OP_DONE;
	if (!args_in_stage(c, &w)) {
		*why = "ATTEND: a buffer outside the staging arena or "
		       "misaligned";
		return OP_VIOLATION;
	}
	if (!(cl = client_svc_lock(c))) {
		cqe->res = -ECONNRESET;
		return OP_DONE;
	}
	rc = sizes_match(cl, &w);
	op = rc ? NULL : op_new(c, &w, cqe);
	if (!rc && !op)
		rc = -ENOMEM;
	if (!rc && (rc = attend_queue(c, cl, &w, op)) < 0)
		free(op);
	client_svc_unlock(c);
	cqe->res = rc;
	return rc ? OP_DONE : OP_PENDING;
}
