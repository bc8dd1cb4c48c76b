/*
 * Snappy's raw block format (what Prometheus remote_write bodies are), compressed: a greedy
 * LZ77 over 64 KiB fragments with a 4-byte hash, as snappy's own compressor works, written
 * here so that no C++ library (libsnappy, libstdc++) is linked or loaded. Any valid snappy
 * stream decodes; tests/unit/test_snappy.c checks ours with libsnappy's decoder.
 */
#ifndef VIGIL_SNAPPY_H
#define VIGIL_SNAPPY_H

#include <stddef.h>

/* The most snappy_encode writes for n bytes. */
size_t snappy_bound(size_t n);
/* in[0..n) compressed into out (snappy_bound(n) bytes at least): the bytes written. */
size_t snappy_encode(const void *in, size_t n, void *out);

#endif
