/* CRC-32C (Castagnoli), as segment blocks carry it. */
#ifndef VIGIL_CRC32C_H
#define VIGIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data, size_t n);
/* The same without the CPU's instruction (tests: both must agree). */
uint32_t crc32c_tables(uint32_t crc, const void *data, size_t n);

#endif
