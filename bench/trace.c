/* trace.c - writer and loader of the trace format of trace.h and
 * hgca-trace(5). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/trace.h"

#define TRACE_HASH_MUL 0x9e3779b97f4a7c15ull
#define TRACE_MAX_TOKENS (1ll << 40)
#define TRACE_MAX_BYTES (1ull << 62)
#define TRACE_CHUNK (1u << 20)	/* bytes per write through the bounce buffer */

/* Byte offsets of the header fields (hgca-trace(5)). */
enum {
	OFF_MAGIC = 0, OFF_VERSION = 8, OFF_BOM = 12, OFF_HSIZE = 16,
	OFF_DTYPE = 20, OFF_LAYERS = 24, OFF_HQ = 28, OFF_HKV = 32, OFF_D = 36,
	OFF_TOKENS = 40, OFF_STEPS = 48, OFF_SCALE = 52, OFF_RESERVED = 56,
	OFF_CHECKSUM = 120,
};

struct trace_writer {
	int fd;
	struct trace_dims dm;
	int64_t blocks;		/* blocks written so far */
	unsigned char *buf;	/* TRACE_CHUNK bounce buffer */
};

struct trace {
	int fd;
	struct trace_dims dm;
	int64_t *pos;
};

/* ---- little-endian encoding ---------------------------------------- */

static int
host_is_le(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 1;
}

/* Reverse the bytes of @n elements of @size bytes in place, on a
 * big-endian host only (the format is little-endian). */
static void
to_from_le(void *p, size_t size, size_t n)
{
	unsigned char *b = p, t;

	if (host_is_le() || size == 1)
		return;
	for (size_t i = 0; i < n; i++, b += size)
		for (size_t j = 0; j < size / 2; j++) {
			t = b[j];
			b[j] = b[size - 1 - j];
			b[size - 1 - j] = t;
		}
}

static uint64_t
get_le(const unsigned char *b, int size)
{
	uint64_t x = 0;

	for (int i = size - 1; i >= 0; i--)
		x = x << 8 | b[i];
	return x;
}

static void
put_le(unsigned char *b, uint64_t x, int size)
{
	for (int i = 0; i < size; i++, x >>= 8)
		b[i] = (unsigned char)x;
}

/* ---- checksum ------------------------------------------------------- */

static uint64_t
hash_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * TRACE_HASH_MUL;
	return h ^ (h >> 29);
}

void
trace_hash_init(struct trace_hash *th)
{
	memset(th, 0, sizeof(*th));
	th->h = 0x6867636174726331ull;	/* "hgcatrc1" */
}

void
trace_hash_add(struct trace_hash *th, const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned used = (unsigned)(th->len & 7);

	th->len += n;
	if (used) {
		size_t take = 8 - used < n ? 8 - used : n;
		memcpy(th->tail + used, b, take);
		b += take, n -= take;
		if (used + take < 8)
			return;
		th->h = hash_word(th->h, get_le(th->tail, 8));
	}
	for (; n >= 8; b += 8, n -= 8)
		th->h = hash_word(th->h, get_le(b, 8));
	memcpy(th->tail, b, n);
}

uint64_t
trace_hash_end(const struct trace_hash *th)
{
	unsigned used = (unsigned)(th->len & 7);
	unsigned char last[8] = { 0 };
	uint64_t h = th->h;

	if (used) {
		memcpy(last, th->tail, used);
		h = hash_word(h, get_le(last, 8));
	}
	h = hash_word(h, th->len);
	h ^= h >> 31;
	return h * 0xbf58476d1ce4e5b9ull ^ (h >> 27);
}

uint64_t
trace_checksum(const void *p, size_t n)
{
	struct trace_hash th;

	trace_hash_init(&th);
	trace_hash_add(&th, p, n);
	return trace_hash_end(&th);
}

/* ---- dimensions ----------------------------------------------------- */

int
trace_dims_check(const struct trace_dims *dm)
{
	if (!attn_dtype_size(dm->dt) || dm->layers < 1 || dm->hq < 1 ||
	    dm->hkv < 1 || dm->hq % dm->hkv || dm->d < 1 || dm->d > TRACE_MAX_D ||
	    dm->tokens < 1 || dm->tokens > TRACE_MAX_TOKENS || dm->steps < 1 ||
	    !isfinite(dm->scale) || dm->scale < 0.0f)
		return -EINVAL;
	/* Every factor is bounded above, so the products cannot overflow
	 * before this check: tokens * d * 4 * 2 < 2^53, times layers * hkv
	 * (< 2^62) checked by division. */
	if (trace_block_bytes(dm) > TRACE_MAX_BYTES / ((uint64_t)dm->layers * dm->hkv))
		return -EINVAL;
	return 0;
}

