/*
 * matmul.c — the code of MATMUL: which kernel computes each product, and
 * the calls.
 *
 * A product op(A) [M, K] x op(B) [K, N] with leading batch axes is one
 * GEMM when B is shared by the whole batch (the batch folds into the rows
 * of A, as the interpreter does), else one GEMM per batch matrix, each
 * reading its matrices where they lie (no copies: every operand is
 * contiguous per matrix, the transposes are flags).  Each product goes
 * either to OpenBLAS (rt_sgemm: cut into parts on the runtime's pool, as
 * in the interpreter) or to sinter's own GEMM (gemm.c), emitted into the region's
 * own module, one function per distinct product and shared by every call
 * of it, so a JIT-compiled region and the object file of `sinter build`
 * carry the same code and agree bit for bit.  All of a region's own GEMMs
 * pack into one workspace reserved in its scratch block at compile time,
 * sized for the largest; the region's kernels run one after another, so
 * they never need it at the same time.
 *
 * The choice is made at compile time, per product (`--gemm=`): sinter,
 * openblas, or auto, whose rule (choose()) comes from bench/gemm.sh's
 * measurements on the products of the mlp_l and GPT steps.
 */
#include "codegen/matmul.h"
#include "codegen/attention.h"
#include "codegen/reduce.h"
#include "codegen/gemm.h"
#include "kernel/kernel.h"
#include "runtime/runtime.h"

#include <stdio.h>
#include <string.h>

static CgGemmConfig config; /* auto, OpenBLAS without AVX-512 kernels, quiet */

void cg_gemm_configure(const CgGemmConfig *c)
{
	config = *c;
}

bool cg_gemm_choice_parse(const char *s, CgGemmChoice *c)
{
	static const char *names[] = { "auto", "sinter", "openblas" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*c = (CgGemmChoice)i;
			return true;
		}
	return false;
}

/* One MATMUL node as GEMM calls. */
typedef struct {
	int64_t M, N, K; /* one matrix of the batch */
	int64_t nb;      /* matrices in the batch */
	bool fold;       /* B shared by the batch: one GEMM over M * nb rows */
	Type ba, bb, bo; /* batch axes of A, B and the result */
	CgGemmSpec s;    /* what one call computes */
	int64_t calls;   /* per run: 1 when folded, else nb */
	bool own;        /* sinter's GEMM; else cblas_sgemm */
	char why[112];   /* the reason, for --verbose */
} Product;

/* Smallest K auto gives sinter's kernel: below it packing costs more than
   the k loop gains (K = 10 measured 0.76x OpenBLAS, K = 65 1.63x).
   Smallest K of a convolution's data gradient that it gives sinter's
   kernel below AUTO_MIN_K (the least measured: 16, 0.68x). */
enum { AUTO_MIN_K = 32, AUTO_CONV_DX_MIN_K = 16 };

