/* policy.c - selection policies: text form, canonical form, checks. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/paged.h"

int
attn_policy_check(const struct attn_policy *p)
{
	if (!p || p->budget < 0)
		return -EINVAL;
	switch (p->kind) {
	case ATTN_POLICY_FULL:
		return 0;
	case ATTN_POLICY_TOPK:
		return p->topk >= 1 ? 0 : -EINVAL;
	case ATTN_POLICY_MASS:
		return p->eps > 0.0 && p->eps < 1.0 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* A decimal integer >= 0 with an optional k/m/g suffix (powers of 1024)
 * filling all of [s, end); -EINVAL on anything else or on overflow. */
static int
policy_bytes(const char *s, int64_t *out, int suffix_ok)
{
	int64_t v = 0, mul = 1;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	if (suffix_ok && *s) {
		switch (*s++) {
		case 'k': case 'K': mul = 1LL << 10; break;
		case 'm': case 'M': mul = 1LL << 20; break;
		case 'g': case 'G': mul = 1LL << 30; break;
		default: return -EINVAL;
		}
	}
	if (*s || v > INT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int
policy_eps(const char *s, double *out)
{
	char *end;
	double v;

	if ((*s < '0' || *s > '9') && *s != '.')	/* no sign, space, nan, inf */
		return -EINVAL;
	v = strtod(s, &end);
	if (*end || !(v > 0.0 && v < 1.0))
		return -EINVAL;
	*out = v;
	return 0;
}

int
attn_policy_parse(const char *s, struct attn_policy *out)
{
	struct attn_policy p = { .kind = ATTN_POLICY_FULL };
	char head[64];
	const char *comma;
	size_t n;
	int err = 0;

	if (!s || !out)
		return -EINVAL;
	comma = strchr(s, ',');
	n = comma ? (size_t)(comma - s) : strlen(s);
	if (n >= sizeof(head))
		return -EINVAL;
	memcpy(head, s, n);
	head[n] = '\0';
	if (!strcmp(head, "full"))
		p.kind = ATTN_POLICY_FULL;
	else if (!strncmp(head, "topk:", 5)) {
		p.kind = ATTN_POLICY_TOPK;
		err = policy_bytes(head + 5, &p.topk, 0);
	} else if (!strncmp(head, "mass:", 5)) {
		p.kind = ATTN_POLICY_MASS;
		err = policy_eps(head + 5, &p.eps);
	} else
		return -EINVAL;
	if (!err && comma)
		err = strncmp(comma, ",budget:", 8) ? -EINVAL :
		      policy_bytes(comma + 8, &p.budget, 1);
	if (err || attn_policy_check(&p))
		return -EINVAL;
	*out = p;
	return 0;
}

/* Shortest %g form of @v that reads back as exactly @v. */
static void
policy_shortest(double v, char *buf, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

int
attn_policy_format(const struct attn_policy *p, char *buf, size_t len)
{
	static const char suffix[] = " kmg";
	char num[32], bud[48] = "";
	int64_t b;
	int k = 0, n;

	if (attn_policy_check(p) || !buf)
		return -EINVAL;
	if (p->budget > 0) {
		for (b = p->budget; k < 3 && b % 1024 == 0; k++)
			b /= 1024;
		snprintf(bud, sizeof(bud), ",budget:%lld%.*s", (long long)b,
			 k > 0, &suffix[k]);
	}
	switch (p->kind) {
	case ATTN_POLICY_TOPK:
		n = snprintf(buf, len, "topk:%lld%s", (long long)p->topk, bud);
		break;
	case ATTN_POLICY_MASS:
		policy_shortest(p->eps, num, sizeof(num));
		n = snprintf(buf, len, "mass:%s%s", num, bud);
		break;
	default:
		n = snprintf(buf, len, "full%s", bud);
		break;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
