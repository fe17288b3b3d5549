/*
 * pack.h — what the two files of the packing pass share: pack.c (the pass,
 * pack_run in pipeline.h) and pack_unshare.c (its first step).
 */
#ifndef SINTER_PASSES_PACK_H
#define SINTER_PASSES_PACK_H

#include "ir/ops.h"

/* Can v be a member of an update chain (an elementwise op that is not
   random, a constant, a scalar broadcast)? */
bool pack_member_op(const Region *r, int v);
/* The slot node w writes when w is a write of an optimizer update (an f32
   parameter or state with a place in the blocks), else NULL. */
const Node *pack_update_write(const Region *r, int w);
/* FNV-1a of a parameter's name, for the pass's open-addressing tables. */
unsigned pack_hash_name(const char *s);
/* ir_emit, dying on failure: the pass emits only nodes it has checked. */
int pack_emit(Region *r, Node *p, const int *args, int n);
/* Unshares the nodes of different updates (pack_unshare.c). */
void pack_unshare(Region *r);

#endif
