/*
 * region.c — the top of the code generator: builds a region's LLVM module.
 * Plans where every value lives, emits each node as a call of a kernel
 * function whose body the kernel emitter of its op writes (kernels.c,
 * reduce.c, matmul.c; a fused kernel is fused.c's), copies the outputs
 * and performs the deferred WRITEs.  jit.c is its only caller (region.h).
 * Before the nodes, matmul.c decides each product's kernel and reserves
 * the workspace of sinter's own GEMMs.
 *
 * Where values live: INPUT nodes read the caller's input pointer, PARAM and
 * STATE the slot pointer, the first output of a computed node is computed
 * straight into the caller's output buffer.  Every other value lives in
 * scratch: at its memplan offset when the region has a memory plan (the
 * arena is the front of scratch), else at its own bump-allocated offset.
 * RESHAPE, STOP_GRADIENT and same-type CAST share their operand's buffer
 * (under a plan only where the plan shares it).  Temporaries of kernels and
 * WRITE snapshots follow.  A fused kernel (Node.group, fused.c) is one call
 * at its last member; values that live only inside it have no buffer.
 */
#include "codegen/region.h"
#include "codegen/attention.h"
#include "codegen/fused.h"
#include "codegen/kernels.h"
#include "codegen/matmul.h"
#include "codegen/pool.h"
#include "codegen/reduce.h"

#include "kernel/kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the region function ---- */

static bool is_slot(const Node *nd)
{
	return ir_is_slot(nd->op);
}

/* Values that take no activation memory: storage of the caller or the store. */
static bool borrowed(const Node *nd)
{
	return !ir_takes_memory(nd->op);
}

/* The value whose buffer v reads (v itself unless v shares its operand's). */
static int root_of(const Cg *g, int v)
{
	while (g->shared[v])
		v = ir_operand(g->r, v, 0);
	return v;
}


/* Element k of one of the argument arrays (inputs, slots, outputs). */
static LLVMValueRef arg_ptr(Cg *g, LLVMValueRef arr, int k)
{
	LLVMValueRef i = cg_i64(g, k);
	LLVMValueRef p = LLVMBuildLoad2(g->b, g->ptrty, LLVMBuildInBoundsGEP2(g->b, g->ptrty, arr, &i, 1, ""), "");
	LLVMSetAlignment(p, 8);
	return p;
}

/* Has memplan placed every value?  Then *end is the arena size the plan
   uses, work buffers included. */
static bool planned(const Region *r, const bool *internal, const bool *through, int64_t *end)
{
	*end = 0;
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		int64_t work = nd->work >= 0 ? nd->work + ir_work_bytes(r, v) : 0;
		*end = work > *end ? work : *end;
		if (borrowed(nd) || internal[v] || through[v])
			continue;
		if (nd->offset < 0)
			return false;
		int64_t e = nd->offset + type_bytes(&nd->type);
		*end = e > *end ? e : *end;
	}
	return true;
}

/*
 * Decides and materializes every node's data pointer; out_of[v] = the output
 * v is computed in.  g->home[v] is the scratch offset of v's bytes (-1
 * elsewhere): kernels use it to see which operand they overwrite in place.
 * Computing an output straight into the caller's buffer deviates from a
 * plan safely: that buffer is private, and readers follow g->ptr.
 */