float
trace_scale(const struct trace_dims *dm)
{
	return dm->scale > 0.0f ? dm->scale : (float)(1.0 / sqrt((double)dm->d));
}

static uint64_t
q_bytes(const struct trace_dims *dm)
{
	return (uint64_t)dm->steps * (dm->hq / dm->hkv) * dm->d * sizeof(float);
}

static uint64_t
kv_bytes(const struct trace_dims *dm)
{
	return (uint64_t)dm->tokens * dm->d * attn_dtype_size(dm->dt);
}

uint64_t
trace_block_bytes(const struct trace_dims *dm)
{
	return q_bytes(dm) + 2 * kv_bytes(dm) + 8;
}

static uint64_t
blocks_offset(const struct trace_dims *dm)
{
	return TRACE_HEADER_SIZE + 8 * (uint64_t)dm->steps;
}

uint64_t
trace_file_bytes(const struct trace_dims *dm)
{
	return blocks_offset(dm) + (uint64_t)dm->layers * dm->hkv * trace_block_bytes(dm);
}

/* Positions lie in [0, tokens) and never decrease. */
static int
pos_check(const struct trace_dims *dm, const int64_t *pos)
{
	for (int t = 0; t < dm->steps; t++)
		if (pos[t] < 0 || pos[t] >= dm->tokens || (t && pos[t] < pos[t - 1]))
			return -EINVAL;
	return 0;
}

/* ---- header --------------------------------------------------------- */

static void
header_encode(const struct trace_dims *dm, unsigned char *h)
{
	uint32_t scale;

	memset(h, 0, TRACE_HEADER_SIZE);
	memcpy(h + OFF_MAGIC, TRACE_MAGIC, sizeof(TRACE_MAGIC));
	put_le(h + OFF_VERSION, TRACE_VERSION, 4);
	put_le(h + OFF_BOM, TRACE_BOM, 4);
	put_le(h + OFF_HSIZE, TRACE_HEADER_SIZE, 4);
	put_le(h + OFF_DTYPE, (uint32_t)dm->dt, 4);
	put_le(h + OFF_LAYERS, (uint32_t)dm->layers, 4);
	put_le(h + OFF_HQ, (uint32_t)dm->hq, 4);
	put_le(h + OFF_HKV, (uint32_t)dm->hkv, 4);
	put_le(h + OFF_D, (uint32_t)dm->d, 4);
	put_le(h + OFF_TOKENS, (uint64_t)dm->tokens, 8);
	put_le(h + OFF_STEPS, (uint32_t)dm->steps, 4);
	memcpy(&scale, &dm->scale, 4);
	put_le(h + OFF_SCALE, scale, 4);
}

/* The checks that say whether this is a trace of this version at all. */
static int
header_identify(const unsigned char *h)
{
	if (memcmp(h + OFF_MAGIC, TRACE_MAGIC, sizeof(TRACE_MAGIC)) ||
	    get_le(h + OFF_VERSION, 4) != TRACE_VERSION ||
	    get_le(h + OFF_BOM, 4) != TRACE_BOM ||
	    get_le(h + OFF_HSIZE, 4) != TRACE_HEADER_SIZE)
		return -EPROTO;
	for (int i = OFF_RESERVED; i < OFF_CHECKSUM; i++)
		if (h[i])
			return -EPROTO;
	return 0;
}

/* Header fields into @dm; values too large for an int become -1 so that
 * trace_dims_check rejects them. */
static void
header_decode(const unsigned char *h, struct trace_dims *dm)
{
	static const int offs[] = { OFF_DTYPE, OFF_LAYERS, OFF_HQ, OFF_HKV, OFF_D, OFF_STEPS };
	int *dst[] = { NULL, &dm->layers, &dm->hq, &dm->hkv, &dm->d, &dm->steps };
	uint64_t tokens = get_le(h + OFF_TOKENS, 8);
	uint32_t scale = (uint32_t)get_le(h + OFF_SCALE, 4);

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint64_t x = get_le(h + offs[i], 4);
		int v = x > 0x7fffffff ? -1 : (int)x;
		if (dst[i])
			*dst[i] = v;
		else
			dm->dt = (enum attn_dtype)(v < 0 ? 99 : v);
	}
	dm->tokens = tokens > (uint64_t)TRACE_MAX_TOKENS ? -1 : (int64_t)tokens;
	memcpy(&dm->scale, &scale, 4);
}

