/*
 * cgdiff.h — the differential-testing kit shared by test_codegen.c and
 * test_codegen_train.c: tensor types from strings, a store of named slots
 * filled with random tensors (trand of check.h, seeded 2024), and diff_run,
 * which runs a region through the reference interpreter and the JIT and
 * compares outputs and slots; jit_run, the main of a test that needs the
 * JIT.  Included by those two tests and by test_fusion.c and test_index.c.
 */
#ifndef SINTER_TESTS_CGDIFF_H
#define SINTER_TESTS_CGDIFF_H

#include "codegen/codegen.h"
#include "host/run.h"
#include "ir/ops.h"
#define RNG_SEED 2024
#include "tests/unit/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CgModule *jit;

/* Makes jit, with a check line saying whether LLVM could; a test's main
   returns 1 when it could not (nothing of it can run). */
static bool jit_start(void)
{
	char err[512];
	jit = cg_jit_new(err, sizeof err);
	return check(jit != NULL, "jit_new", "%s", err);
}

/* Runs tests with jit made before them: a main's exit status. */
static inline int jit_run(const CheckTest *tests)
{
	if (!jit_start())
		return 1;
	for (; *tests; tests++)
		(*tests)();
	cg_jit_free(jit);
	return nfail != 0;
}

/* ---- tensors ---- */

/* "7,33" -> f32[7,33]; "" is a scalar */
static Type tp(DType dt, const char *dims)
{
	int64_t d[MAX_RANK];
	int n = 0;
	for (const char *p = dims; *p; p++) {
		d[n++] = strtoll(p, (char **)&p, 10);
		if (!*p)
			break;
	}
	return type_make(dt, n, d);
}

/* ---- a store of named slots ---- */

typedef struct {
	char name[64], state[32];
	Tensor t;
} Slot;

typedef struct {
	Slot s[256];
	int n;
} Mem;

static Tensor *lookup(Store *s, const char *name, const char *state)
{
	Mem *m = s->ctx;
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->s[i].name, name) && !strcmp(m->s[i].state, state ? state : ""))
			return &m->s[i].t;
	return NULL;
}

/* Gives every PARAM/STATE node of r a random slot (one per distinct name). */
static inline void mem_fill(Mem *m, const Region *r)
{
	Store s = { .ctx = m, .lookup = lookup };
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		const char *state = nd->op == OP_STATE ? nd->sname : NULL;
		if ((nd->op != OP_PARAM && nd->op != OP_STATE) || lookup(&s, nd->name, state))
			continue;
		if (m->n == (int)(sizeof m->s / sizeof m->s[0]))
			die("test: more than %d slots", m->n);
		Slot *sl = &m->s[m->n++];
		snprintf(sl->name, sizeof sl->name, "%s", nd->name);
		snprintf(sl->state, sizeof sl->state, "%s", state ? state : "");
		sl->t = trand(nd->type, nd->type.dt == DT_I32 ? -20 : 0.1, nd->type.dt == DT_I32 ? 20 : 1);
	}
}

static Mem *mem_clone(const Mem *m)
{
	Mem *c = xmalloc(sizeof *c);
	*c = *m;
	for (int i = 0; i < m->n; i++) {
		size_t b = (size_t)type_numel(&m->s[i].t.type) * dtype_size(m->s[i].t.type.dt);
		c->s[i].t.data = memcpy(xmalloc(b + 1), m->s[i].t.data, b);
	}
	return c;
}

static void mem_free(Mem *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->s[i].t.data);
	free(m);
}

/* ---- comparing ---- */

