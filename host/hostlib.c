/*
 * hostlib.c — builtins of the host program: print, log, batches (the data
 * sets are host/hostdata.c's), minimize, save/load, checkpoint/resume, conversions, as handlers
 * of rows of the builtin table (host/prims.c).  All but minimize take host
 * values: ev_builtin ran the traced work of their arguments first.
 */
#include "host/host.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"
#include "runtime/dist.h"

/* ---- printing ---- */

/* Shortest text that reads back as the same number, as Python prints floats
   (and NumPy f32 elements): maxprec 17 for a double, 9 for an f32, whose
   text only has to read back as the same f32 (0.1, not 0.100000001), 4
   for a bf16 (0.1, not 0.10009765625, the bf16 nearest 0.1).
   Positional from 1e-4 up to 1e16, scientific outside, like Python's repr. */
static void fmt_float(char *buf, size_t n, double x, int maxprec)
{
	if (isnan(x)) {
		snprintf(buf, n, "nan");
		return;
	}
	if (isinf(x)) {
		snprintf(buf, n, x > 0 ? "inf" : "-inf");
		return;
	}
	int p = 1;
	for (; p < maxprec; p++) {
		snprintf(buf, n, "%.*e", p - 1, x);
		double back = strtod(buf, NULL);
		if (maxprec <= 4 ? rt_bf16_from_f32((float)back) == rt_bf16_from_f32((float)x)
		    : maxprec <= 9 ? (float)back == (float)x : back == x)
			break;
	}
	snprintf(buf, n, "%.*e", p - 1, x);
	int e = atoi(strchr(buf, 'e') + 1);
	if (e >= -4 && e < 16) {
		snprintf(buf, n, "%.*f", p - 1 - e > 0 ? p - 1 - e : 0, x);
		if (!strchr(buf, '.'))
			strncat(buf, ".0", n - strlen(buf) - 1);
	}
}

static void fmt_tensor(FILE *f, const Tensor *t, int axis, int64_t off)
{
	if (axis == t->type.rank) {
		char buf[64];
		switch (t->type.dt) {
		case DT_F32: fmt_float(buf, sizeof buf, ((float *)t->data)[off], 9); break;
		case DT_I32: snprintf(buf, sizeof buf, "%d", ((int32_t *)t->data)[off]); break;
		case DT_BF16: fmt_float(buf, sizeof buf, rt_bf16_to_f32(((uint16_t *)t->data)[off]), 4); break;
		default: snprintf(buf, sizeof buf, "%s", ((uint8_t *)t->data)[off] ? "true" : "false"); break;
		}
		fputs(buf, f);
		return;
	}
	int64_t stride = 1;
	for (int i = axis + 1; i < t->type.rank; i++)
		stride *= t->type.dim[i];
	fputc('[', f);
	for (int64_t i = 0; i < t->type.dim[axis]; i++) {
		if (i)
			fputs(", ", f);
		if (t->type.dim[axis] > 12 && i == 6) {
			fputs("...", f);
			i = t->type.dim[axis] - 4;
			continue;
		}
		fmt_tensor(f, t, axis + 1, off + i * stride);
	}
	fputc(']', f);
}

const char *host_format(Ev *ev, Value v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	char buf[64];
	switch (v.kind) {
	case V_INT: fprintf(f, "%lld", (long long)v.i); break;
	case V_FLOAT: fmt_float(buf, sizeof buf, v.f, 17); fputs(buf, f); break;
	case V_BOOL: fputs(v.i ? "true" : "false", f); break;
	case V_NONE: fputs("none", f); break;
	case V_STR: fputs(v.s, f); break;
	case V_HOST: fmt_tensor(f, &v.ht->t, 0, 0); break;
	case V_PARAM: fmt_tensor(f, &v.slot->t, 0, 0); break;
	case V_LIST:
		fputc('[', f);
		for (int i = 0; i < v.n; i++)
			fprintf(f, "%s%s", i ? ", " : "", host_format(ev, v.items[i]));
		fputc(']', f);
		break;
	case V_MODEL: fprintf(f, "<model %s %s>", v.inst->decl->name, v.inst->path); break;
	case V_OPT: fprintf(f, "<optimizer %s>", v.opt->decl->name); break;
	case V_RANGE: fprintf(f, "%lld..%lld", (long long)v.i, (long long)v.j); break;
	default: fprintf(f, "<%s>", value_kind_name(&v)); break;
	}
	fclose(f);
	char *s = arena_strdup(ev->arena, text);
	free(text);
	return s;
}

