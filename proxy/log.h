/*
 * log: one line per event, key=value text or one JSON object per line, to
 * stderr. Values from peers go through log_escape; secrets never reach here.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;
typedef enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format_t;

/* log_setup sets the level and format for the whole process; any thread may
 * call it while others log (each line uses one setting, old or new). */
void log_setup(log_level_t level, log_format_t format);

/* log_enabled is true when a line at level would be printed. */
int log_enabled(log_level_t level);

/*
 * log_event prints one line: "ts=... level=... event=EVENT k=v k=v".
 * kv is a NULL-terminated list of key, value string pairs; values are
 * escaped here (quotes added where needed), so they may hold peer bytes.
 */
void log_event(log_level_t level, const char *event, ...)
    __attribute__((sentinel));

/*
 * log_escape copies peer bytes p[0..n) into out (capacity outcap, always
 * NUL-terminated, truncated to fit) as a C string for log_event, which does
 * the escaping: a NUL becomes '?' so it cannot cut the value short.
 */
char *log_escape(const uint8_t *p, size_t n, char *out, size_t outcap);

#endif