/*
 * Auto's rule, from bench/gemm.sh (bench/gemm_results.md) on a Zen 5 with
 * AVX-512 against OpenBLAS's Haswell kernels: sinter's kernel was ahead on
 * every product of the two steps (1.15x-2.0x) but those whose N or K is
 * small: N = 10 (0.57x, 0.79x), N = 65 in 32-wide tiles (0.95x), K = 10
 * (0.76x).  So sinter's kernel where its tiles are at least 3/4 full
 * along M and N and K >= 32, when the CPU has AVX-512 (the only ISA
 * measured) and OpenBLAS is not running its own AVX-512 kernels (those
 * are 1.1x ahead of sinter's: Cooperlake's rows of the same file).
 *
 * A convolution's products (runtime/conv.c, per image and block of output
 * rows) measured otherwise on ResNet-8 (bench/conv_results.md, 2026-12-04):
 * its data gradients (TN, K = the output channels) ran 0.7x-0.9x
 * OpenBLAS's time whatever their M and K from 16 up (144x252x16: 0.68x),
 * so they are sinter's wherever N fills the tiles and K >= 16 (a
 * depthwise convolution's K = 1 was not measured).  Its weight gradients
 * (NT, M = the output channels) with fewer than 64 rows ran 1.0x-1.6x
 * OpenBLAS's time then and went to OpenBLAS; since the transposing pack
 * and the 8 x 48 tile for few rows (cg_gemm_tile) they follow the matrix
 * products' rule, as its forward products do (ResNet-8's CPU time per
 * step 51 -> 46.5 ms, LeNet-5's 4.7 -> 3.95, docs/ARCHITECTURE.md).  A
 * convolution's product that reads the image in place (runtime/conv_taps.c,
 * CG_GEMM_FOR_CONV_TAPS) is sinter's wherever its kernel is auto's choice
 * at all: the alternative is im2col and then OpenBLAS, slower even for
 * the small K that OpenBLAS wins after im2col (LeNet-5's first layer, K =
 * 25: 1.15 ms of forward and weight gradient before, 0.51 read in place;
 * ResNet-8's stem, K = 9: 0.61 -> 0.55).  The
 * rule reads only the product, what it computes and the machine, so the
 * JIT and `sinter build` choose alike.
 *
 * Where OpenBLAS runs its own AVX-512 kernels, a convolution's products
 * still follow the rule above; only the matrix products go to OpenBLAS.
 * On a Zen 4 (AVX-512 on 256-bit units) with its Cooperlake kernels, the
 * two kernels were even on the GPT step's products alone (bench/gemm.sh:
 * sinter's 1.04x), and the whole step ran 4-7% faster on OpenBLAS's with
 * 1 thread (the GELU epilogues cost more in sinter's tiles than their
 * loops after OpenBLAS's product), the same with 2; but ResNet-8's step
 * took 55.3 ms with sinter's kernel for every product against 61.8 with
 * OpenBLAS's (1 thread, 3 interleaved rounds, 2026-12-05), every 3x3
 * convolution's products faster (its data gradients 2.6-2.7 against
 * 4.0 ms a call) but the stem's weight gradient (N = 9: OpenBLAS by the
 * rule anyway); LeNet-5's 3.29 against 3.39 ms.
 */
bool cg_gemm_choose(const CgGemmSpec *s, CgGemmFor use, char *why, size_t len)
{
	CgGemmIsa is = cg_gemm_tile(cg_gemm_host_isa(), s);
	const CgGemmIsa *isa = &is;
	int64_t nr = (int64_t)isa->nv * isa->lanes, mr = isa->mr;
	int64_t n_tiles = (s->n + nr - 1) / nr * nr, m_tiles = (s->m + mr - 1) / mr * mr;
	/* OpenBLAS has no bf16 product (the driver refuses --gemm=openblas
	   with --precision=bf16): a marked product is always sinter's */
	if (s->bf16) {
		snprintf(why, len, "bf16 operands: only sinter's kernel has them");
		return true;
	}
	if (config.choice != CG_GEMM_AUTO) {
		snprintf(why, len, "--gemm=%s", config.choice == CG_GEMM_SINTER ? "sinter" : "openblas");
		return config.choice == CG_GEMM_SINTER;
	}
	if (isa->kind != CG_GEMM_AVX512)
		snprintf(why, len, "auto: sinter's kernel is measured ahead with AVX-512 only, this CPU has %s", isa->name);
	else if (config.blas_avx512 && use == CG_GEMM_FOR_MATMUL)
		snprintf(why, len, "auto: OpenBLAS runs its own AVX-512 kernels");
	else if (use == CG_GEMM_FOR_CONV_TAPS) {
		snprintf(why, len, "auto: a convolution read in place, no im2col");
		return true;
	} else if (use == CG_GEMM_FOR_CONV_DX && s->k >= AUTO_CONV_DX_MIN_K && 4 * s->n >= 3 * n_tiles) {
		snprintf(why, len, "auto: a convolution's data gradient, K >= %d, any M", AUTO_CONV_DX_MIN_K);
		return true;
	} else if (s->k < AUTO_MIN_K)
		snprintf(why, len, "auto: K = %lld is below %d", (long long)s->k, AUTO_MIN_K);
	else if (4 * s->n < 3 * n_tiles)
		snprintf(why, len, "auto: N = %lld fills %lld%% of its %lld-wide tiles", (long long)s->n,
			(long long)(100 * s->n / n_tiles), (long long)nr);
	else if (4 * s->m < 3 * m_tiles)
		snprintf(why, len, "auto: M = %lld fills %lld%% of its %lld-high tiles", (long long)s->m,
			(long long)(100 * s->m / m_tiles), (long long)mr);
	else {
		snprintf(why, len, "auto");
		return true;
	}
	return false;
}

