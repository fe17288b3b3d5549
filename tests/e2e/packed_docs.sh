#!/usr/bin/env bash
# tests/e2e/packed_docs.sh — no cross-contamination between packed
# documents, exactly: for random documents and for fortunes, packed greedy
# and best-fit, on native code and on the interpreter, the per-position
# losses and the gradient of one packed batch (segment-masked attention,
# positions per document) equal those of running each of its pieces alone
# in a row of its own (plain causal attention), within 1e-5 relative.
# tests/e2e/packed_docs.sn runs the model, packed_docs.py checks the
# packing against its own and compares the two runs.
set -u
. "$(dirname "$0")/../lib/common.sh"
need "$PY cannot import numpy" "$PY" -c "import numpy"
need "no fortunes in /usr/share/games/fortunes (make deps installs them)" test -r /usr/share/games/fortunes/fortunes
scratch
sn="$root/tests/e2e/packed_docs.sn"
checker="$root/tests/e2e/packed_docs.py"
"$PY" "$checker" make "$tmp" >"$tmp/sets" || { fail "packed_docs: could not make the documents"; exit 1; }

while read -r data T B; do
	for strategy in greedy best_fit; do
		for run in "jit" "interp --interp"; do
			read -r label flags <<<"$run"
			name="$data-$strategy-$label"
			dir="$tmp/$name"
			mkdir -p "$dir/packed" "$dir/solo"
			# shellcheck disable=SC2086 # flags are words
			if ! "$root/sinter" run "$sn" $flags -D DATA="$tmp/$data.txt" -D STRATEGY="$strategy" -D T="$T" -D B="$B" \
				-D OUT="$dir/packed" >"$dir/packed/out" 2>"$dir/packed/err"; then
				fail "packed_docs $name: the packed run failed: $(head -3 "$dir/packed/err")"
				continue
			fi
			expect "packed_docs $name: one packed batch" "batches 1" grep '^batches' "$dir/packed/out"
			"$PY" "$checker" pieces "$tmp/$data.txt" "$strategy" "$T" "$dir/packed" "$dir/solo.txt" >"$dir/pieces"
			sed 's/^PASS packed_docs packed/PASS packed_docs '"$name"'/; s/^FAIL packed_docs packed/FAIL packed_docs '"$name"'/' \
				"$dir/pieces" | grep -v '^NPIECES'
			npieces=$(sed -n 's/^NPIECES //p' "$dir/pieces")
			# shellcheck disable=SC2086
			if ! "$root/sinter" run "$sn" $flags -D DATA="$dir/solo.txt" -D MODE=solo -D T="$T" -D B="${npieces:-1}" \
				-D OUT="$dir/solo" >"$dir/solo/out" 2>"$dir/solo/err"; then
				fail "packed_docs $name: the solo run failed: $(head -3 "$dir/solo/err")"
				continue
			fi
			expect "packed_docs $name: one solo batch" "batches 1" grep '^batches' "$dir/solo/out"
			"$PY" "$checker" same "$dir/packed" "$dir/solo" "$name"
		done
		# the packed losses of the interpreter are those of native code
		if [ -s "$tmp/$data-$strategy-jit/packed/out" ] && [ -s "$tmp/$data-$strategy-interp/packed/out" ]; then
			check "packed_docs $data-$strategy: jit and interpreter agree" \
				numdiff "$tmp/$data-$strategy-jit/packed/out" "$tmp/$data-$strategy-interp/packed/out" --rtol 1e-5
		fi
	done
done <"$tmp/sets"
