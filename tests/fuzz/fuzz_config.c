/*
 * fuzz_config: config_load on arbitrary file contents, then config_free.
 *
 * The input is written to a memfd and loaded through its /proc/self/fd path
 * (config_load takes a path), with check_files off so no certificate or CA
 * file is opened. Properties: config_load returns a config exactly when it
 * reported no problem; every report is one "PATH:LINE: message" line; a
 * loaded config stays within the documented limits; ASan and LeakSanitizer
 * see no error or leak in loading and freeing.
 *
 * Name resolution: config_load resolves backend and relay host names with
 * getaddrinfo. The target is linked with -Wl,--wrap=getaddrinfo, so those
 * calls land in __wrap_getaddrinfo below, which adds AI_NUMERICHOST: an
 * address literal resolves as usual, a name fails at once with EAI_NONAME
 * (the "cannot resolve" path) and no fuzzed name ever reaches /etc/hosts
 * or DNS, on any machine.
 */
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* The names are fixed by the linker's --wrap option. */
int __real_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

int
__wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h;

	memset(&h, 0, sizeof h);
	if (hints != NULL)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	return __real_getaddrinfo(node, service, &h, res);
}

static void
fuzz_check_config(const config_t *cfg)
{
	int i, j;

	FUZZ_CHECK(cfg->path != NULL);
	FUZZ_CHECK(cfg->nlisteners >= 0 &&
	    cfg->nlisteners <= CONFIG_MAX_LISTENERS);
	FUZZ_CHECK(cfg->npolicies >= 0 &&
	    cfg->npolicies <= CONFIG_MAX_POLICIES);
	FUZZ_CHECK(cfg->max_sessions > 0);
	for (i = 0; i < cfg->nlisteners; i++) {
		const config_listener_t *l = &cfg->listeners[i];

		FUZZ_CHECK(l->name != NULL);
		FUZZ_CHECK(l->ncerts >= 0 && l->ncerts <= CONFIG_MAX_CERTS);
		FUZZ_CHECK(l->naccept_from >= 0 &&
		    l->naccept_from <= CONFIG_MAX_CIDRS);
		FUZZ_CHECK(l->listen.addrlen > 0 &&
		    l->listen.addrlen <= sizeof(l->listen.addr));
		for (j = 0; j < l->ncerts; j++)
			FUZZ_CHECK(l->certs[j].cert != NULL &&
			    l->certs[j].key != NULL);
		for (j = 0; j < l->naccept_from; j++) {
			const config_cidr_t *c = &l->accept_from[j];

			FUZZ_CHECK((c->family == AF_INET && c->prefix >= 0 &&
			    c->prefix <= 32) || (c->family == AF_INET6 &&
			    c->prefix >= 0 && c->prefix <= 128));
		}
	}
	for (i = 0; i < cfg->npolicies; i++) {
		const config_policy_t *p = &cfg->policies[i];
		size_t n;

		FUZZ_CHECK(p->domain != NULL);
		n = strlen(p->domain);
		FUZZ_CHECK(n > 0 && p->domain[n - 1] != '.');
		for (j = 0; j < (int)n; j++)
			FUZZ_CHECK(p->domain[j] < 'A' || p->domain[j] > 'Z');
		FUZZ_CHECK(p->nmatch >= 1 && p->nmatch <= CONFIG_MAX_MATCH);
		for (j = 0; j < p->nmatch; j++)
			FUZZ_CHECK(p->match[j] != NULL);
	}
}

/* Each report is "PATH:LINE: message\n" with LINE a decimal number. */
static void
fuzz_check_errs(const char *errs, size_t len, const char *path)
{
	size_t plen = strlen(path), off = 0;

	while (off < len) {
		const char *line = errs + off;
		const char *nl = memchr(line, '\n', len - off);
		size_t k = plen + 1;

		FUZZ_CHECK(nl != NULL);
		FUZZ_CHECK((size_t)(nl - line) > plen + 3);
		FUZZ_CHECK(memcmp(line, path, plen) == 0 && line[plen] == ':');
		FUZZ_CHECK(line[k] >= '0' && line[k] <= '9');
		while (line[k] >= '0' && line[k] <= '9')
			k++;
		FUZZ_CHECK(line[k] == ':' && line[k + 1] == ' ');
		off = (size_t)(nl - errs) + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char *errs = NULL;
	size_t errlen = 0, off = 0;
	FILE *ms;
	config_t *cfg;

	if (fd == -1) {
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
		FUZZ_CHECK(fd != -1);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	while (off < size) {
		ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);

		FUZZ_CHECK(w > 0);
		off += (size_t)w;
	}

	ms = open_memstream(&errs, &errlen);
	FUZZ_CHECK(ms != NULL);
	cfg = config_load(path, 0, ms);
	FUZZ_CHECK(fclose(ms) == 0);
	FUZZ_CHECK((cfg != NULL) == (errlen == 0));
	fuzz_check_errs(errs, errlen, path);
	if (cfg != NULL)
		fuzz_check_config(cfg);
	config_free(cfg);
	free(errs);
	return 0;
}
