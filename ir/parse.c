/*
 * parse.c — reads the IR text form written by ir/print.c (the grammar is
 * described at the top of that file) back into Regions.  Every node goes
 * through ir_emit, so the parser enforces the same shape rules as the
 * builder and additionally checks each annotated type against them.
 * Errors are reported as "file:line:col: error: ..."; bad input never
 * crashes, it only makes ir_parse return -1.
 */
#include "ir/ops.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	MAX_VALUE_NO = 1 << 24, /* largest %N accepted, bounds the name map */
	MAX_DIM_LOG2 = 40,      /* largest dimension is 2^40 */
};

typedef struct {
	const char *text, *file;
	const char *p;     /* cursor into text */
	Arena *arena;
	char *err;
	size_t errlen;
	jmp_buf fail;      /* every error unwinds straight to ir_parse */
	int *map;          /* map[N] = node index + 1 of value %N, 0 = undefined */
	int capmap;
	int *args;         /* operand scratch for the current statement */
	int capargs;
	Region **list;     /* regions parsed so far (arena) */
	int nlist, caplist;
} Parser;

static _Noreturn void perr(Parser *P, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static _Noreturn void perr(Parser *P, const char *at, const char *fmt, ...)
{
	int line = 1;
	const char *bol = P->text;
	for (const char *q = P->text; q < at; q++)
		if (*q == '\n') {
			line++;
			bol = q + 1;
		}
	if (P->err && P->errlen) {
		int k = snprintf(P->err, P->errlen, "%s:%d:%d: error: ", P->file, line, (int)(at - bol) + 1);
		if (k >= 0 && (size_t)k < P->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(P->err + k, P->errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	longjmp(P->fail, 1);
}

/* '#' opens a comment only as the first non-blank of a line ("#k3" is a group). */
static bool line_blank_before(const Parser *P, const char *at)
{
	while (at > P->text && at[-1] != '\n') {
		at--;
		if (*at != ' ' && *at != '\t' && *at != '\r')
			return false;
	}
	return true;
}

static void skip_ws(Parser *P)
{
	for (;;) {
		char c = *P->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			P->p++;
		} else if (c == ';' || (c == '#' && line_blank_before(P, P->p))) {
			while (*P->p && *P->p != '\n')
				P->p++;
		} else {
			return;
		}
	}
}

static bool accept(Parser *P, char c)
{
	skip_ws(P);
	if (*P->p != c)
		return false;
	P->p++;
	return true;
}

static void expect(Parser *P, char c)
{
	if (!accept(P, c)) {
		if (*P->p)
			perr(P, P->p, "expected '%c'", c);
		perr(P, P->p, "expected '%c' but the input ended", c);
	}
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

/* An identifier [A-Za-z_][A-Za-z0-9_.]* into buf; returns where it started. */
static const char *ident(Parser *P, char *buf, size_t n, const char *what)
{
	skip_ws(P);
	const char *s = P->p;
	if (!isalpha((unsigned char)*s) && *s != '_')
		perr(P, s, "expected %s", what);
	while (is_word_char(*P->p))
		P->p++;
	size_t len = (size_t)(P->p - s);
	if (len >= n)
		perr(P, s, "%s is too long", what);
	memcpy(buf, s, len);
	buf[len] = '\0';
	return s;
}

/* A number must not run into letters: "12abc" and "1.5.2" are malformed. */
static void number_end(Parser *P, const char *s, const char *end)
{
	if (is_word_char(*end))
		perr(P, s, "malformed number '%.*s'", (int)(end - s) + 1, s);
}

/* The number at the cursor: an integer into *iv when iv is given, else a
   double into *dv; both end where a word would not go on. */
static void parse_number(Parser *P, int64_t *iv, double *dv)
{
	skip_ws(P);
	const char *s = P->p;
	char *end;
	if (iv) {
		if (!isdigit((unsigned char)s[*s == '-']))
			perr(P, s, "expected an integer");
		errno = 0;
		*iv = strtoll(s, &end, 10);
		if (errno == ERANGE)
			perr(P, s, "integer out of range");
	} else {
		if (*s != '-' && *s != '+' && *s != '.' && !isalnum((unsigned char)*s))
			perr(P, s, "expected a number");
		*dv = strtod(s, &end);
		if (end == s)
			perr(P, s, "malformed number");
	}
	number_end(P, s, end);
	P->p = end;
}

static int64_t parse_int(Parser *P)
{
	int64_t v;
	parse_number(P, &v, NULL);
	return v;
}

static double parse_double(Parser *P)
{
	double v;
	parse_number(P, NULL, &v);
	return v;
}

static bool parse_flag(Parser *P)
{
	const char *s = P->p;
	int64_t v = parse_int(P);
	if (v != 0 && v != 1)
		perr(P, s, "expected 0 or 1");
	return v;
}

static char *parse_string(Parser *P)
{
	skip_ws(P);
	const char *s = P->p;
	if (*s != '"')
		perr(P, s, "expected a string");
	/* the decoded string is never longer than its spelling */
	size_t cap = 1;
	for (const char *q = s + 1; *q && *q != '"' && *q != '\n'; q++) {
		cap++;
		if (*q == '\\' && q[1])
			q++;
	}
	char *out = arena_alloc(P->arena, cap), *o = out;
	const char *q = s + 1;
	for (;;) {
		char c = *q;
		if (!c || c == '\n')
			perr(P, s, "unterminated string");
		if (c == '"')
			break;
		if (c != '\\') {
			*o++ = c;
			q++;
			continue;
		}
		c = q[1];
		if (c == 'n') {
			*o++ = '\n';
		} else if (c == 't') {
			*o++ = '\t';
		} else if (c == '"' || c == '\\') {
			*o++ = c;
		} else if (c == 'x' && isxdigit((unsigned char)q[2]) && isxdigit((unsigned char)q[3])) {
			char hex[3] = { q[2], q[3], 0 };
			long b = strtol(hex, NULL, 16);
			if (b == 0)
				perr(P, q, "\\x00 is not allowed in a string");
			*o++ = (char)b;
			q += 2;
		} else {
			perr(P, q, "unknown escape in string");
		}
		q += 2;
	}
	*o = '\0';
	P->p = q + 1;
	return out;
}

static int value_no(Parser *P, const char **at)
{
	skip_ws(P);
	*at = P->p;
	if (*P->p != '%' || !isdigit((unsigned char)P->p[1]))
		perr(P, P->p, "expected a value (%%N)");
	P->p++;
	int64_t n = parse_int(P);
	if (n >= MAX_VALUE_NO)
		perr(P, *at, "value number %%%lld is too large", (long long)n);
	return (int)n;
}

/* A use of %N: it must name an earlier definition. */
static int use_value(Parser *P)
{
	const char *at;
	int n = value_no(P, &at);
	if (n >= P->capmap || !P->map[n])
		perr(P, at, "unknown value %%%d", n);
	return P->map[n] - 1;
}

static void define_value(Parser *P, int n, int node, const char *at)
{
	if (n >= P->capmap) {
		int cap = P->capmap ? P->capmap : 256;
		while (cap <= n)
			cap *= 2;
		int *m = xcalloc((size_t)cap, sizeof *m);
		if (P->map)
			memcpy(m, P->map, (size_t)P->capmap * sizeof *m);
		free(P->map);
		P->map = m;
		P->capmap = cap;
	}
	if (P->map[n])
		perr(P, at, "value %%%d is defined twice", n);
	P->map[n] = node + 1;
}

static Type parse_type(Parser *P)
{
	char name[16];
	const char *s = ident(P, name, sizeof name, "a type");
	Type t;
	memset(&t, 0, sizeof t);
	int dt;
	for (dt = 0; dt < DT_COUNT; dt++)
		if (!strcmp(name, dtype_name((DType)dt)))
			break;
	if (dt == DT_COUNT)
		perr(P, s, "unknown element type '%s'", name);
	t.dt = (DType)dt;
	if (*P->p != '[')
		return t;
	P->p++;
	if (accept(P, ']'))
		return t;
	double numel = 1;
	do {
		const char *d = P->p;
		int64_t v = parse_int(P);
		if (t.rank == MAX_RANK)
			perr(P, d, "more than %d dimensions", MAX_RANK);
		if (v < 0 || v > (int64_t)1 << MAX_DIM_LOG2)
			perr(P, d, "dimension %lld out of range", (long long)v);
		numel *= (double)v;
		if (numel > (double)((int64_t)1 << 53))
			perr(P, s, "type has too many elements");
		t.dim[t.rank++] = v;
	} while (accept(P, ','));
	expect(P, ']');
	return t;
}

/* [i, j, ...] into ia, or with group 3 [a:b:c, ...] (slice ranges); at most
   MAX_RANK groups.  Returns the number of integers read. */
static int parse_ints(Parser *P, int64_t *ia, int group)
{
	int n = 0;
	expect(P, '[');
	if (accept(P, ']'))
		return 0;
	do {
		skip_ws(P);
		/* a list fills Node.ia (conv2d's has 7 numbers); ranges are 3 per axis */
		int most = group == 1 ? (int)(sizeof ((Node *)0)->ia / sizeof *ia) : MAX_RANK;
		if (n == group * most)
			perr(P, P->p, "more than %d %s", most, group == 1 ? "entries" : "ranges");
		for (int j = 0; j < group; j++) {
			if (j)
				expect(P, ':');
			ia[n++] = parse_int(P);
		}
	} while (accept(P, ','));
	expect(P, ']');
	return n;
}

/* One attribute's value, written as its kind says, into its slot. */
static void parse_attr(Parser *P, Node *n, const AttrDef *d)
{
	switch (d->kind) {
	case AK_INT:
		attr_set_int(n, d->slot, parse_int(P));
		break;
	case AK_FLAG:
		attr_set_int(n, d->slot, parse_flag(P));
		break;
	case AK_FLOAT:
		n->f = parse_double(P);
		break;
	case AK_STRING:
		*(d->slot == AS_NAME ? &n->name : &n->sname) = parse_string(P);
		break;
	case AK_LIST:
	case AK_RANGES:
		n->nia = parse_ints(P, n->ia, d->kind == AK_RANGES ? 3 : 1);
		break;
	}
}

/* The named attributes in braces, in any order; then the ones left out:
   an error if the op needs them, else their unset value. */
static void parse_attrs(Parser *P, Node *n)
{
	unsigned attrs = op_info[n->op].attrs, seen = 0;
	skip_ws(P);
	const char *open = P->p;
	if (accept(P, '{') && !accept(P, '}')) {
		do {
			char key[16];
			const char *k = ident(P, key, sizeof key, "an attribute name");
			expect(P, '=');
			int b = 0;
			while (b < ATTR_BITS && (!(attrs >> b & 1) || attr_positional(&attr_def[b]) || strcmp(key, attr_def[b].key)))
				b++;
			if (b == ATTR_BITS)
				perr(P, k, "%s has no attribute '%s'", op_info[n->op].name, key);
			parse_attr(P, n, &attr_def[b]);
			if (seen & 1u << b)
				perr(P, k, "attribute '%s' given twice", key);
			seen |= 1u << b;
		} while (accept(P, ','));
		expect(P, '}');
	}
	for (int b = 0; b < ATTR_BITS; b++) {
		const AttrDef *d = &attr_def[b];
		if (!(attrs >> b & 1) || attr_positional(d) || seen >> b & 1)
			continue;
		if (d->use == AU_NEEDED)
			perr(P, open, "%s needs attribute '%s'", op_info[n->op].name, d->key);
		if (d->use == AU_ZERO)
			attr_set_int(n, d->slot, 0);
	}
}

/* The op's attributes as its schema (ops.def, attr_def) says: positional
   ones, then braces, which an op whose every attribute is positional
   (input, const) does not take. */
static void parse_op_attrs(Parser *P, Node *n)
{
	unsigned attrs = op_info[n->op].attrs;
	bool named = false, positional = false;
	for (int b = 0; b < ATTR_BITS; b++) {
		const AttrDef *d = &attr_def[b];
		if (!(attrs >> b & 1))
			continue;
		if (!attr_positional(d)) {
			named = true;
			continue;
		}
		positional = true;
		skip_ws(P);
		/* one that may be missing is a string: there when a quote follows */
		if (d->use == AU_POSITIONAL || *P->p == '"')
			parse_attr(P, n, d);
	}
	if (named || !positional)
		parse_attrs(P, n);
}

static void add_arg(Parser *P, int nargs, int v)
{
	if (nargs == P->capargs) {
		int cap = P->capargs ? 2 * P->capargs : 16;
		int *a = xmalloc((size_t)cap * sizeof *a);
		if (P->args)
			memcpy(a, P->args, (size_t)P->capargs * sizeof *a);
		free(P->args);
		P->args = a;
		P->capargs = cap;
	}
	P->args[nargs] = v;
}

static void parse_node(Parser *P, Region *r, int def, const char *def_at, const char *opname, const char *op_at)
{
	int op;
	for (op = 0; op < OP_COUNT; op++)
		if (!strcmp(opname, op_info[op].name))
			break;
	if (op == OP_COUNT)
		perr(P, op_at, "unknown op '%s'", opname);
	Node n = ir_proto((OpKind)op);
	int nargs = 0;
	skip_ws(P);
	if (*P->p == '%') {
		do {
			add_arg(P, nargs, use_value(P));
			nargs++;
		} while (accept(P, ','));
	}
	int arity = op_info[op].arity;
	if (arity >= 0 && nargs != arity)
		perr(P, op_at, "%s expects %d operand%s, got %d", opname, arity, arity == 1 ? "" : "s", nargs);
	if (arity < 0 && nargs < 1)
		perr(P, op_at, "%s expects at least 1 operand, got 0", opname);
	parse_op_attrs(P, &n);
	bool annotated = false;
	skip_ws(P);
	const char *type_at = P->p;
	if (op != OP_WRITE || *P->p == ':') {
		expect(P, ':');
		skip_ws(P);
		type_at = P->p;
		n.type = parse_type(P);
		annotated = true;
	}
	int group = -1;
	int64_t offset = -1;
	skip_ws(P);
	if (*P->p == '#') {
		const char *g = P->p++;
		if (*P->p != 'k' || !isdigit((unsigned char)P->p[1]))
			perr(P, g, "expected a kernel number '#kN'");
		P->p++;
		int64_t v = parse_int(P);
		if (v > 1 << 30)
			perr(P, g, "kernel number out of range");
		group = (int)v;
	}
	if (accept(P, '@')) {
		offset = parse_int(P);
		if (offset < 0)
			perr(P, P->p, "negative offset");
	}
	int64_t work = -1;
	skip_ws(P);
	if (strncmp(P->p, "work@", 5) == 0) {
		P->p += 5;
		work = parse_int(P);
		if (work < 0)
			perr(P, P->p, "negative offset");
	}
	int loc = 0;
	skip_ws(P);
	const char *loc_at = P->p;
	if (accept(P, '!')) {
		int64_t k = parse_int(P);
		if (k < 1 || k > r->nloc)
			perr(P, loc_at, "undefined location !%lld (the region declares %d)", (long long)k, r->nloc);
		loc = (int)k;
	}
	if (op == OP_INPUT) {
		for (int v = 0; v < r->nnode; v++)
			if (r->node[v].op == OP_INPUT && r->node[v].ia[0] == n.ia[0])
				perr(P, op_at, "input %lld is defined twice", (long long)n.ia[0]);
	}
	char msg[512];
	int v = ir_emit(r, &n, P->args, nargs, msg, sizeof msg);
	if (v < 0)
		perr(P, op_at, "%s", msg);
	if (annotated && !type_eq(&r->node[v].type, &n.type)) {
		char ta[160], tb[160];
		perr(P, type_at, "type mismatch: annotated %s but the operands give %s",
			type_str(&n.type, ta, sizeof ta), type_str(&r->node[v].type, tb, sizeof tb));
	}
	r->node[v].group = group;
	r->node[v].offset = offset;
	r->node[v].work = work;
	r->node[v].loc = loc;
	if (def >= 0)
		define_value(P, def, v, def_at);
}

/* `loc K "file" LINE:COL`: entry K of the location table, numbered densely from 1. */
static void parse_loc(Parser *P, Region *r, const char *at)
{
	skip_ws(P);
	const char *k_at = P->p;
	int64_t k = parse_int(P);
	if (k != r->nloc + 1)
		perr(P, k_at, "expected location %d here, got %lld", r->nloc + 1, (long long)k);
	skip_ws(P);
	if (*P->p != '"')
		perr(P, P->p, "expected a file name in quotes");
	const char *file = parse_string(P);
	skip_ws(P);
	const char *l_at = P->p;
	int64_t line = parse_int(P);
	expect(P, ':');
	int64_t col = parse_int(P);
	if (line < 1 || col < 1 || line > 1 << 30 || col > 1 << 30)
		perr(P, l_at, "bad source position %lld:%lld", (long long)line, (long long)col);
	if (ir_add_loc(r, file, (int)line, (int)col) != k)
		perr(P, at, "location %lld repeats an earlier one", (long long)k);
}

static Region *parse_region(Parser *P)
{
	char word[64];
	const char *at = ident(P, word, sizeof word, "'region'");
	if (strcmp(word, "region"))
		perr(P, at, "expected 'region'");
	skip_ws(P);
	char buf[256];
	const char *name = buf;
	const char *name_at = P->p;
	if (*P->p == '"')
		name = parse_string(P);
	else
		ident(P, buf, sizeof buf, "a region name");
	/* passes and the driver find regions by name, so a second one of the
	   same name would silently shadow the first */
	for (int i = 0; i < P->nlist; i++)
		if (!strcmp(P->list[i]->name, name))
			perr(P, name_at, "region %s is defined twice", name);
	Region *r = ir_region_new(P->arena, name);
	expect(P, '(');
	skip_ws(P);
	const char *nin_at = P->p;
	int64_t ninput = parse_int(P);
	if (ninput < 0 || ninput > 1 << 20)
		perr(P, nin_at, "bad input count %lld", (long long)ninput);
	expect(P, ')');
	expect(P, '{');
	if (P->map) /* value names are per region */
		memset(P->map, 0, (size_t)P->capmap * sizeof *P->map);
	for (;;) {
		skip_ws(P);
		if (!*P->p)
			perr(P, P->p, "region %s is not closed (expected 'return' and '}')", r->name);
		if (*P->p == '%') {
			const char *def_at;
			int def = value_no(P, &def_at);
			expect(P, '=');
			char op[32];
			const char *op_at = ident(P, op, sizeof op, "an op name");
			parse_node(P, r, def, def_at, op, op_at);
			continue;
		}
		char kw[32];
		const char *kw_at = ident(P, kw, sizeof kw, "a statement");
		if (!strcmp(kw, "write")) {
			parse_node(P, r, -1, NULL, kw, kw_at);
		} else if (!strcmp(kw, "loc")) {
			parse_loc(P, r, kw_at);
		} else if (!strcmp(kw, "return")) {
			skip_ws(P);
			if (*P->p == '%') {
				do {
					ir_output(r, use_value(P));
				} while (accept(P, ','));
			}
			expect(P, '}');
			break;
		} else {
			perr(P, kw_at, "expected a statement ('%%N = ...', 'loc', 'write' or 'return'), got '%s'", kw);
		}
	}
	if (r->ninput > ninput)
		perr(P, nin_at, "region %s declares %lld inputs but uses input %d", r->name, (long long)ninput,
			r->ninput - 1);
	r->ninput = (int)ninput;
	return r;
}

/* All regions of the text, appended to P->list. */
static void parse_all(Parser *P)
{
	for (;;) {
		skip_ws(P);
		if (!*P->p)
			return;
		Region *r = parse_region(P);
		if (P->nlist == P->caplist) {
			int cap = P->caplist ? 2 * P->caplist : 4;
			P->list = arena_grow(P->arena, P->list, (size_t)P->caplist * sizeof *P->list,
				(size_t)cap * sizeof *P->list);
			P->caplist = cap;
		}
		P->list[P->nlist++] = r;
	}
}

int ir_parse(Arena *a, const char *text, const char *filename, Region ***out, char *err, size_t errlen)
{
	/* heap-allocated so its fields keep their values across longjmp */
	Parser *P = xcalloc(1, sizeof *P);
	P->text = P->p = text;
	P->file = filename ? filename : "<input>";
	P->arena = a;
	P->err = err;
	P->errlen = errlen;
	int result = -1;
	if (!setjmp(P->fail)) {
		parse_all(P);
		*out = P->list;
		result = P->nlist;
	}
	free(P->map);
	free(P->args);
	free(P);
	return result;
}
