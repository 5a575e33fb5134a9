/* Unit tests for proxy/loop.c: the table of the proxy's own endpoints
 * against a reference model, and the configuration check. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "loop.h"

static void
ep(struct sockaddr_storage *ss, unsigned n, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (n % 3 == 0) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr.s6_addr[0] = 0xfd;
		a->sin6_addr.s6_addr[15] = (uint8_t)n;
		a->sin6_port = htons(port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x7f000000u + n % 7);
		a->sin_port = htons(port);
	}
}

static void
test_table(void)
{
	enum { EPS = 2000 };
	static uint16_t model[EPS];
	struct sockaddr_storage ss, rs, other;
	struct sockaddr_in6 m6;
	loop_t l;
	unsigned seed = 99;

	CHECK_EQ_INT(loop_init(&l), 0);
	CHECK_EQ_INT(loop_empty(&l), 1);
	ep(&ss, 1, 40000);
	ep(&rs, 2, 25);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
	    (struct sockaddr *)&rs), 0);
	CHECK_EQ_INT(loop_add(&l, (struct sockaddr *)&ss,
	    (struct sockaddr *)&rs), 0);
	CHECK_EQ_INT(loop_empty(&l), 0);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
	    (struct sockaddr *)&rs), 1);
	/* The same local end toward another destination: a client that the
	 * kernel gave the same port (a sidecar's shared 127.0.0.1), not the
	 * proxy's own leg. */
	ep(&other, 2, 10025);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
	    (struct sockaddr *)&other), 0);
	ep(&other, 4, 25);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
	    (struct sockaddr *)&other), 0);
	/* The same ends as v4-mapped IPv6 (a dual-stack socket's view). */
	memset(&m6, 0, sizeof(m6));
	m6.sin6_family = AF_INET6;
	m6.sin6_port = htons(40000);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m6.sin6_addr);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&m6,
	    (struct sockaddr *)&rs), 1);
	m6.sin6_port = htons(40001);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&m6,
	    (struct sockaddr *)&rs), 0);
	loop_del(&l, (struct sockaddr *)&ss, (struct sockaddr *)&rs);
	CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
	    (struct sockaddr *)&rs), 0);
	CHECK_EQ_INT(l.used, 0);
	CHECK_EQ_INT(loop_empty(&l), 1);

	/* Against a model: endpoint n's leg goes to remote n % 5, and one
	 * local end may have legs to several remotes (n and n + EPS/2 share
	 * their local end). */
	for (int step = 0; step < 300000; step++) {
		unsigned n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % EPS;
		ep(&ss, n % (EPS / 2), (uint16_t)(30000 + n % (EPS / 2)));
		ep(&rs, n % 5, (uint16_t)(25 + n / (EPS / 2)));
		if (((seed >> 20) & 3) != 0) {
			CHECK_EQ_INT(loop_add(&l, (struct sockaddr *)&ss,
			    (struct sockaddr *)&rs), 0);
			model[n]++;
		} else if (model[n] > 0) {
			loop_del(&l, (struct sockaddr *)&ss,
			    (struct sockaddr *)&rs);
			model[n]--;
		}
		if (step % 1000 == 0) {
			unsigned k = (seed >> 4) % EPS;
			ep(&ss, k % (EPS / 2), (uint16_t)(30000 + k % (EPS / 2)));
			ep(&rs, k % 5, (uint16_t)(25 + k / (EPS / 2)));
			CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
			    (struct sockaddr *)&rs), model[k] > 0);
		}
	}
	for (unsigned n = 0; n < EPS; n++) {
		ep(&ss, n % (EPS / 2), (uint16_t)(30000 + n % (EPS / 2)));
		ep(&rs, n % 5, (uint16_t)(25 + n / (EPS / 2)));
		if (loop_has(&l, (struct sockaddr *)&ss,
		    (struct sockaddr *)&rs) != (model[n] > 0)) {
			CHECK_EQ_INT(loop_has(&l, (struct sockaddr *)&ss,
			    (struct sockaddr *)&rs), model[n] > 0);
			break;
		}
		while (model[n] > 0) {
			loop_del(&l, (struct sockaddr *)&ss,
			    (struct sockaddr *)&rs);
			model[n]--;
		}
	}
	CHECK_EQ_INT(l.used, 0);
	loop_cleanup(&l);
}

/* check writes text to a file, loads it and returns what -t would add. */
static char *
check(const char *text, int *rc)
{
	char path[] = "/tmp/test_loop.XXXXXX";
	char *buf = NULL;
	size_t len = 0;
	FILE *f, *ms;
	config_t *cfg;
	int fd = mkstemp(path);

	*rc = -2;
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	cfg = config_load(path, 0, stderr);
	unlink(path);
	if (cfg == NULL)
		return NULL;
	ms = open_memstream(&buf, &len);
	*rc = loop_config_check(cfg, ms);
	fclose(ms);
	config_free(cfg);
	/* Drop the temporary path in front of each ":LINE:". */
	for (char *hit; buf != NULL && (hit = strstr(buf, path)) != NULL;)
		memmove(hit, hit + strlen(path), strlen(hit + strlen(path)) + 1);
	return buf;
}

static void
test_config(void)
{
	char *out;
	int rc;

	/* A relay onto the proxy's own inbound listener, and onto an
	 * outbound one through a wildcard; a legitimate smarthost. */
	out = check("[inbound]\nlisten = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:10587\ntls = off\n"
	    "[outbound]\nlisten = 127.0.0.1:10587\nmode = relay\n"
	    "relay = 127.0.0.1:10025\n"
	    "[outbound:w]\nlisten = *:10588\nmode = relay\n"
	    "relay = 127.0.0.2:10588\n"
	    "[outbound:ok]\nlisten = 127.0.0.1:10589\nmode = relay\n"
	    "relay = 127.0.0.1:2525\n", &rc);
	CHECK_EQ_INT(rc, -1);
	CHECK(out != NULL && strcmp(out,
	    ":5: relay 127.0.0.1:10025 of [outbound] is the proxy's own "
	    "listener [inbound] (line 1): mail would loop\n"
	    ":9: relay 127.0.0.2:10588 of [outbound:w] is the proxy's own "
	    "listener [outbound:w] (line 9): mail would loop\n") == 0);
	free(out);

	/* The inbound backend may be an outbound listener; a wildcard
	 * covers only local addresses of its own family and port. */
	out = check("[inbound]\nlisten = *:10025\n"
	    "backend = 127.0.0.1:10587\ntls = off\n"
	    "[outbound]\nlisten = 127.0.0.1:10587\nmode = relay\n"
	    "relay = 192.0.2.1:10025\n"
	    "[outbound:b]\nlisten = 127.0.0.1:10588\nmode = relay\n"
	    "relay = 127.0.0.1:10026\n"
	    "[outbound:c]\nlisten = [::]:10589\nmode = relay\n"
	    "relay = 127.0.0.1:10589\n", &rc);
	CHECK_EQ_INT(rc, 0);
	CHECK(out != NULL && out[0] == '\0');
	free(out);
}

int
main(void)
{
	RUN(test_table);
	RUN(test_config);
	return CHECK_DONE();
}
