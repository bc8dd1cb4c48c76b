/* Trace context headers read, and the span id of an invocation. See tracectx.h. */
#include "tracectx.h"

#include <string.h>

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n hex digits at s into out (n / 2 bytes); false when any is not hex. */
bool trace_hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int hi = unhex(s[i]), lo = hi < 0 ? -1 : unhex(s[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi * 16 + lo);
	}
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

bool trace_context(const char *h, uint8_t trace_id[16], uint8_t parent[8],
			bool *has_parent, int *sampled)
{
	size_t n = strlen(h);
	bool has_trace = false;
	const char *p = h;

	*has_parent = false;
	*sampled = -1;
	/* W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex> */
	if (n == 55 && h[2] == '-' && h[35] == '-' && h[52] == '-') {
		uint8_t flags;

		if (!trace_hex_decode(h + 3, 32, trace_id) || !trace_hex_decode(h + 36, 16, parent) ||
		    !trace_hex_decode(h + 53, 2, &flags) || all_zero(trace_id, 16))
			return false;
		*has_parent = !all_zero(parent, 8);
		*sampled = flags & 1;
		return true;
	}
	if (n == 32)
		return trace_hex_decode(h, 32, trace_id) && !all_zero(trace_id, 16);
	/* An X-Ray trace id alone (Powertools' xray_trace_id): 1-<8 hex>-<24 hex> */
	if (n == 35 && h[0] == '1' && h[1] == '-' && h[10] == '-')
		return trace_hex_decode(h + 2, 8, trace_id) && trace_hex_decode(h + 11, 24, trace_id + 4) &&
		       !all_zero(trace_id, 16);
	/* X-Ray: Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>, any order, spaces. */
	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && *p == ' ') {
			p++;
			len--;
		}
		if (len == 40 && strncmp(p, "Root=1-", 7) == 0 && p[15] == '-') {
			has_trace = trace_hex_decode(p + 7, 8, trace_id) && trace_hex_decode(p + 16, 24, trace_id + 4) &&
				    !all_zero(trace_id, 16);
		} else if (len == 23 && strncmp(p, "Parent=", 7) == 0) {
			*has_parent = trace_hex_decode(p + 7, 16, parent) && !all_zero(parent, 8);
		} else if (len == 9 && strncmp(p, "Sampled=", 8) == 0 &&
			   (p[8] == '0' || p[8] == '1')) {
			*sampled = p[8] - '0';
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!has_trace)
		*has_parent = false;
	return has_trace;
}


static uint64_t id_hash(const char *salt, const char *request_id)
{
	uint64_t h = 14695981039346656037ull;

	for (const char *p = salt; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (const char *p = request_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	/* splitmix64's finalizer: the bits spread; never all zero (an invalid span id). */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h ? h : 1;
}

static void put64(uint64_t h, uint8_t *out)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(h >> (56 - 8 * i));
}

void trace_invoke_span_id(const char *request_id, uint8_t out[8])
{
	put64(id_hash("", request_id), out);
}

void trace_init_span_id(const char *request_id, uint8_t out[8])
{
	put64(id_hash("init:", request_id), out);
}

void trace_fallback_id(const char *request_id, uint8_t out[16])
{
	put64(id_hash("trace:", request_id), out);
	put64(id_hash("trace2:", request_id), out + 8);
}

void trace_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}
