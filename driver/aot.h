/*
 * aot.h — what `sinter build` links into an executable: the program's
 * source files (re-parsed at start-up, so the binary runs the same host
 * program as `sinter run`) and the native code of every region its dry run
 * found, keyed by the region's traced text.  driver/build.c writes these
 * tables as C; driver/aotmain.c reads them.
 */
#ifndef SINTER_AOT_H
#define SINTER_AOT_H

#include <stdint.h>

#include "codegen/codegen.h"

typedef struct {
	const char *path;
	const char *text;
	int from_stdlib;
} AotSource;

typedef struct {
	const char *text;   /* the region as traced (ir_print), before the pipeline */
	CgRegionFn *fn;
	int64_t scratch;    /* bytes of scratch fn needs */
	CgGemmStats gemm;   /* its matrix products by kernel, as the build chose (--stats) */
} AotRegion;

extern const AotSource aot_sources[];
extern const int aot_nsources;
extern const AotRegion aot_regions[];
extern const int aot_nregions;
extern const char *const aot_defines[]; /* -D values given to sinter build */
extern const int aot_ndefines;
extern const char aot_name[];           /* the model file's name */
extern const bool aot_bf16;             /* built with --precision=bf16: its pipeline marks the products too */

#endif
