/*
 * addr: socket addresses as text, for logs and protocol lines. Pure.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for "[v6-address]:65535" and its NUL. */
#define ADDR_STR_MAX 56

/*
 * addr_ip writes the address of sa (AF_INET or AF_INET6) without port to
 * out; addr_format writes "a.b.c.d:port" or "[v6]:port". Both write "-" for
 * other families and return out (always NUL-terminated).
 */
char *addr_ip(const struct sockaddr *sa, char *out, size_t outlen);
char *addr_format(const struct sockaddr *sa, char *out, size_t outlen);

/* addr_port: the port of sa in host order, 0 for other families. */
uint16_t addr_port(const struct sockaddr *sa);

/*
 * addr_key: sa as 16 address octets (IPv4 v4-mapped), its port (network
 * order) and its IPv6 scope (0 for IPv4 and v4-mapped). Returns 0, or -1
 * for a family other than AF_INET and AF_INET6.
 */
int addr_key(const struct sockaddr *sa, uint8_t a[16], uint16_t *port,
    uint32_t *scope);

/*
 * addr_same: a and b name the same endpoint: family, whole address and
 * port (IPv6: all 16 bytes and the scope). An IPv4 address and its
 * v4-mapped IPv6 form are the same endpoint, as a dual-stack socket sees
 * it. Other families are never the same. Returns 1 or 0.
 */
int addr_same(const struct sockaddr *a, const struct sockaddr *b);

#endif
