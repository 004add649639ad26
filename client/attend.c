/*
 * attend.c - attention requests (hgca_attend(3)): the arguments, sequence
 * ids, positions and queries go into one staging allocation, followed by
 * room for the outputs and stats, which are copied out to the caller's
 * buffers when the completion is processed.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "client/client_pvt.h"

/* Where each part of a request sits in its staging allocation. */
struct attend_layout {
	uint64_t seqs, pos, q, out, stats, total;	/* offsets, size */
	uint64_t q_len, out_len, stats_len;
};

static uint64_t
grain(uint64_t n)
{
	return (n + CLIENT_STAGE_GRAIN - 1) & ~(uint64_t)(CLIENT_STAGE_GRAIN - 1);
}

static bool
args_ok(const struct hgca_attend *a)
{
	return a && a->seqs && a->q && a->out && a->nseq >= 1 &&
	       a->nseq <= 1024 && a->qlen >= 1 && a->qlen <= 64 &&
	       (a->out_dtype == HGCA_DTYPE_F32 ||
		a->out_dtype == HGCA_DTYPE_BF16) && !a->flags &&
	       !a->reserved[0] && !a->reserved[1] && !a->reserved[2] &&
	       !a->reserved[3] &&
	       (!a->policy || strlen(a->policy) < HGCA_POLICY_MAX);
}

/* What the daemon would refuse without looking at lengths: 0, -EINVAL
 * or -ENOENT. */
static int
check(struct hgca *h, const struct hgca_attend *a, struct client_model **out)
{
	struct client_model *cm;

	if (!args_ok(a))
		return -EINVAL;
	if (!(cm = client_model_find(h, a->model)))
		return -ENOENT;
	if (a->layer >= cm->layers)
		return -EINVAL;
	for (uint32_t b = 0; b < a->nseq; b++) {
		struct client_model *sm = client_seq_model(h, a->seqs[b]);

		if (!sm)
			return -ENOENT;
		if (sm != cm)
			return -EINVAL;
	}
	*out = cm;
	return 0;
}

static void
layout(const struct hgca_attend *a, const struct client_model *cm,
       struct attend_layout *lo)
{
	uint64_t rows = (uint64_t)a->nseq * a->qlen * cm->hq;

	lo->q_len = rows * cm->d * sizeof(float);
	lo->out_len = rows * cm->d * (a->out_dtype == HGCA_DTYPE_F32 ? 4 : 2);
	lo->stats_len = a->stats ? rows * sizeof(struct hgca_wire_stats) : 0;
	lo->seqs = grain(sizeof(struct hgca_wire_attend));
	lo->pos = lo->seqs + grain(a->nseq * sizeof(uint32_t));
	lo->q = lo->pos + (a->pos ? grain(a->nseq * sizeof(int64_t)) : 0);
	lo->out = lo->q + grain(lo->q_len);
	lo->stats = lo->out + grain(lo->out_len);
	lo->total = lo->stats + grain(lo->stats_len);
}

/* Write the request into staging at @off; the descriptor's payload. */
static void
fill(struct hgca *h, const struct hgca_attend *a, const struct attend_layout *lo,
     uint64_t off, struct hgca_sqe_stage *st)
{
	unsigned char *base = h->stage + off;
	struct hgca_wire_attend *w = (struct hgca_wire_attend *)base;

	memset(w, 0, sizeof(*w));
	w->model = a->model;
	w->layer = a->layer;
	w->nseq = a->nseq;
	w->qlen = a->qlen;
	w->out_dtype = a->out_dtype;
	w->seqs_off = off + lo->seqs;
	memcpy(base + lo->seqs, a->seqs, a->nseq * sizeof(uint32_t));
	if (a->pos) {
		w->flags |= HGCA_ATTEND_F_POS;
		w->pos_off = off + lo->pos;
		memcpy(base + lo->pos, a->pos, a->nseq * sizeof(int64_t));
	}
	w->q_off = off + lo->q;
	w->q_len = lo->q_len;
	memcpy(base + lo->q, a->q, lo->q_len);
	w->out_off = off + lo->out;
	w->out_len = lo->out_len;
	if (a->stats) {
		w->flags |= HGCA_ATTEND_F_STATS;
		w->stats_off = off + lo->stats;
		w->stats_len = lo->stats_len;
	}
	if (a->policy) {
		w->flags |= HGCA_ATTEND_F_POLICY;
		strcpy(w->policy, a->policy);
	}
	memset(st, 0, sizeof(*st));
	st->off = off;
	st->len = sizeof(*w);
}

