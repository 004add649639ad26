/*
 * idtab.h - ids for a client's objects (models, sequences): an index into a
 * table plus a generation, so a closed id stays invalid when its slot is
 * reused (until the 12-bit generation wraps).  Id 0 is never handed out.
 * Not locked: its owner's lock protects it.
 */
#ifndef HGCA_DAEMON_IDTAB_H
#define HGCA_DAEMON_IDTAB_H

#include <stdint.h>

#define IDTAB_MAX (1u << 20)	/* entries, minus one */

struct idtab {
	void **ptr;		/* [cap] the object, or NULL */
	uint16_t *gen;		/* [cap] generation of the slot */
	uint32_t *free;		/* [cap] free slot indices below n */
	uint32_t n, cap, nfree, count;
};

void idtab_init(struct idtab *t);
void idtab_fini(struct idtab *t);
/* 0, -EMFILE (table full) or -ENOMEM. */
int idtab_add(struct idtab *t, void *p, uint32_t *id);
/* The object named @id, or NULL. */
void *idtab_get(const struct idtab *t, uint32_t id);
/* Removes @id (which idtab_get found). */
void idtab_del(struct idtab *t, uint32_t id);
/* The i-th slot's object (0 <= i < t->n) or NULL, for walking the table. */
static inline void *
idtab_at(const struct idtab *t, uint32_t i)
{
	return t->ptr[i];
}

#endif /* HGCA_DAEMON_IDTAB_H */
