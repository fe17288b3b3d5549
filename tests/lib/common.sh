# tests/lib/common.sh — what the e2e tests (tests/e2e/*.sh) and the bench
# scripts (bench/*.sh, through bench/benchlib.sh) share.  An e2e test
# sources it first thing:
#
#   . "$(dirname "$0")/../lib/common.sh"
#
# It sets root (the repository's top folder, absolute) and PY (Debian's
# /usr/bin/python3, which has numpy and torch), and defines:
#   pass / fail / skip MESSAGE   one "PASS ..." / "FAIL ..." / "SKIP ..." line
#                                (tests/run.sh counts these lines)
#   check NAME CMD...            PASS NAME when CMD exits 0, else FAIL NAME
#                                (NAME after $CHECK_PREFIX, if the script
#                                sets one)
#   expect NAME WANT CMD...      PASS NAME when CMD prints exactly WANT on
#                                stdout and exits 0
#   scratch [--cd]               makes the folder $tmp (and enters it with
#                                --cd), removed on exit together with every
#                                pid pushed on pids[] (KEEP=1 in the
#                                environment keeps it)
#   wait_lines FILE N PID        waits until FILE has N lines (status 0) or
#                                PID has ended without them (status 1)
#   log_losses FILE              "STEP LOSS" for every line of a JSON-lines
#                                log (LOSS as Python's repr), "BAD line"
#                                for a line that does not parse: a torn or
#                                interleaved line fails a comparison
#   snapshot [SINTER]            copies SINTER (default $root/sinter) into
#                                $tmp and points $sinter at the copy: a run
#                                of minutes measures one binary while others
#                                rebuild ./sinter; it finds the standard
#                                library through SINTER_STDLIB
#   need WHAT CMD...             a FAIL line and exit 1 unless CMD succeeds:
#                                a missing dependency is never a pass
#   token_file PATH COUNT        a token file (the 256-int32 header: magic,
#                                version 1, count; then uint16 tokens
#                                (7 i) mod 1000), as tokens() reads
#   gemm_products STDERR         "SINTER OPENBLAS": the matrix products that
#                                --stats (in that stderr) counted on each
#                                kernel, summed over the regions
#   numdiff A B [OPTIONS]        tests/lib/numdiff.py: the numbers of two
#                                outputs agree within a tolerance
#   untimed LOG                  a run log without its "time" fields: what
#                                two runs of one program log alike
#   run_logged NAME ARGS...      `$sinter run ARGS --stats --log`: stdout,
#                                then the untimed log, into $tmp/NAME.out,
#                                stderr into $tmp/NAME.err; a FAIL line and
#                                status 1 when it exits non-zero
#   build_matches BUILD REFUSE PROG ARGS...
#                                `sinter build PROG ARGS BUILD` into
#                                $tmp/bin: it prints and logs (untimed)
#                                what `sinter run PROG ARGS BUILD` does, bit
#                                for bit, and refuses the option REFUSE (its
#                                choice is compiled in); 5 checks; leaves
#                                $tmp/bin.{out,err,jsonl}; status 1 when the
#                                build failed
#   replay NAME                  a PyTorch replay: runs tests/e2e/NAME.sn
#                                natively and on the interpreter with
#                                -D OUT=DIR, then tests/e2e/NAME.py DIR
#                                OUTPUT LABEL checks each; status 1 when
#                                a run or a check failed (needs $tmp)
# Not a test: tests/run.sh runs only tests/e2e/*.sh.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; }
skip() { echo "SKIP $*"; }

# check NAME CMD...: the line for NAME by CMD's exit status
check() {
	local name=$1
	shift
	if "$@"; then pass "${CHECK_PREFIX:-}$name"; else fail "${CHECK_PREFIX:-}$name"; fi
}

expect() {
	local name=$1 want=$2 got rc
	shift 2
	got=$("$@" 2>"$tmp/expect.err")
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then
		pass "$name"
	else
		fail "$name: exit $rc, output '$(head -c 200 <<<"$got")', stderr: $(head -1 "$tmp/expect.err" | cut -c1-200)"
	fi
}

pids=()
scratch_cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
}
scratch() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/sinter-test.XXXXXX") || exit 1
	if [ -n "${KEEP:-}" ]; then
		echo "$(basename "$0"): files kept in $tmp" >&2
		trap 'tmp= scratch_cleanup' EXIT
	else
		trap scratch_cleanup EXIT
	fi
	if [ "${1:-}" = --cd ]; then
		cd "$tmp" || exit 1
	fi
}

