/*
 * fused_plan.c — the plan of a fused kernel, made before any code: in which
 * pass over a row each member is computed, which values are stored and
 * which kept in row buffers for later passes, the pointer parameters of the
 * kernel's function (one per buffer; buffers at the same bytes are one) and
 * the strided accesses through them, and the key: a text naming all of it,
 * under which kernels with the same code share one function.
 */
#include "codegen/fused_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __attribute__((format(printf, 2, 3))) void key_add(Fk *f, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(f->key + f->klen, f->kcap - f->klen, fmt, ap);
		va_end(ap);
		if (k >= 0 && f->klen + (size_t)k < f->kcap) {
			f->klen += (size_t)k;
			return;
		}
		f->key = arena_grow(f->a, f->key, f->kcap, 2 * f->kcap + (size_t)k + 64);
		f->kcap = 2 * f->kcap + (size_t)k + 64;
	}
}

static int access_of(Fk *f, const int64_t *st)
{
	Access a;
	memset(&a, 0, sizeof a);
	for (int i = 0; i < f->s.x.rank; i++)
		a.st[i] = f->s.x.dim[i] > 1 ? st[i] : 0;
	for (int i = 0; i < f->nacc; i++)
		if (!memcmp(&f->acc[i], &a, sizeof a))
			return i;
	if (f->nacc == f->capacc) {
		f->acc = arena_grow(f->a, f->acc, (size_t)f->capacc * sizeof *f->acc, (size_t)(2 * f->capacc + 16) * sizeof *f->acc);
		f->capacc = 2 * f->capacc + 16;
	}
	f->acc[f->nacc] = a;
	return f->nacc++;
}

/* The parameter holding value u's buffer; buffers at the same bytes are one parameter. */
static int param_of(Fk *f, int u, bool written)
{
	Cg *g = f->g;
	if (f->param[u] < 0) {
		int64_t lo = g->home[u], hi = lo >= 0 ? lo + type_bytes(&f->r->node[u].type) : -1;
		int p = 0;
		while (p < f->npar && !(lo >= 0 ? f->par[p].lo == lo && f->par[p].hi == hi : f->par[p].outer == g->ptr[u]))
			p++;
		if (p == f->npar)
			f->par[f->npar++] = (Param){ g->ptr[u], lo, hi, false, false };
		f->param[u] = p;
	}
	f->par[f->param[u]].written |= written;
	return f->param[u];
}

/* ---- planning: passes, buffers, accesses, the key ---- */

static void plan_passes(Fk *f)
{
	const Region *r = f->r;
	f->npass = 1;
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &r->node[v];
		f->pass[i] = f->redpass[i] = 0;
		if (nd->op == OP_CONST || v == f->s.head || !f->rows)
			continue;
		int p = 0;
		for (int k = 0; k < nd->narg; k++) {
			int u = ir_operand(r, v, k), j = f->mi[u];
			if (j >= 0 && u != f->s.head && r->node[u].op != OP_CONST)
				p = f->pass[j] > p ? f->pass[j] : p;
		}
		/* a reduction accumulates in its operand's pass; its result is there after it */
		f->redpass[i] = p;
		f->pass[i] = is_red(nd) ? p + 1 : p;
		if (f->level[i] == KL_BIG || is_red(nd))
			f->npass = p + 1 > f->npass ? p + 1 : f->npass;
	}
	/* internal values a later pass reads again */
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &r->node[v];
		if (nd->op == OP_CONST || v == f->s.head || f->level[i] != KL_BIG)
			continue;
		for (int k = 0; k < nd->narg; k++) {
			int u = ir_operand(r, v, k), j = f->mi[u];
			if (j >= 0 && u != f->s.head && f->level[j] == KL_BIG && f->pass[j] < f->pass[i] && !f->mat[j])
				f->rowbuf[j] = true;
		}
	}
}

