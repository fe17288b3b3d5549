/*
 * kernel.h — what a fused kernel is, read by everything after the fusion
 * pass (passes/fusion.c decides Node.group; this folder reads it, and
 * kernel_renumber only renames the groups): the IR printer's kernel
 * comments, the passes after fusion and the code generator.  space.c: the index space of a kernel and how each member maps
 * onto it; kernel.c: members, the forward part of a training region (remat
 * and bf16store read it), which values live only inside their kernel or
 * go straight into a slot, an order keeping kernels together, the memory
 * traffic of a region with and without its kernels (--stats), the
 * comment lines describing each kernel above a printed region, and each
 * kernel call's name and work for the profiler.  This folder
 * sits above ir/ and below passes/ and codegen/ (docs/ARCHITECTURE.md,
 * "Layers"), so that all three can read one definition.
 *
 * A kernel is the set of nodes sharing one Node.group.  It iterates one
 * index space X (a KernelSpace): each member is computed either at every
 * point of X (level KL_BIG: its shape is X) or, when the kernel reduces,
 * at every point of X with the reduced axes dropped (KL_SMALL: the
 * reductions' results and what is computed from them, keepdims or not).
 * Operands from outside the kernel are read from memory through
 * broadcasting strides over X; a value computed inside is read in the
 * register that holds it.  A MATMUL member (the head) runs first, as a
 * GEMM into its own buffer, which the rest then reads (codegen may run
 * the rest on each tile of the product as the GEMM finishes it).
 */
#ifndef SINTER_KERNEL_H
#define SINTER_KERNEL_H

#include <stdio.h>

#include "ir/ir.h"

enum { KL_NONE, KL_BIG, KL_SMALL }; /* level of a member in its kernel */

/* The role node v can play in a kernel: none (it runs on its own), an
   elementwise member, a reduction, or the GEMM head. */
enum { KR_NONE, KR_ELEM, KR_REDUCE, KR_GEMM };
int kernel_role(const Region *r, int v);

typedef struct {
	Type x;        /* the index space (dims only; x.dt is meaningless) */
	unsigned red;  /* bit a set: axis a of x is reduced; 0: the kernel does not reduce */
	bool rows;     /* no reduction, or only trailing non-unit axes reduced: the kernel
	                  walks one row at a time, in as many passes as reductions need */
	int head;      /* the MATMUL member, or -1 */
} KernelSpace;

/*
 * The space of the kernel formed by nodes mem[0..n) and each member's level
 * (level[i] for mem[i]); false when these nodes cannot form one kernel
 * (shapes that do not map onto one index space, an operand read at other
 * points than where it is computed, a second GEMM, ...).
 */
bool kernel_space(const Region *r, const int *mem, int n, KernelSpace *s, int *level);
/* Strides over s->x (elements) of a value of type t computed at `level`:
   its element at point c of X is element sum_a c[a]*st[a] of its buffer. */
void kernel_natural(const KernelSpace *s, const Type *t, int level, int64_t *st);
/* Strides over s->x with which member v (at `level`) reads its operand k. */
void kernel_read_map(const KernelSpace *s, const Region *r, int v, int k, int level, int64_t *st);
/* Do two stride vectors over s->x address the same elements (unit axes aside)? */
bool kernel_same_map(const KernelSpace *s, const int64_t *a, const int64_t *b);

/* Renumbers the kernels densely from 0 in order of their first member. */
void kernel_renumber(Region *r);
/* Members of kernel `group`, in node order, into mem (if not NULL); returns their number. */
int kernel_members(const Region *r, int group, int *mem);
/* fwd[v] (r->nnode entries, zeroed by the caller): v is in the forward part
   of a training region: an output needs it, or it shares a kernel with such
   a node.  The rest (gradients, the update) is the backward part. */
