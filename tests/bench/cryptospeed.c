/*
 * cryptospeed: per-operation cost of the BoringSSL primitives a TLS 1.3
 * server handshake and bulk record decryption need, for benchmarks only.
 *
 *   cryptospeed [-t SECONDS] [-n MAXOPS] [-o LIST] [-w] [-q]
 *
 * Every operation runs on one thread for -t seconds (default 1) or -n
 * iterations (default 100000000), whichever comes first, after a short
 * warm-up. Seconds are the thread's CPU time, as `openssl speed` divides
 * by its user CPU time, so a busy or stolen CPU slows the run down but
 * skews the rates less; -w counts wall-clock seconds instead (compare with
 * `openssl speed -elapsed`). Either way no operation runs longer than
 * 2 * SECONDS + 1 of wall-clock time. -o runs only the operations whose
 * JSON key starts with one of the comma-separated prefixes (for a
 * profiler, say). Reported: ops/s, us/op and, for the bulk operations,
 * MB/s (MB = 10^6 bytes, as `openssl speed` counts). The operations, which
 * tests/bench/cryptofloor.sh compares with `openssl speed`:
 *
 *   x25519 key generation (X25519_keypair) and shared secret (X25519)
 *   ECDSA P-256 sign and verify of a 32-byte digest (one EC_KEY)
 *   AES-128-GCM open and seal, AES-256-GCM open, ChaCha20-Poly1305 open,
 *   each of one 16384-byte record with a 16-byte tag (EVP_AEAD, TLS 1.3
 *   style 5-byte additional data, a separate output buffer)
 *   SHA-256 of 16384 bytes
 *   HMAC-SHA256 of 64 bytes, with the key reused (HMAC_Init_ex with a
 *   NULL key, as `openssl speed -hmac` does) and one-shot HMAC() that sets
 *   up the key every time (as HKDF in the TLS 1.3 key schedule does)
 *
 * Links only BoringSSL's libcrypto. At the end: a human table and one JSON
 * line on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/aead.h>
#include <openssl/base.h>
#include <openssl/curve25519.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define CS_RECORD 16384        /* TLS maximum record plaintext */
#define CS_AD_LEN 5            /* TLS 1.3 record header as additional data */
#define CS_HMAC_LEN 64
#define CS_CHUNK_NS 1000000.0 /* grow a chunk of iterations to about 1 ms */
#define CS_CHUNK_MAX (1u << 20)
#define CS_DEFAULT_MAXOPS 100000000ULL

typedef struct {
	/* X25519 */
	uint8_t x_pub[32], x_priv[32], x_peer_pub[32], x_shared[32];
	/* ECDSA */
	EC_KEY *ec;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	uint8_t *sig;            /* ECDSA_size() bytes, for sign */
	uint8_t *vsig;           /* a valid signature of digest, for verify */
	unsigned int vsig_len;
	/* AEAD: one context per algorithm, same buffers */
	EVP_AEAD_CTX aes128, aes256, chacha;
	EVP_AEAD_CTX *aead;      /* the one being measured */
	uint8_t nonce[12];
	uint8_t ad[CS_AD_LEN];
	uint8_t *plain;          /* CS_RECORD */
	uint8_t *sealed;         /* CS_RECORD + tag, sealed by *aead */
	size_t sealed_len;
	uint8_t *out;            /* CS_RECORD + tag, scratch */
	/* hashes */
	uint8_t md[EVP_MAX_MD_SIZE];
	uint8_t hmac_key[32];
	uint8_t hmac_msg[CS_HMAC_LEN];
	HMAC_CTX hctx;
} cs_state_t;

typedef int (*cs_op_fn)(cs_state_t *st);

typedef struct {
	const char *key;         /* JSON key */
	const char *name;        /* human name */
	cs_op_fn fn;
	size_t bytes;            /* bytes per op for MB/s; 0 for none */
	EVP_AEAD_CTX *aead;      /* set before the run, for the AEAD ops */
	/* results */
	uint64_t ops;
	double secs;             /* CPU or wall-clock, whichever is measured */
	double wall;             /* wall-clock, always */
	double cpu;              /* thread CPU time, always */
	int run;                 /* selected by -o */
} cs_bench_t;

static double
cs_clock(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) == -1)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* The operations; each returns 1 on success. */

static int
cs_x25519_keygen(cs_state_t *st)
{
	X25519_keypair(st->x_pub, st->x_priv);
	return 1;
}

static int
cs_x25519_shared(cs_state_t *st)
{
	return X25519(st->x_shared, st->x_priv, st->x_peer_pub);
}

static int
cs_ecdsa_sign(cs_state_t *st)
{
	unsigned int len;

	return ECDSA_sign(0, st->digest, sizeof(st->digest), st->sig, &len, st->ec);
}

