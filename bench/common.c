/* common.c - helpers shared by the benchmarks (common.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
bench_parse(int argc, char **argv, const char *usage,
	    int (*extra)(int argc, char **argv, int i), struct bench_opts *out)
{
	out->quick = false;
	out->threads = 0;
	for (int i = 1; i < argc; i++) {
		int used = extra ? extra(argc, argv, i) : 0;

		if (used > 0) {
			i += used - 1;
		} else if (!strcmp(argv[i], "--quick")) {
			out->quick = true;
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			out->threads = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s\n", usage);
			exit(2);
		}
	}
	if (out->threads <= 0)
		out->threads = bench_ncpu();
}

int
bench_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

size_t
bench_llc_bytes(void)
{
	static const char *const sysfs[] = {
		"/sys/devices/system/cpu/cpu0/cache/index3/size",
		"/sys/devices/system/cpu/cpu0/cache/index2/size",
	};
	long v = -1;

#ifdef _SC_LEVEL3_CACHE_SIZE
	v = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
	for (size_t i = 0; v <= 0 && i < sizeof(sysfs) / sizeof(sysfs[0]); i++) {
		FILE *f = fopen(sysfs[i], "r");
		char unit = 0;

		if (!f)
			continue;
		if (fscanf(f, "%ld%c", &v, &unit) < 1)
			v = -1;
		else if (unit == 'K')
			v *= 1024;
		else if (unit == 'M')
			v *= 1024 * 1024;
		fclose(f);
	}
	return v > 0 ? (size_t)v : (size_t)32 << 20;
}

double
bench_loadavg(void)
{
	double l;

	return getloadavg(&l, 1) == 1 ? l : -1.0;
}

void *
bench_alloc(size_t bytes, int threads)
{
	size_t pg = 4096, huge = (size_t)2 << 20, n = (bytes + huge - 1) / huge * huge;
	char *p = aligned_alloc(huge, n);

	if (!p) {
		fprintf(stderr, "bench: cannot allocate %zu MiB\n", n >> 20);
		exit(1);
	}
	/* Huge pages where the kernel allows them, as a KV pool would use:
	 * fewer TLB misses for the kernel and the baseline alike. */
	(void)madvise(p, n, MADV_HUGEPAGE);
#pragma omp parallel for num_threads(threads) schedule(static)
	for (size_t i = 0; i < n; i += pg)
		p[i] = 0;
	return p;
}

/*
 * Read kernels over one share: the sum of its 64-bit words in independent
 * chains, so the loop is limited by the loads.  The vector versions use the
 * widest loads the CPU has; bench_read_bw keeps the fastest, so the
 * baseline is the machine's best streaming read, not one compiler's loop.
 */
static uint64_t
bw_scalar(const uint64_t *w, size_t n)
{
	uint64_t a[8] = { 0 };

	for (size_t i = 0; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			a[j] += w[i + j];
	return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2"))) static uint64_t
bw_avx2(const uint64_t *w, size_t n)
{
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
	uint64_t out[4];

	for (size_t i = 0; i + 16 <= n; i += 16) {
		a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(w + i)));
		a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(w + i + 4)));
		a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(w + i + 8)));
		a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(w + i + 12)));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	_mm256_storeu_si256((__m256i *)out, a0);
	return out[0] + out[1] + out[2] + out[3];
}

__attribute__((target("avx512f"))) static uint64_t
bw_avx512(const uint64_t *w, size_t n)
{
	__m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;

	for (size_t i = 0; i + 32 <= n; i += 32) {
		a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(w + i));
		a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(w + i + 8));
		a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(w + i + 16));
		a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(w + i + 24));
	}
	a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
	return (uint64_t)_mm512_reduce_add_epi64(a0);
}

#define BW_KERNELS 3
static uint64_t (*bw_kernel(int i))(const uint64_t *, size_t)
{
	__builtin_cpu_init();
	if (i == 1 && __builtin_cpu_supports("avx2"))
		return bw_avx2;
	if (i == 2 && __builtin_cpu_supports("avx512f"))
		return bw_avx512;
	return i == 0 ? bw_scalar : NULL;
}
#else
#define BW_KERNELS 1
static uint64_t (*bw_kernel(int i))(const uint64_t *, size_t)
{
	return i == 0 ? bw_scalar : NULL;
}
#endif

