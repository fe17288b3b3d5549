/*
 * store.c — the program's store and model buffers.
 *
 * Every tensor that outlives a region is a Slot of one store, found by
 * name through a hash: a parameter ("net.l1.weight"), an optimizer state
 * (the parameter's name and "opt.m") or a model buffer (its name and
 * SLOT_BUFFER).  The f32 slots of one family (all parameters; all states of
 * one name) sit in one packed block, a state at its parameter's offset, so
 * the pack pass can update many at once; a slot that cannot be packed (a
 * buffer, which no parameter shares a name with) has its own allocation.
 * Regions read and write slots through ev_store.
 *
 * A buffer (`buffer running_mean: f32[C] = zeros`) is saved, loaded and
 * checkpointed by its dotted name like a parameter, read by regions as an
 * OP_STATE node and never an optimizer's business (those update the
 * OP_PARAM slots a loss reads).  A method of the model that declares it
 * may assign it; the assignment is recorded in the trace and becomes an
 * OP_WRITE when the region runs, so, as with parameters and optimizer
 * state, every read in the region sees the value from before it.  The last
 * assignment of a buffer in a region wins: a model called twice in one
 * step updates its buffers from the second call alone (PyTorch would chain
 * the two updates; reading the old value everywhere is the rule that
 * keeps a step one region).
 */
#include "host/eval.h"

#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

/* ---- the store ---- */

static unsigned slot_hash(const char *name, const char *sname)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (const char *p = sname ? sname : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (unsigned)(h % SLOT_BUCKETS);
}

