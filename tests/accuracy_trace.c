/* accuracy_trace - the trace format of bench/trace.h (hgca-trace(5)): traces
 * written by the writer read back bit for bit for every dtype and odd
 * sizes; the checksum is the same over any split of its input; truncated,
 * corrupt, foreign and inconsistent files and bad writer calls are refused
 * with the documented errno. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/trace.h"
#include "tests/ref64.h"
#include "tests/tap.h"

static char dir[] = "/tmp/hgca-trace-XXXXXX";
static char path[256];

/* One trace in memory. */
struct tdata {
	struct trace_dims dm;
	int64_t *pos;
	float *q;		/* [layers * hkv][steps][G][d] */
	unsigned char *k, *v;	/* [layers * hkv][tokens][d] of dt */
};

static size_t
nq(const struct trace_dims *dm)
{
	return (size_t)dm->steps * (dm->hq / dm->hkv) * dm->d;
}

static size_t
nkvb(const struct trace_dims *dm)
{
	return (size_t)dm->tokens * dm->d * attn_dtype_size(dm->dt);
}

static void
tdata_make(struct rng *r, const struct trace_dims *dm, struct tdata *td)
{
	size_t nb = (size_t)dm->layers * dm->hkv;

	td->dm = *dm;
	td->pos = malloc((size_t)dm->steps * sizeof(int64_t));
	td->q = malloc(nb * nq(dm) * sizeof(float));
	td->k = malloc(nb * nkvb(dm));
	td->v = malloc(nb * nkvb(dm));
	ref64_fill_normal(r, td->q, nb * nq(dm), 3.0);
	for (size_t i = 0; i < nb * nkvb(dm); i++) {
		td->k[i] = (unsigned char)rng_next(r);
		td->v[i] = (unsigned char)rng_next(r);
	}
	/* Decode positions: the last steps tokens, in order. */
	for (int t = 0; t < dm->steps; t++)
		td->pos[t] = dm->tokens - dm->steps + t < 0 ? 0 : dm->tokens - dm->steps + t;
}

static void
tdata_free(struct tdata *td)
{
	free(td->pos);
	free(td->q);
	free(td->k);
	free(td->v);
}

static int
tdata_write(const struct tdata *td, const char *p)
{
	const struct trace_dims *dm = &td->dm;
	struct trace_writer *w;
	int err = trace_writer_open(&w, p, dm, td->pos);

	if (err)
		return err;
	for (int b = 0; b < dm->layers * dm->hkv && !err; b++)
		err = trace_writer_put(w, td->q + b * nq(dm), td->k + b * nkvb(dm),
				       td->v + b * nkvb(dm));
	if (err) {
		trace_writer_close(w);
		return err;
	}
	return trace_writer_close(w);
}

/* Read everything back through the loader, blocks in reverse order;
 * 0 when all of it is bit-identical. */
static int
tdata_verify(const struct tdata *td, const char *p)
{
	const struct trace_dims *dm = &td->dm;
	float *q = malloc(nq(dm) * sizeof(float));
	unsigned char *k = malloc(nkvb(dm)), *v = malloc(nkvb(dm));
	struct trace *t;
	int err = trace_open(&t, p), bad = 0;

	if (err)
		goto out;
	const struct trace_dims *got = trace_get_dims(t);
	bad |= got->dt != dm->dt || got->layers != dm->layers || got->hq != dm->hq ||
	       got->hkv != dm->hkv || got->d != dm->d || got->tokens != dm->tokens ||
	       got->steps != dm->steps || memcmp(&got->scale, &dm->scale, 4);
	bad |= memcmp(trace_get_pos(t), td->pos, (size_t)dm->steps * 8) != 0;
	for (int b = dm->layers * dm->hkv - 1; b >= 0 && !err; b--) {
		err = trace_read(t, b / dm->hkv, b % dm->hkv, q, k, v);
		bad |= memcmp(q, td->q + b * nq(dm), nq(dm) * sizeof(float)) ||
		       memcmp(k, td->k + b * nkvb(dm), nkvb(dm)) ||
		       memcmp(v, td->v + b * nkvb(dm), nkvb(dm));
	}
	trace_close(t);
out:
	free(q);
	free(k);
	free(v);
	return err ? err : bad ? -1 : 0;
}

