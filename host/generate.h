/*
 * generate.h — sampling text from a trained language model (the host
 * builtin generate, host/generate.c).
 */
#ifndef SINTER_GENERATE_H
#define SINTER_GENERATE_H

#include "host/eval.h"

/* generate(net, prompt, n, temperature = 1.0, top_k = 0, context = T): the
   prompt followed by n sampled tokens; a string for a string prompt, a list
   of ints for a list of token ids.  Draws come from the program seed. */
BuiltinFn host_generate;

#endif
