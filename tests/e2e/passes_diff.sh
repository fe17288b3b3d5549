#!/usr/bin/env bash
# passes_diff.sh — the differential test every optimization pass must pass:
# each example and test program runs once with the full pipeline and once
# per pass with that pass switched off (--no-PASS); everything the program
# produces must be identical byte for byte: stdout, stderr, exit code, the
# JSON-lines log (losses print with 9 significant digits; the wall-clock
# "time" field is removed) and every file it writes (safetensors,
# checkpoints).  Prints one PASS/FAIL line per program and pass.
#
#   PASSES="simplify fusion" tests/e2e/passes_diff.sh    # default: see below
#   PROGRAMS="examples/mlp.sn" tests/e2e/passes_diff.sh  # default: all below
#   FLAGS=--interp tests/e2e/passes_diff.sh              # flags for every run
#
# Each run gets a working directory of its own, holding links to the
# folders beside the program (data/, lib/), so files the program writes
# land there and nothing in the repository changes.  Programs are run with
# the arguments in ARGS below (shorter training where a full run is long);
# every run is compared, however long it takes (no wall-clock limit: the
# machine is shared).  Examples and tests/e2e programs must succeed; a
# tests/spec program may also fail, identically in both runs.  All runs use one BLAS
# thread and run JOBS at a time (default: one per core).
set -u
. "$(dirname "$0")/../lib/common.sh"
cd "$root" || exit 1
repo=$root
# Default: every pass of the pipeline table in passes/pipeline.c but
# autodiff, which no program can run without, and precision and bf16store,
# which run only with --precision=bf16 (tests/e2e/precision_bf16.sh, where
# bf16store is switched off against on).
passes=${PASSES:-$(sed -n 's/^\t{ "\([a-z_0-9]*\)", [a-z_0-9]* },.*/\1/p' passes/pipeline.c | grep -vx 'autodiff\|precision\|bf16store')}
if [ -z "$passes" ]; then
	fail "passes_diff: no passes found in passes/pipeline.c"
	exit 1
fi
jobs=${JOBS:-$(nproc)}
programs=${PROGRAMS:-$(ls examples/*.sn tests/e2e/*.sn tests/spec/*.sn 2>/dev/null)}

scratch

# Extra arguments per program: keep every run to a few seconds, supply
# the files a program wants (as tests/e2e/spec.sh does).  gan.sn's
# covariance `d.T @ d` (K = 4000) runs on sinter's kernel: simplify folds
# the transpose into the product's flag, and OpenBLAS's Cooperlake kernels
# (its choice on a Zen 4 when OPENBLAS_CORETYPE is unset) sum a transposed
# operand in another order (2e-6 apart here); sinter's kernel packs either
# layout into the same panels and sums them alike.
declare -A ARGS=(
	[examples/mlp.sn]="-D EPOCHS=1"
	[examples/early_stop.sn]="-D USE=0.1 -D EVAL_EVERY=20 -D MAX_STEPS=60"
	[examples/lenet.sn]="-D EPOCHS=1 -D STEPS=3 -D TEST=1000"
	[examples/resnet.sn]="-D EPOCHS=1 -D STEPS=2 -D TEST=500"
	[examples/gpt_char.sn]="-D STEPS=2 -D EVAL_BATCHES=1 -D FINAL_EVAL_BATCHES=1 -D SAMPLE=8"
	[examples/gan.sn]="-D STEPS=30 -D SNAP=gan --gemm=sinter"
	[examples/gpt_docs.sn]="-D STEPS=2 -D EVAL_EVERY=2 -D EVAL_BATCHES=1 -D SAMPLE=8 -D C=32"
	[tests/e2e/packed_docs.sn]="-D DATA=$repo/tests/spec/data/docs.txt"
	[tests/e2e/gpt_tokens.sn]="-D TOKENS=$tmp/tokens.bin -D STEPS=20"
	[tests/spec/datasets.sn]="-D TOKENS=$tmp/tokens.bin"
	[tests/e2e/accumulate.sn]="-D ACC=4 -D BATCH=16"
)
token_file "$tmp/tokens.bin" 300
# One copy of the driver for every run, even if it is rebuilt meanwhile
# ($tmp/sinter, which run below names: it is exported to xargs' shells).
snapshot "${SINTER:-$repo/sinter}"
need "the driver does not run" "$tmp/sinter" --help

# run DIR FILE ARGS...: runs FILE in DIR/work and leaves in DIR/all a
# summary of everything it produced.
run() {
	local dir=$1 file=$2
	shift 2
	mkdir -p "$dir/work"
	# relative reads (data/, lib/) resolve as from the program's folder;
	# only folders are linked, so a write never reaches the repository
	for d in "$repo/$(dirname "$file")"/*/; do
		[ -d "$d" ] && ln -s "$d" "$dir/work/$(basename "$d")"
	done
	(cd "$dir/work" && "$tmp/sinter" run "$repo/$file" --threads 1 \
		--log "$dir/log" "$@" >"$dir/stdout" 2>"$dir/stderr")
	echo $? >"$dir/rc"
	{
		echo "== exit"; cat "$dir/rc"
		echo "== stdout"; cat "$dir/stdout"
		# the empty-log warning names the --log path, which is $dir
		echo "== stderr"; sed "s#$dir/#LOGDIR/#g" "$dir/stderr"
		echo "== log"; [ -f "$dir/log" ] && sed -E 's/"time": [^,}]*,? ?//' "$dir/log"
		for f in $(cd "$dir/work" && find . -type f | sort); do
			echo "== file $f $(sha256sum <"$dir/work/$f")"
		done
	} >"$dir/all"
}
export -f run
export tmp repo

list=()
for prog in $programs; do
	[ -f "$prog" ] && list+=("$prog")
done
# One job per line: directory, program, arguments (no spaces in any of
# them); run JOBS at a time.
n=0
for prog in "${list[@]}"; do
	n=$((n + 1))
	echo "$tmp/p$n $prog ${ARGS[$prog]:-} ${FLAGS:-}"
	for pass in $passes; do
		echo "$tmp/p$n-$pass $prog ${ARGS[$prog]:-} ${FLAGS:-} --no-$pass"
	done
done | xargs -d '\n' -n 1 -P "$jobs" bash -c 'run $1' run # $1: split into words

n=0
for prog in "${list[@]}"; do
	n=$((n + 1))
	base=$tmp/p$n
	rc=$(cat "$base/rc")
	if [ "$rc" -gt 128 ] || { [ "$rc" != 0 ] && [[ $prog != tests/spec/* ]]; }; then
		fail "$prog: fails with the full pipeline (exit $rc): $(head -1 "$base/stderr")"
		continue
	fi
	for pass in $passes; do
		off=$base-$pass
		note=""
		[ "$rc" != 0 ] && note=" (both runs exit $rc)"
		if cmp -s "$base/all" "$off/all"; then
			pass "$pass $prog: identical with and without the pass$note"
		else
			fail "$pass $prog: output differs with --no-$pass (< with the pass, > without):"
			diff "$base/all" "$off/all" | head -8 | sed 's/^/    /'
		fi
	done
done
