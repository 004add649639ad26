/*
 * conf.h - a `key = value` configuration file parser that several modules
 * extend: each brings a table of keys and the object they set.
 *
 * Syntax: one setting per line; `#` starts a comment; blank lines are
 * ignored; spaces around the key and the value are trimmed; a value runs
 * to the end of the line.  Unknown keys are errors.
 */
#ifndef HGCA_DAEMON_CONF_H
#define HGCA_DAEMON_CONF_H

#include <stddef.h>
#include <stdint.h>

struct conf_key {
	const char *name;
	/* Apply @value to @obj: 0, or -EINVAL with a message in @err. */
	int (*set)(void *obj, const char *value, char *err, size_t errlen);
};

struct conf_table {
	const struct conf_key *keys;	/* ends with a NULL name */
	void *obj;
};

/*
 * conf_parse_file - apply every setting of @path through @tables.  0, or a
 * negative errno with "path:line: message" (or "path: strerror") in @err.
 */
int conf_parse_file(const char *path, const struct conf_table *tables,
		    size_t ntables, char *err, size_t errlen);

/* Apply one "key = value" line (already stripped of comments). */
int conf_parse_line(char *line, const struct conf_table *tables,
		    size_t ntables, char *err, size_t errlen);

/* Value helpers for setters: 0 or -EINVAL with a message in @err. */
int conf_u64(const char *value, uint64_t min, uint64_t max, uint64_t *out,
	     char *err, size_t errlen);
/* conf_u64, or `auto', which stores @auto_val. */
int conf_u64_or_auto(const char *value, uint64_t min, uint64_t max,
		     uint64_t auto_val, uint64_t *out, char *err, size_t errlen);
/* A size with an optional K, M, G or T suffix (powers of 1024). */
int conf_size(const char *value, uint64_t min, uint64_t max, uint64_t *out,
	      char *err, size_t errlen);

#endif /* HGCA_DAEMON_CONF_H */
