/*
 * main.c — the sinter command line: parses options and dispatches to the
 * commands (run, check, ir, opt, gradcheck, plan, gemm).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "lang/diag.h"
#include "lang/lang.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sinter COMMAND FILE [options]\n"
	        "\n"
	        "commands:\n"
	        "  run FILE.sn        train: run the program's train blocks\n"
	        "  check FILE.sn      parse, type and shape check every region, run nothing\n"
	        "  ir FILE.sn         print the IR of every region (--after PASS|all)\n"
	        "  opt FILE.ir        parse text IR, run --passes=a,b, print the result\n"
	        "  build FILE.sn -o BIN  write a standalone training executable (no LLVM needed to run it)\n"
	        "  dot FILE.sn        Graphviz picture of every region (--after PASS, --region NAME)\n"
	        "  llvm FILE.sn       print the optimized LLVM IR of every region\n"
	        "  gradcheck FILE.sn  compare gradients of every Check* model with finite differences\n"
	        "  plan FILE.sn       memory plan of every region: offsets, lifetimes, arena size\n"
	        "  gemm M N K         assembly of sinter's own matrix product for this shape (--cpu NAME,\n"
	        "                     --llvm for LLVM IR; --ta, --tb, --lda/--ldb/--ldc N, --accumulate)\n"
	        "\n"
	        "options:\n"
	        "  --seed N           program seed (initializers, shuffling, dropout); default 0\n"
	        "  -D NAME=VALUE      override a const\n"
	        "  --threads N        threads for parallel loops and the BLAS (default: all cores)\n"
	        "  --after PASS       with ir: print after this pass (trace, autodiff, all)\n"
	        "  --passes=a,b       with opt: the passes to run, in pipeline order\n"
	        "  --no-PASS          switch a pass off\n"
	        "  --log PATH         JSON-lines run log (default: none)\n"
	        "  --max-memory SIZE  memory limit, like 512M or 8G (default: the available physical memory)\n"
	        "  --time-passes      report the time of every pass\n"
	        "  --stats            ops, kernels and bytes moved per run of each region, before and after fusion\n"
	        "  --interp           execute with the reference interpreter instead of native code\n"
	        "  --verbose          say which BLAS kernels and code paths are used\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "gemm"))
		return cmd_gemm(argc, argv);
	Options o = { .cmd = argv[1] };
	const char *region = NULL;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (driver_option(argc, argv, &i, &o))
			continue;
		else if (!strcmp(a, "--region"))
			region = i + 1 < argc ? argv[++i] : (fatal("--region needs a name"), "");
		else if (!strcmp(a, "-o"))
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