/* ---- parameters as named tensors ---- */

static const char *short_name(const Instance *inst, const Slot *s)
{
	size_t n = strlen(inst->path);
	return !strncmp(s->name, inst->path, n) && s->name[n] == '.' ? s->name + n + 1 : s->name;
}

static RtTensor rt_tensor(const char *name, const Tensor *t)
{
	RtDType dt = t->type.dt == DT_F32 ? RT_F32 : t->type.dt == DT_BF16 ? RT_BF16 : RT_I32;
	RtTensor r = { .name = name, .dt = dt, .rank = t->type.rank, .data = t->data };
	for (int i = 0; i < t->type.rank; i++)
		r.dim[i] = t->type.dim[i];
	return r;
}

static void save_tensors(Ev *ev, Loc loc, const char *path, RtTensor *ts, int n)
{
	char err[512];
	if (ev->dry || rt_dist_rank() != 0) /* the ranks hold the same values: rank 0 writes them */
		return;
	if (!rt_safetensors_save(path, ts, n, err, sizeof err))
		ev_error(ev, loc, "%s", err);
}

/* Copies the tensor called name out of ts into t, checking its shape. */
static void load_into(Ev *ev, Loc loc, const char *path, RtTensor *ts, int n, const char *name, Tensor *t)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(ts[i].name, name))
			continue;
		/* bf16 widens to f32 exactly, as PyTorch's load_state_dict copies a
		   bfloat16 tensor into a float parameter */
		bool widen = ts[i].dt == RT_BF16 && t->type.dt == DT_F32;
		bool ok = ts[i].rank == t->type.rank && (widen || (ts[i].dt == RT_F32) == (t->type.dt == DT_F32));
		for (int k = 0; ok && k < ts[i].rank; k++)
			ok = ts[i].dim[k] == t->type.dim[k];
		if (!ok) {
			Type got = { .dt = ts[i].dt == RT_F32 ? DT_F32 : ts[i].dt == RT_BF16 ? DT_BF16 : DT_I32, .rank = ts[i].rank };
			for (int k = 0; k < ts[i].rank && k < MAX_RANK; k++)
				got.dim[k] = ts[i].dim[k];
			ev_error(ev, loc, "'%s': tensor '%s' is %s, but the model has %s", path, name,
			         type_str(&got, (char[96]){ 0 }, 96), type_str(&t->type, (char[96]){ 0 }, 96));
		}
		if (widen)
			for (int64_t k = 0; k < type_numel(&t->type); k++)
				((float *)t->data)[k] = rt_bf16_to_f32(((const uint16_t *)ts[i].data)[k]);
		else
			memcpy(t->data, ts[i].data, (size_t)type_bytes(&t->type));
		return;
	}
	ev_error(ev, loc, "'%s' has no tensor '%s'", path, name);
}

static RtTensor *read_tensors(Ev *ev, Loc loc, const char *path, int *n)
{
	RtTensor *ts;
	char err[512];
	if (!rt_safetensors_load(path, &ts, n, err, sizeof err))
		ev_error(ev, loc, "%s", err);
	return ts;
}

static Instance *want_model(Ev *ev, Value v, Loc loc, const char *fname)
{
	if (v.kind != V_MODEL)
		ev_error(ev, loc, "%s needs a model, got a %s", fname, value_kind_name(&v));
	return v.inst;
}

static const char *want_str(Ev *ev, Value v, Loc loc, const char *what)
{
	if (v.kind != V_STR)
		ev_error(ev, loc, "%s must be a string, got a %s", what, value_kind_name(&v));
	return v.s;
}

/* The tensor called name in ts, or NULL. */
static const RtTensor *find_tensor(const RtTensor *ts, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(ts[i].name, name))
			return &ts[i];
	return NULL;
}

/* Reads and checks meta.step and meta.loops of a checkpoint into meta[3]
   and the pending loop positions of the host; nothing is changed before
   all of it has been found valid. */
