/*
 * op_svc.c - the service's opcodes that complete at once: MODEL_DECLARE,
 * SEQ_OPEN, SEQ_CLOSE, SEQ_TRUNCATE, SEQ_LENGTH and KV_APPEND.  Each checks
 * its descriptor (a violation quarantines the client), then makes one call
 * into the service (daemon/service.h) whose errno is the completion's res.
 * KV_APPEND copies from the staging arena into daemon-owned pages before
 * it completes, so the client may reuse the buffers as soon as it sees the
 * completion.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "attn/paged.h"
#include "daemon/ops.h"
#include "daemon/service.h"

bool
op_stage_ok(const struct client *c, uint64_t off, uint64_t len)
{
	return off % HGCA_STAGE_ALIGN == 0 && client_range_ok(c, off, len);
}

/* The service is gone for this client (it is being closed). */
static enum op_verdict
gone(struct hgca_cqe *cqe)
{
	cqe->res = -ECONNRESET;
	return OP_DONE;
}

static bool
wire_model_ok(const struct hgca_wire_model *w)
{
	return !w->rsvd[0] && !w->rsvd[1] &&
	       memchr(w->policy, 0, sizeof(w->policy)) != NULL;
}

/* The wire's model as the service's; -EINVAL for values out of range. */
static int
model_desc(const struct hgca_wire_model *w, struct svc_model_desc *d,
	   struct attn_policy *pol)
{
	if (w->layers > INT_MAX || w->hq > INT_MAX || w->hkv > INT_MAX ||
	    w->d > INT_MAX || w->window > INT_MAX || w->page > INT_MAX ||
	    w->dtype > HGCA_WIRE_F16)
		return -EINVAL;
	*d = (struct svc_model_desc){
		.layers = (int)w->layers, .hq = (int)w->hq, .hkv = (int)w->hkv,
		.d = (int)w->d, .dt = (enum attn_dtype)w->dtype,
		.window = (int)w->window, .page = (int)w->page,
		.scale = w->scale };
	if (w->policy[0]) {
		if (attn_policy_parse(w->policy, pol) < 0)
			return -EINVAL;
		d->policy = pol;
	}
	return 0;
}

enum op_verdict
op_model_declare(struct client *c, const struct hgca_sqe *sqe,
		 struct hgca_cqe *cqe, const char **why)
{
	const struct hgca_sqe_stage *st = &sqe->u.stage;
	struct hgca_wire_model w;
	struct svc_model_desc d;
	struct attn_policy pol;
	struct svc_client *cl;
	uint32_t id = 0;

	if (st->rsvd[0] || st->rsvd[1] || st->rsvd[2] || st->rsvd[3] ||
	    st->len != sizeof(w) || !op_stage_ok(c, st->off, st->len)) {
		*why = "MODEL_DECLARE: model outside the staging arena, "
		       "misaligned, or reserved fields set";
		return OP_VIOLATION;
	}
	memcpy(&w, c->stage + st->off, sizeof(w));	/* private copy */
	if (!wire_model_ok(&w)) {
		*why = "MODEL_DECLARE: reserved fields set or policy text "
		       "not terminated";
		return OP_VIOLATION;
	}
	cqe->res = model_desc(&w, &d, &pol);
	if (cqe->res)
		return OP_DONE;
	if (!(cl = client_svc_lock(c)))
		return gone(cqe);
	cqe->res = svc_model_declare(cl, &d, &id);
	client_svc_unlock(c);
	cqe->val[0] = id;
	return OP_DONE;
}

/* The fields each SEQ_* opcode uses; the others must be zero. */
#define USE_MODEL 0x1
#define USE_SEQ 0x2
#define USE_N 0x4
#define USE_LAYER 0x8

static bool
seq_fields_ok(const struct hgca_sqe_seq *s, unsigned use)
{
	return (use & USE_MODEL || !s->model) && (use & USE_SEQ || !s->seq) &&
	       (use & USE_N || !s->n) && (use & USE_LAYER || !s->layer) &&
	       !s->rsvd0 && !s->rsvd[0] && !s->rsvd[1] && !s->rsvd[2];
}

