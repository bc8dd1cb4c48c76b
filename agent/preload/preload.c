/*
 * vigil-preload.so: what a runtime does while it initialises, from inside it (Lambda has no
 * eBPF). Loaded with LD_PRELOAD by vigil-wrapper when asked (VIGIL_COLDSTART_FILE names where
 * the record goes, or VIGIL_COLDSTART_FD an open descriptor of it: vigil host's way); the
 * default layer preloads nothing. It records, with timestamps, the files
 * opened (and the bytes read from each), the outbound connects and the name lookups, execs and
 * forks, each as one JSON line placed in a file mapped shared (the processes of the runtime
 * share it: see place()); at the runtime's first /runtime/invocation/next it writes a last
 * line and turns itself off: every function below is then its real self behind one branch.
 *
 * It includes nothing of vigil's: it is loaded into processes that are not vigil's, and must
 * cost nothing when it is off.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The oldest dlsym: glibc 2.34 moved it into libc under a new version, which the runtimes of
 * Amazon Linux 2 (glibc 2.26) do not have. */
#if defined(__x86_64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.17");
#endif

#define FD_MAX 4096		/* descriptors whose reads are counted */
#define LINE_MAX_BYTES 4000	/* one record; longer paths are cut */

static atomic_bool on;		/* recording (init is not over) */
static int out_fd = -1;
static int api_fd = -1;		/* this process's connection to the Runtime API, once seen */
static struct sockaddr_in api_addr;
static bool have_api;
static char api_host[64];	/* (its name lookups are the runtime's, not the function's) */
static atomic_ullong bytes_read[FD_MAX];
static atomic_bool counted[FD_MAX];	/* a file opened during init: its reads are counted */

#define REAL(name) static __typeof__(name) *real_##name
REAL(open);
REAL(open64);
REAL(openat);
REAL(openat64);
REAL(fopen);
REAL(fopen64);
REAL(read);
REAL(pread);
REAL(pread64);
REAL(readv);
REAL(preadv);
REAL(preadv64);
REAL(close);
REAL(connect);
REAL(getaddrinfo);
REAL(send);
REAL(write);
REAL(writev);
REAL(sendto);
REAL(sendmsg);
REAL(execve);
REAL(fork);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static atomic_bool resolved;

static void resolve(void)
{
#define R(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)
	R(open); R(open64); R(openat); R(openat64); R(fopen); R(fopen64); R(read); R(pread);
	R(pread64); R(readv); R(preadv); R(preadv64); R(close); R(connect); R(getaddrinfo);
	R(send); R(write); R(writev); R(sendto); R(sendmsg); R(execve); R(fork);
#undef R
	atomic_store(&resolved, true);
}

/* (another library's constructor may call in before ours ran) */
#define ENSURE()                                                                           	do {                                                                               		if (__builtin_expect(!atomic_load_explicit(&resolved, memory_order_relaxed), 0)) 			resolve();                                                         	} while (0)

/* A JSON string's body: quotes, backslashes and control bytes escaped (bytes ≥ 0x80 pass:
 * paths are bytes; the reader repairs what is not UTF-8). */
