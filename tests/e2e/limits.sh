#!/usr/bin/env bash
# tests/e2e/limits.sh — the memory limit over a whole run, and host tensor
# lifetimes it depends on:
#   - a loop that keeps a 64 KiB host tensor per step for 300 steps runs
#     under --max-memory 1M: each step's tensor is freed with its scope, so
#     what the program holds stays flat (it grew by 64 KiB a step before);
#   - a batch assigned to a variable outside its batches loop outlives the
#     loop (it was freed at the end of the iteration: a segfault);
#   - a built binary takes --max-memory and reports the same located error;
#   - memory the limit allows but the system refuses (a limit above the
#     machine, here an address-space ulimit) is an error, exit 1, no abort.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
out=$("$S" run "$tmp/steps.sn" --max-memory 1M 2>&1)
if [ $? -eq 0 ] && [ "$out" = "true" ]; then
	echo "PASS limits: 300 steps of 64 KiB host tensors under --max-memory 1M"
else
	echo "FAIL limits: 300 steps of 64 KiB host tensors under --max-memory 1M: $(head -2 <<<"$out")"
fi
out=$("$S" run "$tmp/steps.sn" --max-memory 1M --interp 2>&1)
if [ $? -eq 0 ] && [ "$out" = "true" ]; then
	echo "PASS limits: the same with --interp"
else
	echo "FAIL limits: the same with --interp: $(head -2 <<<"$out")"
fi

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
for mode in "" --interp; do
	out=$("$S" run "$tmp/keep.sn" $mode 2>&1)
	if [ $? -eq 0 ] && [ "$out" = "true true" ]; then
		echo "PASS limits: a batch kept past its loop ${mode:-(jit)}"
	else
		echo "FAIL limits: a batch kept past its loop ${mode:-(jit)}: exit $?, $(head -2 <<<"$out")"
	fi
done

cat >"$tmp/big.sn" <<'SN'
train {
  let x = randn([1000, 1000])
  print(sum(x) != 0)
}
SN
if ! "$S" build "$tmp/big.sn" -o "$tmp/big" >"$tmp/build.log" 2>&1; then
	echo "FAIL limits: sinter build: $(head -3 "$tmp/build.log")"
	exit 1
fi
out=$("$tmp/big" --max-memory 1M 2>&1)
rc=$?
first=$(head -1 <<<"$out")
want="$tmp/big.sn:2:16: error: the tensor work here (3.8 MiB of results, 3.8 MiB of intermediates) needs 8000000 bytes (7.6 MiB); the memory limit is 1.0 MiB (--max-memory), 0 bytes of it in use"
if [ $rc -eq 1 ] && [ "$first" = "$want" ] && [[ "$(sed -n 3p <<<"$out")" == *"^"* ]]; then
	echo "PASS limits: a built binary's --max-memory error"
else
	echo "FAIL limits: a built binary's --max-memory error: exit $rc, got: $first"
fi
out=$("$tmp/big" --max-memory 64M 2>&1)
if [ $? -eq 0 ] && [ "$out" = "true" ]; then
	echo "PASS limits: a built binary under a limit it fits"
else
	echo "FAIL limits: a built binary under a limit it fits: $(head -2 <<<"$out")"
fi

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
	echo "PASS limits: memory the system refuses is an error, not an abort"
else
	echo "FAIL limits: memory the system refuses: exit $rc, $(head -1 <<<"$out")"
fi