static void read_meta(Ev *ev, Loc loc, const char *path, const RtTensor *f, int nf, int32_t meta[3])
{
	static const char *const what[3] = { "opt.t", "the number of batches loops started", "the number of regions run" };
	const RtTensor *m = find_tensor(f, nf, "meta.step");
	if (!m)
		ev_error(ev, loc, "'%s' has no tensor 'meta.step'; is it a checkpoint?", path);
	if (m->dt != RT_I32 || m->rank != 1 || m->dim[0] != 3)
		ev_error(ev, loc, "'%s': tensor 'meta.step' must be i32[3] (opt.t, batches loops started, regions run)", path);
	const int32_t *v = m->data;
	for (int i = 0; i < 3; i++)
		if (v[i] < 0)
			ev_error(ev, loc, "'%s': meta.step[%d] (%s) is %d; it must be a non-negative count", path, i, what[i], v[i]);
	const RtTensor *l = find_tensor(f, nf, "meta.loops");
	int nl = 0;
	if (l) { /* absent in checkpoints taken before it existed: no loop to continue */
		if (l->dt != RT_I32 || l->rank != 2 || l->dim[1] != 4 || l->dim[0] > HOST_MAX_LOOPS)
			ev_error(ev, loc, "'%s': tensor 'meta.loops' must be i32[n, 4] with n <= %d", path, HOST_MAX_LOOPS);
		nl = (int)l->dim[0];
		const int32_t *p = l->data;
		for (int i = 0; i < nl; i++, p += 4)
			if (p[0] < 1 || p[1] < 1 || p[2] < 0 || p[3] < -1 || p[3] >= v[1])
				ev_error(ev, loc, "'%s': meta.loops row %d (%d, %d, %d, %d) is not a loop position "
				         "(line >= 1, column >= 1, iteration >= 0, batches call -1 or below meta.step[1] = %d)",
				         path, i, p[0], p[1], p[2], p[3], v[1]);
	}
	host_vars_read(ev, loc, path, f, nf, nl);
	memcpy(meta, v, 3 * sizeof *meta);
	Host *h = ev->host;
	h->npending = nl;
	h->nmatched = 0;
	for (int i = 0; i < nl; i++) {
		const int32_t *p = (const int32_t *)l->data + 4 * i;
		h->pending[i] = (LoopPos){ p[0], p[1], p[2], p[3] };
	}
}

/* A typed optimizer state exists for the parameters whose update made it
   (model.c), with the type its declaration gave there: a checkpoint holds
   those, and resume makes each one the file has, with the file's type
   (the update checks it against the declaration when it reads it). */
static void resume_typed_states(Ev *ev, Loc loc, const char *path, RtTensor *f, int nf, Instance *inst, OptInst *o)
{
	const OptDecl *od = o->decl->opt;
	for (int i = 0; i < inst->nparams; i++)
		for (int s = 0; s < od->nstates; s++) {
			const char *sname = arena_printf(ev->arena, "%s.%s", o->name, od->states[s]);
			const char *key = arena_printf(ev->arena, "opt.%s.%s", od->states[s], short_name(inst, inst->params[i]));
			if (!od->state_types[s] || slot_find(ev, inst->params[i]->name, sname))
				continue;
			for (int k = 0; k < nf; k++) {
				if (strcmp(f[k].name, key))
					continue;
				if (f[k].dt != RT_F32 || f[k].rank > MAX_RANK)
					ev_error(ev, loc, "'%s': tensor '%s' must be f32 with at most %d axes", path, key, MAX_RANK);
				Type t = { .dt = DT_F32, .rank = f[k].rank };
				for (int d = 0; d < f[k].rank; d++)
					t.dim[d] = f[k].dim[d];
				Slot *st = slot_new_alone_for(ev, inst->params[i]->name, sname, t, loc, arena_printf(ev->arena,
				                              "the optimizer state %s (for %s)", sname, inst->params[i]->name));
				load_into(ev, loc, path, f, nf, key, &st->t);
			}
		}
}

/* checkpoint/resume: parameters and buffers under "model.", optimizer state under
   "opt.<state>.", under "meta.step" i32[3] the step count, the batches()
   call count and the region execution count (the random streams), and
   under "meta.loops" i32[n, 4] the host loops running at the checkpoint
   (line, column, iteration, batches call or -1), outermost first, so that
   resume continues them (host/host.c, loop_enter). */
