/*
 * common.h - helpers shared by the benchmarks (bench/attn, and the service
 * and accuracy benches): timing, the --quick flag, the last-level cache
 * size, a DRAM read-bandwidth baseline measured in the same run, the
 * `result <name> <value>` lines every benchmark ends with (DESIGN.md
 * section 9), and a private hgcad for the benches that measure through
 * it.  Programs only: these may print and exit.
 */
#ifndef HGCA_BENCH_COMMON_H
#define HGCA_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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

/* Pin the calling thread (or, before an exec, the process) to @cpu. */
void bench_pin(int cpu);

/* The hgcad to run, into out[size]: $HGCAD if set, else ../daemon/hgcad
 * beside this program (as built), else daemon/hgcad. */
void bench_hgcad_path(char *out, size_t size);

/* A fresh private directory for a bench's hgcad, into dir[size] (at least
 * 96 bytes): under $TMPDIR when that is an absolute path, else /tmp.  0, or
 * -1 with a message. */
int bench_make_dir(char *dir, size_t size);

/*
 * bench_hgcad_start - start the hgcad at @path in the foreground on a
 * private socket in @dir, a directory the caller made (mkdtemp) and
 * removes afterwards.  It writes @dir/hgcad.conf: "socket = <the socket>"
 * and then @conf (more hgcad.conf(5) lines, each ending in a newline; NULL
 * for none); hgcad's stderr goes to @dir/hgcad.log; @cpu >= 0 pins it to
 * that CPU.  The socket's path goes into sock[size].  Returns hgcad's pid,
 * or -1 if the configuration cannot be written.  hgcad is still starting:
 * the caller connects, retrying for a while, and at the end stops it with
 * kill(pid, SIGTERM) and waitpid().
 */
pid_t bench_hgcad_start(const char *path, const char *dir, const char *conf,
			int cpu, char *sock, size_t size);

#endif /* HGCA_BENCH_COMMON_H */
