/*
 * common.h - helpers shared by the benchmarks (bench/attn, and the service
 * and accuracy benches): timing, the --quick flag, the last-level cache
 * size, a DRAM read-bandwidth baseline measured in the same run, and the
 * `result <name> <value>` lines every benchmark ends with (DESIGN.md
 * section 9).  Programs only: these may print and exit.
 */
#ifndef HGCA_BENCH_COMMON_H
#define HGCA_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>

/* Monotonic time in seconds. */
double bench_now(void);

/* Command line: --quick, --threads N (0 = all cores); anything else prints
 * @usage and exits 2.  @extra, if not NULL, is called first for each
 * argument and returns how many it consumed (0 = not its own). */
struct bench_opts {
	bool quick;
	int threads;		/* all cores unless given */
};
void bench_parse(int argc, char **argv, const char *usage,
		 int (*extra)(int argc, char **argv, int i),
		 struct bench_opts *out);

/* Bytes of the last-level cache: sysconf, then sysfs, then 32 MiB. */
size_t bench_llc_bytes(void);
/* Online CPUs. */
int bench_ncpu(void);
/* The 1-minute load average, or -1 (noise on a shared machine). */
double bench_loadavg(void);

/* @bytes of 2 MiB-aligned memory (huge pages where the kernel allows
 * them), every page written once by the threads that will read it (first
 * touch); exits on failure. */
void *bench_alloc(size_t bytes, int threads);

/*
 * Streaming read bandwidth in bytes/s over buf[bytes] with @threads threads
 * (each reads a contiguous share): the best of @reps passes of each read
 * kernel (scalar, AVX2, AVX-512 as the CPU has them).  Use a buffer well
 * past the last-level cache so DRAM is measured.
 */
double bench_read_bw(const void *buf, size_t bytes, int threads, int reps);

/*
 * The same, read as a decode loop reads its KV: buf holds @nsteps blocks of
 * @step_bytes, and each step is one parallel read of the next block (the
 * threads' shares contiguous), timed step by step.  A single sweep of a
 * buffer a few times the last-level cache can still find part of it in a
 * large, scan-resistant cache; this pattern sees what a step of the engine
 * over the same blocks sees.
 */
double bench_read_bw_steps(const void *buf, size_t step_bytes, int nsteps,
			   int threads, int reps);

/* Prints "result <name> <value>" (value with %.4g). */
void bench_result(const char *name, double value);

#endif /* HGCA_BENCH_COMMON_H */
