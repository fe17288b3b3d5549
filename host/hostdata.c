/*
 * hostdata.c — the builtins that make data sets: idx, text and tokens over
 * the file readers of runtime/data.c, csv(path, target =, header =) over
 * runtime/csv.c, tensors(x, y) over tensors the program holds (first axis:
 * the examples; csv and tensors give in-memory sets that batches, split,
 * len and shuffling treat like the others), and split.
 */
#include "host/host.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lang/diag.h"

static const char *path_arg(Ev *ev, Value v, Loc loc, const char *what)
{
	if (v.kind != V_STR)
		ev_error(ev, loc, "%s must be a string, got a %s", what, value_kind_name(&v));
	return v.s;
}

/* idx(images, labels), text(path, context), tokens(path, context): a data
   set; tokens(path, eot = id): token documents (hostdocs.c). */
Value hostlib_data(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[4];
	char err[512];
	RtDataset *ds = NULL;
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	if (!strcmp(b->name, "idx"))
		ds = rt_idx_open(path_arg(ev, v[0], loc, "the images path"), path_arg(ev, v[1], loc, "the labels path"),
		                 v[2].kind == V_NONE || v[2].i, err, sizeof err);
	else {
		bool is_tokens = !strcmp(b->name, "tokens");
		if (is_tokens && v[2].kind != V_NONE && (v[2].kind != V_INT || v[2].i < 1))
			ev_error(ev, loc, "tokens: vocab must be a positive int");
		if (is_tokens && v[3].kind != V_NONE) {
			if (v[1].kind != V_NONE)
				ev_error(ev, loc, "tokens: give either context (fixed windows, for batches) or eot "
				                  "(documents, for packed_batches, which takes the context), not both");
			return hostdocs_tokens(ev, loc, path_arg(ev, v[0], loc, "the path"),
			                       v[2].kind == V_INT ? v[2].i : 0, v[3]);
		}
		if (v[1].kind != V_INT || v[1].i < 1)
			ev_error(ev, loc, "context must be a positive int");
		const char *path = path_arg(ev, v[0], loc, "the path");
		ds = !strcmp(b->name, "text") ? rt_text_open(path, v[1].i, err, sizeof err)
		                              : rt_tokens_open(path, v[1].i, v[2].kind == V_INT ? v[2].i : 0, err, sizeof err);
	}
	if (!ds)
		ev_error(ev, loc, "%s", err);
	return (Value){ .kind = V_DATASET, .ds = ds };
}

/* split(data, frac): [first frac of the examples, the rest].  Examples of a
   text or token set overlap their neighbours (example i holds bytes i ..
   i+T), so T examples are left out between the parts: no byte of the
   second part, input or target, is in the first. */
Value hostlib_split(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	if (v[0].kind != V_DATASET)
		ev_error(ev, loc, "split needs a data set, got a %s", value_kind_name(&v[0]));
	if (!is_number(&v[1]) || v[1].kind == V_BOOL || !(num(&v[1]) > 0 && num(&v[1]) < 1))
		ev_error(ev, loc, "split: frac must be a number between 0 and 1 (exclusive)");
	int64_t len = rt_dataset_len(v[0].ds);
	int64_t gap = rt_dataset_overlap(v[0].ds);
	int64_t k = (int64_t)floor(num(&v[1]) * (double)len);
	if (k < 1 || len - k - gap < 1)
		ev_error(ev, loc, "split: %lld examples are too few to split at %g%s", (long long)len, num(&v[1]),
		         gap ? arena_printf(ev->arena, " with a gap of %lld (the context)", (long long)gap) : "");
	Value *items = arena_alloc(ev->arena, 2 * sizeof *items);
	items[0] = (Value){ .kind = V_DATASET, .ds = rt_dataset_slice(v[0].ds, 0, k) };
	items[1] = (Value){ .kind = V_DATASET, .ds = rt_dataset_slice(v[0].ds, k + gap, len) };
	return (Value){ .kind = V_LIST, .items = items, .n = 2 };
}

/* csv(path, target = "label", header = true): the target by name with a
   header, by index (negative: from the end) with or without one. */
