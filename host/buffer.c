/*
 * buffer.c — model buffers (`buffer running_mean: f32[C] = zeros`) and
 * the training flag that decides whether layers update them.
 *
 * A buffer is a slot of the store like a parameter, with the sname
 * SLOT_BUFFER: saved, loaded and checkpointed by its dotted name, read by
 * regions as an OP_STATE node, and never an optimizer's business (those
 * update the OP_PARAM slots a loss reads).  A method of the model that
 * declares it may assign it; the assignment is recorded in the trace and
 * becomes an OP_WRITE when the region runs, so, as with parameters and
 * optimizer state, every read in the region sees the value from before it.
 * The last assignment of a buffer in a region wins: a model called twice in
 * one step updates its buffers from the second call alone (PyTorch would
 * chain the two updates; reading the old value everywhere is the rule that
 * keeps a step one region).
 */
#include "host/eval.h"

#include <string.h>

#include "lang/diag.h"

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

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
			diag_begin_error(loc, "buffer '%s' is %s, but the value assigned to it is %s", name, TS(&want), TS(&got));
			if (it)
				diag_note(it->loc, "declared here");
			for (int i = ev->depth - 1; i >= 0 && i >= ev->depth - 8; i--)
				diag_note(ev->stack[i].loc, "in %s, called from here", ev->stack[i].what);
			diag_exit();
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
