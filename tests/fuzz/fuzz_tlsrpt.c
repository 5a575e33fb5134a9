/*
 * fuzz_tlsrpt: the TLS-RPT datagram encoder on arbitrary strings (the
 * input split at NUL into domain, record, policy strings, mx patterns and
 * failure fields), with the properties the collector relies on:
 *  - the output fits the buffer or the encoder says -1, never a cut;
 *  - the output is valid UTF-8 with no control octet (a JSON text whose
 *    strings a collector can decode), and every '"' inside a string is
 *    escaped: the number of unescaped quotes is even;
 *  - one byte less of buffer than the output needs is refused.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "tlsrpt.h"

#define FUZZ_TLSRPT_FIELDS 16

static void
fuzz_tlsrpt_check(const char *out, size_t n)
{
	size_t i = 0, quotes = 0;
	int esc = 0;

	while (i < n) {
		uint8_t c = (uint8_t)out[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
		if (c >= 0x80) {
			size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			FUZZ_CHECK(c >= 0xc2 && c <= 0xf4 && i + k <= n);
			for (size_t j = 1; j < k; j++)
				FUZZ_CHECK(((uint8_t)out[i + j] & 0xc0) == 0x80);
			i += k;
			esc = 0;
			continue;
		}
		if (esc)
			esc = 0;
		else if (c == '\\')
			esc = 1;
		else if (c == '"')
			quotes++;
		i++;
	}
	FUZZ_CHECK(quotes % 2 == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *f[FUZZ_TLSRPT_FIELDS], out[8192];
	size_t nf = 0, start = 0;
	int n;

	if (size < 1 || size > 4096)
		return 0;
	copy = malloc(size + 1);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (size_t i = 0; i < size && nf < FUZZ_TLSRPT_FIELDS; i++)
		if (copy[i] == '\0') {
			f[nf++] = copy + start;
			start = i + 1;
		}
	while (nf < FUZZ_TLSRPT_FIELDS)
		f[nf++] = NULL;
	{
		tlsrpt_rec_t r = {
			.domain = f[0], .record = f[1],
			.type = (tlsrpt_policy_t)(data[0] % TLSRPT_POLICY_COUNT),
			.policy_domain = f[2],
			.strings = (const char *const *)&f[3],
			.nstrings = f[3] && f[4] && f[5] ? 3 : 0,
			.mx = (const char *const *)&f[6],
			.nmx = f[6] && f[7] ? 2 : 0,
			.result = (tlsrpt_result_t)((data[0] >> 2) %
			    TLSRPT_RESULT_COUNT),
			.sending_ip = f[8], .mx_name = f[9],
			.receiving_ip = f[10], .info = f[11],
		};

		n = tlsrpt_encode(&r, out, sizeof(out));
		if (n >= 0) {
			FUZZ_CHECK((size_t)n <= sizeof(out));
			fuzz_tlsrpt_check(out, (size_t)n);
			if (n > 0)
				FUZZ_CHECK(tlsrpt_encode(&r, out,
				    (size_t)n - 1) == -1);
		}
	}
	free(copy);
	return 0;
}
