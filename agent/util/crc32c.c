/* CRC-32C: the CPU's instruction where there is one (SSE4.2, ARMv8 CRC32), else slicing by 8
 * over tables built once. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static uint32_t table[8][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint32_t (*impl)(uint32_t crc, const uint8_t *p, size_t n);

static uint32_t by_tables(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
		      table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
		      table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
#include <cpuid.h>

/* 8 bytes an instruction: a block's CRC was 1.4 % of log ingest with the tables. */
__attribute__((target("sse4.2"))) static uint32_t by_cpu(uint32_t crc, const uint8_t *p,
							 size_t n)
{
	uint64_t c = crc, w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	crc = (uint32_t)c;
	for (; n; p++, n--)
		crc = __builtin_ia32_crc32qi(crc, *p);
	return crc;
}

/* One CPUID leaf, asked when the first CRC is made: __builtin_cpu_supports would link
 * libgcc's CPU model constructor, a dozen CPUIDs at every start — each a trap to the
 * hypervisor in a VM: 0.07 ms of the extension's 0.7 ms start here. */
static int cpu_has_crc(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
}
#elif defined(__aarch64__) && defined(__linux__) && defined(HWCAP_CRC32)
__attribute__((target("+crc"))) static uint32_t by_cpu(uint32_t crc, const uint8_t *p,
						       size_t n)
{
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		crc = __builtin_aarch64_crc32cx(crc, w);
	}
	for (; n; p++, n--)
		crc = __builtin_aarch64_crc32cb(crc, *p);
	return crc;
}

static int cpu_has_crc(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#else
#define by_cpu by_tables
static int cpu_has_crc(void)
{
	return 0;
}
#endif

static void build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
	impl = cpu_has_crc() ? by_cpu : by_tables;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
	pthread_once(&once, build);
	return ~impl(~crc, data, n);
}

uint32_t crc32c_tables(uint32_t crc, const void *data, size_t n)
{
	pthread_once(&once, build);
	return ~by_tables(~crc, data, n);
}
