/*
 * bf16store.c — the second half of the bf16 mixed-precision mode
 * (`--precision=bf16`): activations kept from the forward part into the
 * backward part are stored in bf16, halving their bytes in the arena.
 *
 * Which values: a forward value (kernel_forward) that a backward node
 * reads, of type f32 and not kept anyway (an output, a WRITE's value, a
 * slot, an input or a constant), and
 *   (a) every backward reader, looking through backward reshapes, is a
 *       bf16 product (a MATMUL marked by the precision pass): the product
 *       rounds its operands to bf16 as it packs them, with the same
 *       rt_bf16_from_f32, so reading a rounded copy changes no bit of its
 *       result (dW = X^T dY of every linear layer reads X so); or
 *   (b) it is what a bf16 product computes: the MATMUL itself, or the
 *       product plus a bias (an ADD of a marked MATMUL and an operand of
 *       fewer elements): PyTorch's autocast returns a linear layer's output
 *       in bf16 and its backward reads that (a GELU's input, the packed
 *       q/k/v an attention_qkv reads); or
 *   (c) it is a value minus its own mean, x - sum(x) * c (a norm's
 *       centred values, which its backward reads; the mean and the scale
 *       are separate, smaller values and stay f32).
 * (b) and (c) change the backward's values by bf16's rounding (2^-9
 * relative), as autocast's bf16 activations do.  Two more rules:
 *   (d) a slice of a forward value the backward reads anyway (the
 *       attention's output, beside its log-sum-exp) is taken again right
 *       before its first backward reader: neither the slice nor a bf16
 *       copy of it stays alive across, the slice's operand does already;
 *   (e) a backward value computed in a kernel and read only by bf16
 *       products (a recomputed GELU output that dW = X^T dY reads) is
 *       stored in bf16 by its kernel and widened before the product: no
 *       bit changes (the product rounds it anyway), and the kernel stores
 *       2 bytes an element where its other results are live too.
 * What stays f32: the norms' statistics (mean, rstd), softmax and the
 * attention's output and log-sum-exp, reductions, the residual stream,
 * weights and the optimizer's states.
 *
 * How (rules (a)-(c), (e)): for each such v, s = cast v : bf16 right after v's kernel (the
 * forward writes the rounded copy; v itself dies at its last forward
 * reader), and w = cast s : f32 right before the first backward reader's
 * kernel; the backward readers read w (and where the forward reads the
 * rounded value too, its readers outside v's kernel read wf = cast s :
 * f32, right after s).  Each cast joins the kernel beside it where
 * kernel_space allows (join()): s the producer's, which then stores v
 * rounded as it computes it, w the reader's, which widens in registers.
 * Where not (v a product alone, w a GEMM's operand), the cast stays
 * outside every kernel; so does a widening that only bf16 products read
 * (a GEMM's operand, the qkv an attention reads): generated code computes
 * it nowhere, the products read the bf16 value as they pack it
 * (kernel_widens_for_products; docs/ARCHITECTURE.md, bf16store).  Any
 * other is a loop of its own.  Fusion ran before this pass (which values
 * are stored at all is the kernels' and remat's decision), hence the
 * joining here.  The interpreter and the generated code round with the
 * same integer arithmetic (rt_bf16_from_f32), so they agree bit for bit.
 *
 * Requires: a verified region in topological order with contiguous
 *   kernels, after the precision pass's marks and after remat (which
 *   decides which values the backward reads at all), before schedule and
 *   memplan.
 * Guarantees: a verified region with the same inputs, outputs and writes;
 *   kernels contiguous, each legal (kernel_space), old members where they
 *   were, the new casts in a neighbouring kernel or in none, the repeated
 *   slices in none; no backward node reads a chosen value but through its
 *   bf16 copy or its repeated slice; memory offsets
 *   cleared (memplan places the bf16 copies at 2 bytes an element).
 */
#include "kernel/kernel.h"

#include <stdlib.h>

#include "ir/ops.h"

/* Is v a bf16 product, or one plus a bias (rule (b))? */
static bool product_output(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	if (nd->op == OP_MATMUL)
		return attr_int(nd, AS_IA2) != 0;
	if (nd->op != OP_ADD || nd->narg != 2)
		return false;
	for (int k = 0; k < 2; k++) {
		int p = ir_operand(r, v, k), b = ir_operand(r, v, 1 - k);
		if (r->node[p].op == OP_MATMUL && attr_int(&r->node[p], AS_IA2) &&
			type_numel(&r->node[b].type) < type_numel(&nd->type))
			return true;
	}
	return false;
}

/* v with broadcasts and reshapes looked through. */
static int strip(const Region *r, int v)
{
	while (r->node[v].op == OP_BROADCAST || r->node[v].op == OP_RESHAPE)
		v = ir_operand(r, v, 0);
	return v;
}

/* Is v a value minus its own mean (rule (c)): sub(x, sum(x) * c) or
   sub(x, sum(x) / c), c a scalar, through broadcasts and reshapes?  A
   norm's centred values, which its backward reads; the mean and the
   scale (rsqrt of the variance) are other, smaller values and stay f32.
   A softmax's x - max(x) is no mean and stays f32. */
