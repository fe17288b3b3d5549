#!/usr/bin/env bash
# tests/e2e/index_build.sh — an index outside its table, computed from the
# data inside a training step (index_build.sn), stops the run the same way
# through the JIT, the interpreter, a `sinter build` binary and that
# binary's interpreter: the same first line (the source location of the
# user's call and the step), the source line and a caret, exit status 1,
# and the log holds every step before the bad one, the same on every path.
# The program (written below, not a tests/e2e/*.sn: those must succeed)
# feeds an embedding of 100 rows byte ids from a sliced batch of a text
# data set (bytes 97..99, one 122 at offset 200), which reaches the table
# at step 50.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
dir=$tmp
cd "$root" || exit 1
CHECK_PREFIX="index_build: "
"$PY" -c 'import sys; open(sys.argv[1], "wb").write(b"abc" * 66 + b"ab" + b"z" + b"abc" * 20)' "$dir/corpus.txt"
prog=$dir/index_build.sn
cat >"$prog" <<'SN'
const DATA = "corpus.txt"
const T = 8
model Net() {
  emb = Embedding(100, 16)
  head = Linear(16, 100)
  fn call(x) = head(emb(x))
}
train {
  let data = text(DATA, context = T)
  let net = Net()
  let opt = adam(lr = 0.01)
  for x, y in batches(data, 4, shuffle = false) {
    let loss = minimize(opt, cross_entropy(net(x[:, 0:4]), y[:, 0:4] % 100))
    log(loss = loss)
  }
}
SN
want="$prog:6:24: error: index 122 out of range for take from a table of 100 rows (step 50)"
# the steps and losses of a log, without the times
steps() { sed 's/"time": [^,]*, //' "$1"; }
# name, command...: runs it with --log and checks its error and its log
stops() {
	local name=$1
	shift
	"$@" --log "$dir/$name.jsonl" >/dev/null 2>"$dir/$name.err"
	local rc=$?
	check "$name exits 1" test "$rc" -eq 1
	check "$name names the location and the step" test "$(head -1 "$dir/$name.err")" = "$want"
	check "$name quotes the source line with a caret" \
		bash -c "sed -n 2p '$dir/$name.err' | grep -qF 'head(emb(x))' && sed -n 3p '$dir/$name.err' | grep -q '^ *\^$'"
	check "$name logged steps 1 to 49" \
		bash -c "test \$(wc -l <'$dir/$name.jsonl') -eq 49 && tail -1 '$dir/$name.jsonl' | grep -q '\"step\": 49,'"
}
stops jit ./sinter run "$prog" -D DATA="$dir/corpus.txt"
stops interp ./sinter run --interp "$prog" -D DATA="$dir/corpus.txt"
if ./sinter build "$prog" -D DATA="$dir/corpus.txt" -o "$dir/bin" 2>"$dir/build.err"; then
	stops binary "$dir/bin"
	"$dir/bin" --verbose >/dev/null 2>"$dir/verbose.err"
	check "the binary ran native code (every region was compiled ahead of time)" \
		bash -c "grep -qF '$want' '$dir/verbose.err' && ! grep -q 'not compiled ahead of time' '$dir/verbose.err'"
	stops binary_interp "$dir/bin" --interp
	check "the binary logs what sinter run logs" cmp -s <(steps "$dir/jit.jsonl") <(steps "$dir/binary.jsonl")
else
	fail "index_build: sinter build failed: $(head -3 "$dir/build.err")"
fi
# steps equal, losses within 1e-5 relative, 49 lines each
if msg=$(numdiff "$dir/jit.jsonl" "$dir/interp.jsonl" --drop '"time": [^,]*, ' --count 49 --rtol 1e-5 --atol 0 \
	--names jit interp); then
	pass "index_build: the interpreter logs what the JIT logs, to 1e-5 ($msg)"
else
	fail "index_build: the interpreter logs what the JIT logs, to 1e-5: $msg"
fi
