/*
 * stats: slot names, label tables and the Prometheus rendering. The
 * rendering runs on the main thread; it reads worker counters with relaxed
 * loads (see stats.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "stats.h"
#include "stsfetch.h"
#include "tlsrpt.h"

_Static_assert(STATS_TLSRPT_POLICIES == TLSRPT_POLICY_COUNT,
    "stats_t.tlsrpt_results and tlsrpt_policy_t");
_Static_assert(STATS_TLSRPT_RESULTS == TLSRPT_RESULT_COUNT,
    "stats_t.tlsrpt_results and tlsrpt_result_t");

_Static_assert(STATS_DNS_TYPES == DNS_QT_COUNT, "dns query types");
_Static_assert(STATS_DNS_RESULTS == DNS_STATUS_COUNT, "dns results");

static const char *const stats_reason_names[CR_COUNT] = {
	"quit", "client_closed", "client_closed_in_data", "client_error",
	"server_closed", "server_error", "connect_failed", "timeout",
	"tls_failed", "tls_required", "protocol_error", "limit", "shutdown",
	"internal",
};

static const char *const stats_tlsev_names[TLSEV_COUNT] = {
	"offered", "attempted", "succeeded", "failed", "rate_limited",
};

static const char *const stats_tlsf_names[TLSF_COUNT] = {
	"handshake", "timeout", "not_offered", "refused", "not_verified",
};

static const char *const stats_version_names[STATS_VERSIONS] = {
	"TLSv1.2", "TLSv1.3",
};

/* The suites our contexts allow (tls.c), then "other". */
static const char *const stats_cipher_names[STATS_CIPHERS] = {
	"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
	"TLS_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
	"other",
};

static const char *const stats_verify_names[STATS_VERIFY] = {
	"none", "Anonymous", "Untrusted", "Trusted", "Verified",
};

/* Codes of the replies the proxy gives itself; the last slot is other. */
static const int stats_codes[STATS_CODES - 1] = {
	220, 221, 250, 354, 421, 450, 451, 454, 500, 501, 502, 503, 521,
	530, 552,
};

/* stp_dane_total{result}, also the dane log lines' result (oa_dane_t). */
const char *const stats_dane_names[STATS_DANE] = {
	"match", "nomatch", "unusable", "no_tls", "bogus", "timeout", "error",
	"not_mx", "none",
};

static const char *const stats_outcome_names[STATS_OUTCOMES] = {
	"ok", "no_tls", "not_verified",
};

/* Handshake duration buckets in microseconds, and as rendered. */
static const uint64_t stats_hs_us[STATS_HS_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 10000000,
};
static const char *const stats_hs_le[STATS_HS_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "10",
};

static const char *const stats_dir_names[] = { "inbound", "outbound" };

int
stats_listener_slot(stats_names_t *names, const char *name, int dir)
{
	for (int i = 0; i < names->nlisteners; i++)
		if (strcmp(names->listener[i], name) == 0 &&
		    names->listener_dir[i] == dir)
			return i;
	if (names->nlisteners == STATS_LISTENERS_MAX ||
	    (names->listener[names->nlisteners] = strdup(name)) == NULL)
		return -1;
	names->listener_dir[names->nlisteners] = dir;
	return names->nlisteners++;
}

/* name's slot in list[0..*n), added at the end (room for max); -1 when
 * full or out of memory. */
static int
stats_name_slot(char **list, int *n, int max, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (strcmp(list[i], name) == 0)
			return i;
	if (*n == max || (list[*n] = strdup(name)) == NULL)
		return -1;
	return (*n)++;
}

int
stats_domain_slot(stats_names_t *names, const char *domain)
{
	return stats_name_slot(names->domain, &names->ndomains,
	    STATS_DOMAINS_MAX, domain);
}

int
stats_party_slot(stats_names_t *names, const char *party)
{
	return stats_name_slot(names->party, &names->nparties,
	    STATS_PARTIES_MAX, party);
}

