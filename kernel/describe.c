/*
 * describe.c — what each kernel call of a compiled region is, for the
 * profiler (--profile, --profile-summary): a name a user can match to the
 * program (the GEMM's shape, the fused kernel's ops, the optimizer update),
 * the ops it runs, and the work of one call: the GEMM's flops and the bytes
 * the kernel reads and writes.  Code generation marks the end of each call
 * with the node it computes (codegen/region.c); this names that node's
 * kernel, from the same Region, in sinter run and in built binaries alike.
 */
#include "kernel/kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* M, N, K and the batch of MATMUL node v. */
static void gemm_shape(const Region *r, int v, KernelInfo *ki)
{
	const Node *nd = &r->node[v];
	const Type *a = &r->node[ir_operand(r, v, 0)].type, *o = &nd->type;
	bool ta = nd->nia == 2 && nd->ia[0];
	ki->m = o->dim[o->rank - 2];
	ki->n = o->dim[o->rank - 1];
	ki->k = a->dim[a->rank - 1 - ta];
	int64_t mn = ki->m * ki->n;
	ki->batch = mn > 0 ? type_numel(o) / mn : 0;
	ki->flop = 2.0 * (double)ki->batch * (double)ki->m * (double)ki->n * (double)ki->k;
}

static void append(char *buf, size_t len, const char *s)
{
	size_t at = strlen(buf);
	if (at + 1 < len)
		snprintf(buf + at, len - at, "%s%s", at ? " " : "", s);
}

void kernel_describe(const Region *r, int v, const int *mem, int n, const bool *internal, const bool *written,
	KernelInfo *ki)
{
	memset(ki, 0, sizeof *ki);
	if (v < 0) {
		/* the region's end: outputs copied out, WRITEs into their slots */
		snprintf(ki->name, sizeof ki->name, "outputs and writes");
		bool *through = xcalloc((size_t)r->nnode + 1, sizeof *through);
		kernel_through(r, through);
		for (int k = 0; k < r->nout; k++)
			if (!ir_takes_memory(r->node[r->out[k]].op)) /* else computed in the caller's buffer */
				ki->bytes += 2.0 * (double)type_bytes(&r->node[r->out[k]].type);
		for (int w = 0; w < r->nnode; w++)
			if (r->node[w].op == OP_WRITE && !through[ir_operand(r, w, 1)])
				ki->bytes += 2.0 * (double)type_bytes(&r->node[ir_operand(r, w, 1)].type);
		free(through);
		return;
	}
	int g = r->node[v].group;
	bool update = false;
	int head = -1;
	/* ops of the name: each op once, in order; every member's in ki->ops */
	char names[sizeof ki->name] = "";
	for (int i = 0; i < n; i++) {
		const Node *nd = &r->node[mem[i]];
		const char *op = op_info[nd->op].name;
		append(ki->ops, sizeof ki->ops, op);
		if (nd->op == OP_MATMUL) {
			head = mem[i];
			continue;
		}
		update |= written[mem[i]];
		bool seen = false;
		for (int j = 0; j < i && !seen; j++)
			seen = r->node[mem[j]].op == nd->op;
		if (!seen)
			append(names, sizeof names, op);
	}
	/* bytes: each operand from outside the kernel read once, each value
	   that leaves the kernel (or the GEMM's own buffer) written once; a
	   pack's operands were computed in its buffer (memplan.c): no copy */
	for (int i = 0; i < n && r->node[v].op != OP_PACK; i++) {
		const Node *nd = &r->node[mem[i]];
		if (!internal[mem[i]] || nd->op == OP_MATMUL)
			ki->bytes += (double)type_bytes(&nd->type);
		for (int k = 0; k < nd->narg; k++) {
			int o = ir_operand(r, mem[i], k), dup = 0;
			if (g >= 0 && r->node[o].group == g)
				continue;
			for (int j = 0; j <= i && !dup; j++)
				for (int l = 0; l < (j < i ? r->node[mem[j]].narg : k) && !dup; l++)
					dup = ir_operand(r, mem[j], l) == o;
			if (!dup)
				ki->bytes += (double)type_bytes(&r->node[o].type);
		}
	}
	char id[24], gemm[96] = "";
	if (g >= 0)
		snprintf(id, sizeof id, "k%d", g);
	else
		snprintf(id, sizeof id, "%%%d", v);
	if (head >= 0) {
		gemm_shape(r, head, ki);
		if (ki->batch > 1)
			snprintf(gemm, sizeof gemm, "gemm %lldx(%lldx%lldx%lld)", (long long)ki->batch, (long long)ki->m,
				(long long)ki->n, (long long)ki->k);
		else
			snprintf(gemm, sizeof gemm, "gemm %lldx%lldx%lld", (long long)ki->m, (long long)ki->n,
				(long long)ki->k);
	}
	snprintf(ki->name, sizeof ki->name, "%s %s%s%s%s", id, update ? "update: " : "", gemm,
		gemm[0] && names[0] ? " + " : "", names);
}
