/*
 * e2e_quarantine - a broken client (staging offsets outside its region or
 * misaligned, contradictory or reserved fields in the service's
 * descriptors) is quarantined: -EPROTO from then on, the reason logged,
 * its region and pages freed; clients that die or disconnect with attends
 * in flight give every page back too; and a neighbour decoding all along
 * never notices.  hgcactl status shows the pools and the clients' work.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e_help.h"
#include "tests/e2e_raw.h"
#include "tests/ref64.h"
#include "tests/tap.h"
#include "tests/transport_help.h"

static struct td d;
static struct rng rg;
static struct hgca *ctl;

static const struct hgca_model shape = {
	.layers = 1, .hq = 4, .hkv = 2, .d = 32, .kv_dtype = HGCA_DTYPE_BF16,
	.window = 64, .page = 16 };

/* The misbehaving client's state while it plays. */
static struct {
	struct hgca *h;
	struct e2e_model m;
	struct e2e_seq s;
} b;

/* A valid ATTEND at raw_off(), for a misdeed to spoil. */
static void
wire_attend(struct hgca_wire_attend *w, struct hgca_sqe *sqe)
{
	uint64_t base = raw_off(b.h), rows = 4;

	memset(w, 0, sizeof(*w));
	w->model = b.m.id;
	w->nseq = w->qlen = 1;
	w->out_dtype = HGCA_WIRE_F32;
	w->seqs_off = base + 256;
	memcpy(b.h->stage + w->seqs_off, &b.s.id, 4);
	w->q_off = base + 512;
	w->q_len = rows * 32 * 4;
	w->out_off = base + 4096;
	w->out_len = rows * 32 * 4;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = HGCA_OP_ATTEND;
	sqe->u.stage.off = base;
	sqe->u.stage.len = sizeof(*w);
}

static void
attend_misdeed(int kind)
{
	struct hgca_wire_attend *w = (void *)(b.h->stage + raw_off(b.h));
	struct hgca_sqe sqe;

	wire_attend(w, &sqe);
	switch (kind) {
	case 0: sqe.u.stage.off = b.h->lo.stage_size; break;
	case 1: sqe.u.stage.off += 4; break;
	case 2: w->q_off = b.h->lo.stage_size - 64; break;
	case 3: w->out_off = UINT64_MAX - 7; break;
	case 4: w->stats_off = w->out_off + 8192; w->stats_len = 96; break;
	case 5: w->flags = HGCA_ATTEND_F_POLICY;
		memset(w->policy, 'x', sizeof(w->policy)); break;
	case 6: w->rsvd[3] = 1; break;
	case 7: sqe.u.stage.len = sizeof(*w) - 8; break;
	case 8: w->seqs_off = b.h->lo.stage_size - 2; break;
	case 9: w->q_off += 4; break;
	}
	raw_publish(b.h, &sqe);
}

static void a_outside(void) { attend_misdeed(0); }
static void a_misaligned(void) { attend_misdeed(1); }
static void a_q_outside(void) { attend_misdeed(2); }
static void a_out_wraps(void) { attend_misdeed(3); }
static void a_stats_noflag(void) { attend_misdeed(4); }
static void a_policy_unterminated(void) { attend_misdeed(5); }
static void a_rsvd(void) { attend_misdeed(6); }
static void a_len(void) { attend_misdeed(7); }
static void a_seqs_outside(void) { attend_misdeed(8); }
static void a_q_misaligned(void) { attend_misdeed(9); }

static void
append_misdeed(int kind)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_KV_APPEND };
	uint64_t tok = 2 * 32 * 2;

	sqe.u.append = (struct hgca_sqe_append){
		.seq = b.s.id, .n = 4, .k_off = raw_off(b.h),
		.v_off = raw_off(b.h) + 65536, .bytes = 4 * tok };
	switch (kind) {
	case 0: sqe.u.append.k_off = b.h->lo.stage_size - 8; break;
	case 1: sqe.u.append.v_off = sqe.u.append.k_off + 64; break;
	case 2: sqe.u.append.rsvd = 1; break;
	case 3: sqe.u.append.v_off = UINT64_MAX - 63; break;
	}
	raw_publish(b.h, &sqe);
}

static void k_outside(void) { append_misdeed(0); }
static void kv_overlap(void) { append_misdeed(1); }
static void k_rsvd(void) { append_misdeed(2); }
static void v_wraps(void) { append_misdeed(3); }

static void
seq_open_with_seq(void)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_SEQ_OPEN };

	sqe.u.seq.model = b.m.id;
	sqe.u.seq.seq = 5;
	raw_publish(b.h, &sqe);
}

