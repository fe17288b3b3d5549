/*
 * attention.c — ATTENTION and ATTENTION_GRAD: a call of the runtime's
 * fused kernel (runtime/attention.c) with the geometry as a constant RtAttn
 * and the tile products it makes on sinter's own GEMM.
 *
 * The runtime walks each (batch, head) in tiles of RT_ATTN_BQ query rows
 * by RT_ATTN_BK keys; a tile is a whole block or the edge block of T mod
 * the block size, on either side, so a call makes at most four shapes of
 * each of its products (rt_attention_product: the scores, p v in the
 * forward; the scores, dv, dp, dq and dk in the backward), all fixed at
 * compile time.  Each goes through the rule every MATMUL goes through
 * (cg_gemm_choose, `--gemm=`): chosen for sinter's kernel, it is emitted
 * into the region's module (cg_gemm_fn, shared with any product of the
 * same shape: the forward's and the backward's scores are one function)
 * and handed to the runtime as a function pointer in a constant
 * RtAttnGemm, as convolutions do (reduce.c), so runtime/ calls generated
 * code without knowing codegen/.  The parts of a call run at the same time
 * on the pool, so each packs its panels into its own slice of the region's
 * GEMM workspace (g->gemm_work, sized here for the largest call).
 * With --precision=bf16, a q, k, v that is the widening of a bf16 value
 * only bf16 products read (kernel_widens_for_products: the qkv product's
 * output, which bf16store stores in bf16) is computed nowhere: the call
 * gets the bf16 value (RtAttn.x_bf16) and its products pack it as it is
 * (CgGemmSpec.a_bf16, b_bf16), the bits the widening would have given.
 */
#include "codegen/attention.h"
#include "codegen/gemm.h"
#include "codegen/matmul.h"
#include "codegen/reduce.h"
#include "ir/attention.h"
#include "kernel/kernel.h"
#include "runtime/runtime.h"

#include <stdio.h>

static bool is_attention(OpKind op)
{
	return op == OP_ATTENTION || op == OP_ATTENTION_GRAD;
}

/* Node v's geometry as generated code passes it: which of q, k, v it
   reads as bf16 bits in place of their widening. */
static RtAttn geometry(const Region *r, int v)
{
	RtAttn ga = ir_attention_of(r, v);
	bool packed = ir_attention_packed(r, v);
	for (int x = 0; x < 3; x++)
		if (kernel_widening_of(r, ir_operand(r, v, packed ? 0 : x)) >= 0)
			ga.x_bf16 |= 1 << x;
	return ga;
}

/* The products a node's call makes, by kind and side of the tile (rows,
   keys): a GEMM spec, whether that shape occurs at all, the choice and
   its reason, and the tiles of that shape in one (batch, head) (an upper
   bound with segments, whose skipped tiles depend on the ids). */
typedef struct {
	CgGemmSpec s[RT_ATTN_PRODS][2][2];
	bool used[RT_ATTN_PRODS][2][2], own[RT_ATTN_PRODS][2][2];
	char why[RT_ATTN_PRODS][2][2][112];
	int64_t tiles[2][2];
} Products;

/* Tiles of sides (si, sj) a causal walk or a full one visits per pair. */
static int64_t tiles_of(const RtAttn *g, int si, int sj)
{
	int64_t ni = rt_attention_side(g, false, si), nj = rt_attention_side(g, true, sj), n = 0;
	if (ni == 0 || nj == 0)
		return 0;
	for (int64_t i0 = 0; i0 < g->t; i0 += RT_ATTN_BQ)
		for (int64_t j0 = 0; j0 < g->t; j0 += RT_ATTN_BK) {
			int64_t ri = g->t - i0 < RT_ATTN_BQ ? g->t - i0 : RT_ATTN_BQ;
			int64_t rj = g->t - j0 < RT_ATTN_BK ? g->t - j0 : RT_ATTN_BK;
			n += ri == ni && rj == nj && !(g->causal && j0 > i0 + ri - 1);
		}
	return n;
}

static void products(const Region *r, int v, Products *p)
{
	RtAttn ga = geometry(r, v);
	bool fwd = r->node[v].op == OP_ATTENTION;
	for (int si = 0; si < 2; si++)
		for (int sj = 0; sj < 2; sj++) {
			p->tiles[si][sj] = ga.b * ga.h * tiles_of(&ga, si, sj);
			int64_t ni = rt_attention_side(&ga, false, si), nj = rt_attention_side(&ga, true, sj);
			for (int k = 0; k < RT_ATTN_PRODS; k++) {
				bool in_call = k == RT_ATTN_S || (fwd ? k == RT_ATTN_PV : k != RT_ATTN_PV);
				RtAttnProduct q = rt_attention_product(&ga, (RtAttnProd)k, ni, nj);
				p->s[k][si][sj] = (CgGemmSpec){ .m = q.m, .n = q.n, .k = q.k, .ta = q.ta, .tb = q.tb,
					.lda = q.lda, .ldb = q.ldb, .ldc = q.ldc, .alpha = q.alpha, .accumulate = q.acc,
					.bf16 = ga.bf16 != 0, .a_bf16 = q.ax >= 0 && (ga.x_bf16 >> q.ax & 1),
					.b_bf16 = q.bx >= 0 && (ga.x_bf16 >> q.bx & 1) };
				/* sinter's GEMM takes sizes of at least 1 */
				p->used[k][si][sj] = in_call && p->tiles[si][sj] > 0 && q.m > 0 && q.n > 0 && q.k > 0;
				p->own[k][si][sj] = p->used[k][si][sj] &&
					cg_gemm_choose(&p->s[k][si][sj], CG_GEMM_FOR_MATMUL, p->why[k][si][sj], sizeof p->why[k][si][sj]);
			}
		}
}