void cg_fused_plan(Fk *f)
{
	Cg *g = f->g;
	const Region *r = f->r;
	int64_t st[MAX_RANK];
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		f->mat[i] = !g->internal[v] && v != f->s.head && r->node[v].op != OP_CONST;
	}
	plan_passes(f);
	/* row buffers are indexed by the position in the row */
	int64_t m = 1;
	for (int a = f->s.x.rank - 1; a >= 0; a--) {
		st[a] = (f->s.red >> a & 1) ? m : 0;
		m *= (f->s.red >> a & 1) ? f->s.x.dim[a] : 1;
	}
	f->rowacc = access_of(f, st);
	if (f->s.head >= 0) {
		param_of(f, f->s.head, true);
		for (int k = 0; k < 2; k++)
			param_of(f, ir_operand(r, f->s.head, k), false);
	}
	int nop = 0;
	for (int i = 0; i < f->n; i++) {
		f->opstart[i] = nop;
		nop += r->node[f->mem[i]].narg;
	}
	f->opacc = arena_alloc(f->a, ((size_t)nop + 1) * sizeof *f->opacc);
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &r->node[v];
		kernel_natural(&f->s, &nd->type, f->level[i], st);
		f->nat[i] = access_of(f, st);
		if (f->mat[i])
			param_of(f, v, true);
		for (int k = 0; k < nd->narg; k++) {
			int u = ir_operand(r, v, k), j = f->mi[u];
			f->opacc[f->opstart[i] + k] = -1;
			if (nd->op == OP_CONST || v == f->s.head || r->node[u].op == OP_CONST || (j >= 0 && u != f->s.head))
				continue;
			kernel_read_map(&f->s, r, v, k, f->level[i], st);
			f->opacc[f->opstart[i] + k] = access_of(f, st);
			param_of(f, u, false);
		}
	}
	/* everything the code depends on */
	char tb[160];
	key_add(f, "fused %d %d %u %d:", f->rows, f->npass, f->s.red, f->npar);
	for (int a = 0; a < f->s.x.rank; a++)
		key_add(f, "%lld,", (long long)f->s.x.dim[a]);
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &r->node[v];
		key_add(f, "|%d %s %a %d %d %d %d %d %d %d:", (int)nd->op, type_str(&nd->type, tb, sizeof tb), nd->f,
			nd->keep, f->level[i], f->pass[i], f->redpass[i], f->mat[i], f->rowbuf[i], f->nat[i]);
		for (int k = 0; k < nd->nia; k++)
			key_add(f, "%lld,", (long long)nd->ia[k]);
		if (f->mat[i])
			key_add(f, "p%d", f->param[v]);
		for (int k = 0; k < nd->narg; k++) {
			int u = ir_operand(r, v, k);
			const Node *un = &r->node[u];
			if (un->op == OP_CONST)
				key_add(f, " c%d:%a", (int)un->type.dt, un->f);
			else if (f->opacc[f->opstart[i] + k] < 0 && v != f->s.head)
				key_add(f, " m%d", f->mi[u]);
			else /* ~bf: a product's operand read as the bf16 value it widens (kernel.h) */
				key_add(f, " p%d:%d:%s%s", f->param[u], f->opacc[f->opstart[i] + k],
					type_str(&un->type, tb, sizeof tb),
					kernel_reads_bf16(r, v, k) && kernel_widening_of(r, u) >= 0 ? "~bf" : "");
		}
	}
	/* written buffers no other parameter overlaps alias nothing */
	for (int p = 0; p < f->npar; p++) {
		bool alone = f->par[p].written;
		for (int q = 0; alone && q < f->npar; q++)
			alone = q == p || f->par[p].lo < 0 || f->par[q].lo < 0 || f->par[q].hi <= f->par[p].lo
				|| f->par[p].hi <= f->par[q].lo;
		f->par[p].alone = alone;
		key_add(f, "|%d%d%d", f->par[p].written, f->par[p].lo < 0, alone);
	}
	for (int a = 0; a < f->nacc; a++) {
		key_add(f, "|");
		for (int d = 0; d < f->s.x.rank; d++)
			key_add(f, "%lld,", (long long)f->acc[a].st[d]);
	}
}