/* Node v as GEMM calls; false when it needs none (an empty result, or
   K = 0: zeros). */
static bool product(const Region *r, int v, Product *p)
{
	const Node *nd = &r->node[v];
	int a = ir_operand(r, v, 0), b = ir_operand(r, v, 1);
	const Type *at = &r->node[a].type, *ot = &nd->type;
	if (at->dt != DT_F32)
		die("codegen: matmul of %s", dtype_name(at->dt));
	bool ta = nd->ia[0] != 0, tb = nd->ia[1] != 0;
	memset(p, 0, sizeof *p);
	p->M = ot->dim[ot->rank - 2];
	p->N = ot->dim[ot->rank - 1];
	p->K = at->dim[at->rank - 1 - ta];
	p->bo = *ot;
	p->ba = *at;
	p->bb = r->node[b].type;
	p->bo.rank -= 2;
	p->ba.rank -= 2;
	p->bb.rank -= 2;
	p->nb = type_numel(&p->bo);
	p->fold = type_numel(&p->bb) == 1 && type_numel(&p->ba) == p->nb && !ta;
	p->calls = p->M * p->N * p->nb == 0 ? 0 : p->fold ? 1 : p->nb;
	p->s = (CgGemmSpec){ .m = p->fold ? p->M * p->nb : p->M, .n = p->N, .k = p->K, .ta = ta, .tb = tb,
		.lda = ta ? p->M : p->K, .ldb = tb ? p->K : p->N, .ldc = p->N, .alpha = 1.0f,
		.bf16 = nd->ia[2] != 0 };
	/* a widening that only products read is not computed: its pointer is
	   the bf16 value's (region.c), which the kernel packs as it is */
	p->s.a_bf16 = p->s.bf16 && kernel_widening_of(r, a) >= 0;
	p->s.b_bf16 = p->s.bf16 && kernel_widening_of(r, b) >= 0;
	/* the pool splits the large ones, as it does OpenBLAS's (rt_sgemm);
	   sinter's parts give the serial result's bits (gemm.c) */
	p->s.parallel = p->s.m * p->s.n * p->s.k >= RT_GEMM_SERIAL_MAX;
	if (p->calls == 0 || p->K == 0)
		return false;
	p->own = cg_gemm_choose(&p->s, CG_GEMM_FOR_MATMUL, p->why, sizeof p->why);
	return true;
}

int64_t cg_gemm_account(Cg *g, CgGemmStats *stats, int v, const CgGemmSpec *s, int64_t calls, int64_t m_shown,
	const char *what, bool own, const char *why)
{
	CgGemmIsa isa = cg_gemm_tile(cg_gemm_host_isa(), s);
	int k = own ? 0 : 1;
	int64_t work = 0;
	stats->products[k]++;
	stats->calls[k] += calls;
	stats->flops[k] += 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)calls;
	char how[96] = "";
	if (own) {
		CgGemmBlocking blk = cg_gemm_blocking(&isa, s);
		work = cg_gemm_workspace(s, &isa, &blk);
		snprintf(how, sizeof how, ", %s %dx%d%s%s%s", isa.name, isa.mr, isa.nv * isa.lanes,
			!s->bf16 ? "" : isa.dpbf16 ? ", bf16 by vdpbf16ps" : ", bf16 widened",
			s->a_bf16 && s->b_bf16 ? ", A and B stored bf16"
			: s->a_bf16            ? ", A stored bf16"
			: s->b_bf16            ? ", B stored bf16"
			                       : "",
			s->parallel ? ", on the pool" : "");
	}
	if (config.verbose)
		fprintf(config.verbose, "sinter: gemm: region %s %%%d: %lldx%lldx%lld %c%c%s -> %s (%s%s)\n", g->r->name, v,
			(long long)m_shown, (long long)s->n, (long long)s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', what,
			own ? "sinter" : "openblas", why, how);
	return work;
}