static void plan(Cg *g, int *out_of)
{
	const Region *r = g->r;
	int64_t end;
	bool *through = xmalloc(((size_t)r->nnode + 1) * sizeof *through);
	kernel_through(r, through);
	bool plan = planned(r, g->internal, through, &end);
	g->planned = plan;
	if (plan)
		g->used = align_up(end, 64);
	int nslot = 0;
	for (int v = 0; v < r->nnode; v++)
		out_of[v] = -1;
	for (int k = r->nout - 1; k >= 0; k--)
		out_of[r->out[k]] = k;
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		g->home[v] = -1;
		if (nd->op == OP_GRAD)
			die("codegen: grad node %%%d reached codegen: run autodiff first", v);
		if (nd->op == OP_WRITE && out_of[v] >= 0)
			die("codegen: write %%%d is a region output", v);
		if (borrowed(nd))
			out_of[v] = -1;
		if (nd->op == OP_INPUT) {
			g->ptr[v] = arg_ptr(g, g->inputs, (int)nd->ia[0]);
			continue;
		}
		if (is_slot(nd)) {
			g->ptr[v] = arg_ptr(g, g->slots, nslot++);
			continue;
		}
		if (nd->op == OP_WRITE || g->internal[v])
			continue;
		int o = nd->narg ? ir_operand(r, v, 0) : -1;
		if (kernel_widens_for_products(r, v)) {
			/* computed nowhere: its products read the bf16 value (matmul.c) */
			g->ptr[v] = g->ptr[o];
			g->home[v] = g->home[o];
			continue;
		}
		if (ir_is_alias(r, v) && nd->group < 0 && (!plan || (!borrowed(&r->node[o]) && r->node[o].offset == nd->offset))) {
			g->shared[v] = true;
			g->ptr[v] = g->ptr[o];
			g->home[v] = g->home[o];
			out_of[v] = -1;
		} else if (through[v]) {
			continue; /* below */
		} else if (out_of[v] >= 0) {
			g->ptr[v] = arg_ptr(g, g->outputs, out_of[v]);
		} else if (plan) {
			LLVMValueRef off = cg_i64(g, nd->offset);
			g->ptr[v] = LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &off, 1, "");
			g->home[v] = nd->offset;
		} else {
			g->home[v] = g->used;
			g->ptr[v] = cg_scratch(g, type_bytes(&nd->type));
		}
	}
	/* into the slot its WRITE names, whose old value nothing reads any more */
	for (int w = 0; w < r->nnode; w++) {
		int v = r->node[w].op == OP_WRITE ? ir_operand(r, w, 1) : -1;
		if (v >= 0 && through[v] && !g->ptr[v])
			g->ptr[v] = g->ptr[ir_operand(r, w, 0)];
	}
	free(through);
}

/* Outputs first (they must see slots before the writes), then the writes;
   a write reading a slot that some write changes reads a snapshot. */
static void finish(Cg *g, const int *out_of)
{
	const Region *r = g->r;
	for (int k = 0; k < r->nout; k++) {
		int o = r->out[k];
		if (out_of[o] != k)
			cg_memcpy(g, arg_ptr(g, g->outputs, k), g->ptr[o], type_bytes(&r->node[o].type));
	}
	LLVMValueRef *src = xcalloc((size_t)r->nnode + 1, sizeof *src);
	for (int v = 0; v < r->nnode; v++) {
		if (r->node[v].op != OP_WRITE)
			continue;
		int val = ir_operand(r, v, 1), root = root_of(g, val);
		src[v] = g->ptr[val];
		bool changed = false;
		for (int w = 0; is_slot(&r->node[root]) && w < r->nnode; w++)
			changed |= r->node[w].op == OP_WRITE && ir_slots_overlap(&r->node[ir_operand(r, w, 0)], &r->node[root]);
		if (changed) {
			int64_t n = type_bytes(&r->node[val].type);
			src[v] = cg_scratch(g, n);
			cg_memcpy(g, src[v], g->ptr[val], n);
		}
	}
	for (int v = 0; v < r->nnode; v++) {
		if (r->node[v].op != OP_WRITE)
			continue;
		int slot = ir_operand(r, v, 0);
		int64_t n = type_bytes(&r->node[slot].type);
		if (src[v] != g->ptr[slot] && n > 0)
			LLVMBuildMemMove(g->b, g->ptr[slot], 4, src[v], 4, cg_i64(g, n));
	}
	free(src);
}

/*
 * The kernel of node v reads and writes the distinct values val[0..n)
 * (val[0] = v, then its operands).  own[i]: val[i]'s buffer may overlap
 * v's (v itself, or an operand v is computed over in place).
 */
static int kernel_values(const Cg *g, int v, int *val, bool *own)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	int n = 0;
	val[n] = v;
	own[n++] = true;
	int64_t a0 = g->home[v], a1 = a0 + type_bytes(&nd->type);
	for (int k = 0; k < nd->narg; k++) {
		int o = ir_operand(r, v, k), j = 0;
		while (j < n && val[j] != o)
			j++;
		if (j < n)
			continue;
		int64_t b0 = g->home[o], b1 = b0 + type_bytes(&r->node[o].type);
		val[n] = o;
		own[n++] = a0 >= 0 && b0 >= 0 && b0 < a1 && a0 < b1;
	}
	return n;
}