/* First element where a and b differ beyond tol (0: bit-exact), or -1. */
static int64_t differ(const Tensor *a, const Tensor *b, double tol, double *ga, double *gb)
{
	int64_t n = type_numel(&a->type);
	for (int64_t i = 0; i < n; i++) {
		double x, y;
		if (a->type.dt == DT_F32) {
			x = ((float *)a->data)[i];
			y = ((float *)b->data)[i];
		} else if (a->type.dt == DT_I32) {
			x = ((int32_t *)a->data)[i];
			y = ((int32_t *)b->data)[i];
		} else if (a->type.dt == DT_BF16) { /* the bits: exact, NaNs included */
			x = ((uint16_t *)a->data)[i];
			y = ((uint16_t *)b->data)[i];
		} else {
			x = ((uint8_t *)a->data)[i];
			y = ((uint8_t *)b->data)[i];
		}
		bool same = x == y || (x != x && y != y);
		if (!same && !(tol > 0 && fabs(x - y) <= tol * fabs(y))) {
			*ga = x;
			*gb = y;
			return i;
		}
	}
	return -1;
}

static Store store_of(Mem *m, uint64_t seed, uint64_t step)
{
	return (Store){ .ctx = m, .lookup = lookup, .seed = seed, .step = step };
}

/* Random tensors for the INPUT nodes of r (indexed by input number):
   floats in [0.5, 1.5) (positive for logs, divisors and square roots),
   ints in [0, imax). */
static inline Tensor *region_inputs(const Region *r, double imax)
{
	Tensor *in = xcalloc((size_t)r->ninput + 1, sizeof *in);
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		if (nd->op == OP_INPUT)
			in[nd->ia[0]] = trand(nd->type, nd->type.dt == DT_I32 ? 0 : 0.5, nd->type.dt == DT_I32 ? imax : 1.5);
	}
	return in;
}

static inline void inputs_free(Tensor *in, int n)
{
	for (int i = 0; i < n; i++)
		free(in[i].data);
	free(in);
}

/*
 * Runs r through the interpreter and the JIT (inputs in[0..nin), slots from
 * mem, which is left unchanged) and compares outputs and slots afterwards.
 */
static inline CgRegion *diff_run(const char *name, const Region *r, Tensor *in, int nin, Mem *mem, double tol)
{
	char err[512];
	Mem *m1 = mem_clone(mem), *m2 = mem_clone(mem);
	Tensor **ptr = xcalloc((size_t)nin + 1, sizeof *ptr);
	Tensor *o1 = xcalloc((size_t)r->nout + 1, sizeof *o1), *o2 = xcalloc((size_t)r->nout + 1, sizeof *o2);
	for (int i = 0; i < nin; i++)
		ptr[i] = &in[i];
	Store s1 = store_of(m1, 42, 3), s2 = store_of(m2, 42, 3);
	CgRegion *cr = cg_compile(jit, r, err, sizeof err);
	if (!cr) {
		check(false, name, "cg_compile: %s", err);
		mem_free(m1);
		mem_free(m2);
		free(ptr);
		free(o1);
		free(o2);
		return NULL;
	}
	interp_run(r, &s1, ptr, o1);
	host_run_compiled(cr, &s2, ptr, o2);
	char msg[300] = "";
	double x = 0, y = 0;
	for (int k = 0; k < r->nout && !*msg; k++) {
		int64_t i = differ(&o2[k], &o1[k], tol, &x, &y);
		if (!type_eq(&o1[k].type, &o2[k].type))
			snprintf(msg, sizeof msg, "output %d has another type", k);
		else if (i >= 0)
			snprintf(msg, sizeof msg, "output %d element %lld: jit %.9g, interp %.9g", k, (long long)i, x, y);
	}
	for (int k = 0; k < m1->n && !*msg; k++) {
		int64_t i = differ(&m2->s[k].t, &m1->s[k].t, tol, &x, &y);
		if (i >= 0)
			snprintf(msg, sizeof msg, "slot %s%s element %lld: jit %.9g, interp %.9g", m1->s[k].name,
				m1->s[k].state, (long long)i, x, y);
	}
	check(!*msg, name, "%s", msg);
	for (int k = 0; k < r->nout; k++) {
		free(o1[k].data);
		free(o2[k].data);
	}
	mem_free(m1);
	mem_free(m2);
	free(ptr);
	free(o1);
	free(o2);
	return cr;
}

static Node attrs(OpKind op, int n, ...)
{
	Node p = ir_proto(op);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		p.ia[i] = va_arg(ap, int);
	va_end(ap);
	p.nia = n;
	return p;
}

#endif