Slot *slot_find(Ev *ev, const char *name, const char *sname)
{
	if (!ev->slots)
		return NULL;
	for (Slot *s = ev->slots[slot_hash(name, sname)]; s; s = s->next)
		if (!strcmp(s->name, name) && ((!s->sname && !sname) || (s->sname && sname && !strcmp(s->sname, sname))))
			return s;
	return NULL;
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static Family *family_of(Ev *ev, const char *sname)
{
	for (Family *f = ev->families; f; f = f->next)
		if (str_same(f->sname, sname))
			return f;
	Family *f = arena_alloc(ev->arena, sizeof *f);
	f->sname = sname ? arena_strdup(ev->arena, sname) : NULL;
	f->t.type = type_make(DT_F32, 1, (int64_t[]){ 0 });
	f->next = ev->families;
	ev->families = f;
	return f;
}

/* What the next slot_new allocates for, and where the user asked for it:
   set by the callers that know (a param declaration, minimize), so that
   the memory check below can point at them. */
static struct {
	Loc loc;
	const char *what;
	bool alone; /* an allocation of its own even where a family could hold it */
} pending;

Slot *slot_new_for(Ev *ev, const char *name, const char *sname, Type t, Loc loc, const char *what)
{
	pending.loc = loc;
	pending.what = what;
	Slot *s = slot_new(ev, name, sname, t);
	pending.what = NULL;
	pending.loc = (Loc){ 0 };
	return s;
}

/* A typed optimizer state (`state r: f32[p.shape[0]]`) is not laid out
   like the parameters: a family block spans the whole parameter layout, so
   a state that only some parameters have (Adafactor's unfactored second
   moment, for the vectors alone) would cost as much as a state of every
   parameter there. */
Slot *slot_new_alone_for(Ev *ev, const char *name, const char *sname, Type t, Loc loc, const char *what)
{
	pending.alone = true;
	Slot *s = slot_new_for(ev, name, sname, t, loc, what);
	pending.alone = false;
	return s;
}

/* Checks `bytes` more against the memory limit; a located error when a
   caller said where the slot comes from, else a plain one. */
static bool store_fits(int64_t bytes, bool report)
{
	char err[512];
	if (rt_mem_check(bytes, pending.what ? pending.what : "the parameter store", err, sizeof err))
		return true;
	if (!report)
		return false;
	if (pending.loc.file)
		diag_error(pending.loc, "%s", err);
	fatal("%s", err);
}

/* Makes f's block at least `bytes` long; a moved block moves its slots. */
static void family_reserve(Ev *ev, Family *f, int64_t bytes)
{
	int64_t cap = type_bytes(&f->t.type);
	if (bytes <= cap)
		return;
	/* doubling keeps growth amortized, but only while the limit allows it;
	   the old block is still held while the new one is filled */
	int64_t ncap = ir_pack_align(bytes);
	if (cap * 2 > ncap && store_fits(cap * 2, false))
		ncap = cap * 2;
	store_fits(ncap, true);
	char *block = aligned_alloc(IR_PACK_ALIGN, (size_t)ncap);
	if (!block)
		fatal("out of memory: a block of %lld bytes of parameters or state", (long long)ncap);
	rt_mem_hold(ncap - cap);
	if (cap)
		memcpy(block, f->t.data, (size_t)cap);
	memset(block + cap, 0, (size_t)(ncap - cap));
	for (int b = 0; b < SLOT_BUCKETS; b++)
		for (Slot *s = ev->slots[b]; s; s = s->next)
			if (s->off >= 0 && str_same(s->sname, f->sname))
				s->t.data = block + s->off;
	free(f->t.data);
	f->t.data = block;
	f->t.type.dim[0] = ncap / 4;
}

void slots_free(Ev *ev)
{
	for (int b = 0; ev->slots && b < SLOT_BUCKETS; b++)
		for (Slot *s = ev->slots[b]; s; s = s->next) {
			if (s->off < 0)
				free(s->t.data);
			s->t.data = NULL;
		}
	for (Family *f = ev->families; f; f = f->next) {
		free(f->t.data);
		f->t.data = NULL;
		f->t.type.dim[0] = 0;
	}
}

/* Where a new f32 slot goes in its family's block: a parameter at the end
   of the layout (or where it was, when re-created with the same size), a
   state at its parameter's offset; -1 when it cannot be packed. */
static int64_t place(Ev *ev, Slot *s, const char *name, const char *sname, Type t)
{
	int64_t bytes = type_bytes(&t);
	if (t.dt != DT_F32 || bytes == 0 || pending.alone)
		return -1;
	if (s->off >= 0 && type_bytes(&s->t.type) == bytes)
		return s->off;
	if (sname) {
		Slot *p = slot_find(ev, name, NULL);
		return p && p->off >= 0 && type_bytes(&p->t.type) == bytes ? p->off : -1;
	}
	int64_t off = ir_pack_align(ev->param_end);
	ev->param_end = off + bytes;
	return off;
}

Slot *slot_new(Ev *ev, const char *name, const char *sname, Type t)
{
	if (!ev->slots)
		ev->slots = arena_alloc(ev->arena, SLOT_BUCKETS * sizeof *ev->slots);
	Slot *s = slot_find(ev, name, sname);
	if (!s) {
		s = arena_alloc(ev->arena, sizeof *s);
		s->name = arena_strdup(ev->arena, name);
		s->sname = sname ? arena_strdup(ev->arena, sname) : NULL;
		s->off = -1;
		unsigned h = slot_hash(name, sname);
		s->next = ev->slots[h];
		ev->slots[h] = s;
	} else if (s->off < 0) {
		rt_mem_hold(-type_bytes(&s->t.type));
		free(s->t.data);
	}
	int64_t off = place(ev, s, name, sname, t);
	s->off = -1; /* not moved by family_reserve until placed */
	s->t.type = t;
	if (off < 0) {
		int64_t bytes = type_bytes(&t);
		store_fits(bytes, true);
		rt_mem_hold(bytes);
		s->t.data = xcalloc((size_t)type_numel(&t), dtype_size(t.dt));
		return s;
	}
	Family *f = family_of(ev, sname);
	family_reserve(ev, f, sname ? ev->param_end : off + type_bytes(&t));
	s->off = off;
	s->t.data = (char *)f->t.data + off;
	memset(s->t.data, 0, (size_t)type_bytes(&t));
	return s;
}

/* ---- arranging the layout ---- */

static int by_off(const void *a, const void *b)
{
	int64_t x = (*(Slot *const *)a)->off, y = (*(Slot *const *)b)->off;
	return (x > y) - (x < y);
}

/* The index of offset off in the sorted offsets at[0..n), or -1. */
static int index_of(const int64_t *at, int n, int64_t off)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (at[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && at[lo] == off ? lo : -1;
}

void store_arrange(Ev *ev, Slot *const *first, int nfirst)
{
	int n = 0;
	for (int b = 0; ev->slots && b < SLOT_BUCKETS; b++)
		for (Slot *s = ev->slots[b]; s; s = s->next)
			n += !s->sname && s->off >= 0;
	if (!n)
		return;
	Slot **old = arena_alloc(ev->arena, (size_t)n * sizeof *old);
	n = 0;
	for (int b = 0; b < SLOT_BUCKETS; b++)
		for (Slot *s = ev->slots[b]; s; s = s->next)
			if (!s->sname && s->off >= 0)
				old[n++] = s;
	qsort(old, (size_t)n, sizeof *old, by_off);
	/* offsets change below: search the old ones in a copy */
	int64_t *at = arena_alloc(ev->arena, (size_t)n * sizeof *at), *to = arena_alloc(ev->arena, (size_t)n * sizeof *to);
	for (int i = 0; i < n; i++) {
		at[i] = old[i]->off;
		to[i] = -1;
	}
	/* the new offset of each parameter: `first` in its order, then the
	   others in their present order */
	int64_t end = 0;
	for (int k = 0; k < nfirst + n; k++) {
		Slot *p = k < nfirst ? first[k] : old[k - nfirst];
		int i = p->sname || p->off < 0 ? -1 : index_of(at, n, p->off);
		if (i < 0 || old[i] != p || to[i] >= 0)
			continue;
		to[i] = ir_pack_align(end);
		end = to[i] + type_bytes(&p->t.type);
	}
	for (Family *f = ev->families; f; f = f->next) {
		int64_t cap = type_bytes(&f->t.type), ncap = cap > ir_pack_align(end) ? cap : ir_pack_align(end);
		if (!cap)
			continue;
		store_fits(ncap, true);
		char *block = aligned_alloc(IR_PACK_ALIGN, (size_t)ncap);
		if (!block)
			fatal("out of memory: a block of %lld bytes of parameters or state", (long long)ncap);
		rt_mem_hold(ncap);
		memset(block, 0, (size_t)ncap);
		for (int b = 0; b < SLOT_BUCKETS; b++)
			for (Slot *s = ev->slots[b]; s; s = s->next) {
				if (s->off < 0 || !str_same(s->sname, f->sname))
					continue;
				int i = index_of(at, n, s->off);
				int64_t off = i < 0 ? -1 : to[i], bytes = type_bytes(&s->t.type);
				if (off < 0) { /* a state its parameter left (re-created at another size) */
					rt_mem_hold(bytes);
					void *own = xmalloc((size_t)bytes);
					memcpy(own, s->t.data, (size_t)bytes);
					s->t.data = own;
				} else {
					memcpy(block + off, s->t.data, (size_t)bytes);
					s->t.data = block + off;
				}
				s->off = off;
			}
		free(f->t.data);
		rt_mem_hold(-cap);
		f->t.data = block;
		f->t.type.dim[0] = ncap / 4;
	}
	ev->param_end = end;
}

static Tensor *store_lookup(Store *s, const char *name, const char *state)
{
	Slot *slot = slot_find(s->ctx, name, state);
	return slot ? &slot->t : NULL;
}

static Tensor *store_family(Store *s, const char *state)
{
	for (Family *f = ((Ev *)s->ctx)->families; f; f = f->next)
		if (str_same(f->sname, state))
			return &f->t;
	return NULL;
}

Store ev_store(Ev *ev)
{
	return (Store){ .ctx = ev, .lookup = store_lookup, .family = store_family, .seed = ev->seed };
}

/* ---- buffers ---- */

bool slot_is_buffer(const Slot *s)
{
	return s->sname && !strcmp(s->sname, SLOT_BUFFER);
}

/* The one source of truth for training mode: the trace of minimize's loss
   argument is flagged while it is evaluated (eval.c, eval_call), and both
   dropout and the name `training` read the flag here. */
bool ev_training(const Ev *ev)
{
	return ev->tr && ev->tr->training;
}

/* The declaration of buffer `name` in self's model (for notes). */
static const ModelItem *buffer_item(const Instance *self, const char *name)
{
	const ModelDecl *md = self->decl->model;
	for (int i = 0; i < md->nitems; i++)
		if (md->items[i].kind == MI_BUFFER && !strcmp(md->items[i].name, name))
			return &md->items[i];
	return NULL;
}

void buffer_assign(Ev *ev, const Instance *self, Slot *s, Value v, Loc loc)
{
	size_t n = strlen(self->path);
	const char *name = !strncmp(s->name, self->path, n) && s->name[n] == '.' ? s->name + n + 1 : s->name;
	const ModelItem *it = buffer_item(self, name);
	if (!ev->tr)
		ev_error(ev, loc, "buffer '%s' can only be assigned in tensor code (a method called on tensors)", name);
	Region *r = ev->tr->r;
	Type want = s->t.type, got;
	int x;
	if (is_number(&v)) {
		/* a number fills the buffer, as buf.fill_(v) would */
		x = ev_node(ev, v, loc, want.dt);
		Node bp = ir_proto(OP_BROADCAST);
		bp.type = want;
		x = want.rank ? ir_emit(r, &bp, &x, 1, NULL, 0) : x;
	} else {
		if (!tensor_type(ev, &v, &got))
			ev_error(ev, loc, "the new value of buffer '%s' must be a tensor or a number, got a %s", name,
			         value_kind_name(&v));
		if (!type_eq(&got, &want)) {
			int depth = ev_error_begin(ev, loc, "buffer '%s' is %s, but the value assigned to it is %s", name,
			                           TS(&want), TS(&got));
			if (it)
				diag_note(it->loc, "declared here");
			ev_error_end(ev, depth);
		}
		x = ev_node(ev, v, loc, DT_COUNT);
	}
	Trace *tr = ev->tr;
	for (int i = 0; i < tr->nbufw; i++)
		if (tr->bufslot[i] == s) {
			tr->bufval[i] = x;
			return;
		}
	if (tr->nbufw == tr->capbufw) {
		int cap = tr->capbufw ? 2 * tr->capbufw : 8;
		tr->bufslot = arena_grow(tr->a, tr->bufslot, tr->nbufw * sizeof *tr->bufslot, cap * sizeof *tr->bufslot);
		tr->bufval = arena_grow(tr->a, tr->bufval, tr->nbufw * sizeof *tr->bufval, cap * sizeof *tr->bufval);
		tr->capbufw = cap;
	}
	tr->bufslot[tr->nbufw] = s;
	tr->bufval[tr->nbufw++] = x;
}

void buffer_emit_writes(Ev *ev)
{
	Trace *tr = ev->tr;
	for (int i = 0; tr && i < tr->nbufw; i++) {
		int st = ev_node(ev, (Value){ .kind = V_PARAM, .slot = tr->bufslot[i] }, (Loc){ 0 }, DT_COUNT);
		if (st == tr->bufval[i])
			continue; /* `b = b` writes nothing */
		Node wp = ir_proto(OP_WRITE);
		ir_emit(tr->r, &wp, (int[]){ st, tr->bufval[i] }, 2, NULL, 0);
	}
	if (tr)
		tr->nbufw = 0;
}