/* Everything v's kernel code depends on; NULL when it does not fit in buf. */
static const char *kernel_key(const Cg *g, int v, const int *val, int n, const bool *own, char *buf, size_t len)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	char t[160];
	/* the work buffer's offset is a constant of the code */
	size_t at = (size_t)snprintf(buf, len, "%d %s %a %d %lld %d:", (int)nd->op, type_str(&nd->type, t, sizeof t), nd->f,
		nd->keep, (long long)(g->planned ? nd->work : -1), nd->nia);
	for (int i = 0; i < nd->nia && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%lld,", (long long)nd->ia[i]);
	for (int k = 0; k < nd->narg && at < len; k++) {
		int o = ir_operand(r, v, k), j = 0;
		while (val[j] != o)
			j++;
		/* ~bf: a product's operand read as the bf16 value it widens (kernel.h) */
		at += (size_t)snprintf(buf + at, len - at, " %d%s%s%s", j, own[j] ? "!" : "",
			type_str(&r->node[o].type, t, sizeof t),
			kernel_reads_bf16(r, v, k) && kernel_widening_of(r, o) >= 0 ? "~bf" : "");
	}
	(void)n;
	return at < len ? buf : NULL;
}

/* The body of node v's kernel function, by the emitter of its op. */
static void node(Cg *g, int v)
{
	switch (g->r->node[v].op) {
	case OP_SUM:
	case OP_MAX:
	case OP_MIN: cg_reduce(g, v); return;
	case OP_ARGMAX: cg_argmax(g, v); return;
	case OP_MATMUL: cg_matmul(g, v); return;
	case OP_CONV2D:
	case OP_CONV2D_DX:
	case OP_CONV2D_DW: cg_conv(g, v); return;
	case OP_ATTENTION:
	case OP_ATTENTION_GRAD: cg_attention(g, v); return;
	case OP_MAX_POOL:
	case OP_MAX_POOL_GRAD:
	case OP_AVG_POOL:
	case OP_AVG_POOL_GRAD: cg_pool(g, v); return;
	default: cg_kernel(g, v); return;
	}
}

/*
 * Emits node v as a call of a kernel function k<v>_<op>(value, operands...,
 * scratch, seed, step).  Small functions keep LLVM's work per function
 * small, and nodes with the same key (the Adam update of every parameter of
 * one shape, say) share one function, which is most of the compile time of
 * an unfused region.  Inside, the pointers are parameters; the alias scope
 * of the kernel marks the accesses that may touch v's buffer.
 */
static void kernel(Cg *g, int v)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	int *val = xmalloc(((size_t)nd->narg + 1) * sizeof *val);
	bool *own = xmalloc(((size_t)nd->narg + 1) * sizeof *own);
	int n = kernel_values(g, v, val, own);
	LLVMTypeRef *pt = xmalloc(((size_t)n + 3) * sizeof *pt);
	LLVMValueRef *args = xmalloc(((size_t)n + 3) * sizeof *args);
	for (int i = 0; i < n; i++) {
		pt[i] = g->ptrty;
		args[i] = g->ptr[val[i]];
	}
	int np = cg_fn_tail(g, pt, args, n);
	bool checked = cg_range_checked(nd->op);
	LLVMTypeRef ft = LLVMFunctionType(checked ? g->i32 : g->voidty, pt, (unsigned)np, 0);
	char kb[1024];
	const char *key = kernel_key(g, v, val, n, own, kb, sizeof kb);
	LLVMValueRef f = cg_fn_find(g, key), rc;
	if (f) {
		rc = LLVMBuildCall2(g->b, ft, f, args, (unsigned)np, "");
		goto out;
	}
	char name[64];
	snprintf(name, sizeof name, "k%d_%s", v, op_info[nd->op].name);
	f = cg_fn_new(g, name, ft, key);
	rc = LLVMBuildCall2(g->b, ft, f, args, (unsigned)np, "");

	/* the body: every pointer the kernel code uses becomes a parameter */
	CgOuter outer;
	cg_fn_enter(g, f, (unsigned)n, &outer);
	for (int i = 0; i < n; i++)
		g->ptr[val[i]] = LLVMGetParam(f, (unsigned)i);
	LLVMMetadataRef sc[2] = { LLVMMDStringInContext2(g->ctx, name, strlen(name)), g->domain };
	LLVMMetadataRef scope = LLVMMDNodeInContext2(g->ctx, sc, 2);
	g->scope = LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, &scope, 1));
	g->nown = 0;
	for (int i = 0; i < n && g->nown < CG_MAXOWN - 1; i++)
		if (own[i])
			g->own[g->nown++] = g->ptr[val[i]];
	g->bad = NULL;
	node(g, v);
	if (checked)
		LLVMBuildRet(g->b, g->bad ? LLVMBuildZExt(g->b, g->bad, g->i32, "") : cg_i32(g, 0));
	else
		LLVMBuildRetVoid(g->b);
	g->bad = NULL;
	g->scope = NULL;
	g->nown = 0;
	for (int i = 0; i < n; i++)
		g->ptr[val[i]] = args[i];
	cg_fn_leave(g, &outer);
