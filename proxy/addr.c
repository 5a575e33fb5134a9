/*
 * addr: see addr.h.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "addr.h"

char *
addr_ip(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *ip;

	if (sa->sa_family == AF_INET)
		ip = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		ip = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		ip = NULL;
	if (ip == NULL || inet_ntop(sa->sa_family, ip, out,
	    (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "-");
	return out;
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

char *
addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];

	addr_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET)
		snprintf(out, outlen, "%s:%u", ip, addr_port(sa));
	else if (sa->sa_family == AF_INET6)
		snprintf(out, outlen, "[%s]:%u", ip, addr_port(sa));
	else
		snprintf(out, outlen, "-");
	return out;
}

int
addr_key(const struct sockaddr *sa, uint8_t a[16], uint16_t *port,
    uint32_t *scope)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	*scope = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(a, mapped, sizeof(mapped));
		memcpy(a + 12, &in->sin_addr, 4);
		*port = in->sin_port;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		memcpy(a, &in6->sin6_addr, 16);
		*port = in6->sin6_port;
		if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			*scope = in6->sin6_scope_id;
		return 0;
	}
	return -1;
}

int
addr_same(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16], y[16];
	uint16_t px, py;
	uint32_t sx, sy;

	if (addr_key(a, x, &px, &sx) == -1 || addr_key(b, y, &py, &sy) == -1)
		return 0;
	return px == py && sx == sy && memcmp(x, y, sizeof(x)) == 0;
}
