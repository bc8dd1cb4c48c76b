/* A cold start's timeline into a report. See coldstart.h. */
#include "coldstart.h"

#include <errno.h>
#include <jansson.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/json_str.h"
#include "logpipe.h"
#include "sink.h"

struct ev {
	uint64_t t;
	int pid;
	long tid;
	int kind;		/* K_* */
	char *path;		/* open: the path; connect, dns: the target */
	int fd;
	double ms;		/* the call's own time */
	bool failed;
	uint64_t bytes;		/* read */
	int group;		/* index into groups, -1 none */
	int ppid, child;	/* start, fork: the parent; fork (the probes'): the child */
	bool other;		/* not of the runtime's processes (an extension's) */
};

enum { K_START, K_OPEN, K_READ, K_CONNECT, K_DNS, K_EXEC, K_FORK, K_END, K_PHASE, K_INIT,
       K_OTHER };

static int kind_of(const char *s)
{
	static const char *const names[] = { "start", "open", "read", "connect", "dns", "exec",
					      "fork", "end", "phase", "init" };

	for (int i = 0; i < K_OTHER; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	return K_OTHER;
}

static int by_time(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t;
}

static int by_thread_time(const void *a, const void *b)
{
	const struct ev *x = *(struct ev *const *)a, *y = *(struct ev *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->t < y->t ? -1 : x->t > y->t;
}

static int by_ms(const void *a, const void *b)
{
	const struct cs_group *x = a, *y = b;

	return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : strcmp(x->name, y->name);
}

/* --- what a path belongs to ----------------------------------------------------------- */

struct dirs {
	char **v;
	size_t n, cap;
};

static bool dirs_has(const struct dirs *d, const char *s, size_t n)
{
	for (size_t i = 0; i < d->n; i++) {
		if (strlen(d->v[i]) == n && memcmp(d->v[i], s, n) == 0)
			return true;
	}
	return false;
}

static int dirs_add(struct dirs *d, const char *s, size_t n)
{
	if (dirs_has(d, s, n))
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		char **v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n] = strndup(s, n);
	return d->v[d->n++] ? 0 : -ENOMEM;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A shared library's name: NAME.so, or NAME.so.1.2… */
static bool is_library(const char *path)
{
	const char *slash = strrchr(path, '/'), *so = strstr(slash ? slash : path, ".so");

	if (!so)
		return false;
	for (so += 3; *so; so++) {
		if (*so != '.' && (*so < '0' || *so > '9'))
			return false;
	}
	return true;
}

static void base_of(const char *path, char *out, size_t n)
{
	const char *slash = strrchr(path, '/');

	snprintf(out, n, "%s", slash ? slash + 1 : path);
}

/* Python: the top package above a file (the highest directory whose __init__.py was opened
 * in this record), else the module's own name. The __pycache__ of a directory is that
 * directory's. */
static bool python_group(const struct dirs *pkgs, const char *path, char *out, size_t n)
{
	char dir[4096];
	const char *slash = strrchr(path, '/'), *top = NULL;
	size_t len;

	if (!slash || !(ends_with(path, ".py") || strstr(path, ".pyc") || is_library(path) ||
			strstr(slash, "__init__")))
		return false;
	len = (size_t)(slash - path);
	if (len >= sizeof(dir))
		return false;
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (len >= 12 && strcmp(dir + len - 12, "/__pycache__") == 0) {
		len -= 12;
		dir[len] = '\0';
	}
	/* the highest ancestor that is a package */
	for (size_t i = len; i > 0; i--) {
		if (i == len || dir[i] == '/') {
			if (dirs_has(pkgs, dir, i))
				top = dir + i;
		}
	}
	if (top) {
		size_t end = (size_t)(top - dir);
		size_t start = end;

		while (start > 0 && dir[start - 1] != '/')
			start--;
		snprintf(out, n, "%.*s", (int)(end - start), dir + start);
		return true;
	}
	{
		char b[256], *dot;

		if (is_library(path))
			return false;	/* a shared library outside any package */
		base_of(path, b, sizeof(b));
		dot = strchr(b, '.');
		if (dot)
			*dot = '\0';
		b[n - 1 < sizeof(b) - 1 ? n - 1 : sizeof(b) - 1] = '\0';
		memcpy(out, b, strlen(b) + 1);
	}
	return true;
}

static const char *group_of(const struct dirs *pkgs, const char *root, const char *path,
			    char *out, size_t n)
{
	const char *nm = strstr(path, "/node_modules/");
	const char *sp = strstr(path, "/site-packages/");

	if (!sp)
		sp = strstr(path, "/dist-packages/");
	if (nm) {
		const char *p = nm + 14, *q;

		/* the last node_modules/ names the package (nested dependencies) */
		while ((q = strstr(p, "/node_modules/")) != NULL)
			p = q + 14;
		q = strchr(p, '/');
		if (*p == '@' && q)
			q = strchr(q + 1, '/');
		snprintf(out, n, "%.*s", (int)(q ? (size_t)(q - p) : strlen(p)), p);
		return "node";
	}
	if (sp) {
		const char *p = sp + 15, *q = strchr(p, '/');
		char b[160], *dot;

		snprintf(b, sizeof(b), "%.*s", (int)(q ? (size_t)(q - p) : strlen(p)), p);
		dot = strstr(b, ".dist-info");
		if (!dot)
			dot = strstr(b, ".py");
		if (dot)
			*dot = '\0';
		snprintf(out, n, "%s", b);
		return "python";
	}
	if (ends_with(path, ".jar")) {
		base_of(path, out, n);
		return "java";
	}
	if (strstr(path, "/classes/")) {
		snprintf(out, n, "classes");
		return "java";
	}
	if (python_group(pkgs, path, out, n))
		return root[0] && strncmp(path, root, strlen(root)) == 0 ? "function" : "python";
	if (is_library(path)) {
		base_of(path, out, n);
		return "library";
	}
	if (root[0] && strncmp(path, root, strlen(root)) == 0) {
		snprintf(out, n, "function code");
		return "function";
	}
	{
		const char *slash = strrchr(path, '/');

		snprintf(out, n, "%.*s", (int)(slash && slash != path ? (size_t)(slash - path) : 1),
			 path);
	}
	return "file";
}

/* --- analysis --------------------------------------------------------------------------- */

static int group_index(struct cs_report *r, size_t *cap, const char *name, const char *kind)
{
	for (size_t i = 0; i < r->ngroups; i++) {
		if (r->groups[i].kind == kind && strcmp(r->groups[i].name, name) == 0)
			return (int)i;
	}
	if (r->ngroups == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		struct cs_group *g = realloc(r->groups, c * sizeof(*g));

		if (!g)
			return -1;
		r->groups = g;
		*cap = c;
	}
	memset(&r->groups[r->ngroups], 0, sizeof(r->groups[0]));
	r->groups[r->ngroups].first_ms = -1;
	snprintf(r->groups[r->ngroups].name, sizeof(r->groups[0].name), "%s", name);
	r->groups[r->ngroups].kind = kind;
	return (int)r->ngroups++;
}

/* A number of the record, in [lo, hi] (a record's numbers are whatever its writer wrote). */
static double num_in(json_t *o, const char *k, double lo, double hi)
{
	json_t *v = json_object_get(o, k);
	double d = json_is_number(v) ? json_number_value(v) : 0;

	return d != d || d < lo ? lo : d > hi ? hi : d;
}

static double num(json_t *o, const char *k)
{
	return num_in(o, k, -1e300, 1e300);
}

/* vigil's own lines (phases, the platform's init): not events of a process. */
struct side {
	struct cs_phase *ph;
	uint64_t *ph_t;			/* each phase's start (ns since the epoch) */
	size_t n, cap;
	uint64_t init_t;		/* 0: no init line */
	int runtime_pid;		/* the init line's (0: not said) */
	double init_ms;
	double cpu_ms;
};

static int side_room(struct side *sd)
{
	if (sd->n == sd->cap) {
		size_t c = sd->cap ? sd->cap * 2 : 16;
		struct cs_phase *v = realloc(sd->ph, c * sizeof(*v));
		uint64_t *vt;

		if (!v)
			return -ENOMEM;
		sd->ph = v;
		vt = realloc(sd->ph_t, c * sizeof(*vt));
		if (!vt)
			return -ENOMEM;
		sd->ph_t = vt;
		sd->cap = c;
	}
	return 0;
}

static int side_take(json_t *o, uint64_t t, int kind, struct cs_report *r, struct side *sd)
{
	const char *s;

	if (kind == K_INIT) {
		sd->init_t = t;
		sd->init_ms = num_in(o, "ns", 0, 1e15) / 1e6;
		sd->runtime_pid = (int)num_in(o, "runtime_pid", 0, 2147483647.0);
		if ((s = json_string_value(json_object_get(o, "type"))))
			snprintf(r->init_type, sizeof(r->init_type), "%s", s);
		if ((s = json_string_value(json_object_get(o, "source"))))
			snprintf(r->source, sizeof(r->source), "%s", s);
		if ((s = json_string_value(json_object_get(o, "status"))))
			snprintf(r->init_status, sizeof(r->init_status), "%s", s);
		return 0;
	}
	if (side_room(sd) < 0)
		return -ENOMEM;
	{
		struct cs_phase *ph = &sd->ph[sd->n];
		static const char *const parts[] = { "extension", "runtime", "sandbox", "invoke" };

		memset(ph, 0, sizeof(*ph));
		s = json_string_value(json_object_get(o, "name"));
		snprintf(ph->name, sizeof(ph->name), "%s", s ? s : "?");
		ph->part = "other";
		s = json_string_value(json_object_get(o, "part"));
		for (size_t i = 0; s && i < sizeof(parts) / sizeof(parts[0]); i++) {
			if (strcmp(s, parts[i]) == 0)
				ph->part = parts[i];
		}
		ph->ms = num_in(o, "ns", 0, 1e15) / 1e6;
		ph->register_ms = json_is_number(json_object_get(o, "register_ns")) ?
					  num_in(o, "register_ns", 0, 1e15) / 1e6 : -1;
		sd->ph_t[sd->n++] = t;
	}
	return 0;
}

/* One line into an event: false when it is not a record (or, *side_rc set, one of vigil's
 * own lines, taken into sd). */
static bool parse_line(const char *p, size_t n, struct ev *e, char *root, size_t root_n,
		       struct cs_report *r, struct side *sd, int *side_rc)
{
	json_t *o = json_loadb(p, n, JSON_DISABLE_EOF_CHECK, NULL);
	const char *ev, *s;
	bool ok = false;

	if (!json_is_object(o) || !json_is_integer(json_object_get(o, "t")) ||
	    json_integer_value(json_object_get(o, "t")) < 0 ||
	    !(ev = json_string_value(json_object_get(o, "ev"))))
		goto out;
	memset(e, 0, sizeof(*e));
	e->t = (uint64_t)json_integer_value(json_object_get(o, "t"));
	if (kind_of(ev) == K_PHASE || kind_of(ev) == K_INIT) {
		*side_rc = side_take(o, e->t, kind_of(ev), r, sd) < 0 ? -ENOMEM : 1;
		goto out;
	}
	if (kind_of(ev) == K_END && json_is_number(json_object_get(o, "cpu_ns")))
		sd->cpu_ms = num_in(o, "cpu_ns", 0, 1e15) / 1e6;
	e->pid = (int)num_in(o, "pid", -2147483648.0, 2147483647.0);
	e->tid = (long)num_in(o, "tid", -2147483648.0, 2147483647.0);
	e->kind = kind_of(ev);
	e->fd = (int)num_in(o, "fd", -2147483648.0, 2147483647.0);
	e->ms = num_in(o, "ns", 0, 1e18) / 1e6;
	e->failed = json_object_get(o, "error") != NULL ||
		    (e->kind == K_DNS && num(o, "rc") != 0);
	e->bytes = (uint64_t)num_in(o, "bytes", 0, 1e18);
	e->group = -1;
	e->ppid = (int)num_in(o, "ppid", -2147483648.0, 2147483647.0);
	e->child = (int)num_in(o, "child", -2147483648.0, 2147483647.0);
	s = json_string_value(json_object_get(o, e->kind == K_CONNECT ? "addr" :
						 e->kind == K_DNS ? "name" : "path"));
	if (s && !(e->path = strdup(s)))
		goto out;
	if (e->kind == K_START) {
		/* (its exe in path: the report's is the runtime's, known at the end) */
		free(e->path);
		e->path = NULL;
		if ((s = json_string_value(json_object_get(o, "exe"))) && !(e->path = strdup(s)))
			goto out;
		if (!root[0] && (s = json_string_value(json_object_get(o, "root"))))
			snprintf(root, root_n, "%s", s);
	}
	ok = true;
out:
	json_decref(o);
	return ok;
}

static int by_phase_start(const void *a, const void *b)
{
	const struct cs_phase *x = a, *y = b;

	return x->start_ms < y->start_ms ? -1 : x->start_ms > y->start_ms;
}

/* The phases and the init against one zero: the init's start when known, else the earliest
 * of the phases and the runtime's first event. */
static void place_phases(struct cs_report *r, struct side *sd, uint64_t t0, uint64_t t_end)
{
	uint64_t z = t0;
	double lo = 1e300, hi = -1e300;
	bool runtime = false;

	for (size_t i = 0; i < sd->n; i++)
		runtime |= strcmp(sd->ph[i].part, "runtime") == 0;
	/* Phases without the runtime's (the extension's view: it sees only its own): the
	 * runtime's is its recorded timeline. */
	if ((sd->n || sd->init_t) && !runtime && t_end && side_room(sd) == 0) {
		struct cs_phase *ph = &sd->ph[sd->n];

		memset(ph, 0, sizeof(*ph));
		snprintf(ph->name, sizeof(ph->name), "%s", r->ended ? "runtime (recorded)" :
			 "runtime (recorded, no /next)");
		ph->part = "runtime";
		ph->ms = r->total_ms;
		ph->register_ms = -1;
		sd->ph_t[sd->n++] = t0;
	}
	for (size_t i = 0; i < sd->n; i++)
		z = sd->ph_t[i] < z ? sd->ph_t[i] : z;
	if (sd->init_t)
		z = sd->init_t;
	r->start_ms = ((double)t0 - (double)z) / 1e6;
	r->zero_ns = z;
	r->init_ms = sd->init_t ? sd->init_ms : -1;
	r->cpu_ms = sd->cpu_ms;
	for (size_t i = 0; i < sd->n; i++) {
		struct cs_phase *ph = &sd->ph[i];

		ph->start_ms = ((double)sd->ph_t[i] - (double)z) / 1e6;
		if (strcmp(ph->part, "invoke") != 0) {
			lo = ph->start_ms < lo ? ph->start_ms : lo;
			hi = ph->start_ms + ph->ms > hi ? ph->start_ms + ph->ms : hi;
		}
	}
	/* From the init's start to the first process vigil saw start: the platform's own
	 * setup (vigil host writes its part as "sandbox"; in Lambda the extension sees none of
	 * it), named as such rather than left out. */
	if (sd->init_t && lo < 1e300 && lo >= 0.05 && side_room(sd) == 0) {
		struct cs_phase *ph = &sd->ph[sd->n];

		memset(ph, 0, sizeof(*ph));
		snprintf(ph->name, sizeof(ph->name), "platform (before the first process)");
		ph->part = "sandbox";
		ph->start_ms = 0;
		ph->ms = lo;
		ph->register_ms = -1;
		sd->ph_t[sd->n++] = z;
		lo = 0;
	}
	r->phases_ms = hi >= lo ? hi - lo : 0;
	if (sd->n) {
		qsort(sd->ph, sd->n, sizeof(*sd->ph), by_phase_start);
		r->phases = sd->ph;
		r->nphases = sd->n;
		sd->ph = NULL;
		sd->n = 0;
	}
}

int coldstart_analyze(const char *text, size_t len, struct cs_report *r)
{
	struct ev *evs = NULL, **th = NULL;
	uint64_t *next_proc = NULL;
	size_t n = 0, cap = 0, gcap = 0, ncap = 0;
	struct dirs pkgs = { 0 };
	struct side sd = { .cpu_ms = -1 };
	char root[1024] = "";
	uint64_t t0 = 0, t_end = 0;
	bool t0_set = false;
	int first_pid = 0, main_pid = 0;
	int rc = -ENOMEM;

	memset(r, 0, sizeof(*r));
	r->init_ms = r->cpu_ms = -1;
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t l = nl ? (size_t)(nl - (text + at)) : len - at;

		if (l && l <= COLDSTART_MAX_LINE && n < COLDSTART_MAX_EVENTS) {
			if (n == cap) {
				size_t c = cap ? cap * 2 : 1024;
				struct ev *v = realloc(evs, c * sizeof(*v));

				if (!v)
					goto out;
				evs = v;
				cap = c;
			}
			int side_rc = 0;

			if (parse_line(text + at, l, &evs[n], root, sizeof(root), r, &sd, &side_rc))
				n++;
			else if (side_rc < 0)
				goto out;
			else if (!side_rc)
				r->damaged++;
		} else if (l) {
			r->damaged++;
		}
		at += l + 1;
	}
	r->events = (unsigned)(n + sd.n + (sd.init_t != 0));
	if (!n) {
		if (sd.n || sd.init_t) {
			place_phases(r, &sd, sd.n ? sd.ph_t[0] : sd.init_t, 0);
			snprintf(r->partial, sizeof(r->partial), "no timeline of the runtime's "
				 "processes (it never started, or recorded nothing)%s",
				 r->init_status[0] && strcmp(r->init_status, "success") ?
					 "; the init did not succeed" : "");
		} else {
			snprintf(r->partial, sizeof(r->partial), "no records");
		}
		rc = 0;
		goto out;
	}
	qsort(evs, n, sizeof(*evs), by_time);
	t0 = evs[0].t;
	/* packages: directories whose __init__.py was opened */
	for (size_t i = 0; i < n; i++) {
		const char *p = evs[i].path;

		const char *pc = p ? strstr(p, "/__pycache__/__init__.") : NULL;

		/* (a package loaded from its cache never opens its __init__.py) */
		if (evs[i].kind == K_OPEN && !evs[i].failed && p &&
		    ((ends_with(p, "/__init__.py") && dirs_add(&pkgs, p, strlen(p) - 12) < 0) ||
		     (pc && !strchr(pc + 13, '/') && dirs_add(&pkgs, p, (size_t)(pc - p)) < 0)))
			goto out;
		if (evs[i].kind == K_END && !t_end) {
			t_end = evs[i].t;
			r->ended = true;
			r->pid = evs[i].pid;
		}
	}
	if (!t_end)
		t_end = evs[n - 1].t;
	/* an init that ended without /next (its timeout, a failure): it ran until then */
	if (!r->ended && sd.init_t && sd.init_ms > 0 &&
	    (double)sd.init_t + sd.init_ms * 1e6 > (double)t_end)
		t_end = sd.init_t + (uint64_t)(sd.init_ms * 1e6);
	first_pid = evs[0].pid;
	main_pid = r->ended ? r->pid : sd.runtime_pid ? sd.runtime_pid : first_pid;
	/* The runtime's processes: the one that reached /next (or that vigil named, or the
	 * first), and those it started. Others (extensions, seen by the probes) are left out of
	 * the groups: their time is their phase's. The runtime's time begins at its start (what
	 * a process did before its exec was vigil's, setting it up). */
	{
		int *fam = malloc((n + 1) * sizeof(*fam));
		size_t nfam = 0;
		uint64_t main_start = 0;

		if (!fam)
			goto out;
		fam[nfam++] = main_pid;
		for (size_t i = 0; i < n; i++) {
			int parent = 0, kid = 0;
			bool in = false, kid_in = false;

			if (evs[i].kind == K_START) {
				parent = evs[i].ppid;
				kid = evs[i].pid;
				if (kid == main_pid) {
					/* (its time from its first start; its exe the last: the
					 * image an interpreter line or a wrapper ends in) */
					if (!main_start)
						main_start = evs[i].t;
					if (evs[i].path)
						snprintf(r->exe, sizeof(r->exe), "%s", evs[i].path);
				}
			} else if (evs[i].kind == K_FORK) {
				parent = evs[i].child ? evs[i].pid : evs[i].ppid;
				kid = evs[i].child ? evs[i].child : evs[i].pid;
			}
			for (size_t k = 0; kid && k < nfam; k++) {
				in |= fam[k] == parent;
				kid_in |= fam[k] == kid;
			}
			if (in && !kid_in)
				fam[nfam++] = kid;
		}
		for (size_t i = 0; i < n; i++) {
			bool in = false;

			for (size_t k = 0; k < nfam && !in; k++)
				in = fam[k] == evs[i].pid;
			evs[i].other = !in || (evs[i].pid == main_pid && evs[i].t < main_start);
			if (!evs[i].other && !t0_set) {
				t0 = evs[i].t;
				t0_set = true;
			}
			if (evs[i].other)
				r->others++;
		}
		free(fam);
		if (!r->exe[0]) {
			for (size_t i = 0; i < n && !r->exe[0]; i++)
				if (evs[i].kind == K_START && !evs[i].other && evs[i].path)
					snprintf(r->exe, sizeof(r->exe), "%s", evs[i].path);
		}
	}
	r->total_ms = ((double)t_end - (double)t0) / 1e6;
	/* Each event's time: until the next event of its thread, and no longer than until the
	 * next of its process (a thread that waits — a runtime's worker, the Runtime API
	 * client's — would otherwise take the main thread's time as its own). A process's last
	 * event runs to the end when that process is the one that reached /next (or, in a
	 * partial record, the first one). */
	th = malloc(n * sizeof(*th));
	next_proc = malloc(n * sizeof(*next_proc));
	if (!th || !next_proc)
		goto out;
	for (size_t i = 0; i < n; i++)
		th[i] = &evs[i];
	for (size_t i = 0; i < n; i++) {
		/* evs is in time order: the next of the same process */
		size_t k = i + 1;

		while (k < n && evs[k].pid != evs[i].pid)
			k++;
		next_proc[i] = k < n ? evs[k].t :
			       evs[i].pid == main_pid ? t_end : evs[i].t;
	}
	qsort(th, n, sizeof(*th), by_thread_time);
	for (size_t i = 0; i < n; i++) {
		struct ev *e = th[i];
		bool last = i + 1 == n || th[i + 1]->pid != e->pid || th[i + 1]->tid != e->tid;
		uint64_t proc_next = next_proc[e - evs];
		uint64_t until = !last && th[i + 1]->t < proc_next ? th[i + 1]->t : proc_next;
		double self = e->t <= t_end ? (double)((until < t_end ? until : t_end) - e->t) / 1e6 : 0;
		char name[160];
		const char *kind = NULL;

		if (e->other)
			continue;

		switch (e->kind) {
		case K_START:
			snprintf(name, sizeof(name), "runtime start");
			kind = "runtime";
			r->processes++;
			break;
		case K_OPEN:
			if (!e->path)
				break;
			kind = group_of(&pkgs, root, e->path, name, sizeof(name));
			if (e->failed)
				r->missing++;
			else
				r->files++;
			break;
		case K_CONNECT:
		case K_DNS:
			snprintf(name, sizeof(name), "network");
			kind = "network";
			break;
		case K_EXEC:
			r->execs++;
			snprintf(name, sizeof(name), "exec");
			kind = "runtime";
			break;
		case K_FORK:
			r->forks++;
			snprintf(name, sizeof(name), "fork");
			kind = "runtime";
			break;
		case K_READ:
			r->bytes += e->bytes;
			break;
		default:
			break;
		}
		if (kind) {
			int g = group_index(r, &gcap, name, kind);

			if (g < 0)
				goto out;
			e->group = g;
			r->groups[g].ms += self;
			if (r->groups[g].first_ms < 0 || ((double)e->t - (double)t0) / 1e6 <
							      r->groups[g].first_ms)
				r->groups[g].first_ms = ((double)e->t - (double)t0) / 1e6;
			if (e->kind == K_OPEN && !e->failed)
				r->groups[g].files++;
		} else if (e->kind == K_READ && i > 0) {
			/* a read line follows its file's close: give its bytes and its time to the
			 * group that opened that fd last on this process */
			for (size_t k = i; k-- > 0;) {
				struct ev *o = th[k];

				if (o->pid != e->pid)
					break;
				if (o->kind == K_OPEN && o->fd == e->fd && o->group >= 0) {
					r->groups[o->group].bytes += e->bytes;
					r->groups[o->group].ms += self;
					break;
				}
			}
		}
	}
	/* the network calls, in order */
	for (size_t i = 0; i < n; i++) {
		if ((evs[i].kind != K_CONNECT && evs[i].kind != K_DNS) || evs[i].other)
			continue;
		if (r->nnet == ncap) {
			size_t c = ncap ? ncap * 2 : 16;
			struct cs_net *v = realloc(r->net, c * sizeof(*v));

			if (!v)
				goto out;
			r->net = v;
			ncap = c;
		}
		r->net[r->nnet].what = evs[i].kind == K_CONNECT ? "connect" : "dns";
		snprintf(r->net[r->nnet].target, sizeof(r->net[0].target), "%s",
			 evs[i].path ? evs[i].path : "?");
		r->net[r->nnet].at_ms = ((double)evs[i].t - (double)t0) / 1e6;
		r->net[r->nnet].ms = evs[i].ms;
		r->net[r->nnet].failed = evs[i].failed;
		r->nnet++;
	}
	if (r->ngroups)
		qsort(r->groups, r->ngroups, sizeof(*r->groups), by_ms);
	place_phases(r, &sd, t0, t_end);
	if (r->init_status[0] && strcmp(r->init_status, "success") != 0)
		snprintf(r->partial, sizeof(r->partial),
			 "the init ended in %s before the runtime reached its first /next: its "
			 "last events ran until then", r->init_status);
	else if (!r->ended)
		snprintf(r->partial, sizeof(r->partial),
			 "the runtime never reached its first /next in this record (an init that "
			 "failed or timed out, or a record cut short): times run to its last event");
	else if (r->damaged)
		snprintf(r->partial, sizeof(r->partial), "%u lines were not records (cut or damaged)",
			 r->damaged);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(evs[i].path);
	free(sd.ph);
	free(sd.ph_t);
	free(evs);
	free(th);
	free(next_proc);
	for (size_t i = 0; i < pkgs.n; i++)
		free(pkgs.v[i]);
	free(pkgs.v);
	if (rc < 0)
		coldstart_free(r);
	return rc;
}

void coldstart_free(struct cs_report *r)
{
	free(r->groups);
	free(r->net);
	free(r->phases);
	r->groups = NULL;
	r->net = NULL;
	r->phases = NULL;
	r->ngroups = r->nnet = r->nphases = 0;
}

static double off_cpu(const struct cs_report *r)
{
	return r->cpu_ms < 0 ? -1 : r->total_ms > r->cpu_ms ? r->total_ms - r->cpu_ms : 0;
}

void coldstart_text(const struct cs_report *r, unsigned top, struct buf *out)
{
	buf_printf(out, "cold start of %s: %.1f ms from the runtime's start to %s\n",
		   r->exe[0] ? r->exe : "?", r->total_ms,
		   r->ended ? "its first /next" : "its last recorded event");
	if (r->partial[0])
		buf_printf(out, "partial: %s\n", r->partial);
	buf_printf(out, "%u processes, %u execs, %u forks; %u files opened (%u looked for and "
		   "missing), %llu bytes read\n", r->processes, r->execs, r->forks, r->files,
		   r->missing, (unsigned long long)r->bytes);
	if (r->cpu_ms >= 0)
		buf_printf(out, "the runtime's process: %.1f ms on CPU, %.1f ms waiting\n", r->cpu_ms,
			   off_cpu(r));
	if (r->init_ms >= 0)
		buf_printf(out, "init: %.1f ms (%s%s%s), its phases %.1f ms\n", r->init_ms,
			   r->init_type[0] ? r->init_type : "?", r->source[0] ? ", recorded by " : "",
			   r->source, r->phases_ms);
	if (r->nphases) {
		buf_printf(out, "\n%-40s %10s %10s %12s\n", "phase", "from ms", "ms", "registered");
		for (size_t i = 0; i < r->nphases; i++) {
			const struct cs_phase *ph = &r->phases[i];
			char reg[32] = "";

			if (ph->register_ms >= 0)
				snprintf(reg, sizeof(reg), "+%.1f ms", ph->register_ms);
			buf_printf(out, "%-40.40s %10.1f %10.1f %12s\n", ph->name, ph->start_ms, ph->ms,
				   reg);
		}
	}
	buf_printf(out, "\n%-40s %-9s %10s %6s %12s\n", "where the time went", "kind", "ms", "files",
		   "bytes read");
	for (size_t i = 0; i < r->ngroups && i < top; i++) {
		const struct cs_group *g = &r->groups[i];

		buf_printf(out, "%-40.40s %-9s %10.1f %6u %12llu\n", g->name, g->kind, g->ms,
			   g->files, (unsigned long long)g->bytes);
	}
	buf_puts(out, "\nnetwork during init:");
	if (!r->nnet)
		buf_puts(out, " none");
	buf_putc(out, '\n');
	for (size_t i = 0; i < r->nnet; i++)
		buf_printf(out, "  +%.1f ms  %-7s %s  %.2f ms%s\n", r->net[i].at_ms, r->net[i].what,
			   r->net[i].target, r->net[i].ms, r->net[i].failed ? "  (failed)" : "");
}

void coldstart_json(const struct cs_report *r, struct buf *out)
{
	buf_puts(out, "{\"exe\":");
	json_put_string(out, r->exe);
	buf_printf(out, ",\"total_ms\":%.3f,\"complete\":%s,\"events\":%u,\"damaged\":%u,"
		   "\"processes\":%u,\"execs\":%u,\"forks\":%u,\"files\":%u,\"missing\":%u,"
		   "\"bytes_read\":%llu", r->total_ms, r->ended ? "true" : "false", r->events,
		   r->damaged, r->processes, r->execs, r->forks, r->files, r->missing,
		   (unsigned long long)r->bytes);
	buf_printf(out, ",\"start_ms\":%.3f", r->start_ms);
	if (r->id[0]) {
		buf_puts(out, ",\"id\":");
		json_put_string(out, r->id);
	}
	if (r->source[0])
		buf_printf(out, ",\"source\":\"%s\"", r->source);
	if (r->init_ms >= 0) {
		buf_printf(out, ",\"init_ms\":%.3f,\"init_type\":", r->init_ms);
		json_put_string(out, r->init_type);
		buf_puts(out, ",\"init_status\":");
		json_put_string(out, r->init_status);
	}
	if (r->cpu_ms >= 0)
		buf_printf(out, ",\"cpu_ms\":%.3f,\"off_cpu_ms\":%.3f", r->cpu_ms, off_cpu(r));
	buf_printf(out, ",\"phases_ms\":%.3f,\"phases\":[", r->phases_ms);
	for (size_t i = 0; i < r->nphases; i++) {
		const struct cs_phase *ph = &r->phases[i];

		buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
		json_put_string(out, ph->name);
		buf_printf(out, ",\"part\":\"%s\",\"start_ms\":%.3f,\"ms\":%.3f", ph->part,
			   ph->start_ms, ph->ms);
		if (ph->register_ms >= 0)
			buf_printf(out, ",\"register_ms\":%.3f", ph->register_ms);
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
	if (r->partial[0]) {
		buf_puts(out, ",\"partial\":");
		json_put_string(out, r->partial);
	}
	buf_puts(out, ",\"groups\":[");
	for (size_t i = 0; i < r->ngroups; i++) {
		const struct cs_group *g = &r->groups[i];

		buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
		json_put_string(out, g->name);
		buf_printf(out, ",\"kind\":\"%s\",\"ms\":%.3f,\"files\":%u,\"bytes_read\":%llu}",
			   g->kind, g->ms, g->files, (unsigned long long)g->bytes);
	}
	buf_puts(out, "],\"network\":[");
	for (size_t i = 0; i < r->nnet; i++) {
		buf_printf(out, "%s{\"what\":\"%s\",\"target\":", i ? "," : "", r->net[i].what);
		json_put_string(out, r->net[i].target);
		buf_printf(out, ",\"at_ms\":%.3f,\"ms\":%.3f,\"failed\":%s}", r->net[i].at_ms,
			   r->net[i].ms, r->net[i].failed ? "true" : "false");
	}
	buf_puts(out, "]}\n");
}

/* --- the page ---------------------------------------------------------------------------- */

static void html_text(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '&': buf_puts(out, "&amp;"); break;
		case '"': buf_puts(out, "&quot;"); break;
		default: buf_putc(out, *s);
		}
	}
}

