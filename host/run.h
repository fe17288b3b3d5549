/*
 * run.h — the host's runner of compiled regions (host/run.c), apart from
 * host.h so that what runs compiled regions without a host program (the
 * unit tests of codegen) needs no more than codegen/codegen.h's CgRegion.
 */
#ifndef SINTER_HOST_RUN_H
#define SINTER_HOST_RUN_H

#include "codegen/codegen.h"

/* Runs cr like interp_run runs its region (host/run.c): slots are looked up
   in s (types checked), outputs[k] receive freshly allocated tensors (caller
   frees data with free()), scratch is cr->buf.  Not for concurrent calls on
   one cr.  An index outside its table ends in ir_index_fail, as in the
   interpreter. */
void host_run_compiled(CgRegion *cr, Store *s, Tensor *const *inputs, Tensor *outputs);

#endif
