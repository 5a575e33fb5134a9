/*
 * trace: see trace.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

/* RFC 5322 3.3 date-time, always in UTC. */
static const char *const trace_days[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const trace_months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

typedef struct {
	char *p;
	size_t cap, len;
	int err;
} trace_out_t;

static void
trace_printf(trace_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
trace_printf(trace_out_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->err = 1;
	else
		o->len += (size_t)n;
}

static int
trace_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

int
trace_helo_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > TRACE_HELO_MAX)
		return 0;
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return 0;
		for (size_t i = 1; i < n - 1; i++)
			if (!trace_alnum(h[i]) && h[i] != '.' &&
			    h[i] != ':' && h[i] != '-')
				return 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!trace_alnum(h[i]) && h[i] != '.' && h[i] != '-' &&
		    h[i] != '_')
			return 0;
	return 1;
}

int
trace_received(const trace_info_t *t, char *out, size_t cap)
{
	trace_out_t o = { out, cap, 0, 0 };
	const char *v6 = t->v6 ? "IPv6:" : "";
	struct tm tm;

	if (cap == 0 || gmtime_r(&t->now, &tm) == NULL)
		return -1;
	if (t->helo != NULL && trace_helo_ok(t->helo))
		trace_printf(&o, "Received: from %s (unknown [%s%s])\r\n",
		    t->helo, v6, t->addr);
	else
		trace_printf(&o, "Received: from [%s%s] (unknown [%s%s])\r\n",
		    v6, t->addr, v6, t->addr);
	if (t->version != NULL) {
		trace_printf(&o, "\t(using %s with cipher %s (%d/%d bits))\r\n",
		    t->version, t->cipher, t->bits, t->alg_bits);
		if (t->present)
			trace_printf(&o, "\t(Client CN \"%s\", Issuer \"%s\" "
			    "(%s))\r\n", t->cn, t->issuer_cn, t->trusted ?
			    "verified OK" : "not verified");
		else if (t->requested)
			trace_printf(&o, "\t(Client did not present a "
			    "certificate)\r\n");
		else
			trace_printf(&o, "\t(No client certificate "
			    "requested)\r\n");
	}
	trace_printf(&o, "\tby %s (starttls-proxy) with %s%s;\r\n", t->hostname,
	    t->ehlo ? "ESMTP" : "SMTP", t->ehlo && t->version != NULL ?
	    "S" : "");
	trace_printf(&o, "\t%s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
	    trace_days[tm.tm_wday % 7], tm.tm_mday, trace_months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return o.err ? -1 : (int)o.len;
}
