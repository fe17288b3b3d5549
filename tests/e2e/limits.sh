#!/usr/bin/env bash
# tests/e2e/limits.sh — the memory limit over a whole run, and host tensor
# lifetimes it depends on:
#   - tensors computed for a host builtin alone (str(x) in a loop, a print
#     in a function) are freed after the call (they were kept for good);
#   - a loop that keeps a 64 KiB host tensor per step for 300 steps runs
#     under --max-memory 1M: each step's tensor is freed with its scope, so
#     what the program holds stays flat (it grew by 64 KiB a step before);
#   - a batch assigned to a variable outside its batches loop outlives the
#     loop (it was freed at the end of the iteration: a segfault);
#   - a built binary takes --max-memory and reports the same located error;
#   - memory the limit allows but the system refuses (a limit above the
#     machine, here an address-space ulimit) is an error, exit 1, no abort.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
S=$root/sinter

cat >"$tmp/steps.sn" <<'SN'
train {
  let total = 0.0
  for step in 0..300 {
    let x = randn([256, 64])
    total = total + sum(x * x)
  }
  print(total > 4000000.0)
}
SN
expect "limits: 300 steps of 64 KiB host tensors under --max-memory 1M" true "$S" run "$tmp/steps.sn" --max-memory 1M
expect "limits: the same with --interp" true "$S" run "$tmp/steps.sn" --max-memory 1M --interp

# a tensor computed only for a host builtin (print(net(x)), str(x)) is freed
# after the call: 200 of 4 MB each held 800 MB before
cat >"$tmp/temps.sn" <<'SN'
fn show(x) = len(str(x * 2))
train {
  let n = 0
  let x = ones([1000, 1000])
  for i in 0..200 {
    n = n + len(str(ones([1000, 1000]) * i)) + show(x)
  }
  print(n > 0)
}
SN
expect "limits: 200 printed 4 MB temporaries under --max-memory 64M" true \
	sh -c "'$S' run '$tmp/temps.sn' --max-memory 64M | tail -1"

cat >"$tmp/keep.sn" <<'SN'
train {
  let ds = text("/usr/share/games/fortunes/computers", context = 8)
  let keep = zeros([2, 8])
  let last = 0
  for x, y in batches(ds, 2) {
    keep = x
    last = sum(x)
  }
  print(sum(keep) == last, sum(keep) > 0)
}
SN
expect "limits: a batch kept past its loop (jit)" "true true" "$S" run "$tmp/keep.sn"
expect "limits: a batch kept past its loop --interp" "true true" "$S" run "$tmp/keep.sn" --interp

cat >"$tmp/big.sn" <<'SN'
train {
  let x = randn([1000, 1000])
  print(sum(x) != 0)
}
SN
if ! "$S" build "$tmp/big.sn" -o "$tmp/big" >"$tmp/build.log" 2>&1; then
	fail "limits: sinter build: $(head -3 "$tmp/build.log")"
	exit 1
fi
out=$("$tmp/big" --max-memory 1M 2>&1)
rc=$?
first=$(head -1 <<<"$out")
want="$tmp/big.sn:2:16: error: the tensor work here (3.8 MiB of results, 3.8 MiB of intermediates) needs 8000000 bytes (7.6 MiB); the memory limit is 1.0 MiB (--max-memory), 0 bytes of it in use"
if [ $rc -eq 1 ] && [ "$first" = "$want" ] && [[ "$(sed -n 3p <<<"$out")" == *"^"* ]]; then
	pass "limits: a built binary's --max-memory error"
else
	fail "limits: a built binary's --max-memory error: exit $rc, got: $first"
fi
expect "limits: a built binary under a limit it fits" true "$tmp/big" --max-memory 64M

cat >"$tmp/oom.sn" <<'SN'
train {
  let x = ones([30000, 30000])
  print(sum(x))
}
SN
out=$(ulimit -v 2000000; "$S" check "$tmp/oom.sn" --max-memory 1T 2>&1)
rc=$?
want="sinter: error: out of memory: the system refused 3600000000 bytes (is --max-memory above the memory available?)"
if [ $rc -eq 1 ] && [ "$(head -1 <<<"$out")" = "$want" ]; then
	pass "limits: memory the system refuses is an error, not an abort"
else
	fail "limits: memory the system refuses: exit $rc, $(head -1 <<<"$out")"
fi
