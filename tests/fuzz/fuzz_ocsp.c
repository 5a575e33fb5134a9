/*
 * fuzz_ocsp: the load-time checks of a stapled OCSP response (ocsp.c) on
 * fuzzed DER, for a fixed certificate: serial 0x07 under an empty issuer
 * Name (SEQUENCE {}), no issuer key. Properties:
 *  - never a read past the input (ASan; the input is an exact-size copy);
 *  - on success, nextUpdate is not before thisUpdate and both are times
 *    ocsp_time accepts (years 0000 to 9999);
 *  - on failure, a message; the verdict is the same twice.
 * Seeds (corpus/fuzz_ocsp): good responses with SHA-1 and SHA-256 CertIDs,
 * revoked, without nextUpdate, unsuccessful.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "ocsp.h"

static const uint8_t fuzz_ocsp_name[] = { 0x30, 0x00 };
static const uint8_t fuzz_ocsp_serial[] = { 0x07 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ocsp_cert_t c = { fuzz_ocsp_serial, sizeof(fuzz_ocsp_serial),
		fuzz_ocsp_name, sizeof(fuzz_ocsp_name), NULL, 0 };
	uint8_t *in = fuzz_dup(data, size);
	int64_t t1 = 0, n1 = 0, t2 = 0, n2 = 0;
	char e1[128] = "", e2[128] = "";
	int r1, r2;

	r1 = ocsp_check(in, size, &c, &t1, &n1, e1, sizeof(e1));
	r2 = ocsp_check(in, size, &c, &t2, &n2, e2, sizeof(e2));
	FUZZ_CHECK(r1 == r2);
	if (r1 == 0) {
		FUZZ_CHECK(n1 >= t1 && t1 >= (int64_t)-62167219200); /* year 0 */
		FUZZ_CHECK(n1 < (int64_t)253402300800); /* year 10000 */
		FUZZ_CHECK(t1 == t2 && n1 == n2);
	} else {
		FUZZ_CHECK(e1[0] != '\0' && strcmp(e1, e2) == 0);
	}
	free(in);
	return 0;
}
