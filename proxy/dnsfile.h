/*
 * dnsfile: the two system files the resolver reads, with bounds: the hosts
 * file (/etc/hosts) and resolv.conf's first nameserver. Blocking reads of
 * local files; no libuv, no allocation.
 *
 * Limits: at most DNSFILE_BYTES_MAX octets of a file are read (a large
 * ad-blocking hosts file is cut there, not read whole at each lookup), and
 * lines of up to DNSFILE_LINE_MAX octets (a longer line is skipped whole,
 * never read as two).
 */
#ifndef DNSFILE_H
#define DNSFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define DNSFILE_BYTES_MAX (1024 * 1024)
#define DNSFILE_LINE_MAX 1024

/*
 * A hosts file kept in memory, so that a lookup does not read the file:
 * dnsfile_snap_refresh looks at the file (stat) and reads it again, whole
 * up to DNSFILE_BYTES_MAX, only when it changed (device, inode, size or
 * modification time). A file that cannot be read leaves an empty
 * snapshot. Caller storage, zeroed before first use; dnsfile_snap_free
 * releases the copy.
 */
typedef struct {
	char *buf;                /* owned; NULL: empty */
	size_t len;
	int seen;                 /* st below describes buf */
	struct stat st;
} dnsfile_snap_t;

void dnsfile_snap_refresh(dnsfile_snap_t *s, const char *path);
void dnsfile_snap_free(dnsfile_snap_t *s);

/*
 * dnsfile_hosts_snap finds name (text, no final dot; compared with ASCII case
 * folded, a final dot in the file allowed) in the hosts file snapshot s
 * and writes the addresses of family af (AF_INET: 4 octets, AF_INET6: 16) of
 * the lines naming it into out[0..max), in file order. Scoped IPv6
 * addresses ("fe80::1%eth0") are skipped. Returns how many (0 when none,
 * or the file cannot be read).
 */
size_t dnsfile_hosts_snap(const dnsfile_snap_t *s, const char *name, int af,
    uint8_t (*out)[16], size_t max);

/*
 * dnsfile_nameserver writes the first usable "nameserver" of the
 * resolv.conf at path, port 53, into *ss and *len (scoped IPv6 addresses
 * are skipped, as c-ares would fail on them). Returns 0, or -1 when there
 * is none or the file cannot be read.
 */
int dnsfile_nameserver(const char *path, struct sockaddr_storage *ss,
    socklen_t *len);

#endif
