/*
 * service.c - models, sequences and KV appends (hgca_model_declare(3),
 * hgca_seq_open(3), hgca_kv_append(3)).  Each call is one synchronous
 * request (several for a long append); the handle remembers the shapes of
 * its models and which model each open sequence belongs to, so that it can
 * size buffers and refuse what the daemon would refuse without a round
 * trip.  The daemon checks everything again.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_pvt.h"

#define SEQ_DELETED UINT32_MAX
#define APPEND_CHUNK_MAX ((uint64_t)8 << 20)	/* K+V bytes per request */

/* ---- the handle's tables ---- */

struct client_model *
client_model_find(struct hgca *h, uint32_t id)
{
	for (int i = 0; id && i < CLIENT_MODELS; i++)
		if (h->models[i].id == id)
			return &h->models[i];
	return NULL;
}

static uint32_t
seq_hash(uint32_t id, uint32_t cap)
{
	return (id * 2654435761u) & (cap - 1);
}

/* The slot of @id in the map, or of the empty slot where it would go. */
static uint32_t
seq_find(const struct client_seqmap *m, uint32_t id)
{
	uint32_t i = seq_hash(id, m->cap);

	while (m->key[i] && m->key[i] != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

struct client_model *
client_seq_model(struct hgca *h, uint32_t seq)
{
	struct client_seqmap *m = &h->seqs;
	uint32_t i;

	if (!m->cap || !seq || seq == SEQ_DELETED)
		return NULL;
	i = seq_find(m, seq);
	return m->key[i] ? &h->models[m->model[i]] : NULL;
}

/* Rebuild the map with room for twice the live entries. */
static int
seq_grow(struct client_seqmap *m)
{
	struct client_seqmap n = { .cap = m->cap ? m->cap : 64 };

	while (n.cap < 4 * (m->live + 1))
		n.cap *= 2;
	n.key = calloc(n.cap, sizeof(*n.key));
	n.model = calloc(n.cap, sizeof(*n.model));
	if (!n.key || !n.model) {
		free(n.key);
		free(n.model);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->key[i] && m->key[i] != SEQ_DELETED) {
			uint32_t j = seq_find(&n, m->key[i]);

			n.key[j] = m->key[i];
			n.model[j] = m->model[i];
			n.used++;
			n.live++;
		}
	free(m->key);
	free(m->model);
	*m = n;
	return 0;
}

static int
seq_add(struct hgca *h, uint32_t seq, const struct client_model *cm)
{
	struct client_seqmap *m = &h->seqs;
	uint32_t i;

	if (2 * (m->used + 1) > m->cap && seq_grow(m) < 0)
		return -ENOMEM;
	i = seq_find(m, seq);
	if (!m->key[i])
		m->used++;
	m->key[i] = seq;
	m->model[i] = (uint8_t)(cm - h->models);
	m->live++;
	return 0;
}

static void
seq_del(struct hgca *h, uint32_t seq)
{
	struct client_seqmap *m = &h->seqs;
	uint32_t i = seq_find(m, seq);

	if (m->key[i]) {
		m->key[i] = SEQ_DELETED;	/* probes go on past it */
		m->live--;
	}
}

/* ---- models ---- */

static bool
model_args_ok(const struct hgca_model *m)
{
	return m && !m->reserved[0] && !m->reserved[1] && !m->reserved[2] &&
	       !m->reserved[3] && m->kv_dtype <= HGCA_DTYPE_F16 &&
	       (!m->policy || strlen(m->policy) < HGCA_POLICY_MAX);
}

static void
wire_model(struct hgca_wire_model *w, const struct hgca_model *m)
{
	memset(w, 0, sizeof(*w));
	w->layers = m->layers;
	w->hq = m->hq;
	w->hkv = m->hkv;
	w->d = m->d;
	w->dtype = m->kv_dtype;
	w->window = m->window;
	w->page = m->page;
	w->scale = m->scale;
	if (m->policy)
		strcpy(w->policy, m->policy);
}

/* Remember a declared model; -ENOMEM never happens: the daemon allows as
 * many models as the table holds. */
static void
model_keep(struct hgca *h, uint32_t id, const struct hgca_model *m)
{
	struct client_model *cm = NULL;

	for (int i = 0; !cm && i < CLIENT_MODELS; i++)
		if (!h->models[i].id)
			cm = &h->models[i];
	if (!cm)
		return;
	*cm = (struct client_model){ .id = id, .layers = m->layers,
				     .hq = m->hq, .hkv = m->hkv, .d = m->d,
				     .dtype = m->kv_dtype };
}

int
hgca_model_declare(struct hgca *h, const struct hgca_model *m, uint32_t *model)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_MODEL_DECLARE };
	struct client_slot *s;
	uint64_t off, id;
	int rc;

	if (!h || !model_args_ok(m) || !model)
		return -EINVAL;
	if ((rc = client_usable(h)) < 0)
		return rc;
	rc = client_sync_slot(h, sizeof(struct hgca_wire_model), &s, &off);
	if (rc < 0)
		return rc;
	wire_model((struct hgca_wire_model *)(h->stage + off), m);
	sqe.u.stage.off = off;
	sqe.u.stage.len = sizeof(struct hgca_wire_model);
	rc = client_call(h, s, &sqe, &id);
	if (rc == 0) {
		*model = (uint32_t)id;
		model_keep(h, (uint32_t)id, m);
	}
	return rc;
}

