/*
 * epilogue.c — a fused kernel's members after its GEMM head, run inside the
 * GEMM on each tile of the product (its epilogue), instead of in a walk over
 * the whole product after it.
 *
 * When the head is one call of sinter's own GEMM (matmul.c) and the rest of
 * the kernel is elementwise members (bias, activation, residual add), with
 * or without reductions that keep the last axis (a column walk: a bias
 * gradient), the GEMM calls the kernel's epilogue on
 * each MR x NR tile of C once the tile's last K block is stored
 * (CgGemmSpec.epi, gemm.c).  The epilogue reads the tile back while it is
 * in L1, computes every member at its points and stores what leaves the
 * kernel; the product is never walked again from memory.  A tile's points
 * run as the column walk would run them, row by row, each row in vector
 * loops over the tile's columns; a reduction's column accumulates its rows
 * in increasing order (the GEMM finishes its row blocks in order, and on
 * the pool it cuts such a product into columns only, CgGemmSpec.epi_cols,
 * so one column belongs to one part), so the results are bitwise those
 * of the walk after the product.  What follows the reductions (the kept
 * points' SMALL members) still runs after the product, in the kernel.
 *
 * Code: the tile function `kN_fusedM.tile(params..., scratch, seed, step,
 * i0, j0, mr, nr)` has the kernel function's parameters (and their noalias
 * facts, which let LLVM vectorize the column loop without run-time
 * checks); the GEMM calls it through `kN_fusedM.epi(ectx, i0, j0, mr, nr)`,
 * which loads them from a block the kernel fills (ectx) and inlines it.
 *
 * SINTER_GEMM_EPILOGUE=off turns it off (tests/unit/test_epilogue.c checks
 * that the two give the same bits).  Not taken when the product goes to cblas_sgemm or is one GEMM per batch
 * matrix, when a member reads the product other than at its own point,
 * when a reduction reduces the last axis (a row walk: softmax, layer norm),
 * or when an output of the kernel shares bytes with the product's operands
 * (the GEMM still reads them while tiles are finished).
 */
#include "codegen/fused_plan.h"
#include "codegen/matmul.h"
#include "codegen/scalar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Do parameters p and q (indices into f->par) cover common bytes? */
static bool overlap(const Fk *f, int p, int q)
{
	const Param *a = &f->par[p], *b = &f->par[q];
	if (p == q || (a->lo < 0 && b->lo < 0 && a->outer == b->outer))
		return true;
	return a->lo >= 0 && b->lo >= 0 && a->lo < b->hi && b->lo < a->hi;
}

bool cg_epi_ok(Fk *f)
{
	const Region *r = f->r;
	int h = f->s.head, rank = f->s.x.rank;
	int64_t m, n;
	/* SINTER_GEMM_EPILOGUE=off: the walk after the product (tests compare the two) */
	const char *env = getenv("SINTER_GEMM_EPILOGUE");
	if (env && !strcmp(env, "off"))
		return false;
	if (h < 0 || (f->rows && f->s.red) || rank < 1 || !cg_matmul_tiled(r, h, &m, &n))
		return false;
	int64_t numel = 1;
	for (int a = 0; a < rank; a++)
		numel *= f->s.x.dim[a];
	if (f->s.x.dim[rank - 1] != n || numel != m * n || (f->s.red >> (rank - 1) & 1))
		return false;
	/* the product's point (i, j) is X's point (unravel(i), j) */
	int64_t cst[MAX_RANK];
	cg_cstrides(&f->s.x, cst);
	bool members = false;
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &r->node[v];
		if (nd->op == OP_CONST || v == h)
			continue;
		/* a row walk computes its SMALL members (values of the outer
		   point, such as a scalar's function) once per row: not here */
		if (f->rows && f->level[i] == KL_SMALL)
			return false;
		members = true;
		for (int k = 0; k < nd->narg; k++) {
			int a = f->opacc[f->opstart[i] + k];
			if (ir_operand(r, v, k) == h && (a < 0 || !kernel_same_map(&f->s, f->acc[a].st, cst)))
				return false;
		}
	}
	int pa = f->param[ir_operand(r, h, 0)], pb = f->param[ir_operand(r, h, 1)];
	for (int p = 0; p < f->npar; p++)
		if (f->par[p].written && ((pa >= 0 && overlap(f, p, pa)) || (pb >= 0 && overlap(f, p, pb))))
			return false;
	return members;
}

