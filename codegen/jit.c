/*
 * jit.c — the LLVM side of codegen: a target machine for the host CPU, the
 * `default<O3>` pipeline, the ORC LLJIT that turns each region's module into
 * machine code (host/run.c calls a compiled region the way interp_run runs
 * one), and the object files of `sinter build`.
 *
 * Generated code calls libm, OpenBLAS, rt_normal, rt_parallel_for,
 * rt_index_record, rt_prof_mark and rt_dist_grads, and reads rt_prof_on
 * and rt_dist_on (the profiler's and data-parallel training's flags).  The rt_ symbols live in the sinter executable, whose
 * symbols the dynamic loader does not export (no -rdynamic), so every
 * function the emitter names is
 * registered with the JIT by address; a process-symbol generator resolves
 * anything LLVM's own lowering adds (memcpy, memset, sincosf, ...).
 */
#include "codegen/codegen.h"
#include "codegen/gemm.h"
#include "codegen/region.h"
#include "runtime/dist.h"
#include "runtime/runtime.h"

#include <cblas.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Linker.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

struct CgModule {
	LLVMOrcLLJITRef jit;
	LLVMOrcJITDylibRef jd;
	LLVMTargetMachineRef tm; /* for the O3 pipeline; the JIT holds its own copy */
	int nmod;                /* modules added so far: makes symbol names unique */
	CgRegion **reg;
	int nreg, capreg;
};

/* Writes an LLVM error's message into err and consumes it; returns false. */
static bool llvm_fail(LLVMErrorRef e, const char *what, char *err, size_t errlen)
{
	char *msg = LLVMGetErrorMessage(e);
	snprintf(err, errlen, "%s: %s", what, msg);
	LLVMDisposeErrorMessage(msg);
	return false;
}

/* A target machine for the CPU named cpu (an LLVM CPU name, with the
   features it implies), or for the host CPU and its features when cpu is
   NULL; aot: for an object file linked into an executable (position
   independent) rather than for the JIT. */
static LLVMTargetMachineRef cpu_tm(const char *cpu, bool aot, char *err, size_t errlen)
{
	LLVMInitializeNativeTarget();
	LLVMInitializeNativeAsmPrinter();
	char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
	LLVMTargetRef target;
	LLVMTargetMachineRef tm = NULL;
	if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
		snprintf(err, errlen, "no LLVM target for %s: %s", triple, msg);
		LLVMDisposeMessage(msg);
	} else {
		char *host = cpu ? NULL : LLVMGetHostCPUName(), *feat = cpu ? NULL : LLVMGetHostCPUFeatures();
		tm = LLVMCreateTargetMachine(target, triple, cpu ? cpu : host, cpu ? "" : feat,
			LLVMCodeGenLevelAggressive, aot ? LLVMRelocPIC : LLVMRelocDefault,
			aot ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
		if (host)
			LLVMDisposeMessage(host);
		if (feat)
			LLVMDisposeMessage(feat);
		if (!tm)
			snprintf(err, errlen, "cannot create an LLVM target machine for %s", triple);
	}
	LLVMDisposeMessage(triple);
	return tm;
}

static LLVMTargetMachineRef host_tm(bool aot, char *err, size_t errlen)
{
	return cpu_tm(NULL, aot, err, errlen);
}

/* Targets mod at tm, verifies it and runs the O3 pipeline (loop unrolling
   only when unroll); false and a message naming what on failure. */
static bool optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, bool unroll, const char *what, char *err,
	size_t errlen)
{
	char *triple = LLVMGetTargetMachineTriple(tm), *msg = NULL;
	LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
	LLVMSetTarget(mod, triple);
	LLVMSetModuleDataLayout(mod, dl);
	LLVMDisposeTargetData(dl);
	LLVMDisposeMessage(triple);
	if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
		snprintf(err, errlen, "codegen produced invalid LLVM IR for %s: %.400s", what, msg);
		LLVMDisposeMessage(msg);
		return false;
	}
	LLVMDisposeMessage(msg);
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	LLVMPassBuilderOptionsSetLoopUnrolling(po, unroll);
	LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, po);
	LLVMDisposePassBuilderOptions(po);
	if (e)
		return llvm_fail(e, "LLVM optimization", err, errlen);
	return true;
}