static void checkpoint(Ev *ev, Loc loc, Value *v, bool save)
{
	const char *path = want_str(ev, v[0], loc, "the checkpoint path");
	Instance *inst = want_model(ev, v[1], loc, save ? "checkpoint" : "resume");
	if (v[2].kind != V_OPT)
		ev_error(ev, loc, "%s needs an optimizer as its third argument", save ? "checkpoint" : "resume");
	OptInst *o = v[2].opt;
	Host *h = ev->host;
	if (save) /* rank 0 writes what every rank holds: make sure they do */
		host_dist_guard(ev, o->t, loc);
	const char **vnames = NULL;
	Tensor *vts = NULL;
	int nvars = save && !ev->dry ? host_vars_save(ev, &vnames, &vts) : 0;
	int cap = inst->nparams * (1 + o->decl->opt->nstates) + inst->nbuffers + 2 + nvars, n = 0;
	/* in the arena: a located error below exits with them still held */
	RtTensor *ts = arena_alloc(ev->arena, (size_t)cap * sizeof *ts);
	Tensor *slots = arena_alloc(ev->arena, (size_t)cap * sizeof *slots);
	if (save && o->accum_n > 0)
		ev_error(ev, loc, "checkpoint in the middle of a gradient accumulation (%lld of %lld micro-batches of step "
		         "%lld summed): checkpoint right after a step, when opt.accumulated is 0",
		         (long long)o->accum_n, (long long)o->accum_k, (long long)o->t + 1);
	if (save && (h->nloops > HOST_MAX_LOOPS || o->t > INT32_MAX || ev->batches_calls > INT32_MAX ||
	             ev->region_runs > INT32_MAX))
		ev_error(ev, loc, "checkpoint: %s", h->nloops > HOST_MAX_LOOPS
		         ? arena_printf(ev->arena, "cannot record a position inside more than %d nested loops", HOST_MAX_LOOPS)
		         : "the step or random-stream counters are too large to record (above 2^31 - 1)");
	int32_t meta[3] = { (int32_t)o->t, (int32_t)ev->batches_calls, (int32_t)ev->region_runs };
	int32_t loops[HOST_MAX_LOOPS][4];
	for (int i = 0; i < h->nloops && i < HOST_MAX_LOOPS; i++) {
		if (h->loops[i].iter > INT32_MAX)
			ev_error(ev, loc, "checkpoint: loop iteration %lld is too large to record", (long long)h->loops[i].iter);
		loops[i][0] = h->loops[i].line;
		loops[i][1] = h->loops[i].col;
		loops[i][2] = (int32_t)h->loops[i].iter;
		loops[i][3] = (int32_t)h->loops[i].call;
	}
	for (int i = 0; i < inst->nparams; i++) {
		Slot *p = inst->params[i];
		slots[n] = p->t;
		ts[n] = rt_tensor(arena_printf(ev->arena, "model.%s", short_name(inst, p)), &p->t);
		n++;
		for (int s = 0; opt_owns(o, p->name) && s < o->decl->opt->nstates; s++) {
			const char *sname = arena_printf(ev->arena, "%s.%s", o->name, o->decl->opt->states[s]);
			Slot *st = slot_find(ev, p->name, sname);
			if (!st && o->decl->opt->state_types[s])
				continue; /* not made yet (model.c): resume_typed_states */
			if (!st)
				st = slot_new(ev, p->name, sname, p->t.type); /* before the first step: zeros */
			slots[n] = st->t;
			ts[n++] = rt_tensor(arena_printf(ev->arena, "opt.%s.%s", o->decl->opt->states[s], short_name(inst, p)), &st->t);
		}
	}
	for (int i = 0; i < inst->nbuffers; i++) { /* buffers: model state, no optimizer state */
		slots[n] = inst->buffers[i]->t;
		ts[n++] = rt_tensor(arena_printf(ev->arena, "model.%s", short_name(inst, inst->buffers[i])), &inst->buffers[i]->t);
	}
	if (save) {
		Tensor mt = { .type = type_make(DT_I32, 1, (int64_t[]){ 3 }), .data = meta };
		Tensor lt = { .type = type_make(DT_I32, 2, (int64_t[]){ h->nloops, 4 }), .data = loops };
		ts[n++] = rt_tensor("meta.step", &mt);
		ts[n++] = rt_tensor("meta.loops", &lt);
		for (int i = 0; i < nvars; i++)
			ts[n++] = rt_tensor(vnames[i], &vts[i]);
		save_tensors(ev, loc, path, ts, n);
	} else if (!ev->dry) {
		int nf;
		RtTensor *f = read_tensors(ev, loc, path, &nf);
		read_meta(ev, loc, path, f, nf, meta);
		for (int i = 0; i < n; i++)
			load_into(ev, loc, path, f, nf, ts[i].name, &slots[i]);
		resume_typed_states(ev, loc, path, f, nf, inst, o);
		rt_tensors_free(f, nf);
		o->t = meta[0];
		step_forget(ev, o, inst);
		ev->batches_calls = meta[1];
		ev->region_runs = meta[2];
		h->log_step = o->t;
	}
}