/* The tile function's body: the rows of the tile, each a loop over its columns. */
static void tile_body(Fk *f, LLVMValueRef fn, unsigned first)
{
	Cg *g = f->g;
	const Region *r = f->r;
	const Type *x = &f->s.x;
	int rank = x->rank;
	LLVMValueRef i0 = LLVMGetParam(fn, first + 3), j0 = LLVMGetParam(fn, first + 4);
	LLVMValueRef mr = LLVMGetParam(fn, first + 5), nr = LLVMGetParam(fn, first + 6);
	for (int i = 0; i < f->n; i++) {
		const Node *nd = &r->node[f->mem[i]];
		if (nd->op == OP_DROPOUT && nd->f > 0)
			f->dkey[i] = cg_stream_key(g, nd->ia[0]);
		if (is_red(nd))
			f->accum[i] = cg_scratch_at(g, f->accoff[i]);
	}
	Loop rows;
	LLVMValueRef row = LLVMBuildNUWAdd(g->b, i0, cg_loop_begin_n(g, &rows, mr), "");
	/* X's leading coordinates of the row, then each access at (row, j0) */
	LLVMValueRef c[MAX_RANK], rest = row;
	for (int a = rank - 2; a > 0; a--) {
		LLVMValueRef d = cg_i64(g, x->dim[a]);
		c[a] = LLVMBuildURem(g->b, rest, d, "");
		rest = LLVMBuildUDiv(g->b, rest, d, "");
	}
	c[0] = rank > 1 ? rest : NULL;
	c[rank - 1] = j0;
	LLVMValueRef *base = arena_alloc(f->a, ((size_t)f->nacc + 1) * sizeof *base);
	for (int k = 0; k < f->nacc; k++) {
		base[k] = cg_i64(g, 0);
		for (int a = 0; a < rank; a++)
			if (f->acc[k].st[a])
				base[k] = LLVMBuildAdd(g->b, base[k], LLVMBuildMul(g->b, c[a], cg_i64(g, f->acc[k].st[a]), ""), "");
	}
	/*
	 * A tile row is NR / L vectors (two of the 14x32 tile's, three of the
	 * 8x48's).  Its whole pairs of vectors run two per iteration: the
	 * members' arithmetic is one long chain per vector (a GELU's is some
	 * 70 operations deep), and LLVM interleaves the two chains of an
	 * iteration, where one vector per iteration left the core waiting on
	 * each.  What is left (the 8x48's third vector, an edge tile's last
	 * columns) runs one vector per iteration.
	 */
	int lanes = cg_fused_lanes();
	LLVMValueRef pairs = LLVMBuildAnd(g->b, nr, cg_i64(g, -2 * lanes), "");
	for (int part = 0; part < 2; part++) {
		LLVMValueRef from = part ? pairs : cg_i64(g, 0), n = part ? LLVMBuildSub(g->b, nr, pairs, "") : pairs;
		LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "cols");
		LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "cols_done");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, n, cg_i64(g, 0), ""), run, next);
		LLVMPositionBuilderAtEnd(g->b, run);
		Loop cols;
		LLVMValueRef col = LLVMBuildNUWAdd(g->b, from, cg_loop_begin_n(g, &cols, n), "");
		cols.width = lanes;
		cols.interleave = part ? 1 : 2;
		for (int k = 0; k < f->nacc; k++) {
			int64_t s = f->acc[k].st[rank - 1];
			f->idx[k] = !s ? base[k]
			               : LLVMBuildAdd(g->b, base[k], s == 1 ? col : LLVMBuildMul(g->b, col, cg_i64(g, s), ""), "");
		}
		int pass = 0;
		cg_fused_point(f, &pass);
		cg_loop_end(g, &cols);
		LLVMBuildBr(g->b, next);
		LLVMPositionBuilderAtEnd(g->b, next);
	}
	cg_loop_end(g, &rows);
	LLVMBuildRetVoid(g->b);
}