static int
cs_ecdsa_verify(cs_state_t *st)
{
	return ECDSA_verify(0, st->digest, sizeof(st->digest), st->vsig,
	    st->vsig_len, st->ec);
}

/* The nonce stays fixed: the open has to find the record it was sealed
 * with, and reusing a nonce does not change the cost of a seal. */
static int
cs_aead_open(cs_state_t *st)
{
	size_t len;

	return EVP_AEAD_CTX_open(st->aead, st->out, &len, CS_RECORD, st->nonce,
	    sizeof(st->nonce), st->sealed, st->sealed_len, st->ad, sizeof(st->ad));
}

static int
cs_aead_seal(cs_state_t *st)
{
	size_t len;

	return EVP_AEAD_CTX_seal(st->aead, st->out, &len,
	    CS_RECORD + EVP_AEAD_MAX_OVERHEAD, st->nonce, sizeof(st->nonce),
	    st->plain, CS_RECORD, st->ad, sizeof(st->ad));
}

static int
cs_sha256(cs_state_t *st)
{
	SHA256(st->plain, CS_RECORD, st->md);
	return 1;
}

static int
cs_hmac_reuse(cs_state_t *st)
{
	unsigned int len;

	return HMAC_Init_ex(&st->hctx, NULL, 0, NULL, NULL) &&
	    HMAC_Update(&st->hctx, st->hmac_msg, sizeof(st->hmac_msg)) &&
	    HMAC_Final(&st->hctx, st->md, &len);
}

static int
cs_hmac_oneshot(cs_state_t *st)
{
	unsigned int len;

	return HMAC(EVP_sha256(), st->hmac_key, sizeof(st->hmac_key),
	    st->hmac_msg, sizeof(st->hmac_msg), st->md, &len) != NULL;
}

/* ------------------------------------------------------------------ */

static int
cs_aead_init(EVP_AEAD_CTX *ctx, const EVP_AEAD *aead)
{
	uint8_t key[32];

	RAND_bytes(key, sizeof(key));
	return EVP_AEAD_CTX_init(ctx, aead, key, EVP_AEAD_key_length(aead),
	    EVP_AEAD_DEFAULT_TAG_LENGTH, NULL);
}