static const char *kind_colour(const char *kind)
{
	static const struct { const char *kind, *colour; } c[] = {
		{ "node", "#3c873a" }, { "python", "#3572a5" }, { "java", "#b07219" },
		{ "library", "#7a7a7a" }, { "function", "#d1495b" }, { "runtime", "#edae49" },
		{ "network", "#8e44ad" }, { "init", "#00798c" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (strcmp(kind, c[i].kind) == 0)
			return c[i].colour;
	}
	return "#a0a0a0";
}

static void bar(struct buf *out, unsigned row, const char *cls, const char *kind,
		const char *name, double from_ms, double ms, double scale, const char *detail)
{
	double x = 260 + from_ms * scale, w = ms * scale < 1 ? 1 : ms * scale;
	unsigned y = 40 + row * 26;

	buf_printf(out, "<g class=\"row %s\" data-name=\"", cls);
	html_text(out, name);
	buf_printf(out, "\" data-kind=\"%s\" data-ms=\"%.3f\">", kind, ms);
	buf_printf(out, "<text x=\"250\" y=\"%u\" text-anchor=\"end\">", y + 14);
	html_text(out, name);
	buf_printf(out, "</text><rect x=\"%.1f\" y=\"%u\" width=\"%.1f\" height=\"18\" rx=\"2\" "
		   "fill=\"%s\"><title>", x, y, w, kind_colour(kind));
	html_text(out, name);
	buf_printf(out, " (%s): %.1f ms from +%.1f ms", kind, ms, from_ms);
	if (detail && *detail)
		buf_printf(out, ", %s", detail);
	buf_printf(out, "</title></rect><text x=\"%.1f\" y=\"%u\" class=\"ms\">%.1f ms</text></g>\n",
		   x + w + 6, y + 14, ms);
}

void coldstart_html(const struct cs_report *r, unsigned top, struct buf *out)
{
	unsigned ntop = (unsigned)(r->ngroups < top ? r->ngroups : top);
	unsigned rows = 1 + (unsigned)r->nphases + ntop, row = 0;
	double span = r->start_ms + r->total_ms, scale;
	char detail[200];

	for (size_t i = 0; i < r->nphases; i++)
		if (r->phases[i].start_ms + r->phases[i].ms > span)
			span = r->phases[i].start_ms + r->phases[i].ms;
	if (r->init_ms > span)
		span = r->init_ms;
	span = span > 0 ? span : 1;
	scale = 640.0 / span;
	buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		      "<title>vigil coldstart</title><style>"
		      "body{font:14px sans-serif;margin:24px;color:#222}"
		      "h1{font-size:18px}table{border-collapse:collapse;margin:12px 0}"
		      "td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}"
		      "td:first-child,th:first-child{text-align:left}"
		      "svg text{font:12px sans-serif;fill:#222}svg .ms{fill:#555}"
		      ".partial{color:#a00}</style></head><body>\n<h1>Cold start of ");
	html_text(out, r->exe[0] ? r->exe : "?");
	if (r->init_ms >= 0)
		buf_printf(out, ": init %.1f ms", r->init_ms);
	else
		buf_printf(out, ": %.1f ms", r->total_ms);
	buf_printf(out, "</h1>\n<p>The runtime's start to %s: %.1f ms. Processes: %u; files "
		   "opened: %u (%u missing); bytes read: %llu; network calls: %zu.",
		   r->ended ? "its first /next" : "its last recorded event", r->total_ms,
		   r->processes, r->files, r->missing, (unsigned long long)r->bytes, r->nnet);
	if (r->cpu_ms >= 0)
		buf_printf(out, " On CPU: %.1f ms; waiting: %.1f ms.", r->cpu_ms, off_cpu(r));
	buf_puts(out, "</p>\n");
	if (r->partial[0]) {
		buf_puts(out, "<p class=\"partial\">Partial: ");
		html_text(out, r->partial);
		buf_puts(out, "</p>\n");
	}
	buf_printf(out, "<svg id=\"waterfall\" xmlns=\"http://www.w3.org/2000/svg\" width=\"1000\" "
		   "height=\"%u\" role=\"img\">\n", 60 + rows * 26);
	buf_printf(out, "<line x1=\"260\" y1=\"30\" x2=\"260\" y2=\"%u\" stroke=\"#bbb\"/>"
		   "<line x1=\"900\" y1=\"30\" x2=\"900\" y2=\"%u\" stroke=\"#bbb\"/>"
		   "<text x=\"260\" y=\"22\">0 ms</text><text x=\"900\" y=\"22\" "
		   "text-anchor=\"end\">%.1f ms</text>\n", 40 + rows * 26, 40 + rows * 26, span);
	snprintf(detail, sizeof(detail), "%u files, %llu bytes read", r->files,
		 (unsigned long long)r->bytes);
	if (r->init_ms >= 0)
		bar(out, row++, "phase", "init", "init (Init Duration)", 0, r->init_ms, scale, detail);
	else
		bar(out, row++, "phase", "init", r->ended ? "init (start → first /next)" :
			"init (partial)", r->start_ms, r->total_ms, scale, detail);
	for (size_t i = 0; i < r->nphases; i++) {
		const struct cs_phase *ph = &r->phases[i];

		detail[0] = '\0';
		if (ph->register_ms >= 0)
			snprintf(detail, sizeof(detail), "registered after %.1f ms", ph->register_ms);
		bar(out, row, "phase", strcmp(ph->part, "extension") == 0 ? "runtime" :
			strcmp(ph->part, "invoke") == 0 ? "function" : "init", ph->name,
		    ph->start_ms, ph->ms, scale, detail);
		if (ph->register_ms >= 0) {
			/* the registration: a mark on the extension's bar */
			double x = 260 + (ph->start_ms + ph->register_ms) * scale;

			buf_printf(out, "<line class=\"registered\" x1=\"%.1f\" y1=\"%u\" x2=\"%.1f\" "
				   "y2=\"%u\" stroke=\"#222\" stroke-width=\"2\"><title>registered "
				   "+%.1f ms</title></line>\n", x, 38 + row * 26, x, 60 + row * 26,
				   ph->register_ms);
		}
		row++;
	}
	for (unsigned i = 0; i < ntop; i++) {
		const struct cs_group *g = &r->groups[i];

		snprintf(detail, sizeof(detail), "%u files, %llu bytes read", g->files,
			 (unsigned long long)g->bytes);
		bar(out, row++, "package", g->kind, g->name,
		    r->start_ms + (g->first_ms > 0 ? g->first_ms : 0), g->ms, scale, detail);
	}
	buf_puts(out, "</svg>\n<h2>Network during init</h2>\n");
	if (!r->nnet)
		buf_puts(out, "<p>None.</p>\n");
	else
		buf_puts(out, "<table><tr><th>call</th><th>target</th><th>at ms</th><th>took ms</th>"
			      "</tr>\n");
	for (size_t i = 0; i < r->nnet; i++) {
		buf_printf(out, "<tr><td>%s</td><td>", r->net[i].what);
		html_text(out, r->net[i].target);
		buf_printf(out, "%s</td><td>%.1f</td><td>%.2f</td></tr>\n",
			   r->net[i].failed ? " (failed)" : "", r->start_ms + r->net[i].at_ms,
			   r->net[i].ms);
	}
	if (r->nnet)
		buf_puts(out, "</table>\n");
	buf_puts(out, "<p>Phases: each extension's start to its first /next (the mark: when it "
		      "registered), the runtime's exec to its first /next, the first invocation. "
		      "Packages: each bar begins at the package's first event; its length is the "
		      "time until the next event of the same thread (no longer than the next of its "
		      "process), summed. Made by vigil coldstart.</p>\n</body></html>\n");
}