/* Builds r into a module of ctx for tm, verifies and optimizes it. */
static LLVMModuleRef build_optimized(LLVMContextRef ctx, LLVMTargetMachineRef tm, const Region *r,
	const char *fname, int64_t *scratch, CgGemmStats *gemm, char *err, size_t errlen)
{
	LLVMModuleRef mod = cg_build_module(ctx, r, fname, scratch, gemm);
	char what[96];
	snprintf(what, sizeof what, "region %s", r->name);
	/* Unrolling (mostly full unrolling of the many short loops of an unfused
	   region) quadrupled machine-code time for the MLP step (0.35 s -> 0.9 s)
	   with no measurable gain: the loops are memory-bound and already vectorized. */
	if (!optimize(mod, tm, false, what, err, errlen)) {
		LLVMDisposeModule(mod);
		return NULL;
	}
	return mod;
}

/* Every external function generated code names, by address. */
static bool define_symbols(CgModule *m, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		uintptr_t addr;
	} syms[] = {
		{ "cblas_sgemm", (uintptr_t)&cblas_sgemm }, { "rt_normal", (uintptr_t)&rt_normal },
		{ "rt_sgemm", (uintptr_t)&rt_sgemm },
		{ "rt_index_record", (uintptr_t)&rt_index_record },
		{ "rt_prof_mark", (uintptr_t)&rt_prof_mark }, { "rt_prof_on", (uintptr_t)&rt_prof_on },
		{ "rt_dist_grads", (uintptr_t)&rt_dist_grads }, { "rt_dist_on", (uintptr_t)&rt_dist_on },
		{ "rt_dist_ready", (uintptr_t)&rt_dist_ready },
		{ "rt_conv2d", (uintptr_t)&rt_conv2d }, { "rt_conv2d_dx", (uintptr_t)&rt_conv2d_dx },
		{ "rt_conv2d_dw", (uintptr_t)&rt_conv2d_dw },
		{ "rt_attention", (uintptr_t)&rt_attention }, { "rt_attention_grad", (uintptr_t)&rt_attention_grad },
		{ "erff", (uintptr_t)&erff }, { "expf", (uintptr_t)&expf }, { "logf", (uintptr_t)&logf },
		{ "sinf", (uintptr_t)&sinf }, { "cosf", (uintptr_t)&cosf }, { "powf", (uintptr_t)&powf },
		{ "floorf", (uintptr_t)&floorf }, { "sqrtf", (uintptr_t)&sqrtf },
		{ "memcpy", (uintptr_t)&memcpy }, { "memmove", (uintptr_t)&memmove },
		{ "memset", (uintptr_t)&memset }, { "rt_parallel_for", (uintptr_t)&rt_parallel_for },
		{ "rt_pool_threads", (uintptr_t)&rt_pool_threads },
	};
	enum { NSYM = sizeof syms / sizeof syms[0] };
	LLVMOrcCSymbolMapPair pairs[NSYM];
	for (int i = 0; i < NSYM; i++) {
		pairs[i].Name = LLVMOrcLLJITMangleAndIntern(m->jit, syms[i].name);
		pairs[i].Sym.Address = syms[i].addr;
		pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported;
		if (strcmp(syms[i].name, "rt_prof_on") && strcmp(syms[i].name, "rt_dist_on")) /* the two variables */
			pairs[i].Sym.Flags.GenericFlags |= LLVMJITSymbolGenericFlagsCallable;
		pairs[i].Sym.Flags.TargetFlags = 0;
	}
	LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, NSYM);
	LLVMErrorRef e = LLVMOrcJITDylibDefine(m->jd, mu);
	if (e) {
		LLVMOrcDisposeMaterializationUnit(mu);
		return llvm_fail(e, "JIT symbols", err, errlen);
	}
	LLVMOrcDefinitionGeneratorRef gen;
	e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(m->jit), NULL, NULL);
	if (e)
		return llvm_fail(e, "JIT process symbols", err, errlen);
	LLVMOrcJITDylibAddGenerator(m->jd, gen);
	return true;
}

