/*
 * test_opattrs.c — the op table's attribute schema and result-type facts,
 * checked on a sample of every op, so that a row whose attrs column or
 * F_GIVEN flag does not match what its functions do fails here:
 *   - attr_def: every attribute bit has a key, a kind that fits the Node
 *     field it names, and some op that uses it; per op, no two attributes
 *     share a field or a key, F_RANDOM ops have A_STREAM, F_REDUCE A_AXES;
 *   - a sample node of every op (operands from a small pool, a given type
 *     from a short list, each schema attribute set): F_GIVEN exactly when
 *     the shape rule checks the builder's type instead of computing one;
 *     print, parse and print again gives the same text and the same
 *     attribute fields; each named attribute left out of the text reads as
 *     its use says (an error, 0, or unset) and an unset one is not printed;
 *     junk in every field the schema does not name changes neither the
 *     result type nor, where the interpreter runs it alone, the value (an
 *     op reading such a field has an attribute its schema lacks).
 */
#include "ir/ops.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <string.h>

/* Does d's kind fit the Node field it names? */
static bool slot_fits(const AttrDef *d)
{
	switch (d->kind) {
	case AK_INT:
	case AK_FLAG:
		return d->slot == AS_IA0 || d->slot == AS_IA1 || d->slot == AS_IA2 || d->slot == AS_KEEP || d->slot == AS_AT;
	case AK_FLOAT: return d->slot == AS_F;
	case AK_STRING: return d->slot == AS_NAME || d->slot == AS_SNAME;
	case AK_LIST:
	case AK_RANGES: return d->slot == AS_IA;
	}
	return false;
}

/* Do two slots share storage?  ia[0], ia[1] and ia[2] are part of the list ia[]. */
static bool slots_overlap(AttrSlot a, AttrSlot b)
{
	bool ia = (a == AS_IA && (b == AS_IA0 || b == AS_IA1 || b == AS_IA2)) ||
		(b == AS_IA && (a == AS_IA0 || a == AS_IA1 || a == AS_IA2));
	return a == b || ia;
}

static void test_attr_defs(void)
{
	char name[96];
	unsigned used = 0, all = (1u << ATTR_BITS) - 1;
	for (int op = 0; op < OP_COUNT; op++) {
		unsigned attrs = op_info[op].attrs;
		const char *bad = NULL;
		used |= attrs;
		if (attrs & ~all)
			bad = "attribute bits beyond ATTR_BITS (no attr_def entry)";
		else if (op_has((OpKind)op, F_RANDOM) && !(attrs & A_STREAM))
			bad = "an F_RANDOM op draws from stream ia[0]: A_STREAM";
		else if (op_has((OpKind)op, F_REDUCE) && !(attrs & A_AXES))
			bad = "an F_REDUCE op reduces the axes ia[]: A_AXES";
		for (int b = 0; !bad && b < ATTR_BITS; b++)
			for (int c = b + 1; !bad && c < ATTR_BITS; c++) {
				const AttrDef *x = &attr_def[b], *y = &attr_def[c];
				if (!(attrs >> b & 1) || !(attrs >> c & 1))
					continue;
				if (slots_overlap(x->slot, y->slot))
					bad = "two attributes in one Node field";
				else if (!attr_positional(x) && !attr_positional(y) && !strcmp(x->key, y->key))
					bad = "two named attributes with one key";
			}
		snprintf(name, sizeof name, "attrs_%s_schema", op_info[op].name);
		check(!bad, name, "%s", bad ? bad : "");
	}
	for (int b = 0; b < ATTR_BITS; b++) {
		const AttrDef *d = &attr_def[b];
		const char *bad = NULL;
		if (!d->key || !*d->key)
			bad = "no key";
		else if (!slot_fits(d))
			bad = "its kind does not fit its Node field";
		else if (d->use == AU_POSITIONAL_SET && d->kind != AK_STRING)
			bad = "an optional positional attribute is a string (the parser sees its quote)";
		else if (d->use == AU_ZERO && d->kind != AK_INT && d->kind != AK_FLAG)
			bad = "an attribute that reads 0 when left out is an integer";
		else if (!(used >> b & 1))
			bad = "no op has it";
		snprintf(name, sizeof name, "attr_def_%d_%s", b, d->key ? d->key : "");
		check(!bad, name, "%s", bad ? bad : "");
	}
}

