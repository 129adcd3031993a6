/* Differential checks of gateway/contacts_scan.c against the jansson path it stands in for:
 * whenever the one-pass reader accepts a body, the jansson path must accept it too and build
 * the same rows (metadata compared as jansson's canonical text of both, so key order and
 * values count, spacing does not). A body the reader refuses is not checked here: the gateway
 * then runs the jansson path itself. Aborts on a difference. */
#ifndef TESTS_FUZZ_SCAN_DIFFERENTIAL_H
#define TESTS_FUZZ_SCAN_DIFFERENTIAL_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 1 if the reader accepted the body (and agreed), 0 if it fell back. */
int scan_differential_bulk(const uint8_t *data, size_t size);
int scan_differential_import(const uint8_t *data, size_t size);

#endif