CgModule *cg_jit_new(char *err, size_t errlen)
{
	CgModule *m = xcalloc(1, sizeof *m);
	LLVMTargetMachineRef jtm = NULL;
	if (!(m->tm = host_tm(false, err, errlen)) || !(jtm = host_tm(false, err, errlen))) {
		cg_jit_free(m);
		return NULL;
	}
	LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
	LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jtm));
	LLVMErrorRef e = LLVMOrcCreateLLJIT(&m->jit, jb);
	if (e) {
		llvm_fail(e, "cannot create the JIT", err, errlen);
		m->jit = NULL;
		cg_jit_free(m);
		return NULL;
	}
	m->jd = LLVMOrcLLJITGetMainJITDylib(m->jit);
	if (!define_symbols(m, err, errlen)) {
		cg_jit_free(m);
		return NULL;
	}
	return m;
}

void cg_jit_free(CgModule *m)
{
	if (!m)
		return;
	if (m->jit) {
		LLVMErrorRef e = LLVMOrcDisposeLLJIT(m->jit);
		if (e)
			LLVMConsumeError(e);
	}
	if (m->tm)
		LLVMDisposeTargetMachine(m->tm);
	for (int i = 0; i < m->nreg; i++) {
		free(m->reg[i]->slot);
		free(m->reg[i]->buf);
		free(m->reg[i]);
	}
	free(m->reg);
	free(m);
}


/* Hands mod (of tsc's context) to the JIT and looks fname up in it. */
static bool jit_add(CgModule *m, LLVMModuleRef mod, LLVMOrcThreadSafeContextRef tsc, const char *fname,
	LLVMOrcExecutorAddress *addr, char *err, size_t errlen)
{
	LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
	LLVMOrcDisposeThreadSafeContext(tsc); /* the module keeps its context alive */
	LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(m->jit, m->jd, tsm);
	if (e)
		return llvm_fail(e, "JIT", err, errlen);
	if ((e = LLVMOrcLLJITLookup(m->jit, addr, fname)))
		return llvm_fail(e, "JIT", err, errlen);
	return true;
}