static size_t esc(char *out, size_t room, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 7 < room; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, room - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

/* The record is a file mapped shared: a header (its magic and how many bytes of records it
 * holds, an atomic counter the processes of the runtime share), then the records, each
 * placed by adding its length to the counter and copied in. No system call a record (a
 * write each cost a cold start about 5 ms in the benchmark), and what was copied is the
 * file's at once: a runtime killed at its init timeout leaves its record behind. A process
 * killed between the add and the copy leaves a gap of NUL bytes, which the reader skips. */
#define MAP_SIZE (64u << 20)	/* a sparse file: only the pages written take room */
#define MAP_HEAD 64
#define MAP_MAGIC "VIGILCS1"

struct map_head {
	char magic[8];
	_Atomic unsigned long long used;	/* bytes of records after the header */
};

static char *map;
static int my_pid;
static __thread long my_tid;

static void place(const char *line, size_t n)
{
	struct map_head *h = (struct map_head *)map;
	unsigned long long at = atomic_fetch_add_explicit(&h->used, n, memory_order_relaxed);

	if (at + n <= MAP_SIZE - MAP_HEAD)
		memcpy(map + MAP_HEAD + at, line, n);
	/* (else: full; the reader takes what fits) */
}

/* One record: {"t":…,"pid":…,"tid":…,"ev":"…"<rest>}. */
static void emit(const char *ev, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES + 200];
	uint64_t t;
	int n, m;
	va_list ap;

	if (!map)
		return;
	if (!my_tid)
		my_tid = (long)syscall(SYS_gettid);
	t = now_ns();
	n = snprintf(line, sizeof(line), "{\"t\":%llu,\"pid\":%d,\"tid\":%ld,\"ev\":\"%s\"",
		     (unsigned long long)t, my_pid, my_tid, ev);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 3, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m < (int)(sizeof(line) - (size_t)n - 3) ? m : (int)(sizeof(line) - (size_t)n - 4);
	line[n++] = '}';
	line[n++] = '\n';
	place(line, (size_t)n);
}

/* The bytes read from fd since it was opened, once (at its close, or at the end). */
static void flush_reads(int fd)
{
	if (fd >= 0 && fd < FD_MAX && atomic_exchange(&counted[fd], false))
		emit("read", ",\"fd\":%d,\"bytes\":%llu", fd,
		     (unsigned long long)atomic_exchange(&bytes_read[fd], 0));
}

static void opened(const char *path, int fd, uint64_t t0, int err)
{
	char p[LINE_MAX_BYTES];

	esc(p, sizeof(p), path);
	if (fd >= 0 && fd < FD_MAX) {
		/* a descriptor closed where this library does not see it (libuv closes with
		 * syscall(SYS_close)): its file's bytes are told now, before its number is
		 * another file's */
		flush_reads(fd);
		atomic_store(&bytes_read[fd], 0);
		atomic_store(&counted[fd], true);
	}
	emit("open", ",\"path\":\"%s\",\"fd\":%d,\"ns\":%llu%s%s%s", p, fd,
	     (unsigned long long)(now_ns() - t0), err ? ",\"error\":\"" : "",
	     err ? strerror(err) : "", err ? "\"" : "");
}

static void count(int fd, ssize_t n)
{
	if (n > 0 && fd >= 0 && fd < FD_MAX && atomic_load_explicit(&counted[fd],
								      memory_order_relaxed))
		atomic_fetch_add_explicit(&bytes_read[fd], (unsigned long long)n,
					  memory_order_relaxed);
}

/* The first /next: init is over. */
static void stop(const char *why)
{
	struct rusage ru;
	unsigned long long cpu = 0;

	if (!atomic_exchange(&on, false))
		return;
	for (int fd = 0; fd < FD_MAX; fd++)
		flush_reads(fd);
	/* this process's time on CPU so far (all its threads): the rest of init was waiting */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = ((unsigned long long)ru.ru_utime.tv_sec + (unsigned long long)ru.ru_stime.tv_sec) *
			      1000000000ull +
		      ((unsigned long long)ru.ru_utime.tv_usec + (unsigned long long)ru.ru_stime.tv_usec) *
			      1000ull;
	emit("end", ",\"why\":\"%s\",\"cpu_ns\":%llu", why, cpu);
}

static void check_next(int fd, const void *buf, size_t n)
{
	static const char next[] = "GET /2018-06-01/runtime/invocation/next";

	if (fd == api_fd && n >= sizeof(next) - 1 && memcmp(buf, next, sizeof(next) - 1) == 0)
		stop("next");
}