/* ---- sequences ---- */

/* One SEQ_* request; its value in *val. */
static int
seq_call(struct hgca *h, uint8_t op, const struct hgca_sqe_seq *args,
	 uint64_t *val)
{
	struct hgca_sqe sqe = { .opcode = op };
	struct client_slot *s;
	int rc;

	if ((rc = client_usable(h)) < 0)
		return rc;
	if ((rc = client_sync_slot(h, 0, &s, NULL)) < 0)
		return rc;
	sqe.u.seq = *args;
	return client_call(h, s, &sqe, val);
}

int
hgca_seq_open(struct hgca *h, uint32_t model, uint32_t *seq)
{
	struct hgca_sqe_seq a = { .model = model };
	struct client_model *cm;
	uint64_t id;
	int rc;

	if (!h || !seq)
		return -EINVAL;
	if (!h->base)
		return -EINVAL;
	if (!(cm = client_model_find(h, model)))
		return -ENOENT;
	rc = seq_call(h, HGCA_OP_SEQ_OPEN, &a, &id);
	if (rc < 0)
		return rc;
	if ((rc = seq_add(h, (uint32_t)id, cm)) < 0) {
		struct hgca_sqe_seq c = { .seq = (uint32_t)id };

		seq_call(h, HGCA_OP_SEQ_CLOSE, &c, &id);
		return rc;
	}
	*seq = (uint32_t)id;
	return 0;
}

int
hgca_seq_close(struct hgca *h, uint32_t seq)
{
	struct hgca_sqe_seq a = { .seq = seq };
	uint64_t v;
	int rc;

	if (!h || !h->base)
		return -EINVAL;
	if (!client_seq_model(h, seq))
		return -ENOENT;
	rc = seq_call(h, HGCA_OP_SEQ_CLOSE, &a, &v);
	if (rc == 0 || rc == -ENOENT)
		seq_del(h, seq);
	return rc;
}

int
hgca_seq_truncate(struct hgca *h, uint32_t seq, uint64_t n)
{
	struct hgca_sqe_seq a = { .seq = seq, .n = n };
	uint64_t v;

	if (!h || !h->base || n > INT64_MAX)
		return -EINVAL;
	if (!client_seq_model(h, seq))
		return -ENOENT;
	return seq_call(h, HGCA_OP_SEQ_TRUNCATE, &a, &v);
}

int
hgca_seq_length(struct hgca *h, uint32_t seq, uint32_t layer, uint64_t *len)
{
	struct hgca_sqe_seq a = { .seq = seq, .layer = layer };
	struct client_model *cm;

	if (!h || !h->base || !len)
		return -EINVAL;
	if (!(cm = client_seq_model(h, seq)))
		return -ENOENT;
	if (layer >= cm->layers)
		return -EINVAL;
	return seq_call(h, HGCA_OP_SEQ_LENGTH, &a, len);
}

/* ---- KV ---- */

static uint64_t
dtype_size(uint32_t dt)
{
	return dt == HGCA_DTYPE_F32 ? 4 : 2;
}

/* Tokens per request: K+V within a quarter of the arena and the cap, so
 * that one append never holds the daemon's poller for long. */
static uint64_t
append_chunk(const struct hgca *h, uint64_t tok_bytes)
{
	uint64_t cap = h->lo.stage_size / 4;
	uint64_t n;

	if (cap > APPEND_CHUNK_MAX)
		cap = APPEND_CHUNK_MAX;
	n = cap / (2 * tok_bytes + 2 * CLIENT_STAGE_GRAIN);
	return n ? n : 1;
}

/* One request of @n tokens from @k and @v. */
static int
append_one(struct hgca *h, uint32_t seq, uint32_t layer, uint64_t n,
	   const unsigned char *k, const unsigned char *v, uint64_t bytes)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_KV_APPEND };
	uint64_t grain = CLIENT_STAGE_GRAIN, vo, off, len;
	struct client_slot *s;
	int rc;

	vo = (bytes + grain - 1) & ~(grain - 1);
	rc = client_sync_slot(h, 2 * vo, &s, &off);
	if (rc < 0)
		return rc;
	memcpy(h->stage + off, k, bytes);
	memcpy(h->stage + off + vo, v, bytes);
	sqe.u.append = (struct hgca_sqe_append){
		.seq = seq, .layer = layer, .n = n, .k_off = off,
		.v_off = off + vo, .bytes = bytes };
	return client_call(h, s, &sqe, &len);
}

int
hgca_kv_append(struct hgca *h, uint32_t seq, uint32_t layer, uint64_t n,
	       const void *k, const void *v)
{
	struct client_model *cm;
	uint64_t tok, step;
	int rc;

	if (!h || !h->base || !k || !v || n == 0)
		return -EINVAL;
	if ((rc = client_usable(h)) < 0)
		return rc;
	if (!(cm = client_seq_model(h, seq)))
		return -ENOENT;
	if (layer >= cm->layers)
		return -EINVAL;
	tok = (uint64_t)cm->hkv * cm->d * dtype_size(cm->dtype);
	step = append_chunk(h, tok);
	for (uint64_t t = 0; t < n; t += step) {
		uint64_t m = n - t < step ? n - t : step;

		rc = append_one(h, seq, layer, m,
				(const unsigned char *)k + t * tok,
				(const unsigned char *)v + t * tok, m * tok);
		if (rc < 0)
			return rc;
	}
	return 0;
}