Value hostlib_print(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	(void)b;
	Host *h = ev->host;
	if (h->log)
		rt_log_clear_line(h->log);
	for (int i = 0; i < n; i++) {
		if (names && names[i])
			ev_error(ev, loc, "print takes no keyword arguments");
		if (!ev->dry)
			printf("%s%s", i ? " " : "", host_format(ev, args[i]));
	}
	if (!ev->dry)
		printf("\n");
	fflush(stdout);
	return (Value){ .kind = V_NONE };
}

Value hostlib_log(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	(void)b;
	const char **keys = arena_alloc(ev->arena, (n + 1) * sizeof *keys);
	double *vals = arena_alloc(ev->arena, (n + 1) * sizeof *vals);
	for (int i = 0; i < n; i++) {
		if (!names || !names[i])
			ev_error(ev, loc, "log takes named values: log(loss = loss)");
		if (!is_number(&args[i]))
			ev_error(ev, loc, "log: '%s' must be a number, got a %s", names[i], value_kind_name(&args[i]));
		keys[i] = names[i];
		vals[i] = num(&args[i]);
	}
	if (ev->host->log && !ev->dry)
		rt_log_record(ev->host->log, ev->host->log_step, n, keys, vals);
	return (Value){ .kind = V_NONE };
}

Value hostlib_minimize(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[4];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	return host_minimize(ev, v[0], v[1], v[2], v[3], loc);
}

Value hostlib_len(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value x;
	get_args(ev, loc, b->name, b->spec, args, names, n, &x);
	if (x.kind == V_DATASET)
		return v_int(rt_dataset_len(x.ds));
	if (x.kind == V_LIST)
		return v_int(x.n);
	if (x.kind == V_STR)
		return v_int((int64_t)strlen(x.s));
	if (x.kind == V_HOST && x.ht->t.type.rank)
		return v_int(x.ht->t.type.dim[0]);
	if (x.kind == V_TENSOR && ev->tr->r->node[x.node].type.rank)
		return v_int(ev->tr->r->node[x.node].type.dim[0]);
	ev_error(ev, loc, "len of a %s", value_kind_name(&x));
}

Value hostlib_batches(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value all[6];
	get_args(ev, loc, b->name, b->spec, args, names, n, all);
	Value seed = all[4];
	if (all[0].kind != V_DATASET)
		ev_error(ev, loc, "batches needs a data set, got a %s", value_kind_name(&all[0]));
	if (rt_dataset_is_docs(all[0].ds))
		ev_error(ev, loc, "batches of documents have no one shape: use packed_batches(data, size, context)");
	if (all[1].kind != V_INT || all[1].i < 1)
		ev_error(ev, loc, "batch size must be a positive int");
	if (all[1].i > rt_dataset_len(all[0].ds))
		ev_error(ev, loc, "batch size %lld is larger than the data set (%lld examples)",
		         (long long)all[1].i, (long long)rt_dataset_len(all[0].ds));
	if (all[5].kind != V_NONE && all[5].kind != V_BOOL)
		ev_error(ev, loc, "batches: shard must be true or false, got %s %s",
		         strchr("aeiou", value_kind_name(&all[5])[0]) ? "an" : "a", value_kind_name(&all[5]));
	Value *items = arena_alloc(ev->arena, 5 * sizeof *items);
	items[0] = all[1];
	items[1] = v_bool(all[2].kind != V_NONE && all[2].i);
	items[2] = v_bool(all[3].kind == V_NONE || all[3].i);
	items[3] = seed;
	items[4] = v_bool(all[5].kind == V_BOOL && all[5].i);
	return (Value){ .kind = V_BATCHES, .ds = all[0].ds, .items = items, .n = 5 };
}