static const unsigned seq_use[HGCA_OP_MAX] = {
	[HGCA_OP_SEQ_OPEN] = USE_MODEL,
	[HGCA_OP_SEQ_CLOSE] = USE_SEQ,
	[HGCA_OP_SEQ_TRUNCATE] = USE_SEQ | USE_N,
	[HGCA_OP_SEQ_LENGTH] = USE_SEQ | USE_LAYER,
};

/* One SEQ_* call; 0 or a negative errno, with the value to return. */
static int
seq_call(struct svc_client *cl, uint8_t op, const struct hgca_sqe_seq *s,
	 uint64_t *val)
{
	uint32_t id = 0;
	int64_t len = 0;
	int rc;

	switch (op) {
	case HGCA_OP_SEQ_OPEN:
		rc = svc_seq_open(cl, s->model, &id);
		*val = id;
		return rc;
	case HGCA_OP_SEQ_CLOSE:
		return svc_seq_close(cl, s->seq);
	case HGCA_OP_SEQ_TRUNCATE:
		rc = s->n > INT64_MAX ? -EINVAL :
		     svc_seq_truncate(cl, s->seq, (int64_t)s->n);
		if (rc == 0)
			rc = svc_seq_length(cl, s->seq, 0, &len);
		break;
	default:	/* HGCA_OP_SEQ_LENGTH */
		rc = s->layer > INT_MAX ? -EINVAL :
		     svc_seq_length(cl, s->seq, (int)s->layer, &len);
	}
	*val = (uint64_t)len;
	return rc;
}

enum op_verdict
op_seq(struct client *c, const struct hgca_sqe *sqe, struct hgca_cqe *cqe,
       const char **why)
{
	struct svc_client *cl;

	if (!seq_fields_ok(&sqe->u.seq, seq_use[sqe->opcode])) {
		*why = "SEQ: a field the opcode does not use is set";
		return OP_VIOLATION;
	}
	if (!(cl = client_svc_lock(c)))
		return gone(cqe);
	cqe->res = seq_call(cl, sqe->opcode, &sqe->u.seq, &cqe->val[0]);
	client_svc_unlock(c);
	return OP_DONE;
}

static bool
append_ok(const struct client *c, const struct hgca_sqe_append *a)
{
	uint64_t lo = a->k_off < a->v_off ? a->k_off : a->v_off;
	uint64_t hi = a->k_off < a->v_off ? a->v_off : a->k_off;

	return !a->rsvd && op_stage_ok(c, a->k_off, a->bytes) &&
	       op_stage_ok(c, a->v_off, a->bytes) && hi - lo >= a->bytes;
}

enum op_verdict
op_kv_append(struct client *c, const struct hgca_sqe *sqe,
	     struct hgca_cqe *cqe, const char **why)
{
	const struct hgca_sqe_append *a = &sqe->u.append;
	struct svc_client *cl;
	int64_t len = 0;

	if (!append_ok(c, a)) {
		*why = "KV_APPEND: K or V outside the staging arena, "
		       "misaligned, overlapping, or reserved fields set";
		return OP_VIOLATION;
	}
	if (a->n > INT64_MAX || a->layer > INT_MAX) {
		cqe->res = -EINVAL;
		return OP_DONE;
	}
	if (!(cl = client_svc_lock(c)))
		return gone(cqe);
	cqe->res = svc_kv_append(cl, a->seq, (int)a->layer, (int64_t)a->n,
				 c->stage + a->k_off, c->stage + a->v_off,
				 a->bytes);
	if (cqe->res == 0)
		svc_seq_length(cl, a->seq, (int)a->layer, &len);
	client_svc_unlock(c);
	cqe->val[0] = (uint64_t)len;
	return OP_DONE;
}
