/*
 * pipeline.h — the pass pipeline: one flat list of passes run in order,
 * with the verifier after each and the IR printed after any on request.
 */
#ifndef SINTER_PIPELINE_H
#define SINTER_PIPELINE_H

#include <stdio.h>

#include "ir/ir.h"

/* The passes of the bf16 mixed-precision mode (--precision=bf16), which
   run only on request (PipeOpts.enable): the products' marks, and the
   activations the backward reads stored in bf16. */
#define PIPE_BF16 "precision,bf16store"

typedef struct {
	const char *after;   /* print the IR after this pass ("all": after each), or NULL */
	FILE *out;           /* where --after prints */
	bool time_passes;    /* report each pass's time on stderr */
	const char *only;    /* comma-separated pass list (sinter opt), or NULL: all */
	const char *disable; /* comma-separated passes switched off (--no-PASS) */
	const char *enable;  /* comma-separated passes that run only on request (PIPE_BF16: --precision=bf16) */
} PipeOpts;

/* Runs the pipeline on r in place.  Returns false (message in err) when a
   pass name in opts is unknown. */
bool pipeline_run(Region *r, const PipeOpts *o, char *err, size_t errlen);
/* The pipeline's pass names in order into names[0..max); returns their number. */
int pipeline_passes(const char **names, int max);
/* True when name is a pass of the pipeline. */
bool pipeline_has(const char *name);

#endif