void cg_epi_run(Fk *f)
{
	Cg *g = f->g;
	const Region *r = f->r;
	LLVMValueRef kfn = g->fn;
	size_t len;
	const char *kname = LLVMGetValueName2(kfn, &len);
	char name[96];
	unsigned np = (unsigned)f->npar + 3; /* the buffers, scratch, seed, step */

	/* the tile function: the kernel's parameters and attributes, then i0, j0, mr, nr */
	LLVMTypeRef *pt = arena_alloc(f->a, (np + 4) * sizeof *pt);
	LLVMGetParamTypes(LLVMGlobalGetValueType(kfn), pt);
	for (unsigned k = np; k < np + 4; k++)
		pt[k] = g->i64;
	snprintf(name, sizeof name, "%.*s.tile", (int)len, kname);
	LLVMValueRef tile = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->voidty, pt, np + 4, 0));
	LLVMSetLinkage(tile, LLVMInternalLinkage);
	cg_fn_attr(g, tile, "nounwind");
	cg_fn_attr(g, tile, "alwaysinline");
	unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
	for (unsigned p = 0; p < np; p++)
		if (LLVMGetEnumAttributeAtIndex(kfn, p + 1, noalias))
			LLVMAddAttributeAtIndex(tile, p + 1, LLVMCreateEnumAttribute(g->ctx, noalias, 0));

	/* what the kernel's walk would use, made anew in the tile function */
	size_t n1 = (size_t)f->n + 1, na = (size_t)f->nacc + 1;
	LLVMValueRef *ptr = arena_alloc(f->a, ((size_t)r->nnode + 1) * sizeof *ptr);
	LLVMValueRef *dkey = arena_alloc(f->a, n1 * sizeof *dkey), *accum = arena_alloc(f->a, n1 * sizeof *accum);
	LLVMValueRef *idx = arena_alloc(f->a, na * sizeof *idx);
	memcpy(ptr, g->ptr, (size_t)r->nnode * sizeof *ptr);
	memcpy(dkey, f->dkey, n1 * sizeof *dkey);
	memcpy(accum, f->accum, n1 * sizeof *accum);
	memcpy(idx, f->idx, na * sizeof *idx);
	/* the kernel's cached loads are its own: the tile starts without them */
	int ncache = f->ncache;
	Cached *cache = arena_alloc(f->a, ((size_t)ncache + 1) * sizeof *cache);
	if (ncache)
		memcpy(cache, f->cache, (size_t)ncache * sizeof *cache);
	f->ncache = 0;
	CgOuter outer;
	cg_fn_enter(g, tile, (unsigned)f->npar, &outer);
	for (int v = 0; v < r->nnode; v++)
		if (f->param[v] >= 0)
			g->ptr[v] = LLVMGetParam(tile, (unsigned)f->param[v]);
	tile_body(f, tile, (unsigned)f->npar);
	cg_fn_leave(g, &outer);
	if (ncache)
		memcpy(f->cache, cache, (size_t)ncache * sizeof *cache);
	f->ncache = ncache;
	memcpy(g->ptr, ptr, (size_t)r->nnode * sizeof *ptr);
	memcpy(f->dkey, dkey, n1 * sizeof *dkey);
	memcpy(f->accum, accum, n1 * sizeof *accum);
	memcpy(f->idx, idx, na * sizeof *idx);

	/* the thunk the GEMM calls (CgGemmEpiFn): its context is the kernel's arguments */
	LLVMTypeRef ct = LLVMStructTypeInContext(g->ctx, pt, np, 0);
	LLVMTypeRef et[] = { g->ptrty, g->i64, g->i64, g->i64, g->i64 };
	snprintf(name, sizeof name, "%.*s.epi", (int)len, kname);
	LLVMValueRef epi = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->voidty, et, 5, 0));
	LLVMSetLinkage(epi, LLVMInternalLinkage);
	cg_fn_attr(g, epi, "nounwind");
	LLVMBasicBlockRef back = LLVMGetInsertBlock(g->b);
	LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, epi, "entry"));
	LLVMValueRef *args = arena_alloc(f->a, (np + 4) * sizeof *args);
	for (unsigned k = 0; k < np; k++)
		args[k] = LLVMBuildLoad2(g->b, pt[k], LLVMBuildStructGEP2(g->b, ct, LLVMGetParam(epi, 0), k, ""), "");
	for (unsigned k = 0; k < 4; k++)
		args[np + k] = LLVMGetParam(epi, k + 1);
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(tile), tile, args, np + 4, "");
	LLVMBuildRetVoid(g->b);

	/* in the kernel: the context, then the product with its epilogue */
	LLVMPositionBuilderAtEnd(g->b, back);
	LLVMValueRef ectx = LLVMBuildAlloca(g->b, ct, "ectx");
	for (unsigned k = 0; k < np; k++)
		LLVMBuildStore(g->b, LLVMGetParam(kfn, k), LLVMBuildStructGEP2(g->b, ct, ectx, k, ""));
	char what[160] = "";
	size_t at = 0;
	for (int i = 0; i < f->n && at < sizeof what - 1; i++) {
		const Node *nd = &r->node[f->mem[i]];
		if (nd->op != OP_CONST && f->mem[i] != f->s.head)
			at += (size_t)snprintf(what + at, sizeof what - at, "%s%s", at ? " " : "", op_info[nd->op].name);
	}
	cg_matmul_epi(g, f->s.head, epi, ectx, f->s.red != 0, what);
}
