/*
 * The probes' overhead benchmark (bench/run.py, `make bench ONLY=probes`):
 *   proc_loop exec N PATH WORKERS  WORKERS processes each run PATH N/WORKERS times
 *                                  (vfork + execve + waitpid); prints execs per second
 *   proc_loop alloc N MB           N times: mmap MB, touch every page, munmap; prints
 *                                  rounds per second
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exec_loop(long n, const char *path)
{
	char *argv[] = { (char *)path, NULL };

	for (long i = 0; i < n; i++) {
		pid_t pid = vfork();

		if (pid == 0) {
			execve(path, argv, environ);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, NULL, 0) < 0) {
			perror("proc_loop");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	double t0;

	if (argc >= 5 && strcmp(argv[1], "exec") == 0) {
		long n = atol(argv[2]), workers = atol(argv[4]);

		t0 = now();
		for (long w = 0; w < workers; w++) {
			if (fork() == 0) {
				exec_loop(n / workers, argv[3]);
				_exit(0);
			}
		}
		while (wait(NULL) > 0)
			;
		printf("%.1f\n", (double)(n / workers * workers) / (now() - t0));
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "alloc") == 0) {
		long n = atol(argv[2]);
		size_t len = (size_t)atol(argv[3]) << 20;

		t0 = now();
		for (long i = 0; i < n; i++) {
			char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				       -1, 0);

			if (m == MAP_FAILED) {
				perror("mmap");
				return 1;
			}
			for (size_t off = 0; off < len; off += 4096)
				m[off] = 1;
			munmap(m, len);
		}
		printf("%.1f\n", (double)n / (now() - t0));
		return 0;
	}
	fprintf(stderr, "usage: proc_loop exec N PATH WORKERS | alloc N MB\n");
	return 2;
}
