/*
 * main.c — the sinter command line: parses options and dispatches to the
 * commands (run, check, ir, opt, gradcheck, plan).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "frontend/diag.h"
#include "frontend/frontend.h"

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
	        "  gradcheck FILE.sn  compare gradients of every Check* model with finite differences\n"
	        "  plan FILE.sn       memory plan of every region: offsets, lifetimes, arena size\n"
	        "\n"
	        "options:\n"
	        "  --seed N           program seed (initializers, shuffling, dropout); default 0\n"
	        "  -D NAME=VALUE      override a const\n"
	        "  --threads N        threads for the BLAS (default: all cores)\n"
	        "  --after PASS       with ir: print after this pass (trace, autodiff, all)\n"
	        "  --passes=a,b       with opt: the passes to run, in pipeline order\n"
	        "  --no-PASS          switch a pass off\n"
	        "  --log PATH         JSON-lines run log (default: none)\n"
	        "  --time-passes      report the time of every pass\n"
	        "  --interp           execute with the reference interpreter (the default for now)\n");
}

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc)
		fatal("option %s needs a value", name);
	return argv[++*i];
}

static int64_t parse_count(const char *s, const char *what)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < 0)
		fatal("%s must be a non-negative integer, got '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	Options o = { .cmd = argv[1] };
	static char disable[512];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--seed") || !strncmp(a, "--seed=", 7))
			o.seed = (uint64_t)parse_count(opt_value(argc, argv, &i, "--seed"), "--seed");
		else if (!strcmp(a, "--threads") || !strncmp(a, "--threads=", 10))
			o.threads = (int)parse_count(opt_value(argc, argv, &i, "--threads"), "--threads");
		else if (!strcmp(a, "-D") || (!strncmp(a, "-D", 2) && a[2])) {
			const char *d = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : (fatal("-D needs NAME=VALUE"), ""));
			if (!strchr(d, '=') || d[0] == '=')
				fatal("-D expects NAME=VALUE, got '%s'", d);
			if (o.ndefines == MAX_DEFINES)
				fatal("too many -D options");
			o.defines[o.ndefines++] = d;
		} else if (!strcmp(a, "--after") || !strncmp(a, "--after=", 8))
			o.after = opt_value(argc, argv, &i, "--after");
		else if (!strcmp(a, "--passes") || !strncmp(a, "--passes=", 9))
			o.passes = opt_value(argc, argv, &i, "--passes");
		else if (!strcmp(a, "--log") || !strncmp(a, "--log=", 6))
			o.log = opt_value(argc, argv, &i, "--log");
		else if (!strcmp(a, "--time-passes"))
			o.time_passes = true;
		else if (!strcmp(a, "--interp"))
			o.interp = true;
		else if (!strncmp(a, "--no-", 5) && a[5]) {
			size_t len = strlen(disable);
			snprintf(disable + len, sizeof disable - len, "%s%s", len ? "," : "", a + 5);
			o.disable = disable;
		} else if (a[0] == '-' && a[1])
			fatal("unknown option '%s' (see sinter --help)", a);
		else if (!o.file)
			o.file = a;
		else
			fatal("more than one input file: '%s' and '%s'", o.file, a);
	}
	if (!o.file)
		fatal("%s: no input file", o.cmd);
	if (o.threads > 0)
		openblas_set_num_threads(o.threads);
	if (!strcmp(o.cmd, "opt"))
		return cmd_opt(&o);
	if (!strcmp(o.cmd, "run") || !strcmp(o.cmd, "check") || !strcmp(o.cmd, "ir"))
		return cmd_program(&o);
	if (!strcmp(o.cmd, "gradcheck"))
		return cmd_gradcheck(&o);
	if (!strcmp(o.cmd, "plan"))
		return cmd_plan(&o);
	fatal("unknown command '%s' (see sinter --help)", o.cmd);
}