static int
cs_setup(cs_state_t *st)
{
	uint8_t peer_priv[32];
	size_t sig_max;

	memset(st, 0, sizeof(*st));
	X25519_keypair(st->x_pub, st->x_priv);
	X25519_keypair(st->x_peer_pub, peer_priv);

	if ((st->ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
	    !EC_KEY_generate_key(st->ec))
		return -1;
	RAND_bytes(st->digest, sizeof(st->digest));
	sig_max = ECDSA_size(st->ec);
	if ((st->sig = malloc(sig_max)) == NULL ||
	    (st->vsig = malloc(sig_max)) == NULL ||
	    !ECDSA_sign(0, st->digest, sizeof(st->digest), st->vsig,
	    &st->vsig_len, st->ec))
		return -1;

	if (!cs_aead_init(&st->aes128, EVP_aead_aes_128_gcm()) ||
	    !cs_aead_init(&st->aes256, EVP_aead_aes_256_gcm()) ||
	    !cs_aead_init(&st->chacha, EVP_aead_chacha20_poly1305()))
		return -1;
	RAND_bytes(st->nonce, sizeof(st->nonce));
	memcpy(st->ad, "\x17\x03\x03\x40\x11", CS_AD_LEN);
	if ((st->plain = malloc(CS_RECORD)) == NULL ||
	    (st->sealed = malloc(CS_RECORD + EVP_AEAD_MAX_OVERHEAD)) == NULL ||
	    (st->out = malloc(CS_RECORD + EVP_AEAD_MAX_OVERHEAD)) == NULL)
		return -1;
	RAND_bytes(st->plain, CS_RECORD);

	RAND_bytes(st->hmac_key, sizeof(st->hmac_key));
	RAND_bytes(st->hmac_msg, sizeof(st->hmac_msg));
	HMAC_CTX_init(&st->hctx);
	if (!HMAC_Init_ex(&st->hctx, st->hmac_key, sizeof(st->hmac_key),
	    EVP_sha256(), NULL))
		return -1;
	return 0;
}

static void
cs_teardown(cs_state_t *st)
{
	EC_KEY_free(st->ec);
	free(st->sig);
	free(st->vsig);
	EVP_AEAD_CTX_cleanup(&st->aes128);
	EVP_AEAD_CTX_cleanup(&st->aes256);
	EVP_AEAD_CTX_cleanup(&st->chacha);
	free(st->plain);
	free(st->sealed);
	free(st->out);
	HMAC_CTX_cleanup(&st->hctx);
}

/* Points the AEAD ops at ctx and seals the record they open. */
static int
cs_aead_select(cs_state_t *st, EVP_AEAD_CTX *ctx)
{
	st->aead = ctx;
	return EVP_AEAD_CTX_seal(ctx, st->sealed, &st->sealed_len,
	    CS_RECORD + EVP_AEAD_MAX_OVERHEAD, st->nonce, sizeof(st->nonce),
	    st->plain, CS_RECORD, st->ad, sizeof(st->ad));
}

/*
 * Runs one operation for at most secs seconds (CPU time, or wall-clock
 * with wall set) and maxops iterations, and never longer than 2 * secs + 1
 * wall-clock seconds. The clocks are read once a chunk of iterations, and
 * a chunk doubles until it takes about 1 ms, so that reading the clock
 * (a system call for the CPU clock) costs next to nothing.
 */
static int
cs_run(cs_state_t *st, cs_bench_t *b, double secs, uint64_t maxops, int wall)
{
	const clockid_t cpu_id = CLOCK_THREAD_CPUTIME_ID;
	uint64_t n = 0;
	unsigned int chunk = 1, i;
	double w0, c0, w, c, prev, wall_cap = 2 * secs + 1;

	if (b->aead != NULL && !cs_aead_select(st, b->aead))
		return -1;
	/* Warm-up: caches, branch predictors, lazily built tables. */
	for (i = 0; i < 16; i++)
		if (!b->fn(st))
			return -1;

	w0 = w = cs_clock(CLOCK_MONOTONIC);
	c0 = c = cs_clock(cpu_id);
	while (n < maxops && (wall ? w - w0 : c - c0) < secs &&
	    w - w0 < wall_cap) {
		for (i = 0; i < chunk && n < maxops; i++, n++)
			if (!b->fn(st))
				return -1;
		prev = c;
		w = cs_clock(CLOCK_MONOTONIC);
		c = cs_clock(cpu_id);
		if ((c - prev) * 1e9 < CS_CHUNK_NS && chunk < CS_CHUNK_MAX)
			chunk *= 2;
	}
	b->ops = n;
	b->wall = w - w0;
	b->cpu = c - c0;
	b->secs = wall ? b->wall : b->cpu;
	return 0;
}

static double
cs_ops_s(const cs_bench_t *b)
{
	return b->secs > 0 ? (double)b->ops / b->secs : 0;
}

static double
cs_us_op(const cs_bench_t *b)
{
	return b->ops > 0 ? b->secs * 1e6 / (double)b->ops : 0;
}

static double
cs_mb_s(const cs_bench_t *b)
{
	return cs_ops_s(b) * (double)b->bytes / 1e6;
}

/* Whether key starts with one of the comma-separated prefixes in list. */
static int
cs_selected(const char *key, const char *list)
{
	const char *p = list, *comma;
	size_t len;

	if (list == NULL)
		return 1;
	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len > 0 && strncmp(key, p, len) == 0)
			return 1;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static void
cs_usage(FILE *f)
{
	fprintf(f,
	    "usage: cryptospeed [options]\n"
	    "  -t SECONDS     time per operation (default 1)\n"
	    "  -n N           at most N iterations per operation (default %llu)\n"
	    "  -o LIST        only the operations whose key starts with one of\n"
	    "                 these comma-separated prefixes (x25519,aes128gcm_open)\n"
	    "  -w             measure wall-clock instead of the thread's CPU time\n"
	    "  -q             only the JSON line\n",
	    (unsigned long long)CS_DEFAULT_MAXOPS);
}

int
main(int argc, char **argv)
{
	cs_state_t st;
	double secs = 1.0;
	uint64_t maxops = CS_DEFAULT_MAXOPS;
	const char *only = NULL;
	char *end;
	size_t i, nrun = 0;
	int ch, quiet = 0, wall = 0, rc = 1;
	/* key, name, operation, bytes per op, AEAD context */
#define CS_BENCH(k, n, f, b, a) { k, n, f, b, a, 0, 0, 0, 0, 0 }
	cs_bench_t benches[] = {
		CS_BENCH("x25519_keygen", "X25519 keygen", cs_x25519_keygen, 0, NULL),
		CS_BENCH("x25519_shared", "X25519 shared secret", cs_x25519_shared,
		    0, NULL),
		CS_BENCH("ecdsa_p256_sign", "ECDSA P-256 sign", cs_ecdsa_sign, 0,
		    NULL),
		CS_BENCH("ecdsa_p256_verify", "ECDSA P-256 verify", cs_ecdsa_verify,
		    0, NULL),
		CS_BENCH("aes128gcm_open_16k", "AES-128-GCM open 16 KB",
		    cs_aead_open, CS_RECORD, &st.aes128),
		CS_BENCH("aes128gcm_seal_16k", "AES-128-GCM seal 16 KB",
		    cs_aead_seal, CS_RECORD, &st.aes128),
		CS_BENCH("aes256gcm_open_16k", "AES-256-GCM open 16 KB",
		    cs_aead_open, CS_RECORD, &st.aes256),
		CS_BENCH("chacha20poly1305_open_16k", "ChaCha20-Poly1305 open 16 KB",
		    cs_aead_open, CS_RECORD, &st.chacha),
		CS_BENCH("sha256_16k", "SHA-256 16 KB", cs_sha256, CS_RECORD, NULL),
		CS_BENCH("hmac_sha256_64", "HMAC-SHA256 64 B (key reused)",
		    cs_hmac_reuse, CS_HMAC_LEN, NULL),
		CS_BENCH("hmac_sha256_64_oneshot", "HMAC-SHA256 64 B (one-shot HMAC)",
		    cs_hmac_oneshot, CS_HMAC_LEN, NULL),
	};
#undef CS_BENCH
	const size_t nbenches = sizeof(benches) / sizeof(benches[0]);

	while ((ch = getopt(argc, argv, "t:n:o:wqh")) != -1) {
		switch (ch) {
		case 't':
			secs = strtod(optarg, &end);
			if (*end != '\0' || !(secs > 0 && secs <= 3600)) {
				cs_usage(stderr);
				return 2;
			}
			break;
		case 'n':
			maxops = strtoull(optarg, &end, 10);
			if (*end != '\0' || maxops == 0) {
				cs_usage(stderr);
				return 2;
			}
			break;
		case 'o': only = optarg; break;
		case 'w': wall = 1; break;
		case 'q': quiet = 1; break;
		case 'h': cs_usage(stdout); return 0;
		default: cs_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		cs_usage(stderr);
		return 2;
	}

	for (i = 0; i < nbenches; i++)
		if ((benches[i].run = cs_selected(benches[i].key, only)))
			nrun++;
	if (nrun == 0) {
		fprintf(stderr, "cryptospeed: -o %s selects no operation\n", only);
		return 2;
	}

	if (cs_setup(&st) == -1) {
		fprintf(stderr, "cryptospeed: setup failed\n");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	for (i = 0; i < nbenches; i++) {
		if (benches[i].run && cs_run(&st, &benches[i], secs, maxops, wall) == -1) {
			fprintf(stderr, "cryptospeed: %s failed\n", benches[i].name);
			ERR_print_errors_fp(stderr);
			goto out;
		}
	}

	if (!quiet) {
		printf("BoringSSL (API %d), AES hardware: %s, %.2f %s s or %" PRIu64
		    " ops per operation\n", BORINGSSL_API_VERSION,
		    EVP_has_aes_hardware() ? "yes" : "no", secs,
		    wall ? "wall-clock" : "CPU", maxops);
		printf("%-34s %12s %10s %10s\n", "operation", "ops/s", "us/op", "MB/s");
		for (i = 0; i < nbenches; i++) {
			const cs_bench_t *b = &benches[i];

			if (!b->run)
				continue;
			if (b->bytes > 0)
				printf("%-34s %12.1f %10.3f %10.1f\n", b->name, cs_ops_s(b),
				    cs_us_op(b), cs_mb_s(b));
			else
				printf("%-34s %12.1f %10.3f %10s\n", b->name, cs_ops_s(b),
				    cs_us_op(b), "-");
		}
	}
	printf("{\"lib\":\"boringssl\",\"api_version\":%d,\"aes_hw\":%d,"
	    "\"seconds\":%.3f,\"clock\":\"%s\",\"max_ops\":%" PRIu64
	    ",\"results\":{", BORINGSSL_API_VERSION, EVP_has_aes_hardware(), secs,
	    wall ? "wall" : "cpu", maxops);
	for (i = 0, nrun = 0; i < nbenches; i++) {
		const cs_bench_t *b = &benches[i];

		if (!b->run)
			continue;
		printf("%s\"%s\":{\"ops\":%" PRIu64 ",\"cpu_s\":%.6f,"
		    "\"wall_s\":%.6f,\"ops_per_s\":%.2f,\"us_per_op\":%.4f",
		    nrun++ ? "," : "", b->key, b->ops, b->cpu, b->wall, cs_ops_s(b),
		    cs_us_op(b));
		if (b->bytes > 0)
			printf(",\"bytes\":%zu,\"mb_per_s\":%.2f", b->bytes, cs_mb_s(b));
		printf("}");
	}
	printf("}}\n");
	rc = 0;
out:
	cs_teardown(&st);
	return rc;
}