CgRegion *cg_compile(CgModule *m, const Region *r, char *err, size_t errlen)
{
	double t0 = rt_now_ms();
	char fname[96];
	/* symbol names must be unique in the JITDylib; the region name helps profilers */
	snprintf(fname, sizeof fname, "sinter_%d_%.60s", m->nmod++, r->name);
	for (char *p = fname; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
	int64_t scratch = 0;
	CgGemmStats gemm;
	LLVMModuleRef mod = build_optimized(LLVMOrcThreadSafeContextGetContext(tsc), m->tm, r, fname, &scratch,
		&gemm, err, errlen);
	if (!mod) {
		LLVMOrcDisposeThreadSafeContext(tsc);
		return NULL;
	}
	LLVMOrcExecutorAddress addr = 0;
	if (!jit_add(m, mod, tsc, fname, &addr, err, errlen))
		return NULL;
	CgRegion *cr = xcalloc(1, sizeof *cr);
	cr->fn = (CgRegionFn *)(uintptr_t)addr;
	cr->scratch = (size_t)scratch;
	cr->gemm = gemm;
	cr->r = r;
	cr->nslot = ir_slot_nodes(r, NULL);
	cr->slot = xmalloc(((size_t)cr->nslot + 1) * sizeof *cr->slot);
	ir_slot_nodes(r, cr->slot);
	if (m->nreg == m->capreg) {
		m->capreg = m->capreg ? 2 * m->capreg : 16;
		m->reg = realloc(m->reg, (size_t)m->capreg * sizeof *m->reg);
		if (!m->reg)
			die("out of memory");
	}
	m->reg[m->nreg++] = cr;
#ifdef __GLIBC__
	/* LLVM freed its working memory: hand it back before training allocates */
	malloc_trim(0);
#endif
	cr->ms = rt_now_ms() - t0;
	return cr;
}

char *cg_llvm_text(const Region *r, char *err, size_t errlen)
{
	LLVMTargetMachineRef tm = host_tm(false, err, errlen);
	if (!tm)
		return NULL;
	LLVMContextRef ctx = LLVMContextCreate();
	int64_t scratch;
	CgGemmStats gemm;
	LLVMModuleRef mod = build_optimized(ctx, tm, r, r->name, &scratch, &gemm, err, errlen);
	char *text = NULL;
	if (mod) {
		char *s = LLVMPrintModuleToString(mod);
		text = strcpy(xmalloc(strlen(s) + 1), s);
		LLVMDisposeMessage(s);
		LLVMDisposeModule(mod);
	}
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return text;
}


bool cg_emit_object(const Region *const *rs, const char *const *fnames, int n, int64_t *scratch,
	CgGemmStats *gemm, const char *path, char *err, size_t errlen)
{
	LLVMTargetMachineRef tm = host_tm(true, err, errlen);
	if (!tm)
		return false;
	LLVMContextRef ctx = LLVMContextCreate();
	LLVMModuleRef all = LLVMModuleCreateWithNameInContext("sinter", ctx);
	bool ok = true;
	for (int i = 0; i < n && ok; i++) {
		LLVMModuleRef mod = build_optimized(ctx, tm, rs[i], fnames[i], &scratch[i], &gemm[i], err, errlen);
		/* internal kernel functions of equal names are renamed by the linker */
		ok = mod && !LLVMLinkModules2(all, mod);
		if (mod && !ok)
			snprintf(err, errlen, "cannot link the module of region %s", rs[i]->name);
	}
	char *triple = LLVMGetTargetMachineTriple(tm), *msg = NULL;
	LLVMSetTarget(all, triple);
	LLVMDisposeMessage(triple);
	if (ok && LLVMTargetMachineEmitToFile(tm, all, path, LLVMObjectFile, &msg)) {
		snprintf(err, errlen, "cannot write '%s': %s", path, msg);
		LLVMDisposeMessage(msg);
		ok = false;
	}
	LLVMDisposeModule(all);
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return ok;
}

void cg_describe(char *buf, size_t len)
{
	unsigned major, minor, patch;
	LLVMGetVersion(&major, &minor, &patch);
	char *cpu = LLVMGetHostCPUName();
	snprintf(buf, len, "LLVM %u.%u.%u, host CPU %s", major, minor, patch, cpu);
	LLVMDisposeMessage(cpu);
}

/* ---- sinter's own GEMM (codegen/gemm.c) ---- */

static bool gemm_spec_ok(const CgGemmSpec *s, char *err, size_t errlen)
{
	if (s->m < 1 || s->n < 1 || s->k < 1 || s->lda < (s->ta ? s->m : s->k) || s->ldb < (s->tb ? s->k : s->n) ||
		s->ldc < s->n) {
		snprintf(err, errlen, "bad GEMM: m %lld n %lld k %lld lda %lld ldb %lld ldc %lld", (long long)s->m,
			(long long)s->n, (long long)s->k, (long long)s->lda, (long long)s->ldb, (long long)s->ldc);
		return false;
	}
	const CgGemmTaps *t = &s->taps;
	if (t->kh < 0 || (t->kh > 0 && (t->kw < 1 || t->dh < 1 || t->dw < 1 || t->sh < 1 || t->sw < 1 || t->rs < 0 ||
		t->pplane < 0 || t->plane < 0 || s->bf16))) {
		snprintf(err, errlen, "bad GEMM taps: %lldx%lld dilated %lldx%lld, stride %lldx%lld, rows %lld apart, "
			"phases %lld, planes %lld%s", (long long)t->kh, (long long)t->kw, (long long)t->dh, (long long)t->dw,
			(long long)t->sh, (long long)t->sw, (long long)t->rs, (long long)t->pplane, (long long)t->plane,
			s->bf16 ? ", bf16" : "");
		return false;
	}
	return true;
}

/* A module of ctx holding the product s as the function fname, optimized
   for tm; NULL and a message in err on failure. */
static LLVMModuleRef gemm_module(LLVMContextRef ctx, LLVMTargetMachineRef tm, const CgGemmSpec *s,
	const CgGemmIsa *isa, const CgGemmBlocking *blk, const char *fname, char *err, size_t errlen)
{
	LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(fname, ctx);
	cg_gemm_emit(mod, fname, s, isa, blk);
	/* the packing loops have constant trip counts that unrolling turns
	   into straight vector copies */
	if (!optimize(mod, tm, true, "a GEMM", err, errlen)) {
		LLVMDisposeModule(mod);
		return NULL;
	}
	return mod;
}

bool cg_gemm_compile(CgModule *m, const CgGemmSpec *s, CgGemm *out, char *err, size_t errlen)
{
	if (!gemm_spec_ok(s, err, errlen))
		return false;
	CgGemmIsa isa = cg_gemm_tile(cg_gemm_host_isa(), s);
	CgGemmBlocking blk = cg_gemm_blocking(&isa, s);
	char fname[48];
	snprintf(fname, sizeof fname, "sinter_gemm_%d", m->nmod++);
	LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
	LLVMModuleRef mod = gemm_module(LLVMOrcThreadSafeContextGetContext(tsc), m->tm, s, &isa, &blk, fname, err,
		errlen);
	LLVMOrcExecutorAddress addr = 0;
	if (!mod) {
		LLVMOrcDisposeThreadSafeContext(tsc);
		return false;
	}
	if (!jit_add(m, mod, tsc, fname, &addr, err, errlen))
		return false;
	*out = (CgGemm){ .fn = (CgGemmFn *)(uintptr_t)addr, .workspace = cg_gemm_workspace(s, &isa, &blk),
		.isa = isa.name, .dpbf16 = s->bf16 && isa.dpbf16, .mr = isa.mr, .nr = isa.nv * isa.lanes, .kc = blk.kc, .mc = blk.mc, .nc = blk.nc,
		.groups = cg_gemm_groups(s, &isa, &blk) };
	return true;
}

char *cg_gemm_text(const CgGemmSpec *s, const char *cpu, bool asm_text, char *err, size_t errlen)
{
	if (!gemm_spec_ok(s, err, errlen))
		return NULL;
	LLVMTargetMachineRef tm = cpu_tm(cpu, false, err, errlen);
	if (!tm)
		return NULL;
	CgGemmIsa isa = cg_gemm_tile(cpu ? cg_gemm_isa(cpu, NULL) : cg_gemm_host_isa(), s);
	CgGemmBlocking blk = cg_gemm_blocking(&isa, s);
	LLVMContextRef ctx = LLVMContextCreate();
	LLVMModuleRef mod = gemm_module(ctx, tm, s, &isa, &blk, "sinter_gemm", err, errlen);
	char *text = NULL, *msg = NULL;
	if (mod) {
		char head[200];
		int n = snprintf(head, sizeof head, "; sinter gemm: isa %s, tile %dx%d, kc %lld mc %lld nc %lld%s\n",
			isa.name, isa.mr, isa.nv * isa.lanes, (long long)blk.kc, (long long)blk.mc, (long long)blk.nc,
			!s->bf16 ? "" : isa.dpbf16 ? ", bf16 operands by vdpbf16ps" : ", bf16 operands widened to f32");
		LLVMMemoryBufferRef buf = NULL;
		const char *body = NULL;
		size_t len = 0;
		char *ir = NULL;
		if (!asm_text) {
			body = ir = LLVMPrintModuleToString(mod);
			len = strlen(ir);
		} else if (!LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMAssemblyFile, &msg, &buf)) {
			body = LLVMGetBufferStart(buf);
			len = LLVMGetBufferSize(buf);
		} else {
			snprintf(err, errlen, "cannot emit assembly: %s", msg);
			LLVMDisposeMessage(msg);
		}
		if (body) {
			text = xmalloc((size_t)n + len + 1);
			memcpy(text, head, (size_t)n);
			memcpy(text + n, body, len);
			text[n + len] = '\0';
		}
		if (ir)
			LLVMDisposeMessage(ir);
		if (buf)
			LLVMDisposeMemoryBuffer(buf);
		LLVMDisposeModule(mod);
	}
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return text;
}