static void
model_outside(void)
{
	struct hgca_sqe sqe = { .opcode = HGCA_OP_MODEL_DECLARE };

	sqe.u.stage.off = b.h->lo.stage_size - 16;
	sqe.u.stage.len = sizeof(struct hgca_wire_model);
	raw_publish(b.h, &sqe);
}

static void
model_rsvd(void)
{
	struct hgca_wire_model *w = (void *)(b.h->stage + raw_off(b.h));
	struct hgca_sqe sqe = { .opcode = HGCA_OP_MODEL_DECLARE };

	memset(w, 0, sizeof(*w));
	w->layers = w->hq = w->hkv = 1;
	w->d = 32;
	w->rsvd[1] = 9;
	sqe.u.stage.off = raw_off(b.h);
	sqe.u.stage.len = sizeof(*w);
	raw_publish(b.h, &sqe);
}

static const struct misdeed {
	const char *name;
	void (*act)(void);
	const char *logged;
} misdeeds[] = {
	{ "ATTEND arguments past the arena", a_outside,
	  "ATTEND: arguments outside the staging arena" },
	{ "ATTEND arguments misaligned", a_misaligned,
	  "ATTEND: arguments outside the staging arena, misaligned" },
	{ "ATTEND arguments of the wrong size", a_len,
	  "ATTEND: arguments outside the staging arena" },
	{ "ATTEND queries past the arena", a_q_outside,
	  "ATTEND: a buffer outside the staging arena" },
	{ "ATTEND queries misaligned", a_q_misaligned,
	  "ATTEND: a buffer outside the staging arena" },
	{ "ATTEND output offset + length wrapping", a_out_wraps,
	  "ATTEND: a buffer outside the staging arena" },
	{ "ATTEND sequence ids past the arena", a_seqs_outside,
	  "ATTEND: a buffer outside the staging arena" },
	{ "ATTEND stats without their flag", a_stats_noflag,
	  "ATTEND: fields contradict the flags" },
	{ "ATTEND policy text not terminated", a_policy_unterminated,
	  "ATTEND: fields contradict the flags" },
	{ "ATTEND reserved field", a_rsvd, "ATTEND: fields contradict" },
	{ "KV_APPEND K past the arena", k_outside, "KV_APPEND: K or V outside" },
	{ "KV_APPEND V offset + length wrapping", v_wraps,
	  "KV_APPEND: K or V outside" },
	{ "KV_APPEND K and V overlapping", kv_overlap,
	  "KV_APPEND: K or V outside" },
	{ "KV_APPEND reserved field", k_rsvd, "KV_APPEND: K or V outside" },
	{ "SEQ_OPEN with a sequence id", seq_open_with_seq,
	  "SEQ: a field the opcode does not use is set" },
	{ "MODEL_DECLARE past the arena", model_outside,
	  "MODEL_DECLARE: model outside the staging arena" },
	{ "MODEL_DECLARE reserved field", model_rsvd,
	  "MODEL_DECLARE: reserved fields set or policy text" },
};

static bool
has_line(void *arg)
{
	return td_log_has(&d, arg);
}

/* Only the neighbour's region is left. */
static bool
one_region(void *arg)
{
	struct hgca_status st;

	(void)arg;
	return hgca_admin_status(ctl, &st) == 0 && st.regions == 1 &&
	       st.clients == 1;
}

static void
check_misdeed(const struct misdeed *md, const struct e2e_neighbour *nb,
	      uint64_t *count)
{
	struct hgca_completion c;
	struct hgca_status st = { 0 };
	struct hgca_info in;
	char logged[256];
	int setup, w, s, sr;
	uint32_t id;
	bool logged_ok, freed, moved;

	b.m.m = shape;
	setup = hgca_connect(d.sock, &b.h);
	if (!setup && !(setup = e2e_declare(b.h, &b.m)) &&
	    !(setup = e2e_open(b.h, &b.m, &b.s)))
		setup = e2e_append(b.h, &b.s, 0, &rg, 500, 1.0);
	if (setup < 0) {
		ok(false, "%s: set-up %d", md->name, setup);
		return;
	}
	hgca_info(b.h, &in);
	snprintf(logged, sizeof(logged), "client %u (pid %d, uid %u) "
		 "quarantined: %s", in.client_id, (int)getpid(),
		 (unsigned)getuid(), md->logged);
	md->act();
	w = hgca_wait(b.h, &c, 1, 1, 3000);
	s = hgca_seq_open(b.h, b.m.id, &id);
	logged_ok = td_until(has_line, logged, 3000);
	freed = td_until(one_region, NULL, 5000);
	moved = e2e_neighbour_moves(nb, 5, 5000);
	sr = hgca_admin_status(ctl, &st);
	++*count;
	ok(w == -EPROTO && s == -EPROTO && logged_ok && freed && moved &&
	   sr == 0 && st.quarantined == *count,
	   "%s: quarantined (wait %d, later call %d), logged %d, region and "
	   "pages freed %d, neighbour served %d, %llu so far", md->name, w, s,
	   logged_ok, freed, moved, (unsigned long long)st.quarantined);
	e2e_close(b.h, &b.s);
	hgca_disconnect(b.h);
}