Value hostlib_csv(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[3];
	char err[640];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	const char *path = path_arg(ev, v[0], loc, "the path");
	if (v[2].kind != V_NONE && v[2].kind != V_BOOL)
		ev_error(ev, loc, "csv: header must be true or false, got a %s", value_kind_name(&v[2]));
	bool header = v[2].kind == V_NONE || v[2].i;
	const char *target = NULL;
	int64_t index = 0;
	if (v[1].kind == V_STR)
		target = v[1].s;
	else if (v[1].kind == V_INT)
		index = v[1].i;
	else if (v[1].kind == V_NONE)
		target = "label";
	else
		ev_error(ev, loc, "csv: target must be a column name (a string) or a column index (an int), got a %s",
		         value_kind_name(&v[1]));
	if (!header && target)
		ev_error(ev, loc, "csv: without a header, give the target column's index: target = 0 for the first, "
		         "-1 for the last");
	RtDataset *ds = rt_csv_open(path, target, index, header, err, sizeof err);
	if (!ds)
		ev_error(ev, loc, "%s", err);
	return (Value){ .kind = V_DATASET, .ds = ds };
}

/* The tensor a tensors(...) argument holds, checked to be one. */
static const Tensor *data_tensor(Ev *ev, Loc loc, Value v, const char *what)
{
	const Tensor *t = v.kind == V_HOST ? &v.ht->t : v.kind == V_PARAM ? &v.slot->t : NULL;
	char ts[96];
	if (!t)
		ev_error(ev, loc, "tensors: %s must be a tensor, got a %s", what, value_kind_name(&v));
	type_str(&t->type, ts, sizeof ts);
	if (t->type.rank == 0)
		ev_error(ev, loc, "tensors: %s is a scalar (%s); its first axis must count the examples", what, ts);
	if (t->type.dt == DT_BOOL || t->type.dt == DT_BF16)
		ev_error(ev, loc, "tensors: %s is %s; a data set holds f32 or i32 (convert with f32(...) or i32(...))",
		         what, ts);
	if (t->type.rank - 1 > RT_EXAMPLE_RANK)
		ev_error(ev, loc, "tensors: %s is %s; an example has at most %d axes", what, ts, RT_EXAMPLE_RANK);
	return t;
}

/* One example's shape, and a copy of the tensor's data. */
static RtShape example_shape(const Tensor *t)
{
	RtShape s = { .dt = t->type.dt == DT_F32 ? RT_F32 : RT_I32, .rank = t->type.rank - 1 };
	memcpy(s.dim, t->type.dim + 1, (size_t)s.rank * sizeof *s.dim);
	return s;
}

static void *copy_data(const Tensor *t)
{
	size_t bytes = (size_t)type_bytes(&t->type);
	void *p = xmalloc(bytes ? bytes : 1);
	memcpy(p, t->data, bytes);
	return p;
}

/* tensors(x) or tensors(x, y): the examples are the rows of the first axis,
   copied when the call runs (later changes to a parameter do not reach the
   set), x alone yielding batches of x only. */
Value hostlib_tensors(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	(void)b;
	static const char *const what[2] = { "x", "y" };
	for (int i = 0; i < n; i++)
		if (names && names[i])
			ev_error(ev, loc, "tensors takes its tensors by position: tensors(x) or tensors(x, y)");
	if (n < 1 || n > 2)
		ev_error(ev, loc, "tensors takes one or two tensors (x, or x and y), got %d", n);
	const Tensor *t[2] = { NULL, NULL };
	int64_t bytes = 0;
	for (int i = 0; i < n; i++) {
		t[i] = data_tensor(ev, loc, args[i], what[i]);
		bytes += type_bytes(&t[i]->type);
	}
	if (n == 2 && t[0]->type.dim[0] != t[1]->type.dim[0]) {
		char sx[96], sy[96];
		ev_error(ev, loc, "tensors: x has %lld examples (%s) but y has %lld (%s); their first axes must agree",
		         (long long)t[0]->type.dim[0], type_str(&t[0]->type, sx, sizeof sx),
		         (long long)t[1]->type.dim[0], type_str(&t[1]->type, sy, sizeof sy));
	}
	if (t[0]->type.dim[0] == 0)
		ev_error(ev, loc, "tensors: the data set would have no examples (the first axis is 0)");
	char err[512];
	if (!rt_mem_check(bytes, "the data set of tensors(...)", err, sizeof err))
		ev_error(ev, loc, "%s", err);
	RtShape ys = n == 2 ? example_shape(t[1]) : (RtShape){ 0 };
	RtDataset *ds = rt_dataset_memory(example_shape(t[0]), copy_data(t[0]), ys,
	                                  n == 2 ? copy_data(t[1]) : NULL, t[0]->type.dim[0]);
	return (Value){ .kind = V_DATASET, .ds = ds };
}
