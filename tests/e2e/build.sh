#!/usr/bin/env bash
# sinter build: the executable needs no LLVM, prints exactly what sinter run
# prints (same seed, same losses, bit for bit), every example and program of
# the specification builds, and a failed build leaves no file behind.  Also: sinter llvm shows vectorized loops for the host CPU.
set -u
. "$(dirname "$0")/../lib/common.sh"
cd "$root" || exit 1
scratch
dir=$tmp
CHECK_PREFIX="build: "
for prog in tests/e2e/determinism.sn examples/linreg.sn; do
	name=$(basename "$prog" .sn)
	if ! ./sinter build "$prog" -o "$dir/$name" 2>"$dir/err"; then
		fail "build: $name does not build: $(head -3 "$dir/err")"
		continue
	fi
	check "$name has no libLLVM" bash -c "! ldd '$dir/$name' | grep -qi llvm"
	./sinter run "$prog" --seed 3 >"$dir/jit.out" 2>&1
	check "sinter run $name exits 0" test $? -eq 0
	"$dir/$name" --seed 3 >"$dir/bin.out" 2>&1
	check "the binary of $name exits 0" test $? -eq 0
	check "$name prints what sinter run prints, bit for bit" cmp -s "$dir/jit.out" "$dir/bin.out"
	check "$name output is not empty" test -s "$dir/bin.out"
done
# every example and every program of the specification builds (from inside
# tests/spec, where their data paths are relative to); the programs that
# need no -D and write no files print what `sinter run` prints
# the token file datasets.sn reads (-D TOKENS)
token_file "$dir/tokens.bin" 300
for prog in examples/*.sn tests/spec/*.sn; do
	name=$(basename "$prog" .sn)
	defs=()
	[ "$name" = datasets ] && defs=(-D TOKENS="$dir/tokens.bin")
	(cd "$(dirname "$prog")" && "$root/sinter" build "$name.sn" "${defs[@]}" -o "$dir/all_$name" 2>"$dir/err")
	rc=$?
	check "sinter build $prog works$( [ -s "$dir/err" ] && echo ": $(head -1 "$dir/err")")" \
		bash -c "[ $rc -eq 0 ] && test -x '$dir/all_$name'"
done
for name in lexical host_arith tensors functions train_block optimizers schedules adamw_stdlib adamw_verbatim; do
	rm -f "$dir/jit.out" "$dir/bin.out"
	(cd tests/spec && "$root/sinter" run "$name.sn" >"$dir/jit.out" 2>&1 && "$dir/all_$name" >"$dir/bin.out" 2>&1)
	rc=$?
	check "the binary of tests/spec/$name.sn prints what sinter run prints (exit $rc)" \
		bash -c "[ $rc -eq 0 ] && test -s '$dir/jit.out' && cmp -s '$dir/jit.out' '$dir/bin.out'"
done
./sinter build tests/e2e/determinism.sn -o "$dir/det" 2>/dev/null &&
	"$dir/det" --seed 1 >"$dir/a" 2>&1 && "$dir/det" --seed 2 >"$dir/b" 2>&1
rc=$?
check "--seed reaches the built program (exit $rc)" bash -c "[ $rc -eq 0 ] && grep -q '^loss' '$dir/a' && ! cmp -s '$dir/a' '$dir/b'"
./sinter build examples/linreg.sn -o /nonexistent/dir/linreg 2>"$dir/err"
rc=$?
check "unwritable output fails with exit 1" test "$rc" -eq 1
check "unwritable output says why" grep -q "cannot write '/nonexistent/dir/linreg'" "$dir/err"
check "no partial file is left" bash -c "! ls /nonexistent/dir/linreg* 2>/dev/null"
./sinter llvm examples/mlp.sn >"$dir/ll" 2>&1
check "sinter llvm exits 0" test $? -eq 0
check "sinter llvm shows vector instructions" grep -qE '<(4|8|16) x float>' "$dir/ll"
check "sinter llvm shows the OpenBLAS call" grep -q 'call void @rt_sgemm(' "$dir/ll"