void cg_matmul_setup(Cg *g, CgGemmStats *stats)
{
	const Region *r = g->r;
	int64_t work = 0;
	memset(stats, 0, sizeof *stats);
	g->gemm = stats;
	for (int v = 0; v < r->nnode; v++) {
		Product p;
		int64_t w = 0;
		if (r->node[v].op != OP_MATMUL) {
			w = cg_conv_setup(g, stats, v) + cg_attention_setup(g, stats, v);
		} else if (product(r, v, &p)) {
			char batch[32] = "";
			if (p.nb > 1)
				snprintf(batch, sizeof batch, " x %lld%s", (long long)p.nb, p.fold ? " folded" : "");
			w = cg_gemm_account(g, stats, v, &p.s, p.calls, p.M, batch, p.own, p.why);
		}
		work = w > work ? w : work;
	}
	g->gemm_work = -1;
	if (work > 0) {
		g->gemm_work = g->used;
		g->used += align_up(work, 64);
	}
}

/* ---- the calls ---- */

static void sgemm(Cg *g, const Product *p, LLVMValueRef A, LLVMValueRef B, LLVMValueRef C)
{
	const CgGemmSpec *s = &p->s;
	LLVMTypeRef i32 = g->i32, i64 = g->i64, f32 = g->f32, pt = g->ptrty;
	LLVMTypeRef t[13] = { i32, i32, i64, i64, i64, f32, pt, i64, pt, i64, f32, pt, i64 };
	LLVMValueRef a[13] = {
		cg_i32(g, s->ta), cg_i32(g, s->tb), cg_i64(g, s->m), cg_i64(g, s->n), cg_i64(g, s->k),
		cg_f32(g, 1), A, cg_i64(g, s->lda), B, cg_i64(g, s->ldb), cg_f32(g, 0), C, cg_i64(g, s->ldc),
	};
	cg_call(g, "rt_sgemm", g->voidty, t, a, 13);
}

LLVMValueRef cg_gemm_fn(Cg *g, const CgGemmSpec *s)
{
	/* every field of the spec: products of one shape may differ in alpha
	   (an attention's scaled tiles), accumulate (its gradients) or bf16 */
	char key[320];
	const CgGemmTaps *t = &s->taps;
	snprintf(key, sizeof key,
		"gemm %lld %lld %lld %d %d %lld %lld %lld %d %a %d %d %d %d %d %d taps %lld %lld %lld %lld %lld %lld %lld %lld %lld",
		(long long)s->m, (long long)s->n, (long long)s->k, s->ta, s->tb, (long long)s->lda, (long long)s->ldb,
		(long long)s->ldc, s->parallel, (double)s->alpha, s->accumulate, s->bf16, s->a_bf16, s->b_bf16, s->epi,
		s->epi_cols, (long long)t->kh, (long long)t->kw, (long long)t->dh, (long long)t->dw, (long long)t->sh,
		(long long)t->sw, (long long)t->rs, (long long)t->pplane, (long long)t->plane);
	LLVMValueRef f = cg_fn_find(g, key);
	if (f)
		return f;
	char name[96];
	snprintf(name, sizeof name, "sinter_gemm_%lldx%lldx%lld_%c%c%s%s%s%s%s", (long long)s->m, (long long)s->n,
		(long long)s->k, s->ta ? 't' : 'n', s->tb ? 't' : 'n', s->bf16 ? "_bf16" : "", s->a_bf16 ? "_abf" : "",
		s->b_bf16 ? "_bbf" : "", s->epi ? "_epi" : "", t->kh ? "_taps" : "");
	CgGemmIsa isa = cg_gemm_tile(cg_gemm_host_isa(), s);
	CgGemmBlocking blk = cg_gemm_blocking(&isa, s);
	f = cg_gemm_emit(g->mod, name, s, &isa, &blk);
	LLVMSetLinkage(f, LLVMInternalLinkage); /* regions linked into one object may have the same product */
	/* one copy however many kernels call it, and a name in profiles */
	cg_fn_attr(g, f, "noinline");
	cg_fn_keep(g, key, f);
	return f;
}

