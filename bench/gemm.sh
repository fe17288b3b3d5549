#!/usr/bin/env bash
# bench/gemm.sh — sinter's own sgemm (codegen/gemm.c) against OpenBLAS on
# the matrix products of one training step of bench/mlp_l.sn and of
# bench/gpt_step.sn, 1 thread, with the core's FMA peak measured in the
# same run (bench/gemm.c has the shapes, the probe and the timing).
#
# Runs build/bench/gemm (built here through make) once with OpenBLAS as the
# environment configures it (OPENBLAS_CORETYPE kept as it is), and, on a
# CPU with AVX-512, once more with OPENBLAS_CORETYPE=SkylakeX (Cooperlake
# when the CPU has AVX512-BF16): OpenBLAS's best kernels for this CPU,
# then once with the bf16 argument: sinter's bf16 product (vdpbf16ps, or
# widened to FMAs on a CPU without AVX512-BF16) against its f32 product,
# with the vdpbf16ps peak probed too.
# Times are each thread's CPU time (the machine is shared: wall time would
# count other processes' slices), medians of REPEATS rounds that alternate
# the two kernels, each round followed by a probe.  Prints the tables and
# writes them, with the date, the command, the CPU and the commit, to
# bench/gemm_results.md.
#
# Usage: bench/gemm.sh           REPEATS=31 bench/gemm.sh
#        WHICH=mlp bench/gemm.sh (mlp, gpt, attn or all)
set -u
cd "$(dirname "$0")/.." || exit 1
REPEATS=${REPEATS:-15}
WHICH=${WHICH:-all}
make -s build/bench/gemm || exit 1
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
best=""
case "$flags" in
*avx512_bf16*) best=Cooperlake ;;
*avx512f*) best=SkylakeX ;;
esac
out=bench/gemm_results.md
{
	echo "# sinter's sgemm against OpenBLAS, 1 thread"
	echo
	echo "\`bench/gemm.sh\` (REPEATS=$REPEATS WHICH=$WHICH), $(date -u '+%Y-%m-%d %H:%M UTC'),"
	echo "commit $(git rev-parse --short HEAD 2>/dev/null), CPU $cpu, $(nproc) cores shared,"
	echo "load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Columns: t = transposes of A and B, x = times one step runs the product,"
	echo "%pk = % of the FMA peak measured in the same run, blas/s = OpenBLAS time / sinter time."
	echo
	echo "## OpenBLAS as configured (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>})"
	echo
	echo '```'
	build/bench/gemm "$REPEATS" "$WHICH" || exit 1
	echo '```'
	if [ -n "$best" ]; then
		echo
		echo "## OpenBLAS's best kernels here (OPENBLAS_CORETYPE=$best)"
		echo
		echo '```'
		OPENBLAS_CORETYPE=$best build/bench/gemm "$REPEATS" "$WHICH" || exit 1
		echo '```'
	fi
	echo
	echo "## sinter's bf16 product against its f32 product"
	echo
	echo "bf16 operands rounded as they are packed, f32 accumulation. The bf16 peak"
	echo "(vdpbf16ps: two multiply-adds per f32 lane) is about twice the f32 FMA peak"
	echo "on a CPU with AVX512-BF16; %pk is of the f32 FMA peak for both kernels, so"
	echo "the bf16 kernel's ceiling is about 200%."
	echo
	echo '```'
	build/bench/gemm "$REPEATS" "$WHICH" bf16 || exit 1
	echo '```'

	# the whole steps per --gemm choice (bench/gemm_step.sh, gemm_cpu.sh) stay
	if [ -f "$out" ] && grep -q '^## Whole training steps' "$out"; then
		echo
		sed -n '/^## Whole training steps/,$p' "$out"
	fi
} | tee "$out.tmp" && mv "$out.tmp" "$out"
echo "wrote $out"