static const struct trace_dims rt_cases[] = {
	{ ATTN_F32, 1, 1, 1, 1, 1, 1, 0.0f },
	{ ATTN_BF16, 2, 8, 2, 128, 1000, 5, 0.0f },
	{ ATTN_F16, 3, 6, 3, 7, 33, 3, 0.125f },	/* odd sizes: hash tails */
	{ ATTN_BF16, 1, 4, 4, 64, 4097, 1, 0.0f },
	{ ATTN_F32, 2, 2, 1, 5, 3, 9, 1.5f },		/* more steps than tokens */
};

static void
test_round_trip(struct rng *r)
{
	for (size_t i = 0; i < sizeof(rt_cases) / sizeof(rt_cases[0]); i++) {
		const struct trace_dims *dm = &rt_cases[i];
		struct tdata td;
		struct stat st;
		int werr, verr;

		tdata_make(r, dm, &td);
		werr = tdata_write(&td, path);
		verr = werr ? werr : tdata_verify(&td, path);
		ok(!werr && !verr && !stat(path, &st) &&
		   (uint64_t)st.st_size == trace_file_bytes(dm),
		   "round trip %s layers=%d hq=%d hkv=%d d=%d tokens=%lld steps=%d: write %d, verify %d",
		   attn_dtype_name(dm->dt), dm->layers, dm->hq, dm->hkv, dm->d,
		   (long long)dm->tokens, dm->steps, werr, verr);
		tdata_free(&td);
	}
}

/* The checksum of a buffer equals the incremental one over splits. */
static void
test_checksum(struct rng *r)
{
	static const size_t splits[][4] = {
		{ 0, 0, 0, 0 }, { 1, 2, 3, 4 }, { 7, 9, 8, 1 }, { 8, 8, 8, 8 },
		{ 0, 13, 0, 5 }, { 100, 1, 1, 1 },
	};
	unsigned char buf[300];
	uint64_t whole;
	int bad = 0, diff = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rng_next(r);
	whole = trace_checksum(buf, sizeof(buf));
	for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
		struct trace_hash th;
		size_t off = 0;
		trace_hash_init(&th);
		for (int j = 0; j < 4; j++) {
			trace_hash_add(&th, buf + off, splits[s][j]);
			off += splits[s][j];
		}
		trace_hash_add(&th, buf + off, sizeof(buf) - off);
		bad += trace_hash_end(&th) != whole;
	}
	ok(!bad, "checksum over %zu splits equals the one-shot checksum", sizeof(splits) / sizeof(splits[0]));
	/* Every single-bit change of the first 64 bytes, and a longer zero
	 * tail, change the checksum. */
	for (int b = 0; b < 64 * 8; b++) {
		buf[b / 8] ^= (unsigned char)(1u << (b % 8));
		diff += trace_checksum(buf, sizeof(buf)) != whole;
		buf[b / 8] ^= (unsigned char)(1u << (b % 8));
	}
	memset(buf + 290, 0, 10);
	ok(diff == 64 * 8 && trace_checksum(buf, 290) != trace_checksum(buf, 291),
	   "checksum sees every bit flip (%d of %d) and the length", diff, 64 * 8);
}

/* ---- corrupt files ---------------------------------------------------- */

/* A valid small trace written to `path`, its bytes kept for patching. */
static unsigned char *good;
static size_t good_len;
static const struct trace_dims small = { ATTN_BF16, 2, 4, 2, 16, 40, 3, 0.0f };

