/* idtab.c - generation-checked ids (see idtab.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/idtab.h"

#define IDX_BITS 20
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define GEN_MASK 0xfffu

void
idtab_init(struct idtab *t)
{
	memset(t, 0, sizeof(*t));
}

void
idtab_fini(struct idtab *t)
{
	free(t->ptr);
	free(t->gen);
	free(t->free);
	memset(t, 0, sizeof(*t));
}

static int
grow(struct idtab *t)
{
	uint32_t cap = t->cap ? 2 * t->cap : 16;
	void **p;
	uint16_t *g;
	uint32_t *f;

	if (cap > IDTAB_MAX - 1)
		cap = IDTAB_MAX - 1;
	if (cap <= t->cap)
		return -EMFILE;
	p = realloc(t->ptr, cap * sizeof(*p));
	if (p)
		t->ptr = p;
	g = realloc(t->gen, cap * sizeof(*g));
	if (g)
		t->gen = g;
	f = realloc(t->free, cap * sizeof(*f));
	if (f)
		t->free = f;
	if (!p || !g || !f)
		return -ENOMEM;
	t->cap = cap;
	return 0;
}

int
idtab_add(struct idtab *t, void *p, uint32_t *id)
{
	uint32_t i;
	int err;

	if (t->nfree) {
		i = t->free[--t->nfree];
	} else {
		if (t->n == t->cap && (err = grow(t)))
			return err;
		i = t->n++;
		t->gen[i] = 0;
	}
	t->ptr[i] = p;
	t->count++;
	*id = ((uint32_t)t->gen[i] << IDX_BITS) | (i + 1);
	return 0;
}

void *
idtab_get(const struct idtab *t, uint32_t id)
{
	uint32_t i = (id & IDX_MASK) - 1;	/* id 0 wraps to a huge index */

	if (i >= t->n || !t->ptr[i] || t->gen[i] != id >> IDX_BITS)
		return NULL;
	return t->ptr[i];
}

void
idtab_del(struct idtab *t, uint32_t id)
{
	uint32_t i = (id & IDX_MASK) - 1;

	t->ptr[i] = NULL;
	t->gen[i] = (t->gen[i] + 1) & GEN_MASK;
	t->free[t->nfree++] = i;
	t->count--;
}