typedef struct {
	const Product *p;
	LLVMValueRef fn; /* sinter's GEMM, or NULL: cblas_sgemm */
} Call;

/* The workspace of a call of sinter's kernel, which cg_matmul_setup reserved. */
static LLVMValueRef own_work(Cg *g)
{
	if (g->gemm_work < 0)
		die("codegen: a GEMM of sinter's without its workspace");
	return cg_gemm_work_ptr(g);
}

static void call(Cg *g, const Call *c, LLVMValueRef A, LLVMValueRef B, LLVMValueRef C)
{
	if (!c->fn) {
		sgemm(g, c->p, A, B, C);
		return;
	}
	LLVMValueRef args[4] = { A, B, C, own_work(g) };
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(c->fn), c->fn, args, 4, "");
}

static void batch_body(Cg *g, const void *ctx, const Opnd *op, const LLVMValueRef *idx)
{
	call(g, ctx, cg_elem_ptr(g, op[0].dt, op[0].ptr, idx[0]), cg_elem_ptr(g, op[1].dt, op[1].ptr, idx[1]),
		cg_elem_ptr(g, DT_F32, op[2].ptr, idx[2]));
}

void cg_matmul(Cg *g, int v)
{
	const Region *r = g->r;
	Product p;
	if (!product(r, v, &p)) {
		if (p.calls > 0)
			cg_memset0(g, g->ptr[v], type_bytes(&r->node[v].type));
		return;
	}
	Call c = { &p, p.own ? cg_gemm_fn(g, &p.s) : NULL };
	LLVMValueRef A = g->ptr[ir_operand(r, v, 0)], B = g->ptr[ir_operand(r, v, 1)];
	if (p.fold || p.nb == 1) {
		call(g, &c, A, B, g->ptr[v]);
	} else {
		/* one GEMM per batch index; strides count elements of whole matrices */
		Opnd op[3] = { { .ptr = A, .dt = p.s.a_bf16 ? DT_BF16 : DT_F32 }, { .ptr = B, .dt = p.s.b_bf16 ? DT_BF16 : DT_F32 },
			{ .ptr = g->ptr[v], .dt = DT_F32 } };
		cg_bstrides(&p.ba, &p.bo, op[0].st);
		cg_bstrides(&p.bb, &p.bo, op[1].st);
		cg_cstrides(&p.bo, op[2].st);
		for (int k = 0; k < p.bo.rank; k++) {
			op[0].st[k] *= p.M * p.K;
			op[1].st[k] *= p.K * p.N;
			op[2].st[k] *= p.M * p.N;
		}
		cg_map(g, &p.bo, op, 3, batch_body, &c);
	}
}

bool cg_matmul_tiled(const Region *r, int v, int64_t *m, int64_t *n)
{
	Product p;
	if (r->node[v].op != OP_MATMUL || !product(r, v, &p) || !p.own || p.calls != 1)
		return false;
	*m = p.s.m;
	*n = p.s.n;
	return true;
}

void cg_matmul_epi(Cg *g, int v, LLVMValueRef epi, LLVMValueRef ectx, bool cols, const char *what)
{
	const Region *r = g->r;
	Product p;
	if (!product(r, v, &p) || !p.own || p.calls != 1)
		die("codegen: an epilogue on %%%d, which is not one GEMM of sinter's", v);
	p.s.epi = true;
	p.s.epi_cols = cols;
	if (g->gemm)
		g->gemm->epilogues++;
	if (config.verbose)
		fprintf(config.verbose, "sinter: gemm: region %s %%%d: epilogue on its tiles: %s%s\n", g->r->name, v, what,
			cols ? "; column sums, a column's tiles on one thread" : "");
	LLVMValueRef fn = cg_gemm_fn(g, &p.s);
	LLVMValueRef args[6] = { g->ptr[ir_operand(r, v, 0)], g->ptr[ir_operand(r, v, 1)], g->ptr[v], own_work(g), epi,
		ectx };
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, 6, "");
}