wait_lines() {
	while kill -0 "$3" 2>/dev/null; do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.02
	done
	[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# kill_at_lines LOG N CMD...: runs CMD in the background and SIGKILLs it
# once LOG has N lines (a run killed mid-training); status 1 when CMD ended
# before that.  Redirections of the call apply to CMD.
kill_at_lines() {
	local log=$1 n=$2 pid
	shift 2
	"$@" &
	pid=$!
	pids+=("$pid")
	if ! wait_lines "$log" "$n" "$pid"; then
		wait "$pid" 2>/dev/null
		return 1
	fi
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	return 0
}

snapshot() {
	local from=${1:-$root/sinter}
	[ -n "${tmp:-}" ] || scratch
	if ! cp "$from" "$tmp/sinter" 2>/dev/null; then
		fail "$(basename "$0" .sh): no sinter at $from (make builds it)"
		exit 1
	fi
	sinter=$tmp/sinter
	export SINTER_STDLIB=${SINTER_STDLIB:-$root/stdlib}
}

need() {
	local what=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		fail "$(basename "$0" .sh): $what"
		exit 1
	fi
}

log_losses() {
	"$PY" - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
        print(r["step"], repr(r["loss"]))
    except Exception:
        print("BAD", line.rstrip())
PY
}

token_file() {
	"$PY" - "$1" "$2" <<'PY'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
toks = [(i * 7) % 1000 for i in range(n)]
head = [20240520, 1, n] + [0] * 253
open(path, "wb").write(struct.pack("<256i", *head) + struct.pack("<%dH" % n, *toks))
PY
}

numdiff() { "$PY" "$root/tests/lib/numdiff.py" "$@"; }
untimed() { sed -E 's/"time": *[-+0-9.eE]+,? *//' "$1"; }

run_logged() {
	local name=$1 rc
	shift
	"$sinter" run "$@" --stats --log "$tmp/$name.jsonl" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail "$(basename "$0" .sh) $name: exited $rc: $(head -2 "$tmp/$name.err" | tr '\n' ' ')"
		return 1
	fi
	untimed "$tmp/$name.jsonl" >>"$tmp/$name.out"
}

# (./sinter, not the snapshot: `sinter build` finds libsinter_host.a beside itself)
build_matches() {
	local build=$1 refuse=$2 prog=$3 me rc
	me=$(basename "$0" .sh)
	shift 3
	if ! "$root/sinter" build "$prog" "$@" "$build" -o "$tmp/bin" 2>"$tmp/build.err"; then
		fail "$me sinter build $build: $(head -2 "$tmp/build.err" | tr '\n' ' ')"
		return 1
	fi
	pass "$me sinter build $build works"
	"$tmp/bin" "$@" --stats --log "$tmp/bin.jsonl" >"$tmp/bin.out" 2>"$tmp/bin.err"
	rc=$?
	check "$me the binary exits 0 (exit $rc: $(head -1 "$tmp/bin.err"))" test $rc -eq 0
	"$root/sinter" run "$prog" "$@" "$build" --log "$tmp/run.jsonl" >"$tmp/run.out" 2>/dev/null
	check "$me the binary prints what sinter run $build prints, bit for bit" cmp -s "$tmp/bin.out" "$tmp/run.out"
	check "$me the binary logs the losses of sinter run $build, bit for bit" \
		cmp -s <(untimed "$tmp/bin.jsonl") <(untimed "$tmp/run.jsonl")
	"$tmp/bin" "$refuse" >/dev/null 2>"$tmp/bin_refuse.err"
	rc=$?
	check "$me the binary refuses $refuse (its choice is compiled in): exit $rc, $(head -1 "$tmp/bin_refuse.err")" \
		bash -c "[ $rc -eq 1 ] && grep -q \"option '$refuse' is not supported\" '$tmp/bin_refuse.err'"
}
gemm_products() {
	sed -n 's/.*matrix products: \([0-9]*\) on sinter.s kernel.*, \([0-9]*\) on OpenBLAS.*/\1 \2/p' "$1" |
		awk '{ s += $1; b += $2 } END { print s + 0, b + 0 }'
}

replay() {
	local name=$1 run label flags status=0
	for run in "jit" "interp --interp"; do
		read -r label flags <<<"$run"
		mkdir -p "$tmp/$label"
		# shellcheck disable=SC2086 # flags are words
		if ! "$root/sinter" run "$root/tests/e2e/$name.sn" $flags -D OUT="$tmp/$label" \
			>"$tmp/$label/out" 2>"$tmp/$label/err"; then
			fail "$name $label: sinter failed: $(head -3 "$tmp/$label/err")"
			status=1
			continue
		fi
		"$PY" "$root/tests/e2e/$name.py" "$tmp/$label" "$tmp/$label/out" "$label" || status=1
	done
	return $status
}