/* A client with 8 attends over 16K tokens in flight, then @how: 0 exits
 * by SIGKILL, 1 disconnects.  Returns the child's pid status. */
static int
leave_in_flight(int how)
{
	pid_t pid;
	int status = -1;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct e2e_ask a = { .pos = { -1 }, .L = 1,
				     .out_dt = HGCA_DTYPE_F32 };
		struct e2e_model m = { .m = shape };
		struct e2e_req q[8];
		struct e2e_seq s, *ps = &s;
		struct hgca *h;

		if (hgca_connect(d.sock, &h) < 0 || e2e_declare(h, &m) < 0 ||
		    e2e_open(h, &m, &s) < 0 ||
		    e2e_append(h, &s, 0, &rg, 16384, 1.0) < 0)
			_exit(1);
		for (int i = 0; i < 8; i++) {
			e2e_req_make(&q[i], &m, &ps, 1, &a, &rg);
			hgca_attend_prep(h, (uint64_t)i, &q[i].a);
		}
		hgca_submit(h);
		if (how == 0)
			raise(SIGKILL);
		hgca_disconnect(h);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return status;
}

static bool
pool_at(void *arg)
{
	uint64_t *want = arg, pages, slabs_free;

	return e2e_pool(ctl, &pages, &slabs_free) == 0 && pages == want[0] &&
	       slabs_free == want[1];
}

/* hgcactl status while the neighbour decodes. */
static void
ctl_status(void)
{
	char bin[512], cmd[1024], out[8192];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -s %s status 2>&1",
		 td_bin("ctl/hgcactl", bin, sizeof(bin)), d.sock);
	p = popen(cmd, "r");
	n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
	ok(strstr(out, "KV memory       32 MiB in 1 pool(s)") &&
	   strstr(out, "pages in use") && strstr(out, "default policy  full") &&
	   strstr(out, "MODELS") && strstr(out, "SCANNED"),
	   "hgcactl status shows the KV pools, the default policy and the "
	   "clients' models, sequences and work");
	if (!strstr(out, "KV memory"))
		diag("%s", out);
}

int
main(void)
{
	struct hgca_connect_opts co = { .flags = HGCA_CONNECT_CONTROL };
	struct e2e_neighbour nb;
	struct hgca_status st0;
	uint64_t count = 0, want[2];
	long steps, bad;
	int k, q;
	bool back;

	rng_seed(&rg, ref64_seed());
	td_watchdog(90);
	td_start_or_bail(&d, "workers = 2\nmemory_budget = 32M", NULL);
	if (hgca_connect_with(d.sock, &co, &ctl) < 0 ||
	    hgca_admin_status(ctl, &st0) < 0 ||
	    e2e_neighbour_start(&nb, d.sock, rng_next(&rg)) < 0) {
		printf("Bail out! set-up\n");
		return 1;
	}
	ctl_status();
	for (size_t i = 0; i < sizeof(misdeeds) / sizeof(misdeeds[0]); i++)
		check_misdeed(&misdeeds[i], &nb, &count);
	k = leave_in_flight(0);
	q = leave_in_flight(1);
	back = td_until(one_region, NULL, 5000);
	ok(WIFSIGNALED(k) && WTERMSIG(k) == SIGKILL && q == 0 && back,
	   "a client killed and one disconnecting with 8 attends in flight "
	   "each: their regions go (%d)", back);
	steps = e2e_neighbour_stop(&nb, &bad);
	ok(steps > 0 && bad == 0, "the neighbour decoded %ld steps "
	   "throughout, %ld wrong", steps, bad);
	want[0] = 0;
	want[1] = st0.kv_slabs_free;
	back = td_until(pool_at, want, 5000);
	ok(back, "every page is back: none in use, %llu slabs free as at the "
	   "start", (unsigned long long)st0.kv_slabs_free);
	hgca_disconnect(ctl);
	ok(td_stop(&d, SIGTERM) == 0, "hgcad exits 0");
	td_cleanup(&d);
	return done_testing();
}
