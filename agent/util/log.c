/* vigil's own log lines. One write(2) per line so lines from threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static _Atomic int current_level = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

int log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_OFF; i++) {
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < 0 || level > LOG_OFF)
		return "?";
	return level_names[level];
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	char line[4096 + 128];
	va_list ap;
	int n, m;

	if ((int)level < atomic_load(&current_level) || level >= LOG_OFF)
		return;
	n = snprintf(line, sizeof(line), "%s %s: ", level_names[level], component);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = (int)(sizeof(line) - 2) - n;
	for (int i = n; i < n + m; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[n + m] = '\n';
	/* A short write to stderr is not worth a retry loop; nothing else can be done. */
	if (write(STDERR_FILENO, line, (size_t)(n + m + 1)) < 0)
		return;
}