/* Bytes of workspace each part packs into: the largest of its own
   products', 64-byte aligned (0: none of sinter's). */
static int64_t part_bytes(const Products *p)
{
	CgGemmIsa host = cg_gemm_host_isa();
	int64_t stride = 0;
	for (int k = 0; k < RT_ATTN_PRODS; k++)
		for (int si = 0; si < 2; si++)
			for (int sj = 0; sj < 2; sj++) {
				const CgGemmSpec *s = &p->s[k][si][sj];
				if (!p->own[k][si][sj])
					continue;
				CgGemmIsa isa = cg_gemm_tile(host, s);
				CgGemmBlocking blk = cg_gemm_blocking(&isa, s);
				int64_t w = align_up(cg_gemm_workspace(s, &isa, &blk), 64);
				stride = w > stride ? w : stride;
			}
	return stride;
}

int64_t cg_attention_setup(Cg *g, CgGemmStats *stats, int v)
{
	if (!is_attention(g->r->node[v].op))
		return 0;
	static const char *kind[RT_ATTN_PRODS] = { "scores", "p v", "dv", "dp", "dq", "dk" };
	Products p;
	products(g->r, v, &p);
	RtAttn ga = geometry(g->r, v);
	for (int k = 0; k < RT_ATTN_PRODS; k++)
		for (int si = 0; si < 2; si++)
			for (int sj = 0; sj < 2; sj++) {
				if (!p.used[k][si][sj])
					continue;
				char what[64];
				snprintf(what, sizeof what, " x %lld, %s %s", (long long)p.tiles[si][sj],
					op_info[g->r->node[v].op].name, kind[k]);
				const CgGemmSpec *s = &p.s[k][si][sj];
				cg_gemm_account(g, stats, v, s, p.tiles[si][sj], s->m, what, p.own[k][si][sj], p.why[k][si][sj]);
			}
	return part_bytes(&p) * rt_attention_parts(&ga);
}

/* The RtAttnGemm of node v as a private constant, or a null pointer when
   every product is OpenBLAS's. */
static LLVMValueRef kernels(Cg *g, int v, const RtAttn *ga)
{
	Products p;
	products(g->r, v, &p);
	int64_t stride = part_bytes(&p);
	if (stride == 0)
		return LLVMConstNull(g->ptrty);
	if (g->gemm_work < 0 || stride * rt_attention_parts(ga) <= 0)
		die("codegen: an attention's GEMMs of sinter's without their workspace");
	enum { NFN = RT_ATTN_PRODS * 4 };
	LLVMValueRef fn[NFN];
	for (int k = 0; k < RT_ATTN_PRODS; k++)
		for (int si = 0; si < 2; si++)
			for (int sj = 0; sj < 2; sj++)
				fn[k * 4 + si * 2 + sj] = p.own[k][si][sj] ? cg_gemm_fn(g, &p.s[k][si][sj]) : LLVMConstNull(g->ptrty);
	LLVMValueRef f[2] = { LLVMConstArray2(g->ptrty, fn, NFN), cg_i64(g, stride) };
	return cg_const_table(g, LLVMConstStructInContext(g->ctx, f, 2, false), "attn_gemm");
}

void cg_attention(Cg *g, int v)
{
	const Region *r = g->r;
	RtAttn ga = geometry(r, v);
	LLVMValueRef f[17] = { cg_i64(g, ga.b), cg_i64(g, ga.h), cg_i64(g, ga.t), cg_i64(g, ga.d), cg_i64(g, ga.causal),
		LLVMConstReal(g->f64, ga.scale), cg_i64(g, ga.x_b), cg_i64(g, ga.x_h), cg_i64(g, ga.x_row),
		cg_i64(g, ga.dx_part), cg_i64(g, ga.o_b), cg_i64(g, ga.o_h), cg_i64(g, ga.o_row), cg_i64(g, ga.l_h),
		cg_i64(g, ga.l_off), cg_i64(g, ga.bf16), cg_i64(g, ga.x_bf16) };
	LLVMValueRef geom = cg_const_table(g, LLVMConstStructInContext(g->ctx, f, 17, 0), "attn");
	const Node *nd = &r->node[v];
	bool fwd = nd->op == OP_ATTENTION, packed = ir_attention_packed(r, v);
	int nx = packed ? 1 : 3, nseg = fwd ? nx + 1 : nx + 3;
	LLVMValueRef seg = nd->narg == nseg ? g->ptr[ir_operand(r, v, nseg - 1)] : LLVMConstNull(g->ptrty);
	LLVMTypeRef pt[11];
	for (int k = 0; k < 11; k++)
		pt[k] = g->ptrty;
	LLVMValueRef a[11] = { geom };
	int n = 1;
	/* the packed form's k and v lie dx_part elements after q in x (the
	   pointer of a widening computed nowhere is its bf16 value's) */
	for (int k = 0; k < 3; k++)
		a[n++] = packed ? cg_elem_ptr(g, ga.x_bf16 ? DT_BF16 : DT_F32, g->ptr[ir_operand(r, v, 0)],
					  cg_i64(g, k * ga.dx_part))
				: g->ptr[ir_operand(r, v, k)];
	if (!fwd) {
		a[n++] = g->ptr[ir_operand(r, v, nx)];
		a[n++] = g->ptr[ir_operand(r, v, nx + 1)];
	}
	a[n++] = seg;
	a[n++] = g->ptr[v];
	a[n++] = cg_work_ptr(g, v);
	a[n++] = kernels(g, v, &ga);
	a[n++] = cg_gemm_work_ptr(g);
	cg_call(g, fwd ? "rt_attention" : "rt_attention_grad", g->voidty, pt, a, n);
}
