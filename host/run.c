/*
 * run.c — calling compiled regions, with no LLVM: host_run_compiled runs a
 * region's native code (codegen/codegen.h's CgRegionFn) the way interp_run
 * runs the region, whether the code came from the JIT or was linked ahead
 * of time into a `sinter build` binary.  It lives in the host, not in
 * codegen/, because built binaries link the host without LLVM.
 */
#include "host/run.h"

#include "base/arena.h"
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>

/* Dies, like interp.c, when a tensor's type differs from the node's; `what` names the tensor. */
static void check_type(const Type *have, const Type *want, const char *what)
{
	if (!type_eq(have, want)) {
		char a[64], b[64];
		die("codegen: %s has type %s, the region expects %s", what, type_str(have, a, sizeof a),
			type_str(want, b, sizeof b));
	}
}

void host_run_compiled(CgRegion *cr, Store *s, Tensor *const *inputs, Tensor *outputs)
{
	const Region *r = cr->r;
	void **in = xcalloc((size_t)r->ninput + 1, sizeof *in);
	void **slots = xcalloc((size_t)cr->nslot + 1, sizeof *slots);
	void **outs = xcalloc((size_t)r->nout + 1, sizeof *outs);
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].op == OP_INPUT) {
			int64_t k = r->node[v].ia[0];
			if (!inputs || !inputs[k])
				die("codegen: input %lld not supplied", (long long)k);
			char what[32];
			snprintf(what, sizeof what, "input %lld", (long long)k);
			check_type(&inputs[k]->type, &r->node[v].type, what);
			in[k] = inputs[k]->data;
		}
	for (int k = 0; k < cr->nslot; k++) {
		char err[256];
		Tensor t;
		if (!ir_store_slot(s, &r->node[cr->slot[k]], &t, err, sizeof err))
			die("codegen: %%%d: %s", cr->slot[k], err);
		slots[k] = t.data;
	}
	for (int k = 0; k < r->nout; k++) {
		Type t = r->node[r->out[k]].type;
		outputs[k].type = t;
		outputs[k].data = outs[k] = xmalloc((size_t)type_bytes(&t) + 1);
	}
	if (cr->scratch && !cr->buf && !(cr->buf = aligned_alloc(64, cr->scratch)))
		die_out_of_memory(cr->scratch);
	int32_t status = cr->fn(in, slots, outs, cr->buf, s ? s->seed : 0, s ? s->step : 0);
	free(outs);
	free(slots);
	free(in);
	if (status) {
		/* the region stopped on a bad index and its results mean nothing;
		   the hook may return to the caller (tests), so they are freed */
		for (int k = 0; k < r->nout; k++) {
			free(outputs[k].data);
			outputs[k].data = NULL;
		}
		int32_t op, loc;
		int64_t index, n;
		rt_index_take(&op, &loc, &index, &n);
		ir_index_fail(r, (OpKind)op, loc, index, n);
	}
}
