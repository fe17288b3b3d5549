/*
 * hostdocs.c — documents as data: documents(path, sep =) and
 * tokens(path, eot =) (hostdata.c's tokens hands its eot form here) over
 * runtime/docs.c, packed_batches(docs, B, T, shuffle =, strategy =, seed =)
 * and the batches of one pass of its loop (x, y, segment, position, each
 * i32[B, T]), and pack_stats, which says how well a strategy packs.  The
 * loop itself is host.c's batches loop (run_batches), which asks here for
 * the plan of each pass and for each batch.
 */
#include "host/host.h"

#include <stdio.h>
#include <string.h>

#include "lang/diag.h"

static const char *const strategy_names[] = { "greedy", "best_fit", "padded" };
enum { NSTRATEGY = sizeof strategy_names / sizeof strategy_names[0] };

/* sep as a string literal would spell it ("\n%\n"), for messages. */
static const char *quoted(Ev *ev, const char *s)
{
	size_t n = strlen(s);
	char *q = arena_alloc(ev->arena, 4 * n + 3), *o = q;
	*o++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			o += sprintf(o, "\\n");
		else if (c == '"' || c == '\\')
			o += sprintf(o, "\\%c", c);
		else if (c < 32 || c == 127)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o++ = '"';
	*o = 0;
	return q;
}

/* A separator that never occurs leaves the file one document; that is
   legal (packed_batches cuts it into pieces of the context), but rarely
   meant, so it is said once, when the set is made. */
static void warn_one_document(Loc loc, const char *what, const char *path, const RtDataset *ds, const char *unit)
{
	int64_t len;
	rt_dataset_doc(ds, 0, &len);
	diag_warning(loc, "%s never occurs in '%s': it is %s of %lld %s, which packed_batches cuts into pieces of the "
	             "context length",
	             what, path, rt_dataset_len(ds) > 1 ? "one document per file, the first" : "one document",
	             (long long)len, unit);
}

/* documents(path, sep = "\n%\n"): the fortune files' separator by default. */
Value hostlib_documents(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[2];
	char err[640];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	if (v[0].kind != V_STR)
		ev_error(ev, loc, "documents: the path must be a string, got a %s", value_kind_name(&v[0]));
	if (v[1].kind != V_NONE && v[1].kind != V_STR)
		ev_error(ev, loc, "documents: sep must be a string, got a %s", value_kind_name(&v[1]));
	const char *sep = v[1].kind == V_STR ? v[1].s : "\n%\n";
	if (!*sep)
		ev_error(ev, loc, "documents: the separator is empty; give the text that ends a document (sep = \"\\n%%\\n\")");
	bool found;
	RtDataset *ds = rt_documents_open(v[0].s, sep, strlen(sep), &found, err, sizeof err);
	if (!ds)
		ev_error(ev, loc, "%s", err);
	if (!found)
		warn_one_document(loc, arena_printf(ev->arena, "the separator %s", quoted(ev, sep)), v[0].s, ds, "bytes");
	return (Value){ .kind = V_DATASET, .ds = ds };
}

/* tokens(path, vocab =, eot =) with eot: token documents, each ending with
   its eot token. */
Value hostdocs_tokens(Ev *ev, Loc loc, const char *path, int64_t vocab, Value eot)
{
	char err[640];
	if (eot.kind != V_INT || eot.i < 0 || eot.i > 65535)
		ev_error(ev, loc, "tokens: eot must be a token id, an int in 0 .. 65535 (token files hold u16 ids)");
	if (vocab > 0 && eot.i >= vocab)
		ev_error(ev, loc, "tokens: eot %lld is outside the vocabulary (V = %lld)", (long long)eot.i, (long long)vocab);
	bool found;
	RtDataset *ds = rt_token_documents_open(path, vocab, eot.i, &found, err, sizeof err);
	if (!ds)
		ev_error(ev, loc, "%s", err);
	if (!found)
		warn_one_document(loc, arena_printf(ev->arena, "the end-of-text token %lld", (long long)eot.i), path, ds,
		                  "tokens");
	return (Value){ .kind = V_DATASET, .ds = ds };
}

static int64_t want_context(Ev *ev, Loc loc, const char *fname, Value t)
{
	if (t.kind != V_INT)
		ev_error(ev, loc, "%s: the context must be an int, got a %s", fname, value_kind_name(&t));
	if (t.i < 2)
		ev_error(ev, loc, "%s: the context must be at least 2 (a row needs an input and its target), got %lld", fname,
		         (long long)t.i);
	if (t.i > INT32_MAX)
		ev_error(ev, loc, "%s: the context %lld does not fit in i32", fname, (long long)t.i);
	return t.i;
}

static RtDataset *want_docs(Ev *ev, Loc loc, const char *fname, Value d)
{
	if (d.kind != V_DATASET)
		ev_error(ev, loc, "%s needs a data set of documents, got a %s", fname, value_kind_name(&d));
	if (!rt_dataset_is_docs(d.ds))
		ev_error(ev, loc, "%s needs a data set of documents (documents(path)), got one of fixed-size examples", fname);
	return d.ds;
}