out:
	if (checked)
		cg_index_exit(g, v, rc);
	free(args);
	free(pt);
	free(own);
	free(val);
}

/*
 * `if (flag) { ... }` around a runtime call, where flag is the runtime's
 * global of that name (an i32) and off is the common case: returns the
 * block after the if, with the builder inside it; the caller emits the
 * call and then closes it with guard_end.
 */
static LLVMBasicBlockRef guard_begin(Cg *g, const char *flag)
{
	LLVMValueRef on = LLVMGetNamedGlobal(g->mod, flag);
	if (!on) {
		on = LLVMAddGlobal(g->mod, g->i32, flag);
		LLVMSetLinkage(on, LLVMExternalLinkage);
	}
	LLVMValueRef val = LLVMBuildLoad2(g->b, g->i32, on, "");
	LLVMSetAlignment(val, 4);
	LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, g->fn, flag);
	LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "");
	LLVMValueRef c = LLVMBuildICmp(g->b, LLVMIntNE, val, cg_i32(g, 0), "");
	LLVMValueRef br = LLVMBuildCondBr(g->b, c, yes, next);
	/* keep the call out of the straight path */
	LLVMMetadataRef w[2] = { LLVMValueAsMetadata(LLVMConstInt(g->i32, 1, 0)),
		LLVMValueAsMetadata(LLVMConstInt(g->i32, 1000, 0)) };
	LLVMMetadataRef md[3] = { LLVMMDStringInContext2(g->ctx, "branch_weights", 14), w[0], w[1] };
	LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->ctx, "prof", 4),
		LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, md, 3)));
	LLVMPositionBuilderAtEnd(g->b, yes);
	return next;
}

static void guard_end(Cg *g, LLVMBasicBlockRef next)
{
	LLVMBuildBr(g->b, next);
	LLVMPositionBuilderAtEnd(g->b, next);
}

/*
 * After a kernel: if profiling (the runtime's rt_prof_on), call
 * rt_prof_mark(node).  Always emitted, so that the JIT and the object files
 * of `sinter build` serve runs with and without --profile alike; off, it
 * costs a load and a branch per kernel, against microseconds of work.
 */
static void prof_mark(Cg *g, int node)
{
	LLVMBasicBlockRef next = guard_begin(g, "rt_prof_on");
	LLVMTypeRef pt[1] = { g->i32 };
	LLVMValueRef a[1] = { cg_i32(g, node) };
	cg_call(g, "rt_prof_mark", g->voidty, pt, a, 1);
	guard_end(g, next);
}

/*
 * After a PACK of gradients (the gradient arena, which every update reads
 * and nothing writes again): when several ranks train together
 * (rt_dist_on), replace it by its mean over the ranks, rt_dist_grads.
 * Always emitted for the same reason as prof_mark: a built binary learns
 * only when it starts whether mpirun started it.
 */