/* Where the completion's results go. */
static void
bind_results(struct client_slot *s, const struct hgca_attend *a,
	     const struct attend_layout *lo, uint64_t off)
{
	s->out = a->out;
	s->out_off = off + lo->out;
	s->out_len = lo->out_len;
	s->stats = a->stats;
	s->stats_off = off + lo->stats;
	s->nstats = lo->stats_len / sizeof(struct hgca_wire_stats);
}

int
hgca_attend_prep(struct hgca *h, uint64_t tag, const struct hgca_attend *a)
{
	struct client_model *cm;
	struct attend_layout lo;
	struct client_slot *s;
	struct hgca_sqe *sqe;
	uint64_t off, wire;
	uint32_t ext;
	int rc;

	if (!h)
		return -EINVAL;
	if ((rc = client_prep_check(h)) < 0)
		return rc;
	if ((rc = check(h, a, &cm)) < 0)
		return rc;
	layout(a, cm, &lo);
	if (!(sqe = client_sqe_next(h)))
		return h->err ? h->err : -EAGAIN;
	if ((rc = client_stage_alloc(h, lo.total, &off, &ext)) < 0)
		return rc;
	s = client_slot_get(h, SLOT_USER, tag, &wire);
	s->has_ext = true;
	s->ext = ext;
	bind_results(s, a, &lo, off);
	fill(h, a, &lo, off, &sqe->u.stage);
	sqe->opcode = HGCA_OP_ATTEND;
	sqe->tag = wire;
	h->prepared++;
	h->attends++;
	return 0;
}

int
hgca_attend_submit(struct hgca *h, uint64_t tag, const struct hgca_attend *a)
{
	int rc = hgca_attend_prep(h, tag, a);

	if (rc == 0)
		rc = hgca_submit(h);
	return rc < 0 ? rc : 0;
}

/*
 * Attends learn their waits apart from the handle's other calls.  Their
 * waits are the workers' time over the whole context, far longer than an
 * append's or a model call's: learned apart, a long attend sleeps at once
 * (a spin only takes a core from the workers computing it, which on a
 * small host are all of them), while the short calls between attends keep
 * spinning for their quick answers.  client_spin_swap() puts the attends'
 * learning in force and, called again, puts the handle's back: a
 * synchronous attend runs between the two, and so does hgca_wait() while
 * an attend of the caller's is in flight.
 */
void
client_spin_swap(struct hgca *h)
{
	struct shm_spin t = h->spin;

	h->spin = h->attend_spin;
	h->attend_spin = t;
}

static int
attend_call(struct hgca *h, struct client_slot *s, struct hgca_sqe *sqe)
{
	int rc;

	client_spin_swap(h);
	rc = client_call(h, s, sqe, NULL);
	client_spin_swap(h);
	return rc;
}

int
hgca_attend(struct hgca *h, const struct hgca_attend *a)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_ATTEND };
	struct client_model *cm;
	struct attend_layout lo;
	struct client_slot *s;
	uint64_t off;
	int rc;

	if (!h)
		return -EINVAL;
	if ((rc = client_usable(h)) < 0)
		return rc;
	if ((rc = check(h, a, &cm)) < 0)
		return rc;
	layout(a, cm, &lo);
	if ((rc = client_sync_slot(h, lo.total, &s, &off)) < 0)
		return rc;
	fill(h, a, &lo, off, &sqe.u.stage);
	bind_results(s, a, &lo, off);
	return attend_call(h, s, &sqe);
}
