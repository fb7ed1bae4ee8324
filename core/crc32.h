/* CRC-32 (IEEE 802.3, the checksum of zlib, gzip and PNG), so that a file's checksum
 * written by this program can be checked in Python with zlib.crc32(data). */
#ifndef WM_CRC32_H
#define WM_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over data[0..n); start with crc = 0. wm_crc32(wm_crc32(0, a), b) is
 * the checksum of a followed by b. Thread-safe. */
uint32_t wm_crc32(uint32_t crc, const void *data, size_t n);

#endif
