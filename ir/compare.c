/*
 * compare.c — structural identity of regions: a hash, an equality and a
 * copy.  The host traces a statement's tensor work every time it runs and
 * looks the result up among the regions it compiled before; these three
 * make that lookup cost a pass over the nodes instead of printing them.
 */
#include <string.h>

#include "ir/ir.h"

static uint64_t mix(uint64_t h, uint64_t x)
{
	h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = mix(h, (unsigned char)*s);
	return mix(h, 0);
}

static uint64_t mix_double(uint64_t h, double f)
{
	uint64_t bits;
	memcpy(&bits, &f, sizeof bits);
	return mix(h, bits);
}

uint64_t ir_hash(const Region *r)
{
	uint64_t h = mix(mix(0, (uint64_t)r->nnode), (uint64_t)r->ninput);
	for (int v = 0; v < r->nnode; v++) {
		const Node *n = &r->node[v];
		h = mix(h, (uint64_t)n->op);
		h = mix(mix(h, (uint64_t)n->type.dt), (uint64_t)n->type.rank);
		for (int k = 0; k < n->type.rank; k++)
			h = mix(h, (uint64_t)n->type.dim[k]);
		for (int k = 0; k < n->narg; k++)
			h = mix(h, (uint64_t)ir_operand(r, v, k));
		for (int k = 0; k < n->nia; k++)
			h = mix(h, (uint64_t)n->ia[k]);
		h = mix(mix_double(h, n->f), (uint64_t)n->keep);
		h = mix_str(mix_str(mix(h, (uint64_t)n->at), n->name), n->sname);
		h = mix(h, (uint64_t)n->loc);
	}
	for (int k = 0; k < r->nloc; k++)
		h = mix(mix(mix_str(h, r->loc[k].file), (uint64_t)r->loc[k].line), (uint64_t)r->loc[k].col);
	for (int k = 0; k < r->nout; k++)
		h = mix(h, (uint64_t)r->out[k]);
	return h;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool ir_equal(const Region *a, const Region *b)
{
	if (a->nnode != b->nnode || a->ninput != b->ninput || a->nout != b->nout || a->nloc != b->nloc)
		return false;
	/* the locations are part of the identity: an index error names its statement */
	for (int k = 0; k < a->nloc; k++)
		if (a->loc[k].line != b->loc[k].line || a->loc[k].col != b->loc[k].col || !str_eq(a->loc[k].file, b->loc[k].file))
			return false;
	for (int v = 0; v < a->nnode; v++) {
		const Node *x = &a->node[v], *y = &b->node[v];
		if (x->op != y->op || !type_eq(&x->type, &y->type) || x->narg != y->narg || x->nia != y->nia ||
		    memcmp(&x->f, &y->f, sizeof x->f) || x->keep != y->keep || x->group != y->group ||
		    x->offset != y->offset || x->at != y->at || x->loc != y->loc || !str_eq(x->name, y->name) || !str_eq(x->sname, y->sname))
			return false;
		if (memcmp(x->ia, y->ia, (size_t)x->nia * sizeof *x->ia))
			return false;
		for (int k = 0; k < x->narg; k++)
			if (ir_operand(a, v, k) != ir_operand(b, v, k))
				return false;
	}
	return !memcmp(a->out, b->out, (size_t)a->nout * sizeof *a->out);
}

Region *ir_copy(Arena *arena, const Region *r)
{
	Region *c = ir_region_new(arena, r->name);
	c->loc = arena_alloc(arena, ((size_t)r->nloc + 1) * sizeof *c->loc);
	c->nloc = c->caploc = r->nloc;
	for (int k = 0; k < r->nloc; k++)
		c->loc[k] = (IrLoc){ arena_strdup(arena, r->loc[k].file), r->loc[k].line, r->loc[k].col };
	for (int v = 0; v < r->nnode; v++) {
		Node p = r->node[v];
		int args[64], *ap = args;
		if (p.narg > 64)
			ap = arena_alloc(arena, (size_t)p.narg * sizeof *ap);
		for (int k = 0; k < p.narg; k++)
			ap[k] = ir_operand(r, v, k);
		if (p.name)
			p.name = arena_strdup(arena, p.name);
		if (p.sname)
			p.sname = arena_strdup(arena, p.sname);
		int got = ir_emit(c, &p, ap, p.narg, NULL, 0);
		if (got != v)
			die("ir_copy: node %d did not copy", v);
		c->node[v].group = p.group;
		c->node[v].offset = p.offset;
		c->node[v].work = p.work;
	}
	for (int k = 0; k < r->nout; k++)
		ir_output(c, r->out[k]);
	c->ninput = r->ninput;
	c->arena_bytes = r->arena_bytes;
	return c;
}