static bool centred(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	if (nd->op != OP_SUB)
		return false;
	int x = strip(r, ir_operand(r, v, 0)), m = strip(r, ir_operand(r, v, 1));
	const Node *mn = &r->node[m];
	if ((mn->op == OP_MUL || mn->op == OP_DIV) && mn->narg == 2) {
		int k = mn->op == OP_DIV ? 1 : r->node[ir_operand(r, m, 1)].type.rank == 0 ? 1 : 0;
		if (r->node[ir_operand(r, m, k)].type.rank != 0 || r->node[ir_operand(r, m, k)].op != OP_CONST)
			return false;
		m = strip(r, ir_operand(r, m, 1 - k));
	}
	return r->node[m].op == OP_SUM && strip(r, ir_operand(r, m, 0)) == x;
}

/* Does u read v only as a bf16 product's operand (kernel_reads_bf16)? */
static bool product_reads(const Region *r, int u, int v)
{
	for (int k = 0; k < r->node[u].narg; k++)
		if (ir_operand(r, u, k) == v && !kernel_reads_bf16(r, u, k))
			return false;
	return true;
}

/* Do all backward readers of v, through backward reshapes, take it as an
   operand of a bf16 product (rule (a))?  False when v has none. */
static bool products_only(const Region *r, const bool *fwd, const int *ustart, const int *users, int v)
{
	bool any = false;
	for (int e = ustart[v]; e < ustart[v + 1]; e++) {
		int u = users[e];
		const Node *nd = &r->node[u];
		if (fwd[u])
			continue;
		if (nd->op == OP_RESHAPE) {
			for (int f = ustart[u]; f < ustart[u + 1]; f++)
				if (fwd[users[f]])
					return false;
			if (!products_only(r, fwd, ustart, users, u))
				return false;
		} else if (!product_reads(r, u, v))
			return false;
		any = true;
	}
	return any;
}

/* Does a backward node read v? */
static bool backward_reads(const bool *fwd, const int *ustart, const int *users, int v)
{
	for (int e = ustart[v]; e < ustart[v + 1]; e++)
		if (!fwd[users[e]])
			return true;
	return false;
}

/* Is v read by the forward part, only outside its kernel (a rule (b)
   value that the attention reads)?  Then the forward reads the rounded
   value too: the attention's backward recomputes its scores from the
   rounded q, k against the forward's log-sum-exp, which must have come
   from the same q, k.  A reader inside the kernel (the GELU after its
   product) reads v in registers, unrounded, as before. */
static bool read_outside(const Region *r, const bool *fwd, const int *ustart, const int *users, int v)
{
	bool any = false;
	for (int e = ustart[v]; e < ustart[v + 1]; e++) {
		int u = users[e];
		if (!fwd[u])
			continue;
		if (r->node[v].group >= 0 && r->node[u].group == r->node[v].group)
			return false;
		any = true;
	}
	return any;
}

/* The first node of v's kernel, or v outside every kernel. */
static int kernel_first(const Region *r, int v)
{
	int g = r->node[v].group;
	while (g >= 0 && v > 0 && r->node[v - 1].group == g)
		v--;
	return v;
}

static int kernel_last(const Region *r, int v)
{
	int g = r->node[v].group;
	while (g >= 0 && v + 1 < r->nnode && r->node[v + 1].group == g)
		v++;
	return v;
}

/* Joins cast c to the kernel holding node k (c beside it) where the kernel
   stays legal (kernel_space): the narrowing to its producer's kernel, whose
   store then writes 2-byte elements, the widening to its first reader's,
   which computes it in registers where only members read it (not where
   the kernel's GEMM reads it: kernel_space refuses, the head runs first). */
static void join(Region *r, int c, int k, int *mem)
{
	int g = r->node[k].group;
	if (g < 0)
		return;
	int a = kernel_first(r, k), b = kernel_last(r, k), nm = 0;
	for (int v = a; v <= b; v++)
		mem[nm++] = v;
	mem[nm++] = c;
	KernelSpace sp;
	if (kernel_space(r, mem, nm, &sp, NULL))
		r->node[c].group = g;
}