/* save(model, path, dtype = "f32") and load(model, path): the parameters,
   then the buffers, each under its name without the model's; dtype "bf16"
   saves them rounded to BF16 (as model.bfloat16() before torch's save). */
Value hostlib_params(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[3] = { { 0 }, { 0 }, { .kind = V_NONE } };
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	bool bf16 = false;
	if (v[2].kind != V_NONE) {
		const char *dt = want_str(ev, v[2], loc, "the dtype");
		if (strcmp(dt, "f32") && strcmp(dt, "bf16"))
			ev_error(ev, loc, "save: dtype must be \"f32\" or \"bf16\", got \"%s\"", dt);
		bf16 = dt[0] == 'b';
	}
	Instance *inst = want_model(ev, v[0], loc, b->name);
	const char *path = want_str(ev, v[1], loc, "the path");
	int nt = inst->nparams + inst->nbuffers;
	/* in the arena: a file without a tensor exits before the end */
	RtTensor *ts = arena_alloc(ev->arena, (nt + 1) * sizeof *ts);
	Slot **slots = arena_alloc(ev->arena, (nt + 1) * sizeof *slots);
	for (int i = 0; i < nt; i++) {
		slots[i] = i < inst->nparams ? inst->params[i] : inst->buffers[i - inst->nparams];
		ts[i] = rt_tensor(short_name(inst, slots[i]), &slots[i]->t);
		if (bf16 && b->name[0] == 's' && ts[i].dt == RT_F32) {
			int64_t k, numel = type_numel(&slots[i]->t.type);
			uint16_t *h = arena_alloc(ev->arena, (size_t)numel * sizeof *h + 1);
			for (k = 0; k < numel; k++)
				h[k] = rt_bf16_from_f32(((const float *)ts[i].data)[k]);
			ts[i].dt = RT_BF16;
			ts[i].data = h;
		}
	}
	if (b->name[0] == 's')
		save_tensors(ev, loc, path, ts, nt);
	else if (!ev->dry) {
		int nf;
		RtTensor *f = read_tensors(ev, loc, path, &nf);
		for (int i = 0; i < nt; i++)
			load_into(ev, loc, path, f, nf, ts[i].name, &slots[i]->t);
		rt_tensors_free(f, nf);
	}
	return (Value){ .kind = V_NONE };
}

Value hostlib_checkpoint(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[3];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	checkpoint(ev, loc, v, b->name[0] == 'c');
	return (Value){ .kind = V_NONE };
}

/* int(x) and float(x) of a host number. */
Value hostlib_convert(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value x;
	get_args(ev, loc, b->name, b->spec, args, names, n, &x);
	if (!is_number(&x))
		ev_error(ev, loc, "%s of a %s", b->name, value_kind_name(&x));
	Value r = b->name[0] == 'i' ? v_int(x.kind == V_FLOAT ? ev_float_to_int(ev, loc, x.f) : x.i) : v_float(num(&x));
	r.dyn = x.dyn;
	return r;
}

Value hostlib_str(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value x;
	get_args(ev, loc, b->name, b->spec, args, names, n, &x);
	return v_str(host_format(ev, x));
}

/* assert(cond, message): a located error when cond is false.  Inside the
   standard library it points at the user's call that reached it (a
   layer's check of its arguments reports at `GroupNorm(3, 4)`), as the
   error PyTorch raises names the user's line in its traceback. */
Value hostlib_assert(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	if (v[0].kind != V_BOOL && v[0].kind != V_INT)
		ev_error(ev, loc, "assert needs a bool condition, got a %s", value_kind_name(&v[0]));
	const char *msg = want_str(ev, v[1], loc, "the message of assert");
	if (v[0].i)
		return (Value){ .kind = V_NONE };
	ev_error_end(ev, ev_error_begin(ev, loc, "%s", msg));
}
