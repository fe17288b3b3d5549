/*
 * test_builtins.c — walks the builtin table (host/prims.c) and fails when
 * a row breaks what the evaluator assumes of it:
 *   - a name, a known kind, and a handler unless the row is a name only
 *     (an initializer named in parameter declarations, never called);
 *   - rows of one name adjacent (ev_builtin tries the next row of the same
 *     name: log(x) and log(name = value)), and builtin_find giving the
 *     first of them;
 *   - an op exactly on tensor primitives, and one the op table knows;
 *   - an argument spec get_args can read: names separated by ", ", the
 *     optional ones (ending in '=') after the required ones;
 *   - the kinds the dispatch decides by: minimize the only training step,
 *     print and log rows that take host values.
 */
#include "host/eval.h"
#include "ir/ops.h"
#include "tests/unit/check.h"

#include <ctype.h>
#include <string.h>

/* Whether spec is "a, b=, c=" with identifiers, optional ones last. */
static bool spec_ok(const char *spec, char *why, size_t n)
{
	bool optional = false;
	for (const char *p = spec;;) {
		const char *start = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p == start || isdigit((unsigned char)*start)) {
			snprintf(why, n, "no parameter name at '%s'", start);
			return false;
		}
		bool opt = *p == '=';
		p += opt;
		if (optional && !opt) {
			snprintf(why, n, "required '%.*s' after an optional parameter", (int)(p - start), start);
			return false;
		}
		optional |= opt;
		if (!*p)
			return true;
		if (strncmp(p, ", ", 2)) {
			snprintf(why, n, "expected ', ' at '%s'", p);
			return false;
		}
		p += 2;
	}
}

int main(void)
{
	check(builtin_count >= 50, "table.size", "%d rows", builtin_count);
	int nstep = 0;
	for (int i = 0; i < builtin_count; i++) {
		const Builtin *b = &builtin_table[i];
		char name[96], why[160];
		snprintf(name, sizeof name, "row.%d.%s", i, b->name ? b->name : "?");
		if (!check(b->name && b->name[0], name, "no name"))
			continue;
		check(b->kind >= BUILTIN_TENSOR && b->kind <= BUILTIN_IO, name, "kind %d is not a BuiltinKind", (int)b->kind);
		check(b->fn || (b->kind == BUILTIN_INIT && !b->spec), name,
		      "no handler: only an initializer's name may have none (and then no spec)");
		if (b->kind == BUILTIN_TENSOR)
			check(b->op >= 0 && b->op < OP_COUNT && op_info[b->op].name, name, "tensor primitive without an op");
		else
			check(b->op == OP_COUNT, name, "op %d on a row that is not a tensor primitive", (int)b->op);
		if (b->spec)
			check(spec_ok(b->spec, why, sizeof why), name, "spec \"%s\": %s", b->spec, why);
		const Builtin *first = builtin_find(b->name);
		check(first && first <= b && (first == b || !strcmp(b[-1].name, b->name)), name,
		      "builtin_find gives another row, or rows of this name are not adjacent");
		for (int k = i + 2; k < builtin_count; k++)
			if (!strcmp(builtin_table[k].name, b->name) && strcmp(builtin_table[k - 1].name, b->name))
				check(false, name, "row %d has the same name after other rows", k);
		nstep += b->kind == BUILTIN_STEP;
	}
	const Builtin *m = builtin_find("minimize");
	check(m && m->kind == BUILTIN_STEP && nstep == 1, "kind.minimize", "minimize must be the one BUILTIN_STEP row");
	const Builtin *l = builtin_find("log");
	check(l && l->kind == BUILTIN_TENSOR && l->op == OP_LOG && l[1].kind == BUILTIN_IO && !strcmp(l[1].name, "log"),
	      "kind.log", "log: the logarithm first, then the run log");
	const Builtin *p = builtin_find("print");
	check(p && p->kind == BUILTIN_IO && !p->spec, "kind.print", "print takes any host values");
	check(!builtin_find("Linear") && !builtin_find("sgd"), "stdlib.not_builtin",
	      "standard-library names are declarations, not builtins");
	return nfail != 0;
}