void bf16store_run(Region *r)
{
	int n = r->nnode;
	if (n == 0)
		return;
	bool *fwd = xcalloc((size_t)n + 1, sizeof *fwd), *kept = xcalloc((size_t)n + 1, sizeof *kept);
	kernel_forward(r, fwd);
	for (int i = 0; i < r->nout; i++)
		kept[r->out[i]] = true;
	for (int v = 0; v < n; v++)
		for (int k = 0; r->node[v].op == OP_WRITE && k < r->node[v].narg; k++)
			kept[ir_operand(r, v, k)] = true;
	int *ustart, *users;
	ir_users(r, &ustart, &users);
	/* after[v]: the casts to place after old node v, before[v]: before it;
	   after the narrowings (after[v], kind 1), the forward widenings to
	   join v's kernel (afterw[v], kind 1 too), then those that only bf16
	   products read (afterx[v], kind 3), which stay out of every kernel:
	   so a kernel stays contiguous */
	int *after = xmalloc(((size_t)n + 1) * sizeof *after), *before = xmalloc(((size_t)n + 1) * sizeof *before);
	int *afterw = xmalloc(((size_t)n + 1) * sizeof *afterw), *afterx = xmalloc(((size_t)n + 1) * sizeof *afterx);
	for (int v = 0; v < n; v++)
		after[v] = before[v] = afterw[v] = afterx[v] = -1;
	/* chains of the casts at one place, by new node index - n (three per value at most) */
	int *next = xmalloc(((size_t)3 * n + 3) * sizeof *next), nnew = 0;
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		if (kept[v] || nd->type.dt != DT_F32 || nd->type.rank == 0 || !ir_takes_memory(nd->op) ||
			(op_info[nd->op].flags & F_SOURCE))
			continue;
		/* rule (d): a slice of a value the backward reads anyway */
		bool reslice = nd->op == OP_SLICE && backward_reads(fwd, ustart, users, ir_operand(r, v, 0));
		if (fwd[v] ? !reslice && !product_output(r, v) && !products_only(r, fwd, ustart, users, v) && !centred(r, v)
		           : nd->group < 0 || nd->op == OP_MATMUL || !products_only(r, fwd, ustart, users, v))
			continue;
		int first = -1;
		for (int e = ustart[v]; e < ustart[v + 1]; e++)
			if (!fwd[users[e]] && (first < 0 || users[e] < first))
				first = users[e];
		if (first < 0)
			continue;
		int bt = kernel_first(r, first), w;
		if (reslice) {
			int u = ir_operand(r, v, 0);
			w = ir_emit(r, nd, &u, 1, NULL, 0);
			if (w < 0)
				die("bf16store: the slice %%%d does not repeat", v);
			r->node[w].loc = r->node[v].loc;
			nnew++;
		} else {
			int s = ir_cast(r, v, DT_BF16), at = kernel_last(r, v);
			w = ir_cast(r, s, DT_F32);
			r->node[s].loc = r->node[w].loc = r->node[v].loc;
			nnew += 2;
			if (fwd[v] && product_output(r, v) && read_outside(r, fwd, ustart, users, v)) {
				/* the forward reads the rounded value too: wf, after s */
				int wf = ir_cast(r, s, DT_F32);
				r->node[wf].loc = r->node[v].loc;
				nnew++;
				bool out = true; /* only bf16 products read wf */
				for (int e = ustart[v]; e < ustart[v + 1]; e++) {
					int u = users[e];
					out &= !fwd[u] || product_reads(r, u, v);
					for (int k = 0; fwd[u] && k < r->node[u].narg; k++)
						if (r->arg[r->node[u].arg + k] == v)
							r->arg[r->node[u].arg + k] = wf;
				}
				int *chain = out ? afterx : afterw;
				next[wf - n] = chain[at], chain[at] = wf;
			}
			next[s - n] = after[at], after[at] = s;
		}
		next[w - n] = before[bt], before[bt] = w;
		for (int e = ustart[v]; e < ustart[v + 1]; e++) {
			int u = users[e];
			for (int k = 0; !fwd[u] && k < r->node[u].narg; k++)
				if (r->arg[r->node[u].arg + k] == v)
					r->arg[r->node[u].arg + k] = w;
		}
	}
	if (nnew > 0) {
		int *order = xmalloc(((size_t)r->nnode + 1) * sizeof *order), no = 0;
		char *kind = xcalloc((size_t)r->nnode + 1, 1); /* at new index: 1 joins the kernel before, 2 after, 3 none */
		for (int v = 0; v < n; v++) {
			for (int c = before[v]; c >= 0; c = next[c - n])
				kind[no] = r->node[c].op == OP_CAST ? 2 : 0, order[no++] = c;
			order[no++] = v;
			for (int c = after[v]; c >= 0; c = next[c - n])
				kind[no] = 1, order[no++] = c;
			for (int c = afterw[v]; c >= 0; c = next[c - n])
				kind[no] = 1, order[no++] = c;
			for (int c = afterx[v]; c >= 0; c = next[c - n])
				kind[no] = 3, order[no++] = c;
		}
		ir_reorder(r, order);
		/* order is free now: the members' buffer of join().  A forward
		   widening that only bf16 products read (kind 3: the qkv that
		   the attention reads) stays out: then none is computed, the
		   products read the bf16 value (kernel_widens_for_products), where
		   in the producer's kernel it would store an f32 copy beside the
		   bf16 one */
		for (int i = 1; i < r->nnode; i++)
			if (kind[i] == 1 && r->node[i - 1].group == r->node[ir_operand(r, i, 0)].group)
				join(r, i, i - 1, order);
		for (int i = r->nnode - 2; i >= 0; i--)
			if (kind[i] == 2)
				join(r, i, i + 1, order);
		free(order);
		free(kind);
		for (int v = 0; v < r->nnode; v++)
			r->node[v].offset = r->node[v].work = -1;
		r->arena_bytes = 0;
	}
	free(fwd);
	free(kept);
	free(ustart);
	free(users);
	free(after);
	free(afterw);
	free(afterx);
	free(before);
	free(next);
}