__attribute__((constructor)) static void preload_init(void)
{
	const char *file = getenv("VIGIL_COLDSTART_FILE"), *api = getenv("AWS_LAMBDA_RUNTIME_API");
	const char *fd = getenv("VIGIL_COLDSTART_FD");
	bool handed = fd && *fd;	/* a descriptor of vigil host's, not a path */
	char host[64];
	const char *colon;

	resolve();
	if (getenv("VIGIL_COLDSTART_OFF"))
		return;
	if (handed) {
		int n = atoi(fd);

		/* (a descriptor the process was handed: only if it is still open) */
		out_fd = n > 2 && fcntl(n, F_GETFD) >= 0 ? n : -1;
	} else if (file && *file && real_open) {
		out_fd = real_open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (out_fd < 0)
		return;
	{
		struct stat st;
		void *m;

		/* (the processes of one init all map the same file: the first sizes it) */
		if (fstat(out_fd, &st) < 0 ||
		    (st.st_size < (off_t)MAP_SIZE && ftruncate(out_fd, MAP_SIZE) < 0) ||
		    (m = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, out_fd, 0)) ==
			    MAP_FAILED) {
			if (!handed && real_close)
				real_close(out_fd);
			out_fd = -1;
			return;
		}
		if (!handed && real_close)
			real_close(out_fd);	/* (the mapping stays) */
		map = m;
		if (memcmp(map, MAP_MAGIC, 8) != 0)
			memcpy(map, MAP_MAGIC, 8);
	}
	if (api && (colon = strrchr(api, ':')) && (size_t)(colon - api) < sizeof(host)) {
		memcpy(host, api, (size_t)(colon - api));
		host[colon - api] = '\0';
		memcpy(api_host, host, sizeof(api_host));
		api_addr.sin_family = AF_INET;
		api_addr.sin_port = htons((uint16_t)atoi(colon + 1));
		have_api = inet_pton(AF_INET, host, &api_addr.sin_addr) == 1;
	}
	my_pid = (int)getpid();
	atomic_store(&on, true);
	{
		char exe[1024] = "";
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		const char *root = getenv("LAMBDA_TASK_ROOT");
		char e[2100], r[1100];

		if (n > 0)
			exe[n] = '\0';
		esc(e, sizeof(e), exe);
		esc(r, sizeof(r), root ? root : "");
		/* (root: the function's own code is under it) */
		emit("start", ",\"exe\":\"%s\",\"ppid\":%d,\"root\":\"%s\"", e, (int)getppid(),
		     r);
	}
}

/* --- the interposed functions --------------------------------------------------------- */

#define OPEN_BODY(call)                                                                    \
	uint64_t t0;                                                                       \
	int fd, err;                                                                       \
	mode_t mode = 0;                                                                   \
	if (flags & (O_CREAT | O_TMPFILE)) {                                               \
		va_list ap;                                                                \
		va_start(ap, flags);                                                       \
		mode = (mode_t)va_arg(ap, int);                                            \
		va_end(ap);                                                                \
	}                                                                                  \
	if (!atomic_load_explicit(&on, memory_order_relaxed))                             \
		return call;                                                               \
	t0 = now_ns();                                                                     \
	fd = call;                                                                         \
	err = fd < 0 ? errno : 0;                                                          \
	opened(path, fd, t0, err);                                                         \
	errno = err ? err : errno;                                                         \
	return fd;

int open(const char *path, int flags, ...)
{
	ENSURE();
	OPEN_BODY(real_open(path, flags, mode))
}

int open64(const char *path, int flags, ...)
{
	ENSURE();
	OPEN_BODY(real_open64(path, flags, mode))
}

int openat(int dirfd, const char *path, int flags, ...)
{
	ENSURE();
	OPEN_BODY(real_openat(dirfd, path, flags, mode))
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	ENSURE();
	OPEN_BODY(real_openat64(dirfd, path, flags, mode))
}

static FILE *fopen_any(__typeof__(fopen) *real, const char *path, const char *how)
{
	uint64_t t0;
	FILE *f;
	int err;

	if (!atomic_load_explicit(&on, memory_order_relaxed))
		return real(path, how);
	t0 = now_ns();
	f = real(path, how);
	err = f ? 0 : errno;
	opened(path, f ? fileno(f) : -1, t0, err);
	errno = err ? err : errno;
	return f;
}

FILE *fopen(const char *path, const char *how)
{
	ENSURE();
	return fopen_any(real_fopen, path, how);
}

FILE *fopen64(const char *path, const char *how)
{
	ENSURE();
	return fopen_any(real_fopen64, path, how);
}

