/*
 * readsize: what one read size costs the receiver of a loopback TCP
 * stream, for benchmarks only.
 *
 *   stp-readsize [-m MIB] [-o OFFSET,...] SIZE...
 *
 * For each SIZE and OFFSET, a child process pinned to CPU 0 writes MIB MiB
 * (default 1024) in 16 KiB writes (a TLS record's worth, as stp-loadgen
 * sends a body) to 127.0.0.1; this process, pinned to CPU 1, reads them
 * with read(2) calls of SIZE octets into a buffer that starts OFFSET
 * octets after a page boundary (default 0), and touches one octet per page
 * of what it read. Printed: the receiver's CPU seconds (user + system,
 * getrusage) per GB. The proxy's bulk path reads ciphertext this way (see
 * "Crypto floor in the same run" in docs/benchmark.md): the kernel's copy
 * into the buffer is most of what a read costs, and its speed depends on
 * where the buffer starts.
 *
 * Nothing is left running: the child ends when its writes are done, and
 * it is waited for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RS_WRITE 16384          /* one write of the sender */
#define RS_SIZE_MAX (64 << 20)  /* largest read size taken */
#define RS_PAGE 4096
#define RS_OFFSETS_MAX 16

static void
rs_pin(int cpu)
{
	cpu_set_t set;

	if (cpu >= sysconf(_SC_NPROCESSORS_ONLN))
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static double
rs_cpu_s(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 +
	    (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* The child: connects and writes total octets. Never returns. */
static void
rs_send(const struct sockaddr_in *sin, long long total)
{
	static char buf[RS_WRITE];
	int fd;

	rs_pin(0);
	memset(buf, 'x', sizeof(buf));
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == -1)
		_exit(1);
	for (long long n = 0; n < total;) {
		ssize_t w = write(fd, buf, sizeof(buf));
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(1);
		n += w;
	}
	close(fd);
	_exit(0);
}

/* One measurement; returns CPU seconds per GB, or -1. */
static double
rs_run(size_t size, size_t off, long long total)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	long long got = 0;
	double cpu0, r = -1;
	char *mem, *buf;
	int lfd, fd, status;
	pid_t pid;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((mem = aligned_alloc(RS_PAGE, (size + off + RS_PAGE - 1) /
	    RS_PAGE * RS_PAGE)) == NULL)
		goto err0;
	buf = mem + off;
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		goto err1;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1)
		goto err2;
	if ((pid = fork()) == -1)
		goto err2;
	if (pid == 0)
		rs_send(&sin, total);
	if ((fd = accept(lfd, NULL, NULL)) == -1) {
		kill(pid, SIGKILL);   /* it would block on a full socket */
		goto err3;
	}
	cpu0 = rs_cpu_s();
	for (;;) {
		ssize_t n = read(fd, buf, size);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i += RS_PAGE)
			((volatile char *)buf)[i];
		got += n;
	}
	if (got == total)
		r = (rs_cpu_s() - cpu0) / ((double)got / 1e9);
	close(fd);
err3:
	waitpid(pid, &status, 0);
err2:
	close(lfd);
err1:
	free(mem);
err0:
	return r;
}

int
main(int argc, char **argv)
{
	static const char usage[] =
	    "usage: stp-readsize [-m MIB] [-o OFFSET,...] SIZE...\n";
	unsigned long offs[RS_OFFSETS_MAX] = { 0 };
	int noffs = 1;
	long long mib = 1024;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "m:o:")) != -1) {
		char *p, *end;
		switch (opt) {
		case 'm':
			mib = strtoll(optarg, &end, 10);
			if (*end != '\0' || mib < 1 || mib > 1 << 20)
				goto usage;
			break;
		case 'o':
			noffs = 0;
			for (p = optarg;; p = end + 1) {
				if (noffs == RS_OFFSETS_MAX)
					goto usage;
				offs[noffs++] = strtoul(p, &end, 10);
				if (end == p || offs[noffs - 1] >= RS_PAGE ||
				    (*end != ',' && *end != '\0'))
					goto usage;
				if (*end == '\0')
					break;
			}
			break;
		default:
			goto usage;
		}
	}
	if (optind == argc)
		goto usage;
	rs_pin(1);
	for (int i = optind; i < argc; i++) {
		char *end;
		unsigned long size = strtoul(argv[i], &end, 10);
		if (*end != '\0' || size < 1 || size > RS_SIZE_MAX) {
			fprintf(stderr, "readsize: bad size %s\n", argv[i]);
			return 2;
		}
		for (int j = 0; j < noffs; j++) {
			double s = rs_run(size, offs[j], mib << 20);
			if (s < 0) {
				fprintf(stderr, "readsize: run with %lu failed\n",
				    size);
				rc = 1;
				continue;
			}
			printf("read size %7lu, page offset %4lu: %.3f s/GB "
			    "receiver CPU\n", size, offs[j], s);
			fflush(stdout);
		}
	}
	return rc;

usage:
	fputs(usage, stderr);
	return 2;
}