void kernel_forward(const Region *r, bool *fwd);
/*
 * Is v the widening of a bf16 value (a cast to f32 outside every kernel)
 * that only bf16 products read (kernel_reads_bf16), through reshapes
 * sharing its buffer (a bf16store copy that dW's product reads, the qkv
 * an attention reads)?  Then the generated code computes no widening:
 * the products pack the bf16 value itself (CgGemmSpec.a_bf16, b_bf16,
 * RtAttn.x_bf16; the bits rounding the widening would give), and memplan
 * keeps the bf16 value alive until they have run.  v keeps its buffer
 * (the interpreter computes it).
 */
bool kernel_widens_for_products(const Region *r, int v);
/* The widening a product's operand o is, through shared reshapes, when
   kernel_widens_for_products holds for it; else -1. */
int kernel_widening_of(const Region *r, int o);
/* Does node u take its operand k as a bf16 product's: A or B of a MATMUL
   marked bf16, or q, k, v of an attention (or its gradient) marked bf16,
   whose tile products those are?  Such a reader may read bf16 bits in
   place of their widening. */
bool kernel_reads_bf16(const Region *r, int u, int k);
/*
 * internal[v] (r->nnode entries): v needs no buffer.  A kernel member is
 * internal when only members of its own kernel read it (no other kernel,
 * node, WRITE or output); a constant when every reader is a kernel member
 * that takes it as an immediate.  A MATMUL head always has a buffer.
 */
void kernel_internal(const Region *r, bool *internal);
/*
 * through[v] (r->nnode entries): v is computed straight into the parameter
 * or state slot a WRITE stores it in, instead of a buffer copied at the end
 * of the region.  Only where nothing can tell: v belongs to a kernel
 * without reductions, is read by nothing but its kernel and that WRITE, the
 * slot has one node, and every other reader of the slot (through aliases
 * too) runs before the kernel; the slot is no output and no WRITE's value.
 * Depends on the order: call it on the order that runs.
 */
void kernel_through(const Region *r, bool *through);
/* Rearranges order[0..nnode), a topological order of r's nodes, into one
   where each kernel's members are contiguous, moving as little as it can;
   false (order unchanged) when kernels depend on each other in a cycle,
   which fusion never makes. */
bool kernel_contract(const Region *r, int *order);

/* Work of one execution of a region: nodes that compute something (not
   input, param, state), the kernels that run them (a node outside every
   kernel is one), and bytes read and written: every kernel reads each
   buffer it takes from outside once and writes each value it materializes,
   a WRITE copies its value into the slot (none: kernel_through).  fused = false counts as if
   every node were its own kernel (the region before fusion). */
typedef struct {
	int64_t ops, kernels, read, written;
} KernelTraffic;
void kernel_traffic(const Region *r, bool fused, KernelTraffic *t);
/* `--stats`: r's traffic before and after fusion as two rows of a table
   (with the table's heading first when heading is set). */
void kernel_stats(FILE *f, const Region *r, bool heading);

/* What one kernel call of a compiled region is (kernel.c), for the
   profiler.  name: "k3 gemm 8192x256x768 + add gelu" (a fused kernel, its
   GEMM's M x N x K and its other ops, each once), "%12 gemm 64x65x256" (a
   node on its own), "k7 update: mul add ..." (a kernel storing into a
   parameter or state slot: the optimizer update), "outputs and writes"
   (v = -1: the copies at the region's end); ops: every member's op. */
typedef struct {
	char name[160];
	char ops[1024];
	int64_t m, n, k, batch;  /* the GEMM's shape, or 0 */
	double flop, bytes;      /* per call: 2 M N K batch; bytes read and written */
} KernelInfo;
/* The kernel whose call ends at node v: its members mem[0..n) in node
   order (v's fused kernel, else v alone); internal as kernel_internal
   fills it, written[u]: a WRITE stores u in a slot.  v = -1: the copies. */
void kernel_describe(const Region *r, int v, const int *mem, int n, const bool *internal, const bool *written,
	KernelInfo *ki);

/* One comment line per kernel of r (size, index space, reduced axes, the
   values it stores), in the order of their first members: the hook
   ir_print_with takes, so that the IR printer needs nothing above ir/. */
void kernel_print_comments(FILE *f, const Region *r);

#endif