/* A read's result, counted while init lasts. */
static ssize_t seen(int fd, ssize_t r)
{
	if (atomic_load_explicit(&on, memory_order_relaxed))
		count(fd, r);
	return r;
}

ssize_t read(int fd, void *buf, size_t n)
{
	ENSURE();
	return seen(fd, real_read(fd, buf, n));
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	ENSURE();
	return seen(fd, real_pread(fd, buf, n, off));
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
	ENSURE();
	return seen(fd, real_pread64(fd, buf, n, off));
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	ENSURE();
	return seen(fd, real_readv(fd, iov, cnt));
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ENSURE();
	return seen(fd, real_preadv(fd, iov, cnt, off));
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	ENSURE();
	return seen(fd, real_preadv64(fd, iov, cnt, off));
}

int close(int fd)
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed)) {
		flush_reads(fd);
		if (fd == api_fd)
			api_fd = -1;
	}
	return real_close(fd);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	ENSURE();
	char addr[INET6_ADDRSTRLEN + 16] = "?";
	uint64_t t0;
	int rc, err;

	if (!atomic_load_explicit(&on, memory_order_relaxed))
		return real_connect(fd, sa, len);
	t0 = now_ns();
	rc = real_connect(fd, sa, len);
	err = rc < 0 ? errno : 0;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(addr, sizeof(addr), "%s:%u", ip, ntohs(in->sin_port));
		if (have_api && in->sin_port == api_addr.sin_port &&
		    in->sin_addr.s_addr == api_addr.sin_addr.s_addr) {
			api_fd = fd;	/* the Runtime API: not a call of the function's */
			errno = err ? err : errno;
			return rc;
		}
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		char ip[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(addr, sizeof(addr), "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else if (sa && sa->sa_family == AF_UNIX) {
		snprintf(addr, sizeof(addr), "unix");
	}
	/* (a non-blocking connect returns at once: EINPROGRESS; its time is not the wait) */
	emit("connect", ",\"addr\":\"%s\",\"fd\":%d,\"ns\":%llu%s%s%s", addr, fd,
	     (unsigned long long)(now_ns() - t0), err ? ",\"error\":\"" : "",
	     err ? strerror(err) : "", err ? "\"" : "");
	errno = err ? err : errno;
	return rc;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	ENSURE();
	char name[300];
	uint64_t t0;
	int rc;

	if (!atomic_load_explicit(&on, memory_order_relaxed))
		return real_getaddrinfo(node, service, hints, res);
	t0 = now_ns();
	rc = real_getaddrinfo(node, service, hints, res);
	if (node && api_host[0] && strcmp(node, api_host) == 0)
		return rc;
	esc(name, sizeof(name), node ? node : "");
	emit("dns", ",\"name\":\"%s\",\"ns\":%llu,\"rc\":%d", name,
	     (unsigned long long)(now_ns() - t0), rc);
	return rc;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed))
		check_next(fd, buf, n);
	return real_send(fd, buf, n, flags);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
	       socklen_t len)
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed))
		check_next(fd, buf, n);
	return real_sendto(fd, buf, n, flags, to, len);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed))
		check_next(fd, buf, n);
	return real_write(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed) && cnt > 0)
		check_next(fd, iov[0].iov_base, iov[0].iov_len);
	return real_writev(fd, iov, cnt);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed) && msg && msg->msg_iovlen > 0)
		check_next(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
	return real_sendmsg(fd, msg, flags);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	ENSURE();
	if (atomic_load_explicit(&on, memory_order_relaxed)) {
		char p[LINE_MAX_BYTES];

		esc(p, sizeof(p), path);
		emit("exec", ",\"path\":\"%s\"", p);
	}
	return real_execve(path, argv, envp);
}

pid_t fork(void)
{
	ENSURE();
	pid_t pid = real_fork();

	if (pid == 0 && atomic_load_explicit(&on, memory_order_relaxed)) {
		api_fd = -1;
		my_pid = (int)getpid();
		my_tid = 0;
		emit("fork", ",\"ppid\":%d", (int)getppid());
	}
	return pid;
}
