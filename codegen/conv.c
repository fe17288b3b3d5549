/*
 * conv.c — CONV2D and its gradients: a call of the runtime's kernel
 * (runtime/conv.c: im2col or col2im into the memory plan's work buffer,
 * the images in parts on the thread pool, and GEMMs), with the geometry as
 * a constant RtConv and the GEMMs it calls.
 *
 * The runtime lists the distinct products a call makes
 * (rt_conv2d_products: a block of whole output rows and the last, shorter
 * block), and each goes through the rule every MATMUL goes through
 * (cg_gemm_choose, `--gemm=`): chosen for sinter's kernel, the product is
 * emitted into the region's module (cg_gemm_fn, shared with any other
 * product of the same shape) and handed to the runtime as a function
 * pointer in a constant RtConvGemm, so runtime/ calls generated code
 * without knowing codegen/.  The parts of a batch run at the same time, so
 * each packs its panels into its own slice of the region's GEMM workspace
 * (g->gemm_work, sized by cg_conv_setup for the largest call).
 */
#include "codegen/conv.h"
#include "codegen/gemm.h"
#include "codegen/matmul.h"
#include "ir/conv.h"
#include "runtime/runtime.h"

#include <stdio.h>

static bool is_conv(OpKind op)
{
	return op == OP_CONV2D || op == OP_CONV2D_DX || op == OP_CONV2D_DW;
}

static RtConvOp conv_op(OpKind op)
{
	return op == OP_CONV2D ? RT_CONV_Y : op == OP_CONV2D_DX ? RT_CONV_DX : RT_CONV_DW;
}

/* Node v's products as sinter's GEMM specs, the choice of each in own[]
   (why[] the reasons); their number. */
typedef struct {
	int n;
	RtConvProduct q[RT_CONV_PRODUCTS];
	CgGemmSpec s[RT_CONV_PRODUCTS];
	bool own[RT_CONV_PRODUCTS];
	char why[RT_CONV_PRODUCTS][112];
} Products;

static void products(const Region *r, int v, Products *p)
{
	RtConv cv = ir_conv_of(r, v);
	p->n = rt_conv2d_products(&cv, conv_op(r->node[v].op), p->q);
	for (int i = 0; i < p->n; i++) {
		const RtConvProduct *q = &p->q[i];
		p->s[i] = (CgGemmSpec){ .m = q->m, .n = q->n, .k = q->k, .ta = q->ta, .tb = q->tb, .lda = q->lda,
			.ldb = q->ldb, .ldc = q->ldc, .alpha = 1.0f, .accumulate = q->acc, .parallel = q->parallel };
		/* K = 0 (no channels) never reaches a GEMM of sinter's: its sizes are at least 1 */
		p->own[i] = q->k > 0 && cg_gemm_choose(&p->s[i], p->why[i], sizeof p->why[i]);
		if (q->k == 0)
			snprintf(p->why[i], sizeof p->why[i], "K = 0");
	}
}

/* Bytes of workspace each part packs into: the largest of its own
   products', 64-byte aligned (0: none of sinter's). */
static int64_t part_bytes(const Products *p)
{
	CgGemmIsa isa = cg_gemm_host_isa();
	int64_t stride = 0;
	for (int i = 0; i < p->n; i++) {
		if (!p->own[i])
			continue;
		CgGemmBlocking blk = cg_gemm_blocking(&isa, &p->s[i]);
		int64_t w = align_up(cg_gemm_workspace(&p->s[i], &isa, &blk), 64);
		stride = w > stride ? w : stride;
	}
	return stride;
}