/*
 * A sample of every op: operands from a small pool, a result type from a
 * short list for F_GIVEN ops, and every attribute of its schema set to a
 * value other than ir_proto's.  The search tries each combination until
 * the shape rule accepts one; an op none fits fails `sample_OP` and wants
 * a pool value or given type of its kind here.
 */
enum { NPOOL = 10, NARG = 5, NGIVEN = 8, NVARIANT = 4, XIN = 2 /* first pool input */ };

typedef struct {
	int op, narg, pick[NARG], given, variant;
} Recipe;

typedef enum { TW_NONE, TW_JUNK, TW_ZERO, TW_UNSET } Tweak;

static Type pool_type(int k)
{
	int64_t d3[3] = { 4, 4, 4 }, d1 = 4, d4[4] = { 2, 2, 3, 3 }, p4[4] = { 1, 2, 4, 4 };
	switch (k) {
	case 5: return type_make(DT_F32, 4, d4); /* conv2d's x, w and y, at padding 1 */
	case 6: return type_make(DT_F32, 4, p4); /* NCHW: pooling */
	/* attention's packed x (every attribute set: heads = 1, D = 2) and its o */
	case 7: return type_make(DT_F32, 3, (int64_t[]){ 2, 3, 6 });
	case 8: return type_make(DT_F32, 3, (int64_t[]){ 2, 3, 3 });
	case 9: return type_make(DT_F32, 4, (int64_t[]){ 2, 2, 3, 4 }); /* attention's o of q = case 5 */
	case 1: return type_make(DT_I32, 1, &d1);
	case 2: return type_make(DT_BOOL, 3, d3);
	case 3: return type_scalar(DT_F32);
	default: return type_make(DT_F32, 3, d3);
	}
}

static Type given_type(int k)
{
	static const int64_t dims[NGIVEN][4] = { { 4, 4 }, { 256 }, { 8, 6, 4 }, { 4, 4, 4 }, { 4, 4, 4 }, { 4 },
		{ 2, 2, 3, 3 }, { 1, 2, 4, 4 } };
	static const int rank[NGIVEN] = { 2, 1, 3, 3, 3, 1, 4, 4 };
	return type_make(k == 4 || k == 5 ? DT_I32 : DT_F32, rank[k], dims[k]);
}

/* Pool value k in r (made once per region: pv[k] starts at -1). */
static int pool_value(Region *r, int *pv, int k)
{
	if (pv[k] < 0)
		pv[k] = k == 4 ? ir_param(r, "p", pool_type(0)) : ir_input(r, XIN + k, pool_type(k));
	return pv[k];
}

/* Every schema attribute of p set to a sample value of variant k. */
static void sample_attrs(Node *p, int k)
{
	/* the third list: conv2d's stride, padding, dilation and groups; the
	   fourth a pooling window that keeps [1, 2, 4, 4]: kernel 3, stride 1, padding 1 */
	static const int64_t lists[NVARIANT][7] = { { 1 }, { 2, 0, 1 }, { 1, 1, 1, 1, 1, 1, 1 }, { 3, 3, 1, 1, 1, 1 } };
	static const int nlist[NVARIANT] = { 1, 3, 7, 6 };
	static const int64_t ranges[NVARIANT][9] = { { 0, 4, 2, 1, 3, 1, 0, 4, 1 }, { 0, 8, 2, 1, 5, 1, 0, 4, 1 },
		{ 0, 4, 2, 1, 3, 1, 0, 4, 1 }, { 0, 8, 2, 1, 5, 1, 0, 4, 1 } };
	for (int b = 0; b < ATTR_BITS; b++) {
		const AttrDef *d = &attr_def[b];
		if (!(op_info[p->op].attrs >> b & 1))
			continue;
		switch (d->kind) {
		case AK_INT:
		case AK_FLAG: attr_set_int(p, d->slot, d->slot == AS_AT ? 128 : 1); break;
		case AK_FLOAT: p->f = 0.1; break;
		case AK_STRING: *(d->slot == AS_NAME ? &p->name : &p->sname) = d->slot == AS_NAME ? "net.w \"q\"\n" : "m\t1"; break;
		case AK_LIST: memcpy(p->ia, lists[k], sizeof lists[k]), p->nia = nlist[k]; break;
		case AK_RANGES: memcpy(p->ia, ranges[k], sizeof ranges[k]), p->nia = 9; break;
		}
	}
}