static void
write_bytes(const unsigned char *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void
put32(unsigned char *b, uint32_t x)
{
	for (int i = 0; i < 4; i++, x >>= 8)
		b[i] = (unsigned char)x;
}

static void
put64(unsigned char *b, uint64_t x)
{
	for (int i = 0; i < 8; i++, x >>= 8)
		b[i] = (unsigned char)x;
}

/* Recompute the header checksum of @b over the header and the positions
 * its (patched) steps field says, at most the @steps the file holds. */
static void
fix_header(unsigned char *b, int steps)
{
	uint32_t hs = b[48] | b[49] << 8 | (uint32_t)b[50] << 16 | (uint32_t)b[51] << 24;

	steps = hs < (uint32_t)steps ? (int)hs : steps;
	put64(b + 120, 0);
	put64(b + 120, trace_checksum(b, 128 + 8 * (size_t)steps));
}

struct patch {
	const char *what;
	size_t off;		/* byte offset */
	int width;		/* 4 or 8: little-endian value; 1: xor a byte */
	uint64_t val;
	bool fix;		/* recompute the header checksum after */
	int want;		/* errno from trace_open */
};

#define POS0 128
static const struct patch patches[] = {
	{ "bad magic", 0, 1, 0x20, false, -EPROTO },
	{ "version 2", 8, 4, 2, true, -EPROTO },
	{ "big-endian byte-order mark", 12, 4, 0x04030201, true, -EPROTO },
	{ "header size 64", 16, 4, 64, true, -EPROTO },
	{ "reserved byte set", 77, 1, 0x01, true, -EPROTO },
	{ "header checksum flipped", 121, 1, 0x10, false, -EBADMSG },
	{ "d changed, checksum stale", 36, 4, 8, false, -EBADMSG },
	{ "position changed, checksum stale", POS0, 1, 0x01, false, -EBADMSG },
	{ "unknown dtype", 20, 4, 7, true, -EINVAL },
	{ "zero layers", 24, 4, 0, true, -EINVAL },
	{ "hq not a multiple of hkv", 28, 4, 3, true, -EINVAL },
	{ "zero hkv", 32, 4, 0, true, -EINVAL },
	{ "d = 0", 36, 4, 0, true, -EINVAL },
	{ "d too large", 36, 4, TRACE_MAX_D + 1, true, -EINVAL },
	{ "zero tokens", 40, 8, 0, true, -EINVAL },
	{ "2^63 tokens", 40, 8, 1ull << 63, true, -EINVAL },
	{ "zero steps", 48, 4, 0, true, -EINVAL },
	{ "steps beyond the file", 48, 4, 1u << 30, true, -EIO },
	{ "NaN scale", 52, 4, 0x7fc00000, true, -EINVAL },
	{ "negative scale", 52, 4, 0xbf800000, true, -EINVAL },
	{ "position = tokens", POS0, 8, 40, true, -EINVAL },
	{ "negative position", POS0 + 8, 8, (uint64_t)-1, true, -EINVAL },
	{ "positions decrease", POS0 + 16, 8, 0, true, -EINVAL },
	{ "more tokens than the file holds", 40, 8, 41, true, -EIO },
};

static void
test_patches(void)
{
	unsigned char *b = malloc(good_len);

	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
		const struct patch *p = &patches[i];
		struct trace *t = NULL;
		int err;

		memcpy(b, good, good_len);
		if (p->width == 1)
			b[p->off] ^= (unsigned char)p->val;
		else if (p->width == 4)
			put32(b + p->off, (uint32_t)p->val);
		else
			put64(b + p->off, p->val);
		if (p->fix)
			fix_header(b, small.steps);
		write_bytes(b, good_len);
		err = trace_open(&t, path);
		ok(err == p->want, "%s -> %d (want %d)", p->what, err, p->want);
		if (!err)
			trace_close(t);
	}
	free(b);
}

static void
test_truncation(void)
{
	const size_t cuts[] = { 0, 5, 100, 127, 128 + 4, 128 + 24, 128 + 24 + 100,
				good_len - 1 };

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct trace *t = NULL;
		int err;
		write_bytes(good, cuts[i]);
		err = trace_open(&t, path);
		ok(err == -EIO, "truncated to %zu of %zu bytes -> %d (want -EIO)",
		   cuts[i], good_len, err);
		if (!err)
			trace_close(t);
	}
	/* Longer than its header says: not what this version writes. */
	unsigned char *b = malloc(good_len + 1);
	struct trace *t = NULL;
	int err;
	memcpy(b, good, good_len);
	b[good_len] = 0;
	write_bytes(b, good_len + 1);
	err = trace_open(&t, path);
	ok(err == -EPROTO, "one byte appended -> %d (want -EPROTO)", err);
	if (!err)
		trace_close(t);
	free(b);
}

/* A flipped byte in a block, or in its checksum, fails that block only. */
static void
test_block_corruption(void)
{
	size_t blk = trace_block_bytes(&small), first = 128 + 8 * small.steps;
	const size_t offs[] = { first + 3, first + blk + blk / 2, first + 2 * blk - 1 };
	size_t nq_ = nq(&small), nkv = nkvb(&small);
	float *q = malloc(nq_ * sizeof(float));
	void *k = malloc(nkv), *v = malloc(nkv);

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		int hit = (int)((offs[i] - first) / blk), err[4], bad = 0;
		struct trace *t;
		good[offs[i]] ^= 0x40;
		write_bytes(good, good_len);
		good[offs[i]] ^= 0x40;
		if (trace_open(&t, path)) {
			ok(0, "open with a corrupt block");
			continue;
		}
		for (int b = 0; b < 4; b++) {
			err[b] = trace_read(t, b / 2, b % 2, q, k, v);
			bad += err[b] != (b == hit ? -EBADMSG : 0);
		}
		trace_close(t);
		ok(!bad, "byte %zu flipped: block %d -EBADMSG, others 0 (%d %d %d %d)",
		   offs[i], hit, err[0], err[1], err[2], err[3]);
	}
	free(q);
	free(k);
	free(v);
}

