/*
 * op_nop.h - what the poller needs to answer a plain NOP itself (the
 * transport's benchmark) without the opcode table's indirect call: the
 * same check op_nop() makes.
 */
#ifndef HGCA_DAEMON_OP_NOP_H
#define HGCA_DAEMON_OP_NOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shm/proto.h"

_Static_assert(offsetof(struct hgca_sqe, flags) == 5 &&
	       offsetof(struct hgca_sqe, rsvd0) == 6 &&
	       offsetof(struct hgca_sqe_nop, off) == 8 &&
	       offsetof(struct hgca_sqe_nop, len) == 16 &&
	       offsetof(struct hgca_sqe_nop, delay_us) == 24 &&
	       offsetof(struct hgca_sqe_nop, rsvd0) == 28 &&
	       offsetof(struct hgca_sqe_nop, rsvd) == 32 &&
	       offsetof(struct hgca_sqe, tag) == 8 &&
	       offsetof(struct hgca_sqe, rsvd1) == 12 &&
	       offsetof(struct hgca_sqe, u) == 16,
	       "a NOP's fields but the value are raw[1..5]");

/*
 * Is a descriptor a plain NOP that passes every check: header {NOP, no
 * flags, reserved zero} and every payload field but the value zero?
 * Anything else goes through ops_dispatch(), which says why.  In whole
 * words, as read once from the ring (little-endian, as the wire is):
 * @w0 bytes 0-7 (stamp, opcode, flags, rsvd0), @w1 bytes 8-15 (tag,
 * whose bit 31 is reserved, then rsvd1), @rest the OR of the payload's
 * raw[1..5].
 */
static inline bool
op_nop_plain_words(uint64_t w0, uint64_t w1, uint64_t rest)
{
	_Static_assert(HGCA_TAG_VAL == 1u << 31, "the tag's top bit");
	return w0 >> 32 == HGCA_OP_NOP && w1 >> 31 == 0 && rest == 0;
}

/* A word of a descriptor. */
static inline uint64_t
op_word(const void *sqe, size_t off)
{
	uint64_t w;

	memcpy(&w, (const unsigned char *)sqe + off, sizeof(w));
	return w;
}

/* op_nop_plain_words() of a private copy. */
static inline bool
op_nop_plain(const struct hgca_sqe *sqe)
{
	const uint64_t *w = sqe->u.raw;

	return op_nop_plain_words(op_word(sqe, 0), op_word(sqe, 8),
				  w[1] | w[2] | w[3] | w[4] | w[5]);
}

#endif /* HGCA_DAEMON_OP_NOP_H */
