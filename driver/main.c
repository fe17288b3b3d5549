/*
 * main.c — the sinter command line: parses options and dispatches to the
 * commands (run, check, ir, opt, gradcheck, plan, plot, gemm).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "lang/diag.h"
#include "lang/lang.h"
#include "codegen/codegen.h"

#define SINTER_VERSION "0.6.0"

/* One option of the command line, and the commands that take it. */
typedef struct {
	const char *flag, *what;
	const char *cmds; /* space-separated; "*" for every command of a program */
} OptHelp;

static const OptHelp opt_help[] = {
	{ "--seed N", "program seed (initializers, shuffling, dropout); default 0", "*" },
	{ "-D NAME=VALUE", "override a const", "*" },
	{ "--threads N", "threads for parallel loops and the BLAS (default: all cores)", "*" },
	{ "--after PASS", "print after this pass (trace, autodiff, ..., all)", "ir dot" },
	{ "--region NAME", "only this region", "dot" },
	{ "-o PATH", "the output: an executable (build); .dot, .svg, .png or .pdf (dot)", "build dot" },
	{ "--passes=a,b", "the passes to run, in pipeline order", "opt" },
	{ "--no-PASS", "switch a pass off", "*" },
	{ "--log PATH", "JSON-lines run log (default: none)", "run" },
	{ "--profile PATH", "Chrome trace of steps, regions, kernels, pool threads (ui.perfetto.dev)", "run" },
	{ "--profile-summary", "at exit, kernels by total time with GFLOP/s and GB/s (on stderr)", "run" },
	{ "--svg PATH", "the memory plan as a picture: .svg, or .png through rsvg-convert", "plan" },
	{ "--max-memory SIZE", "memory limit, like 512M or 8G (default: the available physical memory)", "*" },
	{ "--time-passes", "report the time of every pass", "*" },
	{ "--stats", "ops, kernels and bytes moved per run of each region, before and after fusion", "run check" },
	{ "--interp", "execute with the reference interpreter instead of native code", "run" },
	{ "--bucket-size SIZE", "on several ranks: gradients are sent in buckets of SIZE (default 1M)", "run" },
	{ "--dist-timeout S", "on several ranks: stop when the others do not answer within S seconds (default 60)",
	  "run" },
	{ "--ranks N", "trace training batches as each of N mpirun ranks reads them (build: code for N ranks)",
	  "build check ir plan dot llvm" },
	{ "--verbose", "say which BLAS kernels and code paths are used", "*" },
	{ "--gemm=KIND", "matrix products: auto (per shape, the default), sinter (its own kernel) or openblas",
	  "run build llvm" },
	{ "--precision=P", "f32 (the default) or bf16: matrix products with bf16 operands, f32 sums and weights",
	  "run build check ir llvm plan dot" },
};

/* The commands: synopsis, one line, and a paragraph for COMMAND --help. */
typedef struct {
	const char *name, *synopsis, *line, *more;
} CmdHelp;

static const CmdHelp cmd_help[] = {
	{ "run", "run FILE.sn", "train: run the program's train blocks",
	  "Traces each region of the program, compiles it with LLVM for this CPU (the JIT) and runs the train blocks." },
	{ "check", "check FILE.sn", "parse, type and shape check every region, run nothing",
	  "A dry run: every region is traced and checked; nothing is allocated or computed." },
	{ "ir", "ir FILE.sn", "print the IR of every region (--after PASS|all)",
	  "The IR of every region after the whole pipeline, or after one pass." },
	{ "opt", "opt FILE.ir", "parse text IR, run --passes=a,b, print the result",
	  "For pass tests: reads regions in the text IR of `sinter ir`, runs the passes named, prints them." },
	{ "build", "build FILE.sn -o BIN", "write a standalone training executable (no LLVM needed to run it)",
	  "Compiles every region ahead of time and links them with the runtime into BIN, which runs like `sinter run`." },
	{ "dot", "dot FILE.sn", "Graphviz picture of every region (--after PASS, --region NAME, -o step.svg)",
	  "The regions as Graphviz graphs, fused kernels as clusters; -o PICTURE renders one region with Graphviz." },
	{ "llvm", "llvm FILE.sn", "print the optimized LLVM IR of every region", NULL },
	{ "gradcheck", "gradcheck FILE.sn", "compare gradients of every Check* model with finite differences", NULL },
	{ "plan", "plan FILE.sn", "memory plan of every region: offsets, lifetimes, arena size (--svg plan.svg)",
	  "Each region's arena: every value's offset and live range, the arena against its lower bound;\n"
	  "--svg PATH draws it instead: a bar per buffer over its lifetime, at its arena offset." },
	{ "plot", "plot LOG.jsonl [MORE.jsonl ...] -o OUT.svg", "loss curves of run logs (.png too)",
	  "Options: -o OUT.svg|OUT.png, --x step|time, --log-y, --smooth A (0 <= A < 1)." },
	{ "gemm", "gemm M N K", "assembly of sinter's own matrix product for this shape",
	  "Options: --cpu NAME (an LLVM CPU name; default the host), --llvm for LLVM IR, --ta, --tb,\n"
	  "--lda/--ldb/--ldc N, --accumulate, --bf16 (operands rounded to bf16, f32 sums)." },
};