/* --- diff ---------------------------------------------------------------------------------- */

static const struct cs_group *find_group(const struct cs_report *r, const struct cs_group *g)
{
	for (size_t i = 0; i < r->ngroups; i++) {
		if (strcmp(r->groups[i].kind, g->kind) == 0 && strcmp(r->groups[i].name, g->name) == 0)
			return &r->groups[i];
	}
	return NULL;
}

struct change {
	const struct cs_group *g;
	double a, b;
	const char *what;
};

static int by_change(const void *x, const void *y)
{
	const struct change *p = x, *q = y;
	double dp = p->b - p->a, dq = q->b - q->a;

	dp = dp < 0 ? -dp : dp;
	dq = dq < 0 ? -dq : dq;
	return dp < dq ? 1 : dp > dq ? -1 : strcmp(p->g->name, q->g->name);
}

void coldstart_diff(const struct cs_report *a, const struct cs_report *b, double min_ms,
		    bool json, struct buf *out)
{
	struct change *c = calloc(a->ngroups + b->ngroups + 1, sizeof(*c));
	size_t n = 0;

	if (!c)
		return;
	for (size_t i = 0; i < b->ngroups; i++) {
		const struct cs_group *g = &b->groups[i], *o = find_group(a, g);
		double before = o ? o->ms : 0;

		if (!o && g->ms >= min_ms)
			c[n++] = (struct change){ g, 0, g->ms, "appeared" };
		else if (o && g->ms - before >= min_ms)
			c[n++] = (struct change){ g, before, g->ms, "grew" };
		else if (o && before - g->ms >= min_ms)
			c[n++] = (struct change){ g, before, g->ms, "shrank" };
	}
	for (size_t i = 0; i < a->ngroups; i++) {
		if (!find_group(b, &a->groups[i]) && a->groups[i].ms >= min_ms)
			c[n++] = (struct change){ &a->groups[i], a->groups[i].ms, 0, "went" };
	}
	qsort(c, n, sizeof(*c), by_change);
	if (json) {
		buf_printf(out, "{\"a_ms\":%.3f,\"b_ms\":%.3f,\"delta_ms\":%.3f,\"changes\":[",
			   a->total_ms, b->total_ms, b->total_ms - a->total_ms);
		for (size_t i = 0; i < n; i++) {
			buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
			json_put_string(out, c[i].g->name);
			buf_printf(out, ",\"kind\":\"%s\",\"change\":\"%s\",\"a_ms\":%.3f,"
				   "\"b_ms\":%.3f,\"delta_ms\":%.3f}", c[i].g->kind, c[i].what,
				   c[i].a, c[i].b, c[i].b - c[i].a);
		}
		buf_puts(out, "]}\n");
	} else {
		buf_printf(out, "cold start: %.1f ms → %.1f ms (%+.1f ms)\n", a->total_ms,
			   b->total_ms, b->total_ms - a->total_ms);
		if (!n)
			buf_printf(out, "no package or module changed by %.1f ms or more\n", min_ms);
		for (size_t i = 0; i < n; i++)
			buf_printf(out, "%-8s %-40.40s %-9s %9.1f → %9.1f ms (%+.1f ms)\n", c[i].what,
				   c[i].g->name, c[i].g->kind, c[i].a, c[i].b, c[i].b - c[i].a);
	}
	free(c);
}

