#!/usr/bin/env bash
# tests/layers.sh — checks that includes follow the layer rule of
# docs/ARCHITECTURE.md ("Layers"): a folder may include its own headers and
# those of any folder of a lower rank, nothing above it and nothing beside
# it.  It reads every `#include "..."` line of the C sources and headers
# (and lang/lexer.l, lang/parser.y) under a tree and prints one PASS or
# FAIL line per kind of violation, each FAIL naming file:line and the two
# layers, with every violation of that kind listed below it.
#
#   tests/layers.sh [ROOT]     check the tree at ROOT (default: this checkout)
#   tests/layers.sh --suite    check this checkout, its runtime library and
#                              --self-test (tests/run.sh)
#   tests/layers.sh --self-test  plant one bad include of each kind in a
#                              scratch tree and require each to be caught
#
# The ranks, bottom to top.  Folders of equal rank may not include each
# other (passes and codegen both read kernel/, neither reads the other).
# An include without a folder ("parser.h", generated into build/) belongs to
# the including file's folder.
RANKS='
base     0   allocation, fatal errors
runtime  1   the library compiled programs link: tensors, data, checkpoints
ir       2   the IR, its text form, verifier, interpreter
kernel   3   what a fused kernel is: read by the printer hook, passes, codegen
passes   4   the pipeline of passes
codegen  4   LLVM code generation
lang     5   the language: lexer, parser, AST, diagnostics, loading
host     6   running programs: evaluation, tracing, the region cache
driver   7   the sinter command and the main() of built binaries
tests    8   tests may include anything
bench    8   benchmarks may include anything
'
# lang is the language only: it may not read the compiler below it.
LANG_FORBIDS='ir kernel passes codegen'

set -u