int64_t cg_conv_setup(Cg *g, CgGemmStats *stats, int v)
{
	if (!is_conv(g->r->node[v].op))
		return 0;
	Products p;
	products(g->r, v, &p);
	RtConv cv = ir_conv_of(g->r, v);
	for (int i = 0; i < p.n; i++) {
		char what[48];
		snprintf(what, sizeof what, " x %lld, %s", (long long)p.q[i].calls, op_info[g->r->node[v].op].name);
		cg_gemm_account(g, stats, v, &p.s[i], p.q[i].calls, p.s[i].m, what, p.own[i], p.why[i]);
	}
	return part_bytes(&p) * rt_conv2d_parts(&cv);
}

/* The RtConvGemm of node v as a private constant, or a null pointer when
   every product is OpenBLAS's. */
static LLVMValueRef kernels(Cg *g, int v, const RtConv *cv)
{
	Products p;
	products(g->r, v, &p);
	LLVMValueRef fn[RT_CONV_PRODUCTS];
	int64_t stride = part_bytes(&p);
	for (int i = 0; i < RT_CONV_PRODUCTS; i++)
		fn[i] = i < p.n && p.own[i] ? cg_gemm_fn(g, &p.s[i]) : LLVMConstNull(g->ptrty);
	if (stride == 0)
		return LLVMConstNull(g->ptrty);
	if (g->gemm_work < 0 || stride * rt_conv2d_parts(cv) <= 0)
		die("codegen: a convolution's GEMMs of sinter's without their workspace");
	LLVMValueRef f[3] = { fn[0], fn[1], cg_i64(g, stride) };
	LLVMValueRef init = LLVMConstStructInContext(g->ctx, f, 3, false);
	LLVMValueRef k = LLVMAddGlobal(g->mod, LLVMTypeOf(init), "conv_gemm");
	LLVMSetInitializer(k, init);
	LLVMSetGlobalConstant(k, 1);
	LLVMSetLinkage(k, LLVMPrivateLinkage);
	return k;
}

void cg_conv(Cg *g, int v)
{
	const Region *r = g->r;
	RtConv cv = ir_conv_of(r, v);
	const int64_t *f = (const int64_t *)&cv;
	LLVMValueRef num[RT_CONV_FIELDS];
	for (int k = 0; k < RT_CONV_FIELDS; k++)
		num[k] = cg_i64(g, f[k]);
	/* the geometry as a constant the runtime reads as its RtConv */
	LLVMValueRef geom = LLVMAddGlobal(g->mod, LLVMArrayType2(g->i64, RT_CONV_FIELDS), "conv");
	LLVMSetInitializer(geom, LLVMConstArray2(g->i64, num, RT_CONV_FIELDS));
	LLVMSetGlobalConstant(geom, 1);
	LLVMSetLinkage(geom, LLVMPrivateLinkage);
	const Node *nd = &r->node[v];
	int64_t col = rt_conv2d_work(&cv, conv_op(nd->op));
	LLVMValueRef colp = LLVMConstNull(g->ptrty);
	if (col && g->planned && nd->work >= 0) {
		LLVMValueRef off = cg_i64(g, nd->work);
		colp = LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &off, 1, "");
	} else if (col) {
		colp = cg_scratch(g, col); /* past the arena: no plan, or one without it */
	}
	LLVMValueRef k = kernels(g, v, &cv), gw = LLVMConstNull(g->ptrty);
	if (g->gemm_work >= 0) {
		LLVMValueRef off = cg_i64(g, g->gemm_work);
		gw = LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &off, 1, "");
	}
	const char *fn = nd->op == OP_CONV2D ? "rt_conv2d" : nd->op == OP_CONV2D_DX ? "rt_conv2d_dx" : "rt_conv2d_dw";
	LLVMTypeRef pt[7] = { g->ptrty, g->ptrty, g->ptrty, g->ptrty, g->ptrty, g->ptrty, g->ptrty };
	LLVMValueRef a[7] = { geom, g->ptr[ir_operand(r, v, 0)], g->ptr[ir_operand(r, v, 1)], g->ptr[v], colp, k, gw };
	cg_call(g, fn, g->voidty, pt, a, 7);
}
