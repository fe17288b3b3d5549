/*
 * attention.h — the fused attention ops ATTENTION and ATTENTION_GRAD
 * (ir/attention.c): their geometry as the runtime's RtAttn, shared by the
 * interpreter, the autodiff rule, the memory plan's work buffer and
 * codegen's call of runtime/attention.c.
 */
#ifndef SINTER_IR_ATTENTION_H
#define SINTER_IR_ATTENTION_H

#include "ir/ir.h"
#include "runtime/runtime.h"

/* The geometry of attention or attention_grad node v (verified). */
RtAttn ir_attention_of(const Region *r, int v);
/* Whether node v is of the packed form ({heads}: one operand x f32[B, T,
   3C] for q, k and v). */
bool ir_attention_packed(const Region *r, int v);
/* Emits attention(q, k, v [, seg]) (seg -1: none); dies on a shape error,
   so callers check their operands first (the host's builtin does). */
int ir_attention_emit(Region *r, int q, int k, int v, int seg, bool causal, double scale);
/* Emits the packed form attention(x [, seg]) {heads} (seg -1: none); dies
   on a shape error, as ir_attention_emit. */
int ir_attention_packed_emit(Region *r, int x, int heads, int seg, bool causal, double scale);
/* Emits attention_grad of attention node v given g = d loss / d v. */
int ir_attention_grad_emit(Region *r, int v, int g);

#endif