# check ROOT: the PASS/FAIL lines for the tree at ROOT; exit 1 on any FAIL
check() {
	local root=$1 files
	files=$(cd "$root" && find . \( -name build -o -name 'build-*' -o -name .git \) -prune -o \
		-type f \( -name '*.c' -o -name '*.h' -o -name '*.l' -o -name '*.y' \) -print | sed 's|^\./||' | sort)
	if [ -z "$files" ]; then
		echo "FAIL layers: no C sources under $root"
		return 1
	fi
	(cd "$root" && awk -v ranks="$RANKS" -v langforbids="$LANG_FORBIDS" '
	BEGIN {
		n = split(ranks, line, "\n")
		for (i = 1; i <= n; i++)
			if (split(line[i], w, " ") >= 2)
				rank[w[1]] = w[2]
		split(langforbids, lf, " ")
		for (i in lf)
			forbid[lf[i]] = 1
		nclass = split("upward sideways lang unranked", cls, " ")
		what["upward"] = "includes go down, never up"
		what["sideways"] = "folders of one rank do not include each other"
		what["lang"] = "lang/ reads nothing of the compiler (ir, kernel, passes, codegen)"
		what["unranked"] = "every folder with C sources has a rank"
	}
	function folder(path) { return index(path, "/") ? substr(path, 1, index(path, "/") - 1) : "." }
	function report(c, msg) {
		if (!nbad[c]++)
			first[c] = msg
		bad[c] = bad[c] "    " msg "\n"
	}
	FNR == 1 {
		from = folder(FILENAME)
		if (!(from in rank) && !(from in unranked_seen)) {
			unranked_seen[from] = 1
			report("unranked", FILENAME ": folder " from " is not in the table of tests/layers.sh")
		}
	}
	/^[ \t]*#[ \t]*include[ \t]*"/ {
		target = $0
		sub(/^[^"]*"/, "", target)
		sub(/".*/, "", target)
		to = index(target, "/") ? folder(target) : from
		if (to == from || !(from in rank))
			next
		where = FILENAME ":" FNR ": " from " includes " target
		if (!(to in rank))
			report("unranked", where " (folder " to " has no rank)")
		else if (from == "lang" && (to in forbid))
			report("lang", where " (" to ", rank " rank[to] ")")
		else if (rank[to] > rank[from])
			report("upward", where " (" from " rank " rank[from] " < " to " rank " rank[to] ")")
		else if (rank[to] == rank[from])
			report("sideways", where " (" from " and " to " share rank " rank[from] ")")
	}
	END {
		failed = 0
		for (i = 1; i <= nclass; i++) {
			c = cls[i]
			if (nbad[c]) {
				printf "FAIL layers %s: %d include%s against the rule (%s); first %s\n", c, nbad[c],
					nbad[c] == 1 ? "" : "s", what[c], first[c]
				printf "%s", bad[c]
				failed = 1
			} else {
				printf "PASS layers %s: %s\n", c, what[c]
			}
		}
		exit failed
	}' $files)
}

# runtime_alone: build/libsinter_rt.a, every object of it, links into a
# program with nothing but the C library, zlib and OpenBLAS: the runtime
# depends on nothing of the compiler at link time either
runtime_alone() {
	local root=$1 lib=$1/build/libsinter_rt.a tmp out
	if [ ! -f "$lib" ]; then
		echo "FAIL layers runtime library: no $lib (run make first)"
		return
	fi
	tmp=$(mktemp -d)
	echo 'int main(void) { return 0; }' >"$tmp/main.c"
	if out=$(${CC:-cc} -o "$tmp/a.out" "$tmp/main.c" -Wl,--whole-archive "$lib" -Wl,--no-whole-archive \
		-lopenblas -lz -lm -lpthread 2>&1); then
		echo "PASS layers runtime library: libsinter_rt.a links alone (nothing of the compiler)"
	else
		echo "FAIL layers runtime library: libsinter_rt.a needs more than the runtime:"
		grep -i 'undefined' <<<"$out" | sort -u | head -10 | sed 's/^/    /'
	fi
	rm -rf "$tmp"
}

# self_test: a scratch tree holding one clean file per layer and then one
# bad include of each kind; each must be caught by its own FAIL line
self_test() {
	local tmp out rc
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	mkdir -p "$tmp"/{base,runtime,ir,kernel,passes,codegen,lang,host,driver}
	echo '#include "base/arena.h"' >"$tmp/runtime/ok.c"
	echo '#include "kernel/kernel.h"' >"$tmp/codegen/ok.c"
	printf '#include "base/arena.h"\n#include "parser.h"\n' >"$tmp/lang/ok.c"
	echo '#include "codegen/codegen.h"' >"$tmp/host/ok.c"
	out=$(check "$tmp")
	rc=$?
	if [ $rc -eq 0 ] && ! grep -q '^FAIL' <<<"$out"; then
		echo "PASS layers self-test: a tree that keeps the rule passes"
	else
		echo "FAIL layers self-test: a tree that keeps the rule fails:"
		sed 's/^/    /' <<<"$out"
	fi
	printf '/* planted */\n#include "host/host.h"\n' >"$tmp/runtime/bad.c"
	echo '#include "passes/pipeline.h"' >"$tmp/codegen/bad.h"
	echo '#include "ir/ir.h"' >"$tmp/lang/bad.c"
	mkdir -p "$tmp/misc" && echo '#include "base/arena.h"' >"$tmp/misc/bad.c"
	out=$(check "$tmp")
	rc=$?
	[ $rc -ne 0 ] || echo "FAIL layers self-test: the check exits 0 on a tree with planted bad includes"
	local want
	for want in 'upward: .* runtime/bad.c:2: runtime includes host/host.h (runtime rank 1 < host rank 6)' \
	            'sideways: .* codegen/bad.h:1: codegen includes passes/pipeline.h' \
	            'lang: .* lang/bad.c:1: lang includes ir/ir.h' \
	            'unranked: .* misc/bad.c: folder misc'; do
		if grep -q "^FAIL layers $want" <<<"$out"; then
			echo "PASS layers self-test: caught ${want%%:*} (${want##*: })"
		else
			echo "FAIL layers self-test: missed the planted ${want%%:*} include; the check said:"
			sed 's/^/    /' <<<"$out"
		fi
	done
}

case "${1:-}" in
--self-test)
	self_test
	;;
--suite)
	check "$(dirname "$0")/.."
	rc=$?
	out=$(runtime_alone "$(dirname "$0")/.."; self_test)
	echo "$out"
	grep -q '^FAIL' <<<"$out" && rc=1
	exit $rc
	;;
*)
	check "${1:-$(dirname "$0")/..}"
	;;
esac