static int want_strategy(Ev *ev, Loc loc, const char *fname, Value s)
{
	if (s.kind == V_NONE)
		return RT_PACK_GREEDY;
	if (s.kind != V_STR)
		ev_error(ev, loc, "%s: strategy must be a string (\"greedy\", \"best_fit\" or \"padded\"), got a %s", fname,
		         value_kind_name(&s));
	for (int i = 0; i < NSTRATEGY; i++)
		if (!strcmp(s.s, strategy_names[i]))
			return i;
	ev_error(ev, loc, "%s: unknown strategy %s (\"greedy\", \"best_fit\" or \"padded\")%s", fname, quoted(ev, s.s),
	         ev_suggest(ev, s.s, strategy_names, NSTRATEGY));
}

/* items: B, shuffle, T, seed, strategy (the first and the fourth where a
   batches value keeps its size and seed, which run_batches reads). */
Value hostlib_packed_batches(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[6];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	RtDataset *ds = want_docs(ev, loc, b->name, v[0]);
	if (v[1].kind != V_INT || v[1].i < 1)
		ev_error(ev, loc, "packed_batches: the batch size must be a positive int");
	int64_t T = want_context(ev, loc, b->name, v[2]);
	if (v[3].kind != V_NONE && v[3].kind != V_BOOL)
		ev_error(ev, loc, "packed_batches: shuffle must be true or false, got a %s", value_kind_name(&v[3]));
	int strategy = want_strategy(ev, loc, b->name, v[4]);
	if (v[5].kind != V_NONE && v[5].kind != V_INT)
		ev_error(ev, loc, "packed_batches: seed must be an int, got a %s", value_kind_name(&v[5]));
	Value *items = arena_alloc(ev->arena, 5 * sizeof *items);
	items[0] = v[1];
	items[1] = v_bool(v[3].kind != V_NONE && v[3].i);
	items[2] = v_int(T);
	items[3] = v[5];
	items[4] = v_int(strategy);
	return (Value){ .kind = V_PACKED, .ds = ds, .items = items, .n = 5 };
}

/* pack_stats(docs, T, strategy = "greedy"): [rows, fraction of the rows'
   positions that hold a document's byte, documents cut], for one pass in
   file order (shuffled passes differ a little for greedy). */
Value hostlib_pack_stats(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[3];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	RtDataset *ds = want_docs(ev, loc, b->name, v[0]);
	int64_t T = want_context(ev, loc, b->name, v[1]);
	Value pb = { .kind = V_PACKED, .ds = ds, .items = (Value[]){ v_int(1), v_bool(false), v_int(T), { 0 },
	                                                             v_int(want_strategy(ev, loc, b->name, v[2])) } };
	RtPack *p = host_pack_plan(ev, &pb, 0, loc);
	Value *items = arena_alloc(ev->arena, 3 * sizeof *items);
	items[0] = v_int(rt_pack_rows(p));
	items[1] = v_float((double)rt_pack_tokens(p) / ((double)rt_pack_rows(p) * (double)T));
	items[2] = v_int(rt_pack_splits(p));
	rt_pack_free(p);
	return (Value){ .kind = V_LIST, .items = items, .n = 3 };
}

/* The plan of a pass is checked against the memory limit like a batch
   (it is held while the pass runs). */
RtPack *host_pack_plan(Ev *ev, const Value *pb, uint64_t key, Loc loc)
{
	char err[512];
	if (!rt_mem_check(rt_pack_bytes(pb->ds, pb->items[2].i), "the packing plan of a pass of packed_batches", err,
	                  sizeof err))
		ev_error(ev, loc, "%s", err);
	return rt_pack_plan(pb->ds, pb->items[2].i, (RtPackStrategy)pb->items[4].i, pb->items[1].i, key);
}

/* Every row is used: the last batch is completed with rows of padding. */
int64_t host_pack_count(const RtPack *p, const Value *pb)
{
	int64_t B = pb->items[0].i;
	return (rt_pack_rows(p) + B - 1) / B;
}

/* Batch k of the pass as four host tensors in out: x, y, segment, position. */
void host_pack_batch(Ev *ev, const RtPack *p, const Value *pb, int64_t k, Value *out, Loc loc)
{
	int64_t B = pb->items[0].i, T = pb->items[2].i, bytes;
	Type t = type_make(DT_I32, 2, (int64_t[]){ B, T });
	char err[512], ts[96];
	type_str(&t, ts, sizeof ts);
	if (!type_bytes_ok(&t, &bytes) || bytes > INT64_MAX / 4)
		ev_error(ev, loc, "a packed batch of %s is too large: a tensor holds at most 2^48 bytes", ts);
	if (!rt_mem_check(4 * bytes, arena_printf(ev->arena, "a packed batch (4 tensors %s)", ts), err, sizeof err))
		ev_error(ev, loc, "%s", err);
	HostTensor *h[4];
	for (int i = 0; i < 4; i++) {
		h[i] = ht_new(t);
		out[i] = (Value){ .kind = V_HOST, .ht = h[i] };
	}
	rt_pack_fill(p, pb->ds, k * B, B, h[0]->t.data, h[1]->t.data, h[2]->t.data, h[3]->t.data);
}
