/*
 * nodelay_shim: an LD_PRELOAD library that sets TCP_NODELAY on every TCP
 * socket the process accepts or connects, for benchmarks only.
 *
 * nginx 1.22's mail proxy never sets TCP_NODELAY, so Nagle's algorithm
 * holds small TLS records behind unacknowledged data (two ~40 ms delayed-ACK
 * stalls per TLS 1.3 SMTP session). Preloading this library shows nginx as
 * it would run with the option set:
 *
 *   cc -shared -fPIC -O2 -o nodelay_shim.so nodelay_shim.c -ldl
 *   LD_PRELOAD=$PWD/nodelay_shim.so nginx -c ...
 *
 * Only accept, accept4 and connect are wrapped; everything else goes
 * straight to libc. Errors of setsockopt are ignored: the shim must never
 * change what the wrapped call returns.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*shim_accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*shim_accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*shim_connect_fn)(int, const struct sockaddr *, socklen_t);

int accept(int fd, struct sockaddr *addr, socklen_t *len);
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int connect(int fd, const struct sockaddr *addr, socklen_t len);

/* Sets TCP_NODELAY if fd is a TCP socket; keeps errno as it was. */
static void
shim_nodelay(int fd)
{
	int saved = errno, type = 0, domain = 0, one = 1;
	socklen_t tl = sizeof(type), dl = sizeof(domain);

	if (fd >= 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) == 0 &&
	    type == SOCK_STREAM && (domain == AF_INET || domain == AF_INET6))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	errno = saved;
}

int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	static shim_accept_fn real;
	int r;

	if (real == NULL)
		real = (shim_accept_fn)dlsym(RTLD_NEXT, "accept");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	r = real(fd, addr, len);
	shim_nodelay(r);
	return r;
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	static shim_accept4_fn real;
	int r;

	if (real == NULL)
		real = (shim_accept4_fn)dlsym(RTLD_NEXT, "accept4");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	r = real(fd, addr, len, flags);
	shim_nodelay(r);
	return r;
}

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static shim_connect_fn real;
	int r;

	if (real == NULL)
		real = (shim_connect_fn)dlsym(RTLD_NEXT, "connect");
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	/* Before the call: a non-blocking connect returns EINPROGRESS. */
	shim_nodelay(fd);
	r = real(fd, addr, len);
	return r;
}
