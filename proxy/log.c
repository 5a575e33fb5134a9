/*
 * log: key=value or JSON lines on stderr. The process-wide level and format
 * are set at start-up and again by every reload, on main's thread, while
 * the workers log.
 */
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define LOG_LINE_MAX 4096 /* one event line; longer values are truncated */

static const char *const log_level_names[] = { "debug", "info", "warn",
	"error" };

/*
 * The level and the format in one atomic word (level | format << 8): a
 * reload on main's thread replaces both while worker threads read them, and
 * a plain struct would be a data race (undefined behaviour, and a reader
 * could pair the new level with the old format). Relaxed order is enough:
 * each line reads the word once, and nothing else is published through it.
 * The one mutable file-scope variable here, because every thread logs and
 * none should have to carry a logger.
 */
#define LOG_CONF(level, format) ((unsigned)(level) | (unsigned)(format) << 8)
static atomic_uint log_conf = LOG_CONF(LOG_INFO, LOG_FORMAT_TEXT);

void
log_setup(log_level_t level, log_format_t format)
{
	atomic_store_explicit(&log_conf, LOG_CONF(level, format),
	    memory_order_relaxed);
}

static unsigned
log_conf_get(void)
{
	return atomic_load_explicit(&log_conf, memory_order_relaxed);
}

int
log_enabled(log_level_t level)
{
	return (unsigned)level >= (log_conf_get() & 0xff);
}

/* A text value needs quotes when it is empty or holds space, quote, '='. */
static int
log_needs_quotes(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] == '"' || p[i] == '=' || p[i] >= 0x7f)
			return 1;
	return 0;
}

/*
 * Appends the escaped form of p[0..n) at out+*off; json selects JSON string
 * escapes. Non-printable bytes become \xHH (\u00HH in JSON), so a peer can
 * neither break a line nor forge a field.
 */
static void
log_append_escaped(char *out, size_t cap, size_t *off, const uint8_t *p,
    size_t n, int json)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = *off;

	for (size_t i = 0; i < n && o + 7 < cap; i++) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			out[o++] = '\\';
			if (json) {
				memcpy(out + o, "u00", 3);
				o += 3;
			} else
				out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	*off = o;
}

char *
log_escape(const uint8_t *p, size_t n, char *out, size_t outcap)
{
	size_t i;

	if (outcap == 0)
		return out;
	for (i = 0; i < n && i < outcap - 1; i++)
		out[i] = p[i] == '\0' ? '?' : (char)p[i];
	out[i] = '\0';
	return out;
}

static void
log_append_raw(char *out, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s);
	if (*off + n >= cap)
		n = cap - *off - 1;
	memcpy(out + *off, s, n);
	*off += n;
}

void
log_event(log_level_t level, const char *event, ...)
{
	char line[LOG_LINE_MAX];
	char ts[64];
	size_t o = 0;
	unsigned conf = log_conf_get();
	int json = (conf >> 8) == LOG_FORMAT_JSON;
	struct timespec now;
	struct tm tm;
	va_list ap;

	if ((unsigned)level < (conf & 0xff))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);

	if (json) {
		log_append_raw(line, sizeof(line), &o, "{\"ts\":\"");
		log_append_raw(line, sizeof(line), &o, ts);
		log_append_raw(line, sizeof(line), &o, "\",\"level\":\"");
		log_append_raw(line, sizeof(line), &o, log_level_names[level]);
		log_append_raw(line, sizeof(line), &o, "\",\"event\":\"");
		log_append_raw(line, sizeof(line), &o, event);
		log_append_raw(line, sizeof(line), &o, "\"");
	} else {
		log_append_raw(line, sizeof(line), &o, "ts=");
		log_append_raw(line, sizeof(line), &o, ts);
		log_append_raw(line, sizeof(line), &o, " level=");
		log_append_raw(line, sizeof(line), &o, log_level_names[level]);
		log_append_raw(line, sizeof(line), &o, " event=");
		log_append_raw(line, sizeof(line), &o, event);
	}

	va_start(ap, event);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		const char *v;
		if (k == NULL)
			break;
		v = va_arg(ap, const char *);
		if (v == NULL)
			v = "-";
		if (json) {
			log_append_raw(line, sizeof(line), &o, ",\"");
			log_append_raw(line, sizeof(line), &o, k);
			log_append_raw(line, sizeof(line), &o, "\":\"");
			log_append_escaped(line, sizeof(line) - 3, &o,
			    (const uint8_t *)v, strlen(v), 1);
			log_append_raw(line, sizeof(line), &o, "\"");
		} else {
			int q = log_needs_quotes((const uint8_t *)v, strlen(v));
			log_append_raw(line, sizeof(line), &o, " ");
			log_append_raw(line, sizeof(line), &o, k);
			log_append_raw(line, sizeof(line), &o, q ? "=\"" : "=");
			log_append_escaped(line, sizeof(line) - 3, &o,
			    (const uint8_t *)v, strlen(v), 0);
			if (q)
				log_append_raw(line, sizeof(line), &o, "\"");
		}
	}
	va_end(ap);
	if (json)
		log_append_raw(line, sizeof(line), &o, "}");
	line[o++] = '\n';
	/* One write per line keeps lines from different threads whole. */
	fwrite(line, 1, o, stderr);
}