/* One parallel read of w[nw] by @threads threads, each a contiguous share
 * aligned to 256 bytes; every word read once.  Returns the sum. */
static uint64_t
read_shares(uint64_t (*fn)(const uint64_t *, size_t), const uint64_t *w,
	    size_t nw, int threads)
{
	uint64_t sum = 0;

#pragma omp parallel num_threads(threads) reduction(+:sum)
	{
		int id = omp_get_thread_num(), nt = omp_get_num_threads();
		size_t lo = nw * id / nt / 32 * 32;
		size_t hi = id == nt - 1 ? nw : nw * (id + 1) / nt / 32 * 32;

		sum += fn(w + lo, hi - lo);
	}
	return sum;
}

/* Best bytes/s of @reps passes of each read kernel, a pass being @nsteps
 * timed parallel reads of consecutive blocks of @step_bytes. */
static double
read_best(const void *buf, size_t step_bytes, int nsteps, int threads, int reps)
{
	volatile uint64_t sink = 0;
	double best = 0.0;

	for (int k = 0; k < BW_KERNELS; k++) {
		uint64_t (*fn)(const uint64_t *, size_t) = bw_kernel(k);

		for (int r = 0; fn && r < reps; r++) {
			double t = 0.0;

			for (int s = 0; s < nsteps; s++) {
				const char *blk = (const char *)buf + (size_t)s * step_bytes;
				double t0 = bench_now();

				sink += read_shares(fn, (const uint64_t *)blk,
						    step_bytes / 8, threads);
				t += bench_now() - t0;
			}
			if ((double)step_bytes * nsteps / t > best)
				best = (double)step_bytes * nsteps / t;
		}
	}
	(void)sink;
	return best;
}

double
bench_read_bw(const void *buf, size_t bytes, int threads, int reps)
{
	return read_best(buf, bytes, 1, threads, reps);
}

double
bench_read_bw_steps(const void *buf, size_t step_bytes, int nsteps, int threads,
		    int reps)
{
	return read_best(buf, step_bytes, nsteps, threads, reps);
}

void
bench_result(const char *name, double value)
{
	printf("result %s %.4g\n", name, value);
}

void
bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

void
bench_hgcad_path(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n;
	struct stat st;

	if (getenv("HGCAD")) {
		snprintf(out, size, "%s", getenv("HGCAD"));
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(out, size, "%s/../daemon/hgcad", dirname(exe));
	if (stat(out, &st) < 0)
		snprintf(out, size, "daemon/hgcad");
}

int
bench_make_dir(char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp && *tmp == '/' && strlen(tmp) <= 64) {
		snprintf(dir, size, "%s/hgca-bench-XXXXXX", tmp);
		if (mkdtemp(dir))
			return 0;
	}
	snprintf(dir, size, "/tmp/hgca-bench-XXXXXX");	/* mkdtemp's template */
	if (mkdtemp(dir))
		return 0;
	fprintf(stderr, "bench: cannot create %s: %s\n", dir, strerror(errno));
	return -1;
}

pid_t
bench_hgcad_start(const char *path, const char *dir, const char *conf,
		  int cpu, char *sock, size_t size)
{
	char cpath[PATH_MAX], log[PATH_MAX];
	FILE *f;
	pid_t pid;

	snprintf(sock, size, "%s/hgcad.sock", dir);
	snprintf(cpath, sizeof(cpath), "%s/hgcad.conf", dir);
	snprintf(log, sizeof(log), "%s/hgcad.log", dir);
	f = fopen(cpath, "w");
	if (!f)
		return -1;
	fprintf(f, "socket = %s\n%s", sock, conf ? conf : "");
	if (fclose(f) != 0)
		return -1;
	fflush(stdout);		/* the child must not print it again */
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (cpu >= 0)
			bench_pin(cpu);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(path, "hgcad", "-f", "-c", cpath, (char *)NULL);
		_exit(127);
	}
	return pid;
}