static void dist_grads(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	if (nd->type.dt != DT_F32 || !g->ptr[v])
		die("codegen: pack %%%d is not an f32 buffer", v);
	LLVMBasicBlockRef next = guard_begin(g, "rt_dist_on");
	LLVMTypeRef pt[2] = { g->ptrty, g->i64 };
	LLVMValueRef a[2] = { g->ptr[v], cg_i64(g, type_numel(&nd->type)) };
	cg_call(g, "rt_dist_grads", g->voidty, pt, a, 2);
	guard_end(g, next);
}

/*
 * The operands of gradient PACKs that the memory plan computed in place
 * (the pack moves nothing): ready[v] lists, as pack * 2^20 + operand, the
 * operands whose kernel ends at node v, so that after that kernel the
 * runtime learns which part of the gradient arena is final and can start
 * sending it (rt_dist_ready, runtime/dist.c).  A pack that moves writes
 * its whole buffer at its own node, so it is sent there, whole.
 */
typedef struct {
	int *head, *next; /* per node, per entry: the lists */
	int64_t *item;
	int n;
} Ready;

static void ready_plan(Cg *g, const int *last, Ready *rd)
{
	const Region *r = g->r;
	int total = 0;
	for (int p = 0; p < r->nnode; p++)
		if (r->node[p].op == OP_PACK)
			total += r->node[p].narg;
	rd->head = xmalloc(((size_t)r->nnode + 1) * sizeof *rd->head);
	rd->next = xmalloc(((size_t)total + 1) * sizeof *rd->next);
	rd->item = xmalloc(((size_t)total + 1) * sizeof *rd->item);
	rd->n = 0;
	for (int v = 0; v < r->nnode; v++)
		rd->head[v] = -1;
	for (int p = 0; p < r->nnode; p++) {
		if (r->node[p].op != OP_PACK || r->node[p].type.dt != DT_F32 || r->node[p].narg >= 1 << 20 ||
		    cg_pack_moves(g, p))
			continue;
		for (int k = 0; k < r->node[p].narg; k++) {
			int u = ir_operand(r, p, k), grp = r->node[u].group;
			int end = grp >= 0 ? last[grp] : u;
			rd->item[rd->n] = (int64_t)p << 20 | k;
			rd->next[rd->n] = rd->head[end];
			rd->head[end] = rd->n++;
		}
	}
}

/* After the kernel ending at v: rt_dist_ready for the pack operands it
   computed, each with its aligned extent in the arena. */
static void dist_ready(Cg *g, const Ready *rd, int v)
{
	const Region *r = g->r;
	if (rd->head[v] < 0)
		return;
	LLVMBasicBlockRef next = guard_begin(g, "rt_dist_on");
	for (int e = rd->head[v]; e >= 0; e = rd->next[e]) {
		int p = (int)(rd->item[e] >> 20), k = (int)(rd->item[e] & ((1 << 20) - 1));
		int u = ir_operand(r, p, k);
		LLVMTypeRef pt[4] = { g->ptrty, g->i64, g->i64, g->i64 };
		LLVMValueRef a[4] = { g->ptr[p], cg_i64(g, type_numel(&r->node[p].type)), cg_i64(g, ir_pack_start(r, p, k)),
			cg_i64(g, ir_pack_align(type_bytes(&r->node[u].type))) };
		cg_call(g, "rt_dist_ready", g->voidty, pt, a, 4);
	}
	guard_end(g, next);
}

/*
 * LLVM's diagnostics while it optimizes a region: its remarks and notes
 * (a loop it did not vectorize as the loop's hint asked) are for compiler
 * developers, not for users training a model, so only warnings and errors
 * reach stderr.
 */
static void diagnose(LLVMDiagnosticInfoRef di, void *ctx)
{
	(void)ctx;
	LLVMDiagnosticSeverity sev = LLVMGetDiagInfoSeverity(di);
	if (sev == LLVMDSRemark || sev == LLVMDSNote)
		return;
	char *msg = LLVMGetDiagInfoDescription(di);
	fprintf(stderr, "sinter: LLVM %s: %s\n", sev == LLVMDSError ? "error" : "warning", msg);
	LLVMDisposeMessage(msg);
}