void
stats_names_cleanup(stats_names_t *names)
{
	for (int i = 0; i < names->nparties; i++)
		free(names->party[i]);
	for (int i = 0; i < names->nlisteners; i++)
		free(names->listener[i]);
	for (int i = 0; i < names->ndomains; i++)
		free(names->domain[i]);
	memset(names, 0, sizeof(*names));
}

int
stats_cipher_index(const char *cipher)
{
	for (int i = 0; i < STATS_CIPHERS - 1; i++)
		if (strcmp(cipher, stats_cipher_names[i]) == 0)
			return i;
	return STATS_CIPHERS - 1;
}

int
stats_version_index(const char *version)
{
	for (int i = 0; i < STATS_VERSIONS; i++)
		if (strcmp(version, stats_version_names[i]) == 0)
			return i;
	return -1;
}

int
stats_code_index(int code)
{
	for (int i = 0; i < STATS_CODES - 1; i++)
		if (stats_codes[i] == code)
			return i;
	return STATS_CODES - 1;
}

void
stats_hs_observe(stats_listener_t *l, uint64_t usec)
{
	int i;

	for (i = 0; i < STATS_HS_BUCKETS && usec > stats_hs_us[i]; i++)
		;
	STATS_INC(l->hs_bucket[i]);
	STATS_ADD(l->hs_sum_us, usec);
}

void
stats_buf_printf(stats_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 16384;
			char *np;
			while (cap < b->len + (size_t)n + 1)
				cap *= 2;
			if (cap > STATS_RENDER_MAX ||
			    (np = realloc(b->p, cap)) == NULL) {
				b->failed = 1;
				return;
			}
			b->p = np;
			b->cap = cap;
		}
	}
}

/*
 * Sum of one counter over the workers: the counter is found at the same
 * offset in every stats_t.
 */
static uint64_t
stats_sum(stats_t *const *workers, int n, size_t off)
{
	uint64_t sum = 0;

	for (int w = 0; w < n; w++)
		sum += STATS_GET(*(stats_counter_t *)((char *)workers[w] + off));
	return sum;
}

#define SUM(expr)                                                          \
	stats_sum(workers, n,                                              \
	    (size_t)((char *)&workers[0]->expr - (char *)workers[0]))