/* Attribute bit b's field of p at its unset value (what ir_proto leaves). */
static void unset_attr(Node *p, int b)
{
	Node z = ir_proto(p->op);
	switch (attr_def[b].slot) {
	case AS_NAME: p->name = z.name; break;
	case AS_SNAME: p->sname = z.sname; break;
	case AS_F: p->f = z.f; break;
	case AS_IA: p->nia = 0; break;
	default: attr_set_int(p, attr_def[b].slot, attr_int(&z, attr_def[b].slot));
	}
	/* an unset last integer (attention's heads in ia[1]) is not there at
	   all, as the parser leaves it: the node the op was without it */
	if (attr_def[b].use == AU_SET && attr_def[b].slot == AS_IA1 && p->nia == 2)
		p->nia = 1;
}

/* Values in every field the op's schema does not name: an op that reads
   one has an attribute its schema lacks. */
static void junk_attrs(Node *p)
{
	bool slot[AS_IA2 + 1] = { false };
	for (int b = 0; b < ATTR_BITS; b++)
		if (op_info[p->op].attrs >> b & 1)
			slot[attr_def[b].slot] = true;
	if (!slot[AS_IA] && !slot[AS_IA0] && !slot[AS_IA1] && !slot[AS_IA2])
		p->ia[0] = 2, p->ia[1] = 1, p->ia[2] = 0, p->nia = 3;
	if (!slot[AS_F])
		p->f = 0.75;
	if (!slot[AS_KEEP])
		p->keep = true;
	if (!slot[AS_AT])
		p->at = 192;
	if (!slot[AS_NAME])
		p->name = "junk";
	if (!slot[AS_SNAME])
		p->sname = "junk";
}

/* The sample node in a region of its own, its last node and (unless an
   effect) output; -1 when the shape rule refuses. */
static int sample_emit(Region *r, const Recipe *c, Tweak tw, int bit)
{
	int pv[NPOOL] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 }, args[NARG];
	for (int k = 0; k < c->narg; k++)
		args[k] = pool_value(r, pv, c->pick[k]);
	Node p = ir_proto((OpKind)c->op);
	if (op_has((OpKind)c->op, F_GIVEN))
		p.type = given_type(c->given);
	sample_attrs(&p, c->variant);
	if (tw == TW_JUNK)
		junk_attrs(&p);
	else if (tw == TW_ZERO)
		attr_set_int(&p, attr_def[bit].slot, 0);
	else if (tw == TW_UNSET)
		unset_attr(&p, bit);
	int v = ir_emit(r, &p, args, c->narg, NULL, 0);
	if (v >= 0 && !op_has((OpKind)c->op, F_EFFECT))
		ir_output(r, v);
	return v;
}

/* Operands and given type that op's sample, tweaked by tw of attribute
   bit, takes with c->narg operands (set by the caller). */
static bool find_operands(int op, Recipe *c, Tweak tw, int bit)
{
	c->op = op;
	int ncombo = 1;
	for (int k = 0; k < c->narg; k++)
		ncombo *= NPOOL;
	for (c->given = 0; c->given < (op_has((OpKind)op, F_GIVEN) ? NGIVEN : 1); c->given++)
		for (c->variant = 0; c->variant < NVARIANT; c->variant++)
			for (int m = 0; m < ncombo; m++) {
				for (int k = 0, q = m; k < c->narg; k++, q /= NPOOL)
					c->pick[k] = q % NPOOL;
				Region *r = ir_region_new(arena_new(), "try");
				bool ok = sample_emit(r, c, tw, bit) >= 0;
				arena_free(r->arena);
				if (ok)
					return true;
			}
	return false;
}

static bool find_recipe(int op, Recipe *c)
{
	/* variadic: the fewest operands it takes (attention with its heads
	   attribute set, the packed form: x; its gradient: x, o and do) */
	c->narg = op_info[op].arity >= 0 ? op_info[op].arity : op == OP_ATTENTION ? 1 : op == OP_ATTENTION_GRAD ? 3 : 2;
	return find_operands(op, c, TW_NONE, 0);
}