LLVMModuleRef cg_build_module(LLVMContextRef ctx, const Region *r, const char *fname, int64_t *scratch,
	CgGemmStats *gemm)
{
	Cg g;
	memset(&g, 0, sizeof g);
	LLVMContextSetDiagnosticHandler(ctx, diagnose, NULL);
	g.ctx = ctx;
	g.r = r;
	g.f32 = LLVMFloatTypeInContext(ctx);
	g.f64 = LLVMDoubleTypeInContext(ctx);
	g.i1 = LLVMInt1TypeInContext(ctx);
	g.i8 = LLVMInt8TypeInContext(ctx);
	g.i16 = LLVMInt16TypeInContext(ctx);
	g.i32 = LLVMInt32TypeInContext(ctx);
	g.i64 = LLVMInt64TypeInContext(ctx);
	g.ptrty = LLVMPointerTypeInContext(ctx, 0);
	g.voidty = LLVMVoidTypeInContext(ctx);
	g.mod = LLVMModuleCreateWithNameInContext(fname, ctx);
	LLVMTypeRef pt[6] = { g.ptrty, g.ptrty, g.ptrty, g.ptrty, g.i64, g.i64 };
	g.fn = LLVMAddFunction(g.mod, fname, LLVMFunctionType(g.i32, pt, 6, 0));
	cg_fn_attr(&g, g.fn, "nounwind");
	LLVMValueRef *arg[6] = { &g.inputs, &g.slots, &g.outputs, &g.scratch, &g.seed, &g.step };
	for (int k = 0; k < 6; k++)
		*arg[k] = LLVMGetParam(g.fn, (unsigned)k);
	g.b = LLVMCreateBuilderInContext(ctx);
	LLVMPositionBuilderAtEnd(g.b, LLVMAppendBasicBlockInContext(ctx, g.fn, "entry"));

	g.ptr = xcalloc((size_t)r->nnode + 1, sizeof *g.ptr);
	g.home = xcalloc((size_t)r->nnode + 1, sizeof *g.home);
	g.shared = xcalloc((size_t)r->nnode + 1, sizeof *g.shared);
	g.internal = xcalloc((size_t)r->nnode + 1, sizeof *g.internal);
	kernel_internal(r, g.internal);
	int *out_of = xcalloc((size_t)r->nnode + 1, sizeof *out_of);
	plan(&g, out_of);
	cg_matmul_setup(&g, gemm);
	g.kind_scope = LLVMGetMDKindIDInContext(ctx, "alias.scope", 11);
	g.kind_noalias = LLVMGetMDKindIDInContext(ctx, "noalias", 7);
	g.domain = LLVMMDNodeInContext2(ctx, (LLVMMetadataRef[]){ LLVMMDStringInContext2(ctx, fname, strlen(fname)) }, 1);
	/* one call per fused kernel, at its last member */
	int ngroup = 0;
	for (int v = 0; v < r->nnode; v++)
		ngroup = r->node[v].group >= ngroup ? r->node[v].group + 1 : ngroup;
	int *last = xmalloc(((size_t)ngroup + 1) * sizeof *last);
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].group >= 0)
			last[r->node[v].group] = v;
	Ready rd;
	ready_plan(&g, last, &rd);
	for (int v = 0; v < r->nnode; v++) {
		int k = r->node[v].group;
		bool pk = r->node[v].op == OP_PACK;
		if (k >= 0 && last[k] == v)
			cg_fused(&g, k, v);
		else if (k < 0 && !borrowed(&r->node[v]) && !g.shared[v] && !g.internal[v] && (!pk || cg_pack_moves(&g, v)) &&
			!kernel_widens_for_products(r, v))
			kernel(&g, v);
		else if (!pk)
			continue;
		if (!pk || cg_pack_moves(&g, v))
			prof_mark(&g, v);
		dist_ready(&g, &rd, v);
		if (pk)
			dist_grads(&g, v);
	}
	free(rd.head);
	free(rd.next);
	free(rd.item);
	free(last);
	g.scope = NULL;
	g.nown = 0;
	finish(&g, out_of);
	prof_mark(&g, -1);
	LLVMBuildRet(g.b, cg_i32(&g, 0));

	for (int i = 0; i < g.nkern; i++)
		free(g.kern[i].key);
	free(g.kern);
	free(out_of);
	free(g.shared);
	free(g.internal);
	free(g.home);
	free(g.ptr);
	LLVMDisposeBuilder(g.b);
	*scratch = g.used;
	return g.mod;
}