/* ---- I/O ------------------------------------------------------------ */

static int
write_all(int fd, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		b += r, n -= (size_t)r;
	}
	return 0;
}

/* Read exactly @n bytes at @off; a short read (end of file) is -EIO. */
static int
pread_all(int fd, void *p, size_t n, uint64_t off)
{
	char *b = p;

	while (n) {
		ssize_t r = pread(fd, b, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		b += r, n -= (size_t)r, off += (uint64_t)r;
	}
	return 0;
}

/* Write @n elements of @size bytes in little-endian order through the
 * bounce buffer, adding the stored bytes to @th. */
static int
write_array(struct trace_writer *w, struct trace_hash *th, const void *p,
	    size_t size, size_t n)
{
	const char *b = p;
	size_t per = TRACE_CHUNK / size;

	while (n) {
		size_t m = n < per ? n : per;
		memcpy(w->buf, b, m * size);
		to_from_le(w->buf, size, m);
		trace_hash_add(th, w->buf, m * size);
		if (write_all(w->fd, w->buf, m * size))
			return -EIO;
		b += m * size, n -= m;
	}
	return 0;
}

/* ---- writer --------------------------------------------------------- */

static int
writer_header(struct trace_writer *w, const int64_t *pos)
{
	size_t npos = (size_t)w->dm.steps;
	unsigned char h[TRACE_HEADER_SIZE], *p = malloc(npos * 8);
	struct trace_hash th;
	int err = -ENOMEM;

	if (!p)
		return err;
	for (size_t t = 0; t < npos; t++)
		put_le(p + 8 * t, (uint64_t)pos[t], 8);
	header_encode(&w->dm, h);
	trace_hash_init(&th);
	trace_hash_add(&th, h, sizeof(h));
	trace_hash_add(&th, p, npos * 8);
	put_le(h + OFF_CHECKSUM, trace_hash_end(&th), 8);
	err = write_all(w->fd, h, sizeof(h));
	if (!err)
		err = write_all(w->fd, p, npos * 8);
	free(p);
	return err;
}

int
trace_writer_open(struct trace_writer **out, const char *path,
		  const struct trace_dims *dm, const int64_t *pos)
{
	struct trace_writer *w;
	int err;

	if (trace_dims_check(dm) || pos_check(dm, pos))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dm = *dm;
	w->buf = malloc(TRACE_CHUNK);
	if (!w->buf) {
		err = -ENOMEM;
		goto out_free;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		err = -errno;
		goto out_free;
	}
	err = writer_header(w, pos);
	if (err)
		goto out_close;
	*out = w;
	return 0;
out_close:
	close(w->fd);
out_free:
	free(w->buf);
	free(w);
	return err;
}

int
trace_writer_put(struct trace_writer *w, const float *q, const void *k,
		 const void *v)
{
	const struct trace_dims *dm = &w->dm;
	size_t es = attn_dtype_size(dm->dt), nkv = (size_t)dm->tokens * dm->d;
	struct trace_hash th;
	unsigned char word[8];
	int err;

	if (w->fd < 0)
		return -EIO;
	if (w->blocks == (int64_t)dm->layers * dm->hkv)
		return -EINVAL;
	trace_hash_init(&th);
	err = write_array(w, &th, q, sizeof(float), q_bytes(dm) / sizeof(float));
	if (!err)
		err = write_array(w, &th, k, es, nkv);
	if (!err)
		err = write_array(w, &th, v, es, nkv);
	put_le(word, trace_hash_end(&th), 8);
	if (!err)
		err = write_all(w->fd, word, 8);
	if (err) {
		/* A partial block cannot be undone: refuse everything after. */
		close(w->fd);
		w->fd = -1;
		return err;
	}
	w->blocks++;
	return 0;
}

int
trace_writer_close(struct trace_writer *w)
{
	int err = 0;

	if (w->fd < 0)
		err = -EIO;
	else if (w->blocks != (int64_t)w->dm.layers * w->dm.hkv)
		err = -EINVAL;
	if (w->fd >= 0 && close(w->fd) && !err)
		err = -EIO;
	free(w->buf);
	free(w);
	return err;
}

/* ---- loader --------------------------------------------------------- */

/* Header and positions of a file of @size bytes: identify, checksum,
 * fields, positions, size. */
static int
trace_load_header(struct trace *t, uint64_t size)
{
	unsigned char h[TRACE_HEADER_SIZE];
	struct trace_hash th;
	uint64_t want, npos;
	int err;

	/* A short file that does not even start like a trace is not one. */
	memset(h, 0, sizeof(h));
	if (pread_all(t->fd, h, size < sizeof(h) ? size : sizeof(h), 0))
		return -EIO;
	if (memcmp(h, TRACE_MAGIC, size < 8 ? size : 8))
		return -EPROTO;
	if (size < sizeof(h))
		return -EIO;
	err = header_identify(h);
	if (err)
		return err;
	want = get_le(h + OFF_CHECKSUM, 8);
	put_le(h + OFF_CHECKSUM, 0, 8);
	header_decode(h, &t->dm);
	/* The positions' count is a field not yet checked: bound it by the
	 * file's size before allocating. */
	npos = t->dm.steps < 1 ? 0 : (uint64_t)t->dm.steps;
	if (npos > (size - TRACE_HEADER_SIZE) / 8)
		return -EIO;
	t->pos = malloc(npos ? npos * 8 : 1);
	if (!t->pos)
		return -ENOMEM;
	if (pread_all(t->fd, t->pos, npos * 8, TRACE_HEADER_SIZE))
		return -EIO;
	trace_hash_init(&th);
	trace_hash_add(&th, h, sizeof(h));
	trace_hash_add(&th, t->pos, npos * 8);
	if (trace_hash_end(&th) != want)
		return -EBADMSG;
	to_from_le(t->pos, 8, npos);
	if (trace_dims_check(&t->dm) || pos_check(&t->dm, t->pos))
		return -EINVAL;
	if (size < trace_file_bytes(&t->dm))
		return -EIO;
	return size > trace_file_bytes(&t->dm) ? -EPROTO : 0;
}

int
trace_open(struct trace **out, const char *path)
{
	struct trace *t = calloc(1, sizeof(*t));
	struct stat st;
	int err;

	if (!t)
		return -ENOMEM;
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0) {
		err = -errno;
		free(t);
		return err;
	}
	if (fstat(t->fd, &st))
		err = -EIO;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	else
		err = trace_load_header(t, (uint64_t)st.st_size);
	if (err) {
		trace_close(t);
		return err;
	}
	*out = t;
	return 0;
}