/* --- reading a record ------------------------------------------------------------------ */

#define MAP_HEAD 64		/* (preload.c's layout) */
#define MAP_MAGIC "VIGILCS1"

int coldstart_read_fd(int fd, struct buf *out, size_t max)
{
	unsigned char head[MAP_HEAD];
	unsigned long long used = 0;
	size_t from = out->len;
	ssize_t n;
	int rc;

	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(head) || memcmp(head, MAP_MAGIC, 8) != 0)
		return buf_read_fd_at(out, fd, 0, max);	/* plain lines */
	memcpy(&used, head + 8, sizeof(used));
	if (used > max)
		used = max;
	rc = buf_read_fd_at(out, fd, MAP_HEAD, out->len + (size_t)used);
	if (rc < 0 && rc != -EFBIG)
		return rc;
	/* NUL gaps (a process gone between its place and its copy) are line ends */
	for (size_t i = from; i < out->len; i++)
		if (!out->data[i])
			out->data[i] = '\n';
	return rc == -EFBIG && used == max ? -EFBIG : 0;
}

/* --- into the log segments ------------------------------------------------------------- */

void coldstart_log(struct log_pipe *p, const char *id, const char *function_name,
		   const char *text, size_t len)
{
	char ext[128];
	struct log_line meta = { .stream = 63, .source = VIGIL__V1__SOURCE__SOURCE_EXTENSION,
				 .extension = ext, .function_name = function_name,
				 .verbatim = true };

	snprintf(ext, sizeof(ext), COLDSTART_LOG_PREFIX "%s", id);
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t l = nl ? (size_t)(nl - (text + at)) : len - at;

		if (l && l <= COLDSTART_MAX_LINE) {
			/* the record's time: the line's own "t" (ns), when it starts with one */
			meta.time_ns = 0;
			if (l > 6 && memcmp(text + at, "{\"t\":", 5) == 0) {
				int64_t t = 0;

				for (size_t i = at + 5; i < at + l && text[i] >= '0' && text[i] <= '9' &&
				     t < INT64_MAX / 10 - 10; i++)
					t = t * 10 + (text[i] - '0');
				meta.time_ns = t;
			}
			log_pipe_line(p, &meta, text + at, l);
		}
		at += l + 1;
	}
}

