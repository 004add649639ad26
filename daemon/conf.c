/* conf.c - the `key = value` configuration parser (see conf.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct conf_key *
find_key(const char *name, const struct conf_table *tables, size_t nt,
	 void **obj)
{
	for (size_t t = 0; t < nt; t++)
		for (const struct conf_key *k = tables[t].keys; k->name; k++)
			if (strcmp(k->name, name) == 0) {
				*obj = tables[t].obj;
				return k;
			}
	return NULL;
}

int
conf_parse_line(char *line, const struct conf_table *tables, size_t nt,
		char *err, size_t errlen)
{
	const struct conf_key *k;
	char *eq, *key, *value;
	void *obj;

	line = trim(line);
	if (*line == '\0')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errlen, "expected `key = value'");
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	k = find_key(key, tables, nt, &obj);
	if (!k) {
		snprintf(err, errlen, "unknown key `%s'", key);
		return -EINVAL;
	}
	if (*value == '\0') {
		snprintf(err, errlen, "`%s' needs a value", key);
		return -EINVAL;
	}
	return k->set(obj, value, err, errlen);
}

int
conf_parse_file(const char *path, const struct conf_table *tables, size_t nt,
		char *err, size_t errlen)
{
	char line[1024], msg[256];
	unsigned lineno = 0;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(msg, sizeof(msg), "line too long");
			rc = -EINVAL;
			break;
		}
		line[strcspn(line, "#")] = '\0';
		rc = conf_parse_line(line, tables, nt, msg, sizeof(msg));
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(msg, sizeof(msg), "read error");
	}
	if (rc < 0)
		snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
	fclose(f);
	return rc;
}

int
conf_u64(const char *value, uint64_t min, uint64_t max, uint64_t *out,
	 char *err, size_t errlen)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(value, &end, 0);
	if (errno || end == value || *end || *value == '-') {
		snprintf(err, errlen, "`%s' is not a number", value);
		return -EINVAL;
	}
	if (v < min || v > max) {
		snprintf(err, errlen, "%s is out of range %" PRIu64
			 "..%" PRIu64, value, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int
conf_u64_or_auto(const char *value, uint64_t min, uint64_t max,
		 uint64_t auto_val, uint64_t *out, char *err, size_t errlen)
{
	if (strcmp(value, "auto") == 0) {
		*out = auto_val;
		return 0;
	}
	return conf_u64(value, min, max, out, err, errlen);
}

int
conf_size(const char *value, uint64_t min, uint64_t max, uint64_t *out,
	  char *err, size_t errlen)
{
	static const char suffixes[] = "KMGT";
	char num[64], *s;
	uint64_t v, mul = 1;
	size_t n = strlen(value);

	if (n == 0 || n >= sizeof(num)) {
		snprintf(err, errlen, "`%s' is not a size", value);
		return -EINVAL;
	}
	memcpy(num, value, n + 1);
	s = strchr(suffixes, toupper((unsigned char)num[n - 1]));
	if (s && *s) {
		mul = 1ull << (10 * (s - suffixes + 1));
		num[n - 1] = '\0';
	}
	if (conf_u64(trim(num), 0, UINT64_MAX / mul, &v, err, errlen) < 0)
		return -EINVAL;
	v *= mul;
	if (v < min || v > max) {
		snprintf(err, errlen, "%s is out of range %" PRIu64
			 "..%" PRIu64 " bytes", value, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