const struct trace_dims *
trace_get_dims(const struct trace *t)
{
	return &t->dm;
}

const int64_t *
trace_get_pos(const struct trace *t)
{
	return t->pos;
}

int
trace_read(struct trace *t, int layer, int kvh, float *q, void *k, void *v)
{
	const struct trace_dims *dm = &t->dm;
	size_t es = attn_dtype_size(dm->dt), nkv = (size_t)dm->tokens * dm->d;
	uint64_t off, qb = q_bytes(dm), kb = kv_bytes(dm);
	unsigned char word[8];
	struct trace_hash th;

	if (layer < 0 || layer >= dm->layers || kvh < 0 || kvh >= dm->hkv)
		return -EINVAL;
	off = blocks_offset(dm) + ((uint64_t)layer * dm->hkv + kvh) * trace_block_bytes(dm);
	if (pread_all(t->fd, q, qb, off) || pread_all(t->fd, k, kb, off + qb) ||
	    pread_all(t->fd, v, kb, off + qb + kb) ||
	    pread_all(t->fd, word, 8, off + qb + 2 * kb))
		return -EIO;
	trace_hash_init(&th);
	trace_hash_add(&th, q, qb);
	trace_hash_add(&th, k, kb);
	trace_hash_add(&th, v, kb);
	if (trace_hash_end(&th) != get_le(word, 8))
		return -EBADMSG;
	to_from_le(q, sizeof(float), qb / sizeof(float));
	to_from_le(k, es, nkv);
	to_from_le(v, es, nkv);
	return 0;
}

void
trace_close(struct trace *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t->pos);
	free(t);
}
