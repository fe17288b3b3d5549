/*
 * gemm_target.c — what a generated GEMM is built for: the vector ISA and
 * the microkernel's tile from the target CPU's features (or its name), and
 * the cache blocking from the machine's cache sizes, evened out over one
 * product's sizes; the sizes of the packed blocks that follow from them
 * (gemm.h says what the pieces are; gemm.c emits the code).
 */
#include "codegen/gemm.h"
#include "runtime/runtime.h"

#include <llvm-c/TargetMachine.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True when the comma-separated feature list has "+name" exactly. */
static bool cg_gemm_has(const char *features, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = features; (p = strstr(p, name)); p += n)
		if (p > features && p[-1] == '+' && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

CgGemmIsa cg_gemm_isa(const char *cpu, const char *features)
{
	/* Named CPUs of the two vector ISAs; anything else gets the fallback. */
	static const char *avx512[] = { "znver4", "znver5", "skylake-avx512", "cascadelake", "cooperlake",
		"cannonlake", "icelake-client", "icelake-server", "tigerlake", "rocketlake", "sapphirerapids",
		"emeraldrapids", "graniterapids", "x86-64-v4" };
	/* those of them with AVX512-BF16 (vdpbf16ps) */
	static const char *bf16[] = { "cooperlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4",
		"znver5" };
	static const char *avx2[] = { "haswell", "broadwell", "skylake", "alderlake", "raptorlake",
		"meteorlake", "znver1", "znver2", "znver3", "x86-64-v3" };
	CgGemmIsaKind kind = CG_GEMM_SCALAR;
	bool dp = false;
	if (features && *features) {
		dp = cg_gemm_has(features, "avx512bf16");
		if (cg_gemm_has(features, "avx512f"))
			kind = CG_GEMM_AVX512;
		else if (cg_gemm_has(features, "avx2") && cg_gemm_has(features, "fma"))
			kind = CG_GEMM_AVX2;
	} else if (cpu) {
		for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
			if (!strcmp(cpu, avx512[i]))
				kind = CG_GEMM_AVX512;
		for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
			if (!strcmp(cpu, avx2[i]))
				kind = CG_GEMM_AVX2;
		for (size_t i = 0; i < sizeof bf16 / sizeof *bf16; i++)
			dp = dp || !strcmp(cpu, bf16[i]);
	}
	/*
	 * Tiles vectorize along N (C is row-major: a row of the tile is nv
	 * vectors) and broadcast one A element per row.  The accumulators are
	 * mr * nv registers, plus nv for B and a broadcast or two: AVX-512's
	 * 32 registers hold 14 x 2 (28 accumulators; 12 x 2 measured a few
	 * percent slower on Zen 5 in bench/gemm.sh, within the noise of a
	 * shared machine but not ahead), AVX2's 16 hold 6 x 2 (12; BLIS's
	 * haswell 6x16), SSE's 16 hold 4 x 2 (8).  Each k step then issues mr * nv FMAs on nv loads and
	 * mr broadcasts, enough independent chains to cover the FMA latency
	 * (4 cycles x 2 pipes = 8 chains needed).
	 */
	switch (kind) {
	case CG_GEMM_AVX512:
		return (CgGemmIsa){ kind, "avx512", 16, 14, 2, true, dp };
	case CG_GEMM_AVX2:
		return (CgGemmIsa){ kind, "avx2", 8, 6, 2, true, false };
	default:
		return (CgGemmIsa){ kind, "sse", 4, 4, 2, false, false };
	}
}

CgGemmIsa cg_gemm_host_isa(void)
{
	/* the CPU does not change under a running process: asked once */
	static CgGemmIsa isa;
	static bool known;
	if (!known) {
		char *cpu = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
		isa = cg_gemm_isa(cpu, feat);
		LLVMDisposeMessage(cpu);
		LLVMDisposeMessage(feat);
		known = true;
	}
	/* SINTER_GEMM_ISA=avx2 or sse: the kernels of a narrower vector ISA
	   than the host's, never a wider one (tests run the narrower kernels'
	   packing and tiles where the host has more) */
	const char *narrow = getenv("SINTER_GEMM_ISA");
	CgGemmIsa r = isa;
	if (narrow && !strcmp(narrow, "avx2") && isa.kind == CG_GEMM_AVX512)
		r = cg_gemm_isa("haswell", NULL);
	else if (narrow && !strcmp(narrow, "sse") && isa.kind != CG_GEMM_SCALAR)
		r = cg_gemm_isa("x86-64", NULL);
	/* SINTER_GEMM_BF16=widen: bf16 products through the FMA fallback even
	   where the CPU has vdpbf16ps (tests compare the two, bench times it) */
	const char *bf = getenv("SINTER_GEMM_BF16");
	r.dpbf16 = r.dpbf16 && !(bf && !strcmp(bf, "widen"));
	return r;
}

static int64_t round_up(int64_t x, int64_t to)
{
	return (x + to - 1) / to * to;
}

/* The share of whole tiles of `unit` that x fills. */
static double fill(int64_t x, int64_t unit)
{
	return (double)x / (double)round_up(x, unit);
}

static double tile_fill(const CgGemmSpec *s, const CgGemmIsa *t)
{
	return fill(s->m, t->mr) * fill(s->n, (int64_t)t->nv * t->lanes);
}

CgGemmIsa cg_gemm_tile(CgGemmIsa isa, const CgGemmSpec *s)
{
	if (isa.kind != CG_GEMM_AVX512)
		return isa;
	/* 8 rows x 3 vectors: 24 accumulators, 3 B loads and 8 broadcasts
	   per k (the default: 28, 2 and 14); else 8 rows x 2 vectors (16, 2
	   and 8) where its tiles fill more of C than 14 x 32's: 64 rows, the
	   attention's tiles, whose last 14-row panel holds 8 rows (14 x 32
	   ran bench/gemm's attn shapes 9-10% slower, bf16 and f32).  Where 8 x
	   48 wins, 8 x 32 still replaces it when its tiles fill 5% more: N =
	   150 fills 78% of 48-wide tiles and 94% of 32-wide ones (LeNet-5's
	   second weight gradient, 0.77 -> 0.62 ms a step on a Zen 4) */
	CgGemmIsa narrow = isa, square = isa;
	narrow.mr = square.mr = 8;
	narrow.nv = 3;
	square.nv = 2;
	const char *env = getenv("SINTER_GEMM_TILE");
	if (env && (!strcmp(env, "8x48") || !strcmp(env, "14x32") || !strcmp(env, "8x32")))
		return !strcmp(env, "8x48") ? narrow : !strcmp(env, "8x32") ? square : isa;
	double f_isa = tile_fill(s, &isa), f_narrow = tile_fill(s, &narrow), f_square = tile_fill(s, &square);
	if (f_narrow > 1.1 * f_isa)
		return f_square > 1.05 * f_narrow ? square : narrow;
	return f_square > 1.05 * f_isa ? square : isa;
}

/* Bytes of the level-`level` data (or unified) cache: sysfs first, then
   sysconf; 0 when neither knows. */
static int64_t cg_gemm_cache(int level)
{
	for (int i = 0; i < 8; i++) {
		char path[96], buf[64];
		int lv = 0;
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
		FILE *f = fopen(path, "r");
		if (!f)
			break;
		bool ok = fscanf(f, "%d", &lv) == 1;
		fclose(f);
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
		if (!ok || lv != level || !(f = fopen(path, "r")))
			continue;
		ok = fgets(buf, sizeof buf, f) && strncmp(buf, "Instruction", 11);
		fclose(f);
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		if (!ok || !(f = fopen(path, "r")))
			continue;
		long kb = 0;
		char unit = 'K';
		ok = fscanf(f, "%ld%c", &kb, &unit) >= 1;
		fclose(f);
		if (ok && kb > 0)
			return (int64_t)kb * (unit == 'M' ? 1 << 20 : unit == 'K' ? 1024 : 1);
	}
	long v = -1;
#ifdef _SC_LEVEL1_DCACHE_SIZE
	v = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
#endif
	return v > 0 ? v : 0;
}

/* An environment override of a blocking size (for tuning runs), else dflt. */
static int64_t cg_gemm_env(const char *name, int64_t dflt)
{
	const char *v = getenv(name);
	long long x = v ? atoll(v) : 0;
	return x > 0 ? x : dflt;
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* The block size to use for n elements in blocks of at most b, in units
   of unit: as many blocks as b needs, but of equal sizes, so that no block
   is a sliver (K = 1024 in blocks of 192 would end with one of 64, whose
   tiles reload C for a third of the work). */
static int64_t cg_gemm_even(int64_t n, int64_t b, int64_t unit)
{
	int64_t nb = (n + b - 1) / b, even = (n + nb - 1) / nb;
	even = (even + unit - 1) / unit * unit;
	return even < b ? even : b;
}

CgGemmBlocking cg_gemm_blocking(const CgGemmIsa *isa, const CgGemmSpec *s)
{
	CgGemmBlocking b = { .l1 = cg_gemm_cache(1), .l2 = cg_gemm_cache(2), .l3 = cg_gemm_cache(3) };
	/* Defaults when the machine does not say: a small core's caches.  A
	   virtual machine may report the whole host's L3 (hundreds of MB): no
	   more than 32 MB is believed, a core's share is much less anyway. */
	int64_t l1 = b.l1 ? b.l1 : 32 << 10, l2 = b.l2 ? b.l2 : 512 << 10;
	int64_t l3 = b.l3 ? (b.l3 < (32 << 20) ? b.l3 : 32 << 20) : 8 << 20;
	int64_t nr = (int64_t)isa->nv * isa->lanes, mr = isa->mr;
	/* Bytes of a packed element: a bf16 product's panels hold 2, so its
	   blocks go twice as deep in K for the same bytes. */
	int64_t esize = s && s->bf16 ? 2 : 4;
	/* KC: the B micro-panel (KC x NR) streams through every A panel of the
	   block, so it should take about half of L1, leaving the rest to the A
	   micro-panel and C's tile; a multiple of 8 keeps panels aligned. */
	b.kc = clamp64(l1 / 2 / (nr * esize) / 8 * 8, 64, 1024);
	b.kc = cg_gemm_env("SINTER_GEMM_KC", b.kc);
	/* MC: the packed A block (MC x KC) in half of L2, a multiple of MR. */
	b.mc = clamp64(l2 / 2 / (b.kc * esize) / mr * mr, mr, 4096 / mr * mr);
	if (getenv("SINTER_GEMM_MC"))
		b.mc = clamp64(cg_gemm_env("SINTER_GEMM_MC", b.mc) / mr * mr, mr, 1 << 16);
	/* NC: the packed B block (KC x NC) in half of the L3 share. */
	b.nc = clamp64(l3 / 2 / (b.kc * esize) / nr * nr, nr, 8192 / nr * nr);
	if (getenv("SINTER_GEMM_NC"))
		b.nc = clamp64(cg_gemm_env("SINTER_GEMM_NC", b.nc) / nr * nr, nr, 1 << 16);
	if (s) {
		/* a bf16 block in whole runs of 2L k (L pairs), which its packing
		   transposes in registers (gemm_pack.c); the rest goes element by
		   element */
		b.kc = cg_gemm_even(s->k, b.kc, s->bf16 ? 2 * isa->lanes : 8);
		b.mc = cg_gemm_even(s->m, b.mc, mr);
		b.nc = cg_gemm_even(s->n, b.nc, nr);
	}
	return b;
}

int64_t cg_gemm_groups(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b)
{
	(void)b;
	if (!s->parallel)
		return 1;
	int64_t tiles = (s->m + isa->mr - 1) / isa->mr * ((s->n + isa->nv * isa->lanes - 1) / (isa->nv * isa->lanes));
	/* the more of the machine's cores and the pool's threads as asked for
	   (--threads may ask for more threads than cores) */
	int64_t threads = rt_pool_cores() > rt_pool_expected() ? rt_pool_cores() : rt_pool_expected();
	threads = threads < CG_GEMM_MAX_GROUPS ? threads : CG_GEMM_MAX_GROUPS;
	return tiles < threads ? tiles : threads;
}

/* The rows and columns of the largest of tr x tc parts of s, in whole
   tiles (MR rows, NR columns). */
static void part_size(const CgGemmSpec *s, const CgGemmIsa *isa, int64_t tr, int64_t tc, int64_t *rows,
	int64_t *cols)
{
	int64_t nr = (int64_t)isa->nv * isa->lanes;
	int64_t rt = (s->m + isa->mr - 1) / isa->mr, ct = (s->n + nr - 1) / nr;
	*rows = (rt + tr - 1) / tr * isa->mr;
	*cols = (ct + tc - 1) / tc * nr;
}

int64_t cg_gemm_split(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b, int64_t parts)
{
	if (s->epi_cols || parts <= 1)
		return 1;
	/* per element of K, the largest part's multiply-adds and, at
	   PACK_COST of them per element, its packing: its A rows once per NC
	   block of its columns, its B columns once */
	enum { PACK_COST = 16 };
	int64_t best = 1, best_cost = -1;
	for (int64_t tr = 1; tr <= parts; tr++) {
		if (parts % tr)
			continue;
		int64_t rows, cols;
		part_size(s, isa, tr, parts / tr, &rows, &cols);
		int64_t cost = rows * cols + PACK_COST * (rows * ((cols + b->nc - 1) / b->nc) + cols);
		if (best_cost < 0 || cost < best_cost)
			best = tr, best_cost = cost;
	}
	return best;
}

int64_t cg_gemm_host_split(const CgGemmSpec *s, int64_t parts)
{
	CgGemmIsa isa = cg_gemm_tile(cg_gemm_host_isa(), s);
	CgGemmBlocking b = cg_gemm_blocking(&isa, s);
	return cg_gemm_split(s, &isa, &b, parts);
}

bool cg_gemm_direct(const CgGemmSpec *s)
{
	const char *env = getenv("SINTER_GEMM_DIRECT");
	return s->taps.kh > 0 && !s->tb && !s->bf16 && !(env && !strcmp(env, "0"));
}

/* Sizes of the two packed blocks of one part, in elements (floats, or
   bf16 halves of a bf16 product, whose panels pad KC to an even count):
   A's (MC x KC, MC rounded up to whole MR panels) first, then B's at a
   64-byte boundary (KC x NC, or KC offsets when B is read in place).  A
   product on the pool holds cg_gemm_groups pairs. */
void cg_gemm_blocks(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b, int64_t *na,
	int64_t *nb)
{
	int64_t nr = (int64_t)isa->nv * isa->lanes;
	int64_t kc = s->k < b->kc ? s->k : b->kc, line = s->bf16 ? 32 : 16;
	if (s->bf16)
		kc = round_up(kc, 2);
	int64_t rows = round_up(s->m, isa->mr);
	int64_t mc = rows < b->mc ? rows : b->mc;
	int64_t nc = round_up(s->n, nr) < b->nc ? round_up(s->n, nr) : b->nc;
	*na = round_up(mc * kc, line);
	/* B read in place: only its rows' offsets, an i64 each */
	*nb = round_up(cg_gemm_direct(s) ? 2 * kc : kc * nc, line);
}

int64_t cg_gemm_workspace(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b)
{
	int64_t na, nb;
	cg_gemm_blocks(s, isa, b, &na, &nb);
	return cg_gemm_groups(s, isa, b) * (na + nb) * (s->bf16 ? 2 : 4);
}