static void
stats_head(stats_buf_t *b, const char *name, const char *type,
    const char *help)
{
	stats_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* {listener="x",direction="y" */
#define LBL "listener=\"%s\",direction=\"%s\""
#define LV(i) names->listener[i], stats_dir_names[names->listener_dir[i]]

void
stats_render(stats_buf_t *b, stats_t *const *workers, int n,
    const stats_names_t *names, const stats_cert_t *certs, int ncerts,
    uint64_t reloads_ok, uint64_t reloads_failed, int ready)
{
	int nl = names->nlisteners;

	stats_head(b, "stp_sessions_started_total", "counter",
	    "Sessions accepted, by listener and direction.");
	for (int i = 0; i < nl; i++)
		stats_buf_printf(b, "stp_sessions_started_total{" LBL "} %llu\n",
		    LV(i), (unsigned long long)SUM(l[i].started));

	stats_head(b, "stp_sessions_ended_total", "counter",
	    "Sessions ended, by listener, direction and close reason.");
	for (int i = 0; i < nl; i++)
		for (int r = 0; r < CR_COUNT; r++)
			stats_buf_printf(b, "stp_sessions_ended_total{" LBL
			    ",reason=\"%s\"} %llu\n", LV(i),
			    stats_reason_names[r],
			    (unsigned long long)SUM(l[i].ended[r]));

	stats_head(b, "stp_sessions_active", "gauge",
	    "Sessions open now, by listener and direction.");
	for (int i = 0; i < nl; i++) {
		uint64_t ended = 0;
		for (int r = 0; r < CR_COUNT; r++)
			ended += SUM(l[i].ended[r]);
		stats_buf_printf(b, "stp_sessions_active{" LBL "} %llu\n",
		    LV(i), (unsigned long long)(SUM(l[i].started) - ended));
	}

	stats_head(b, "stp_starttls_total", "counter",
	    "STARTTLS offered, attempted, succeeded, failed and refused by "
	    "tls_rate_limit.");
	for (int i = 0; i < nl; i++)
		for (int e = 0; e < TLSEV_COUNT; e++)
			stats_buf_printf(b, "stp_starttls_total{" LBL
			    ",event=\"%s\"} %llu\n", LV(i),
			    stats_tlsev_names[e],
			    (unsigned long long)SUM(l[i].tls[e]));

	stats_head(b, "stp_starttls_failures_total", "counter",
	    "TLS failures by reason.");
	for (int i = 0; i < nl; i++)
		for (int f = 0; f < TLSF_COUNT; f++)
			stats_buf_printf(b, "stp_starttls_failures_total{" LBL
			    ",reason=\"%s\"} %llu\n", LV(i),
			    stats_tlsf_names[f],
			    (unsigned long long)SUM(l[i].tls_fail[f]));

	stats_head(b, "stp_tls_sessions_total", "counter",
	    "Established TLS sessions by protocol version and cipher.");
	for (int i = 0; i < nl; i++)
		for (int v = 0; v < STATS_VERSIONS; v++)
			for (int c = 0; c < STATS_CIPHERS; c++) {
				uint64_t x = SUM(l[i].tls_sessions[v][c]);
				if (x == 0)
					continue;
				stats_buf_printf(b, "stp_tls_sessions_total{"
				    LBL ",version=\"%s\",cipher=\"%s\"} %llu\n",
				    LV(i), stats_version_names[v],
				    stats_cipher_names[c],
				    (unsigned long long)x);
			}

	stats_head(b, "stp_tls_verify_total", "counter",
	    "Certificate verification outcomes in Postfix's terms: outbound "
	    "the server's, inbound the client's (Anonymous: none presented).");
	for (int i = 0; i < nl; i++) {
		/* Inbound: a client certificate is Anonymous, Untrusted or
		 * Trusted (no name to verify; parties check names). */
		int in = names->listener_dir[i] == 0;
		for (int v = in ? 1 : 0; v < (in ? 4 : STATS_VERIFY); v++)
			stats_buf_printf(b, "stp_tls_verify_total{" LBL
			    ",result=\"%s\"} %llu\n", LV(i),
			    stats_verify_names[v],
			    (unsigned long long)SUM(l[i].verify[v]));
	}

	stats_head(b, "stp_tls_resumed_total", "counter",
	    "TLS handshakes that resumed a session (a ticket).");
	for (int i = 0; i < nl; i++)
		stats_buf_printf(b, "stp_tls_resumed_total{" LBL "} %llu\n",
		    LV(i), (unsigned long long)SUM(l[i].tls_resumed));

	stats_head(b, "stp_received_headers_total", "counter",
	    "Trace lines (received_header = yes) added to messages.");
	for (int i = 0; i < nl; i++)
		if (names->listener_dir[i] == 0)
			stats_buf_printf(b, "stp_received_headers_total{" LBL
			    "} %llu\n", LV(i),
			    (unsigned long long)SUM(l[i].received_headers));

	{
		static const char *const pres[STATS_PARTY_RESULTS] = { "ok",
			"no-tls", "no-cert", "untrusted", "not-listed" };
		static const char *const pcmd[STATS_PARTY_CMDS] = { "mail",
			"rcpt" };

		stats_head(b, "stp_party_decisions_total", "counter",
		    "[party:NAME] decisions by party, command and result.");
		for (int pi = 0; pi < names->nparties; pi++)
			for (int c = 0; c < STATS_PARTY_CMDS; c++)
				for (int r = 0; r < STATS_PARTY_RESULTS; r++)
					stats_buf_printf(b,
					    "stp_party_decisions_total{"
					    "party=\"%s\",command=\"%s\","
					    "result=\"%s\"} %llu\n",
					    names->party[pi], pcmd[c], pres[r],
					    (unsigned long long)SUM(
					    party[pi][c][r]));
	}

	stats_head(b, "stp_policy_outcomes_total", "counter",
	    "Per-recipient policy decisions by configured policy domain.");
	for (int d = 0; d < names->ndomains; d++)
		for (int o = 0; o < STATS_OUTCOMES; o++)
			stats_buf_printf(b, "stp_policy_outcomes_total{"
			    "domain=\"%s\",outcome=\"%s\"} %llu\n",
			    names->domain[d], stats_outcome_names[o],
			    (unsigned long long)SUM(policy[d][o]));

	{
		static const char *const modes[3] = { "enforce", "testing",
			"none" };

		stats_head(b, "stp_dane_total", "counter",
		    "DANE decisions (per recipient, and per relay session).");
		for (int r = 0; r < STATS_DANE; r++)
			stats_buf_printf(b, "stp_dane_total{result=\"%s\"} "
			    "%llu\n", stats_dane_names[r],
			    (unsigned long long)SUM(dane[r]));
		stats_head(b, "stp_mta_sts_decisions_total", "counter",
		    "MTA-STS decisions per recipient, by policy mode and "
		    "outcome (testing never refuses).");
		for (int m = 0; m < 2; m++)
			for (int o = 0; o < STATS_OUTCOMES; o++)
				stats_buf_printf(b,
				    "stp_mta_sts_decisions_total{mode=\"%s\","
				    "outcome=\"%s\"} %llu\n", modes[m],
				    stats_outcome_names[o], (unsigned long long)
				    SUM(sts_decisions[m][o]));
		stats_head(b, "stp_sni_learned_total", "counter",
		    "Destination addresses whose MX name was learned for SNI "
		    "(transparent mode).");
		stats_buf_printf(b, "stp_sni_learned_total %llu\n",
		    (unsigned long long)SUM(sni_learned));
		stats_head(b, "stp_tlsrpt_results_total", "counter",
		    "TLS-RPT results (RFC 8460), one per upstream session and "
		    "policy domain, by policy type and result.");
		for (int t = 0; t < STATS_TLSRPT_POLICIES; t++)
			for (int r = 0; r < STATS_TLSRPT_RESULTS; r++)
				stats_buf_printf(b, "stp_tlsrpt_results_total{"
				    "policy_type=\"%s\",result=\"%s\"} %llu\n",
				    tlsrpt_policy_names[t],
				    tlsrpt_result_names[r],
				    (unsigned long long)SUM(
				    tlsrpt_results[t][r]));
		stats_head(b, "stp_tlsrpt_datagrams_sent_total", "counter",
		    "TLS-RPT datagrams the collector's socket took.");
		stats_buf_printf(b, "stp_tlsrpt_datagrams_sent_total %llu\n",
		    (unsigned long long)SUM(tlsrpt_sent));
		stats_head(b, "stp_tlsrpt_datagrams_dropped_total", "counter",
		    "TLS-RPT datagrams dropped: no collector, collector full, "
		    "or a result too large.");
		stats_buf_printf(b, "stp_tlsrpt_datagrams_dropped_total "
		    "%llu\n", (unsigned long long)SUM(tlsrpt_dropped));
	}
	{
		static const char *const mechs[STATS_AUTH_MECHS] = {
			"plain", "login", "xoauth2", "none"
		};
		static const char *const results[2] = { "ok", "failed" };

		stats_head(b, "stp_relay_auth_total", "counter",
		    "The proxy's own SMTP AUTH toward the relay, by mechanism "
		    "(none: no common mechanism) and result.");
		for (int m = 0; m < STATS_AUTH_MECHS; m++)
			for (int r = 0; r < 2; r++)
				stats_buf_printf(b, "stp_relay_auth_total{"
				    "mechanism=\"%s\",result=\"%s\"} %llu\n",
				    mechs[m], results[r], (unsigned long long)
				    SUM(relay_auth[m][r]));
	}

	stats_head(b, "stp_messages_total", "counter",
	    "Messages accepted by the server side (2xx after end-of-data).");
	for (int i = 0; i < nl; i++)
		stats_buf_printf(b, "stp_messages_total{" LBL "} %llu\n",
		    LV(i), (unsigned long long)SUM(l[i].messages));

	stats_head(b, "stp_bytes_total", "counter",
	    "Plaintext bytes relayed, by flow.");
	for (int i = 0; i < nl; i++) {
		stats_buf_printf(b, "stp_bytes_total{" LBL
		    ",flow=\"client_to_server\"} %llu\n", LV(i),
		    (unsigned long long)SUM(l[i].bytes_c2s));
		stats_buf_printf(b, "stp_bytes_total{" LBL
		    ",flow=\"server_to_client\"} %llu\n", LV(i),
		    (unsigned long long)SUM(l[i].bytes_s2c));
	}

	stats_head(b, "stp_server_connections_total", "counter",
	    "Connections opened to the backend (inbound: two per STARTTLS "
	    "session, one per implicit-TLS or plaintext one) or upstream "
	    "(outbound).");
	for (int i = 0; i < nl; i++)
		stats_buf_printf(b, "stp_server_connections_total{" LBL
		    "} %llu\n", LV(i),
		    (unsigned long long)SUM(l[i].server_connects));

	stats_head(b, "stp_connect_failures_total", "counter",
	    "Backend (inbound) or upstream (outbound) connection failures.");
	for (int i = 0; i < nl; i++)
		stats_buf_printf(b, "stp_connect_failures_total{" LBL "} %llu\n",
		    LV(i), (unsigned long long)SUM(l[i].connect_failed));

	stats_head(b, "stp_local_replies_total", "counter",
	    "Replies the proxy gave itself, by code.");
	for (int i = 0; i < nl; i++)
		for (int c = 0; c < STATS_CODES; c++) {
			uint64_t x = SUM(l[i].replies[c]);
			char code[8];
			if (x == 0)
				continue;
			if (c < STATS_CODES - 1)
				snprintf(code, sizeof(code), "%d",
				    stats_codes[c]);
			else
				snprintf(code, sizeof(code), "other");
			stats_buf_printf(b, "stp_local_replies_total{" LBL
			    ",code=\"%s\"} %llu\n", LV(i), code,
			    (unsigned long long)x);
		}

	stats_head(b, "stp_tls_handshake_seconds", "histogram",
	    "TLS handshake duration.");
	for (int i = 0; i < nl; i++) {
		uint64_t cum = 0;
		for (int k = 0; k <= STATS_HS_BUCKETS; k++) {
			cum += SUM(l[i].hs_bucket[k]);
			stats_buf_printf(b, "stp_tls_handshake_seconds_bucket{"
			    LBL ",le=\"%s\"} %llu\n", LV(i),
			    k < STATS_HS_BUCKETS ? stats_hs_le[k] : "+Inf",
			    (unsigned long long)cum);
		}
		stats_buf_printf(b, "stp_tls_handshake_seconds_sum{" LBL
		    "} %.6f\n", LV(i), (double)SUM(l[i].hs_sum_us) / 1e6);
		stats_buf_printf(b, "stp_tls_handshake_seconds_count{" LBL
		    "} %llu\n", LV(i), (unsigned long long)cum);
	}

	stats_head(b, "stp_certificate_not_after_seconds", "gauge",
	    "Expiry of each configured certificate, Unix time.");
	for (int i = 0; i < ncerts; i++)
		stats_buf_printf(b, "stp_certificate_not_after_seconds{"
		    "listener=\"%s\",index=\"%d\",subject=\"%s\"} %lld\n",
		    certs[i].listener, certs[i].index, certs[i].subject,
		    (long long)certs[i].not_after);

	stats_head(b, "stp_ocsp_next_update_seconds", "gauge",
	    "nextUpdate of each stapled OCSP response, Unix time; stapling "
	    "stops once it has passed.");
	for (int i = 0; i < ncerts; i++)
		if (certs[i].has_ocsp)
			stats_buf_printf(b, "stp_ocsp_next_update_seconds{"
			    "listener=\"%s\",index=\"%d\"} %lld\n",
			    certs[i].listener, certs[i].index,
			    (long long)certs[i].ocsp_next_update);
	stats_head(b, "stp_ocsp_stapling", "gauge",
	    "1 while a configured OCSP response is stapled, 0 after its "
	    "nextUpdate.");
	for (int i = 0; i < ncerts; i++)
		if (certs[i].has_ocsp)
			stats_buf_printf(b, "stp_ocsp_stapling{"
			    "listener=\"%s\",index=\"%d\"} %d\n",
			    certs[i].listener, certs[i].index,
			    (int64_t)time(NULL) < certs[i].ocsp_next_update);

	stats_head(b, "stp_config_reloads_total", "counter",
	    "Configuration reloads by result.");
	stats_buf_printf(b, "stp_config_reloads_total{result=\"ok\"} %llu\n",
	    (unsigned long long)reloads_ok);
	stats_buf_printf(b, "stp_config_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)reloads_failed);

	stats_head(b, "stp_dns_queries_total", "counter",
	    "Resolver queries by type and result (cache hits excluded).");
	for (int t = 0; t < STATS_DNS_TYPES; t++)
		for (int r = 0; r < STATS_DNS_RESULTS; r++)
			stats_buf_printf(b, "stp_dns_queries_total{type=\"%s\","
			    "result=\"%s\"} %llu\n",
			    dns_qtype_name((dns_qtype_index_t)t),
			    dns_status_name((dns_status_t)r),
			    (unsigned long long)SUM(dns_queries[t][r]));
	/* One writer (worker 0): the first worker that has a state. */
	{
		uint64_t st = STATS_DNSSEC_OFF;

		for (int w = 0; w < n && st == STATS_DNSSEC_OFF; w++)
			st = STATS_GET(workers[w]->dnssec);
		if (st != STATS_DNSSEC_OFF) {
			stats_head(b, "stp_dnssec_ok", "gauge",
			    "1 when the last DNSSEC probe came back with a "
			    "believed AD bit, 0 when not, -1 before its "
			    "first answer.");
			stats_buf_printf(b, "stp_dnssec_ok %d\n",
			    st == STATS_DNSSEC_OK ? 1 :
			    st == STATS_DNSSEC_NONE ? 0 : -1);
		}
	}

	stats_head(b, "stp_workers", "gauge", "Event loop threads.");
	stats_buf_printf(b, "stp_workers %d\n", n);
	stats_head(b, "stp_ready", "gauge",
	    "1 when listening and not draining.");
	stats_buf_printf(b, "stp_ready %d\n", ready);
}

void
stats_render_sts(stats_buf_t *b, stats_t *const *workers, int n,
    uint64_t cache_entries)
{
	stats_head(b, "stp_mta_sts_fetches_total", "counter",
	    "MTA-STS policy fetches by result.");
	for (int r = 0; r < STATS_STS_FETCH_RESULTS; r++)
		stats_buf_printf(b, "stp_mta_sts_fetches_total{result=\"%s\"} "
		    "%llu\n", stsfetch_result_name((stsfetch_result_t)r),
		    (unsigned long long)SUM(sts_fetches[r]));
	stats_head(b, "stp_mta_sts_cache_entries", "gauge",
	    "MTA-STS policies in the cache.");
	stats_buf_printf(b, "stp_mta_sts_cache_entries %llu\n",
	    (unsigned long long)cache_entries);
}