static void
test_open_errors(void)
{
	struct trace *t = NULL;
	unsigned char buf[4], junk[200];
	float q[1];
	int err;

	err = trace_open(&t, "/nonexistent/hgca.trace");
	ok(err == -ENOENT, "missing file -> %d (want -ENOENT)", err);
	err = trace_open(&t, dir);
	ok(err == -EINVAL, "a directory -> %d (want -EINVAL)", err);
	memset(junk, 'x', sizeof(junk));
	write_bytes(junk, sizeof(junk));
	err = trace_open(&t, path);
	ok(err == -EPROTO, "a file of text -> %d (want -EPROTO)", err);
	write_bytes((const unsigned char *)"HG", 2);
	err = trace_open(&t, path);
	ok(err == -EIO, "2 bytes of magic -> %d (want -EIO)", err);
	write_bytes(good, good_len);
	err = trace_open(&t, path);
	if (!err) {
		int e1 = trace_read(t, 2, 0, q, buf, buf), e2 = trace_read(t, 0, 2, q, buf, buf);
		int e3 = trace_read(t, -1, 0, q, buf, buf);
		ok(e1 == -EINVAL && e2 == -EINVAL && e3 == -EINVAL,
		   "read of layer 2, KV head 2, layer -1 -> %d %d %d (want -EINVAL)", e1, e2, e3);
		trace_close(t);
	} else {
		ok(0, "valid file opens: %d", err);
	}
	trace_close(NULL);
}

static void
test_writer_errors(struct rng *r)
{
	struct trace_dims bad[] = { small, small, small, small, small };
	int64_t pos[3] = { 37, 38, 39 }, back[3] = { 38, 37, 39 }, out[3] = { 37, 38, 40 };
	struct trace_writer *w;
	struct tdata td;
	int err, e2;

	bad[0].hq = 3;
	bad[1].dt = (enum attn_dtype)9;
	bad[2].d = 0;
	bad[3].scale = -1.0f;
	bad[4].tokens = 0;
	for (int i = 0; i < 5; i++) {
		err = trace_writer_open(&w, path, &bad[i], pos);
		ok(err == -EINVAL, "writer: bad dims %d -> %d (want -EINVAL)", i, err);
	}
	err = trace_writer_open(&w, path, &small, back);
	e2 = trace_writer_open(&w, path, &small, out);
	ok(err == -EINVAL && e2 == -EINVAL,
	   "writer: decreasing / out-of-range positions -> %d %d (want -EINVAL)", err, e2);
	err = trace_writer_open(&w, "/nonexistent/dir/t.trace", &small, pos);
	ok(err == -ENOENT, "writer: missing directory -> %d (want -ENOENT)", err);

	tdata_make(r, &small, &td);
	err = trace_writer_open(&w, path, &small, td.pos);
	if (err) {
		ok(0, "writer opens: %d", err);
	} else {
		trace_writer_put(w, td.q, td.k, td.v);
		err = trace_writer_close(w);
		ok(err == -EINVAL, "writer: close after 1 of 4 blocks -> %d (want -EINVAL)", err);
	}
	err = trace_writer_open(&w, path, &small, td.pos);
	if (!err) {
		for (int b = 0; b < 4; b++)
			trace_writer_put(w, td.q, td.k, td.v);
		e2 = trace_writer_put(w, td.q, td.k, td.v);
		err = trace_writer_close(w);
		ok(e2 == -EINVAL && err == 0, "writer: a fifth block -> %d (want -EINVAL), close %d", e2, err);
	}
	tdata_free(&td);
}

int
main(void)
{
	struct rng r;
	struct tdata td;

	rng_seed(&r, ref64_seed());
	if (!mkdtemp(dir))
		skip_all("cannot make a temporary directory");
	snprintf(path, sizeof(path), "%s/t.trace", dir);

	test_round_trip(&r);
	test_checksum(&r);

	tdata_make(&r, &small, &td);
	if (tdata_write(&td, path))
		abort();
	good_len = (size_t)trace_file_bytes(&small);
	good = malloc(good_len);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, good, good_len) != (ssize_t)good_len)
		abort();
	close(fd);
	tdata_free(&td);

	test_patches();
	test_truncation();
	test_block_corruption();
	test_open_errors();
	test_writer_errors(&r);

	free(good);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