/* The one region of text, parsed into a; NULL with err set when it does not parse. */
static Region *parse_one(Arena *a, const char *text, char *err, size_t errlen)
{
	Region **rs;
	int n = ir_parse(a, text, "sample.ir", &rs, err, errlen);
	if (n != 1 && n >= 0)
		snprintf(err, errlen, "%d regions", n);
	return n == 1 ? rs[0] : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Every field an attribute can live in. */
static bool same_attrs(const Node *p, const Node *q)
{
	return p->nia == q->nia && !memcmp(p->ia, q->ia, (size_t)p->nia * sizeof *p->ia) &&
		!memcmp(&p->f, &q->f, sizeof p->f) && p->keep == q->keep && p->at == q->at && same_str(p->name, q->name) &&
		same_str(p->sname, q->sname);
}

/* text with `key=...` taken out of the braces on node v's line (with its
   comma); NULL if the line has no such attribute.  The caller frees. */
static char *without_attr(const char *text, int v, const char *key)
{
	char head[32];
	snprintf(head, sizeof head, "  %%%d = ", v);
	const char *line = strstr(text, head), *eol = line ? strchr(line, '\n') : NULL;
	size_t kl = strlen(key);
	for (const char *q = line; eol && q < eol; q++) {
		if (!(*q == '{' || (*q == ' ' && q[-1] == ',')) || strncmp(q + 1, key, kl) || q[1 + kl] != '=')
			continue;
		const char *e = q + 1, *from = q + 1;
		for (int depth = 0; e < eol && (depth || (*e != ',' && *e != '}')); e++)
			depth += (*e == '[') - (*e == ']');
		if (*e == ',')
			e += 2; /* ", " after it */
		else if (*q == ' ')
			from = q - 1; /* the last one: ", " before it */
		size_t n = strlen(text);
		char *out = xmalloc(n + 1);
		memcpy(out, text, (size_t)(from - text));
		strcpy(out + (from - text), e);
		return out;
	}
	return NULL;
}

/* Attribute bit b left out of op's sample text reads as its schema says. */
static bool left_out_ok(const Recipe *c, int b, const char *full, int v, char *err, size_t errlen)
{
	const AttrDef *d = &attr_def[b];
	Arena *a = arena_new();
	bool ok = false;
	*err = '\0';
	if (d->use == AU_NEEDED) {
		char *t = without_attr(full, v, d->key), want[64];
		snprintf(want, sizeof want, "needs attribute '%s'", d->key);
		ok = t && !parse_one(a, t, err, errlen) && strstr(err, want);
		free(t);
	} else if (d->use != AU_POSITIONAL) {
		/* at 0 (AU_ZERO), left out of the text; unset (AU_SET), not printed */
		Region *r = ir_region_new(a, "sample");
		Tweak tw = d->use == AU_ZERO ? TW_ZERO : TW_UNSET;
		int u = sample_emit(r, c, tw, b);
		/* an attribute whose absence takes other operands (attention's
		   heads: q, k, v apart instead of x) samples the op anew */
		Recipe c2 = *c;
		for (c2.narg = c->narg + 1; u < 0 && op_info[c->op].arity < 0 && c2.narg <= NARG; c2.narg++)
			if (find_operands(c->op, &c2, tw, b))
				u = sample_emit(r, &c2, tw, b);
		char *t0 = u >= 0 ? print_str(r) : NULL, *t = t0;
		if (t0 && d->use == AU_ZERO)
			t = without_attr(t0, u, d->key);
		else if (t0 && d->use == AU_SET) {
			char k[24];
			snprintf(k, sizeof k, "%s=", d->key);
			t = strstr(t0, k) ? NULL : t0;
		}
		Region *back = t ? parse_one(a, t, err, errlen) : NULL;
		char *t1 = back ? print_str(back) : NULL;
		ok = t1 && !strcmp(t0, t1) && same_attrs(&r->node[u], &back->node[back->nnode - 1]);
		if (t != t0)
			free(t);
		free(t0);
		free(t1);
	} else {
		ok = true; /* positional, always there: the round trip covers it */
	}
	arena_free(a);
	return ok;
}

/* Does op's sample compute the same with junk in the fields its schema does
   not name?  The shape rule always; the interpreter where it runs alone. */
static bool junk_ignored(const Recipe *c, Tensor **inputs)
{
	bool run = !ir_is_slot((OpKind)c->op) && c->op != OP_INPUT && c->op != OP_GRAD && !op_has((OpKind)c->op, F_EFFECT);
	for (int k = 0; k < c->narg; k++)
		run &= c->pick[k] != 4; /* the param needs a store */
	Region *r[2] = { ir_region_new(arena_new(), "clean"), ir_region_new(arena_new(), "junk") };
	int v[2] = { sample_emit(r[0], c, TW_NONE, 0), sample_emit(r[1], c, TW_JUNK, 0) };
	bool ok = v[0] >= 0 && v[1] >= 0 && type_eq(&r[0]->node[v[0]].type, &r[1]->node[v[1]].type);
	if (ok && run) {
		Tensor out[2];
		Store s = { 0 };
		for (int k = 0; k < 2; k++)
			interp_run(r[k], &s, inputs, &out[k]);
		ok = !memcmp(out[0].data, out[1].data, type_numel(&out[0].type) * dtype_size(out[0].type.dt));
		free(out[0].data);
		free(out[1].data);
	}
	arena_free(r[0]->arena);
	arena_free(r[1]->arena);
	return ok;
}

static void test_attr_samples(void)
{
	char name[96], err[512];
	Tensor x = trand(pool_type(0), -2, 2), ids = trand(pool_type(1), 0, 1), b = trand(pool_type(2), 0, 1),
	       sc = trand(pool_type(3), -2, 2), x4 = trand(pool_type(5), -2, 2),
	       p4 = trand(pool_type(6), -2, 2), xa = trand(pool_type(7), -2, 2), oa = trand(pool_type(8), -2, 2);
	for (int i = 0; i < 4; i++)
		((int32_t *)ids.data)[i] = 3 - i;
	for (int i = 0; i < 64; i++)
		((uint8_t *)b.data)[i] = i % 3 == 0;
	Tensor *inputs[XIN + NPOOL] = { &x, &x, &x, &ids, &b, &sc, NULL, &x4, &p4, &xa, &oa, &oa };
	for (int op = 0; op < OP_COUNT; op++) {
		const char *nm = op_info[op].name;
		Recipe c;
		snprintf(name, sizeof name, "sample_%s", nm);
		if (!check(find_recipe(op, &c), name, "no pool operands and given type fit its shape rule: extend the pool"))
			continue;
		Arena *a = arena_new();
		Region *r = ir_region_new(a, "sample");
		int v = sample_emit(r, &c, TW_NONE, 0);
		const Node *n = &r->node[v];

		Node q = *n;
		if (op_has((OpKind)op, F_GIVEN))
			q.type.dt = DT_COUNT;
		else
			q.type = type_scalar(DT_BOOL);
		bool computes = op_shape[op](r, &q, r->arg + n->arg, err, sizeof err) && type_eq(&q.type, &n->type);
		snprintf(name, sizeof name, "given_%s", nm);
		check(op_has((OpKind)op, F_GIVEN) ? !computes : computes, name, "%s", op_has((OpKind)op, F_GIVEN) ?
			"an F_GIVEN op's rule accepts a bad result type" : "an op without F_GIVEN takes its type from the builder");

		char *t1 = print_str(r), *t2 = NULL;
		Region *back = parse_one(a, t1, err, sizeof err);
		if (back)
			t2 = print_str(back);
		snprintf(name, sizeof name, "attrs_roundtrip_%s", nm);
		check(back && same_attrs(n, &back->node[back->nnode - 1]) && !strcmp(t1, t2), name, "%s\n%s",
			back ? "attributes differ after print and parse" : err, t1);
		for (int bit = 0; bit < ATTR_BITS; bit++) {
			if (!(op_info[op].attrs >> bit & 1))
				continue;
			snprintf(name, sizeof name, "attrs_%s_without_%s", nm, attr_def[bit].key);
			check(left_out_ok(&c, bit, t1, v, err, sizeof err), name, "left out, it does not read as its use says (%s)",
				err);
		}
		snprintf(name, sizeof name, "attrs_%s_unlisted", nm);
		check(junk_ignored(&c, inputs), name, "it reads a Node field its attribute schema does not name");
		free(t1);
		free(t2);
		arena_free(a);
	}
	free(x.data);
	free(ids.data);
	free(b.data);
	free(sc.data);
	free(x4.data);
	free(p4.data);
	free(xa.data);
	free(oa.data);
}

int main(void)
{
	test_attr_defs();
	test_attr_samples();
	printf("%s\n", nfail ? "FAILED" : "ok");
	return nfail != 0;
}
