/*
 * addr: see addr.h.
 */
#include <stdio.h>
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
