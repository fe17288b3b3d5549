/*
 * print.c — writes a Region in sinter's IR text form, which ir/parse.c reads
 * back so that print(parse(print(r))) == print(r) byte for byte.
 *
 *   region step(3) {                        ; name(ninput)
 *     loc 1 "mlp.sn" 12:9                   ; source locations, numbered from 1
 *     %0 = input 0 : f32[32,784]
 *     %1 = param "l1.weight" : f32[784,128]
 *     %2 = matmul %0, %1 {ta=0, tb=0} : f32[32,128]
 *     %3 = const 0.5 : f32                   ; scalars have no brackets
 *     %4 = sum %2 {axes=[0, 1], keep=0} : f32 #k3 @1024
 *     %5 = state "l1.weight" "m" : f32[784,128]
 *     %6 = grad %4, %1 : f32[784,128]
 *     %7 = add %5, %6 : f32[784,128]
 *     write %5, %7                          ; still defines %8 (unprinted)
 *     %9 = slice %2 {ranges=[0:32:1, 0:64:2]} : f32[32,32]
 *     return %4, %9
 *   }
 *
 * Operands follow the op name; positional attributes (input index, constant,
 * slot names) come next, then named attributes in braces, then the result
 * type.  `#kG` and `@OFF` show the fused kernel (group) and arena offset
 * once passes set them, `work@OFF` the offset of a convolution's work
 * buffer (its im2col matrices, live during the node only), `!L` the node's source location (`loc L` above: the
 * range-checked ops take, scatter_rows and one_hot carry one); comment lines before the region describe its
 * kernels when the caller passes a hook that writes them (ir_print_with
 * with kernel_print_comments, kernel/kernel.h: ir/ knows nothing of
 * kernels).  `;` starts a comment anywhere; `#` starts one only
 * as the first non-blank character of a line.  Which attributes an op has,
 * positional or named, and how each is written, is the op's `attrs` column
 * in ir/ops.def (attr_def in ir/ops.c), which the parser reads too:
 *   tril {k}   rand/randn {stream}   dropout {p, stream}   matmul {ta, tb}
 *   sum/max/min/argmax {axes, keep}  transpose {perm}  concat {axis}
 *   slice/unslice {ranges=[start:stop:step, ...]}
 *   max_pool/avg_pool and their _grad ops {window=[kh, kw, sh, sw, ph, pw]}
 * The parser also accepts looser input, which prints canonically: any
 * distinct %N names (renumbered densely), k/stream/ta/tb/keep left out (0),
 * `f32[]` for `f32`, `%N = write ...` and a type after write.
 * Floats print in the shortest form that reads back as the same double.
 */
#include "ir/ir.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Shortest %g precision that strtod maps back to exactly v. */
static void print_double(FILE *f, double v)
{
	char buf[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		double back = strtod(buf, NULL);
		if (memcmp(&back, &v, sizeof v) == 0)
			break;
	}
	fputs(buf, f);
}

static void print_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Region names print bare when they look like identifiers, else quoted. */
static void print_name(FILE *f, const char *s)
{
	bool bare = s[0] && (isalpha((unsigned char)s[0]) || s[0] == '_');
	for (const char *p = s; bare && *p; p++)
		bare = isalnum((unsigned char)*p) || *p == '_' || *p == '.';
	if (bare)
		fputs(s, f);
	else
		print_string(f, s);
}

/* [a, b, ...], or with group 3 [a:b:c, ...] (slice ranges). */
static void print_ints(FILE *f, const int64_t *v, int n, int group)
{
	fputc('[', f);
	for (int i = 0; i + group <= n; i += group)
		for (int j = 0; j < group; j++)
			fprintf(f, "%s%lld", j ? ":" : i ? ", " : "", (long long)v[i + j]);
	fputc(']', f);
}

void ir_print_ints(FILE *f, const int64_t *v, int n)
{
	print_ints(f, v, n, 1);
}

static void print_attr(FILE *f, const Node *n, const AttrDef *d)
{
	switch (d->kind) {
	case AK_INT:
	case AK_FLAG:
		fprintf(f, "%lld", (long long)attr_int(n, d->slot));
		break;
	case AK_FLOAT:
		print_double(f, n->f);
		break;
	case AK_STRING: {
		const char *s = d->slot == AS_NAME ? n->name : n->sname;
		print_string(f, s ? s : "");
		break;
	}
	case AK_LIST:
	case AK_RANGES:
		print_ints(f, n->ia, n->nia, d->kind == AK_RANGES ? 3 : 1);
		break;
	}
}

/* The op's attributes as its schema (ops.def, attr_def) says: positional
   ones first, then the named ones in one pair of braces. */
static void print_attrs(FILE *f, const Node *n)
{
	unsigned attrs = op_info[n->op].attrs;
	for (int b = 0; b < ATTR_BITS; b++) {
		const AttrDef *d = &attr_def[b];
		if (!(attrs >> b & 1) || !attr_positional(d))
			continue;
		if (d->use == AU_POSITIONAL || attr_is_set(n, d)) {
			fputc(' ', f);
			print_attr(f, n, d);
		}
	}
	const char *sep = " {";
	for (int b = 0; b < ATTR_BITS; b++) {
		const AttrDef *d = &attr_def[b];
		if (!(attrs >> b & 1) || attr_positional(d))
			continue;
		if (d->use == AU_SET && !attr_is_set(n, d))
			continue;
		fprintf(f, "%s%s=", sep, d->key);
		print_attr(f, n, d);
		sep = ", ";
	}
	if (*sep == ',')
		fputc('}', f);
}

void ir_print(FILE *f, const Region *r)
{
	ir_print_with(f, r, NULL);
}

void ir_print_with(FILE *f, const Region *r, IrPrintHook *before)
{
	char tb[160];
	/* what the caller knows beyond the IR (kernels) goes first, as comment
	   lines, so that the lines of nodes stay one each */
	if (before)
		before(f, r);
	fputs("region ", f);
	print_name(f, r->name ? r->name : "");
	fprintf(f, "(%d) {\n", r->ninput);
	for (int k = 0; k < r->nloc; k++) {
		fprintf(f, "  loc %d ", k + 1);
		print_string(f, r->loc[k].file ? r->loc[k].file : "");
		fprintf(f, " %d:%d\n", r->loc[k].line, r->loc[k].col);
	}
	for (int v = 0; v < r->nnode; v++) {
		const Node *n = &r->node[v];
		bool effect = n->op == OP_WRITE;
		if (effect)
			fprintf(f, "  %s", op_info[n->op].name);
		else
			fprintf(f, "  %%%d = %s", v, op_info[n->op].name);
		for (int k = 0; k < n->narg; k++)
			fprintf(f, "%s%%%d", k ? ", " : " ", r->arg[n->arg + k]);
		print_attrs(f, n);
		if (!effect)
			fprintf(f, " : %s", type_str(&n->type, tb, sizeof tb));
		if (n->group >= 0)
			fprintf(f, " #k%d", n->group);
		if (n->offset >= 0)
			fprintf(f, " @%lld", (long long)n->offset);
		if (n->work >= 0)
			fprintf(f, " work@%lld", (long long)n->work);
		if (n->loc > 0)
			fprintf(f, " !%d", n->loc);
		fputc('\n', f);
	}
	fputs("  return", f);
	for (int i = 0; i < r->nout; i++)
		fprintf(f, "%s%%%d", i ? ", " : " ", r->out[i]);
	fputs("\n}\n", f);
}