static bool cmd_takes(const OptHelp *h, const char *cmd)
{
	if (!strcmp(h->cmds, "*"))
		return strcmp(cmd, "opt") && strcmp(cmd, "plot") && strcmp(cmd, "gemm");
	size_t n = strlen(cmd);
	for (const char *p = h->cmds; (p = strstr(p, cmd)); p += n)
		if ((p == h->cmds || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

static void usage(FILE *f, const char *cmd)
{
	const CmdHelp *c = NULL;
	for (size_t i = 0; cmd && i < sizeof cmd_help / sizeof cmd_help[0]; i++)
		if (!strcmp(cmd_help[i].name, cmd))
			c = &cmd_help[i];
	if (c) {
		fprintf(f, "usage: sinter %s [options]\n\n%s.\n", c->synopsis, c->line);
		if (c->more)
			fprintf(f, "%s\n", c->more);
	} else {
		fprintf(f, "usage: sinter COMMAND FILE [options]\n\ncommands:\n");
		for (size_t i = 0; i < sizeof cmd_help / sizeof cmd_help[0]; i++)
			if (strlen(cmd_help[i].synopsis) > 18) /* a long synopsis on a line of its own */
				fprintf(f, "  %s\n  %-18s %s\n", cmd_help[i].synopsis, "", cmd_help[i].line);
			else
				fprintf(f, "  %-18s %s\n", cmd_help[i].synopsis, cmd_help[i].line);
		fprintf(f, "\nsinter COMMAND --help says more of one; sinter --version.\n");
	}
	bool any = false;
	for (size_t i = 0; i < sizeof opt_help / sizeof opt_help[0]; i++)
		if (!c || cmd_takes(&opt_help[i], c->name)) {
			fprintf(f, "%s  %-18s %s\n", any ? "" : "\noptions:\n", opt_help[i].flag, opt_help[i].what);
			any = true;
		}
}

static void version(void)
{
	char llvm[128];
	cg_describe(llvm, sizeof llvm);
	const char *blas = openblas_get_config();
	printf("sinter %s (%s; %s)\n", SINTER_VERSION, llvm, blas);
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout, NULL);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		version();
		return 0;
	}
	if (!strcmp(argv[1], "help")) {
		usage(stdout, argc > 2 ? argv[2] : NULL);
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout, argv[1]);
			return 0;
		}
	if (!strcmp(argv[1], "plot")) /* several inputs, options of its own */
		return cmd_plot(argc, argv);
	if (!strcmp(argv[1], "gemm")) /* a shape, not a program; options of its own */
		return cmd_gemm(argc, argv);
	Options o = { .cmd = argv[1] };
	const char *region = NULL;
	CgGemmConfig gemm = { .choice = CG_GEMM_AUTO };
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (driver_option(argc, argv, &i, &o))
			continue;
		else if (!strcmp(a, "--region"))
			region = i + 1 < argc ? argv[++i] : (fatal("--region needs a name"), "");
		else if (!strcmp(a, "--gemm") || !strncmp(a, "--gemm=", 7)) {
			const char *v = a[6] ? a + 7 : i + 1 < argc ? argv[++i] : (fatal("option --gemm needs a value"), "");
			if (!cg_gemm_choice_parse(v, &gemm.choice))
				fatal("--gemm expects auto, sinter or openblas, got '%s'", v);
		} else if (!strcmp(a, "--precision") || !strncmp(a, "--precision=", 12)) {
			const char *v = a[11] ? a + 12 : i + 1 < argc ? argv[++i] : (fatal("option --precision needs a value"), "");
			if (strcmp(v, "f32") && strcmp(v, "bf16"))
				fatal("--precision expects f32 or bf16, got '%s'", v);
			o.bf16 = !strcmp(v, "bf16");
		} else if (!strcmp(a, "--svg") && !strcmp(o.cmd, "plan"))
			o.svg = i + 1 < argc ? argv[++i] : (fatal("--svg needs a path, like --svg plan.svg"), "");
		else if (!strcmp(a, "--ranks") && strcmp(o.cmd, "run")) {
			const char *v = i + 1 < argc ? argv[++i] : (fatal("--ranks needs a number of ranks"), "");
			char *end;
			long n = strtol(v, &end, 10);
			if (!(*v >= '1' && *v <= '9') || *end || n > 1 << 20)
				fatal("--ranks expects a number of ranks from 1 to 1048576, got '%s'", v);
			host_dist_plan((int)n);
		} else if (!strcmp(a, "-o"))
			o.output = i + 1 < argc ? argv[++i] : (fatal("-o needs a path"), "");
		else if (a[0] == '-' && a[1])
			fatal("unknown option '%s' (see sinter --help)", a);
		else if (!o.file)
			o.file = a;
		else
			fatal("more than one input file: '%s' and '%s'", o.file, a);
	}
	if (!o.file)
		fatal("%s: no input file", o.cmd);
	blas_setup(argv, &o);
	/* OpenBLAS has no product of bf16 operands; auto sends them to sinter's */
	if (o.bf16 && gemm.choice == CG_GEMM_OPENBLAS)
		fatal("--precision=bf16 needs sinter's matrix kernels, but --gemm=openblas asks for OpenBLAS's (use "
		      "--gemm=auto or --gemm=sinter)");
	gemm.blas_avx512 = blas_avx512();
	gemm.verbose = o.verbose ? stderr : NULL;
	cg_gemm_configure(&gemm);
	if (!strcmp(o.cmd, "opt"))
		return cmd_opt(&o);
	if (!strcmp(o.cmd, "run") || !strcmp(o.cmd, "check") || !strcmp(o.cmd, "ir"))
		return cmd_program(&o);
	if (!strcmp(o.cmd, "build"))
		return cmd_build(&o);
	if (!strcmp(o.cmd, "dot"))
		return cmd_dot(&o, region);
	if (!strcmp(o.cmd, "llvm"))
		return cmd_llvm(&o);
	if (!strcmp(o.cmd, "gradcheck"))
		return cmd_gradcheck(&o);
	if (!strcmp(o.cmd, "plan"))
		return cmd_plan(&o);
	fatal("unknown command '%s' (see sinter --help)", o.cmd);
}