void coldstart_phase_line(struct buf *b, uint64_t start_ns, const char *name, const char *part,
			  uint64_t ns, int64_t register_ns)
{
	buf_printf(b, "{\"t\":%llu,\"ev\":\"phase\",\"name\":", (unsigned long long)start_ns);
	json_put_string(b, name);
	buf_printf(b, ",\"part\":\"%s\",\"ns\":%llu", part, (unsigned long long)ns);
	if (register_ns >= 0)
		buf_printf(b, ",\"register_ns\":%lld", (long long)register_ns);
	buf_puts(b, "}\n");
}

void coldstart_init_line(struct buf *b, uint64_t start_ns, uint64_t ns, const char *type,
			 const char *status, const char *source, int runtime_pid)
{
	buf_printf(b, "{\"t\":%llu,\"ev\":\"init\",\"ns\":%llu,\"type\":",
		   (unsigned long long)start_ns, (unsigned long long)ns);
	json_put_string(b, type ? type : "");
	buf_puts(b, ",\"status\":");
	json_put_string(b, status ? status : "");
	buf_puts(b, ",\"source\":");
	json_put_string(b, source ? source : "");
	if (runtime_pid > 0)
		buf_printf(b, ",\"runtime_pid\":%d", runtime_pid);
	buf_puts(b, "}\n");
}

void coldstart_keep(struct log_pipe *p, struct sink_set *sinks, const char *id,
		    const char *function_name, struct buf *record, const struct buf *lines,
		    const char *request_id, const char *trace)
{
	struct cs_report r;

	coldstart_log(p, id, function_name, record->data ? record->data : "", record->len);
	coldstart_log(p, id, function_name, lines->data ? lines->data : "", lines->len);
	if (!sink_set_wants_coldstart(sinks) || !request_id || !request_id[0])
		return;
	buf_append(record, lines->data ? lines->data : "", lines->len);
	if (record->failed || coldstart_analyze(record->data ? record->data : "", record->len,
						&r) < 0)
		return;
	if (r.events)
		sink_set_coldstart(sinks, &r, request_id, trace);
	coldstart_free(&r);
}
