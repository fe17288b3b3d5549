# sinter — one Makefile for the compiler, its runtime and its tests.
#
#   make          build ./sinter
#   make deps     install the Debian packages the project needs (idempotent)
#   make test     install test-deps, build and run every test; ends with
#                 "N passed, N failed" (", N skipped" when a test skipped)
#   make sanitize ASan+UBSan build (build-san/) running the unit, error, gradcheck and spec suites and `sinter check` of each program
#   make fuzz SECONDS=N [SEED=S]  each libFuzzer target (tests/fuzz) for N seconds (build-fuzz/)
#   make test-deps    install what the tests need beyond `make deps` (PyTorch, GNU time, vim, rsvg-convert, groff)
#   make mutation-check  apply each recorded mutation (tests/mutations/*.patch)
#                 to a copy of the tree and fail if the tests miss any (slow)
#   make run      train examples/mlp.sn on Fashion-MNIST
#   make check-train  train examples/mlp.sn for 5 epochs and require 85% accuracy
#   make check-gpt    train examples/gpt_char.sn (2000 steps) and require validation loss < 1.92
#                     (BF16=1: again with --precision=bf16, within 0.03 nats of f32's)
#   make check-conv   train examples/lenet.sn (5 epochs, >= 88.5%) and resnet.sn (2 epochs, >= 87%)
#   make bench    benchmarks against PyTorch (bench/run.sh; BENCH_FLAGS=--interp)
#   make bench-conv   LeNet-5 and ResNet-8 training steps against PyTorch (bench/conv_step.sh)
#   make bench-compile / bench-step   JIT compile time of examples/mlp.sn / its step time, JIT vs --interp
#   make bench-profile  the GPT step without flags and with --profile (bench/profile.sh)
#   make install [PREFIX=/usr/local] [DESTDIR=]  sinter, the standard library, the libraries and
#                 headers `sinter build` links, docs, the man page, bash completion, editor files
#   make uninstall    remove what make install put under PREFIX

CC      ?= cc
CFLAGS  ?= -O2 -g
# What the build needs whatever the user passes: `make CFLAGS=-fsanitize=...`
# on the command line replaces CFLAGS, and `override` appends to it anyway.
override CFLAGS += -std=c11 -Wall -Wextra -D_GNU_SOURCE -I. -I$(B)
override LDLIBS += -lopenblas -lz -lm -lpthread -lLLVM-19

# Only codegen/ is compiled against LLVM's headers (the runtime stays LLVM-free).
LLVM_CFLAGS = $(shell llvm-config-19 --cflags)

B ?= build
# The compiler binary; `make sanitize` builds its own in $(SAN_B).
BIN ?= sinter

# Every .c in a stage folder belongs to the compiler; the driver holds main().
LIB_SRC := $(wildcard base/*.c ir/*.c kernel/*.c lang/*.c host/*.c passes/*.c codegen/*.c runtime/*.c)
DRV_SRC := $(filter-out driver/aotmain.c,$(wildcard driver/*.c))
GEN_SRC := $(B)/parser.c $(B)/lexer.c
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(GEN_SRC:.c=.o)
DRV_OBJ := $(DRV_SRC:%.c=$(B)/%.o)
# The two libraries binaries of `sinter build` link (driver/build.c), no LLVM
# in either.  libsinter_rt.a: the runtime proper, base/ and runtime/, which
# depend on nothing of the compiler.  libsinter_host.a: the program host
# above it: the language, IR, kernel analysis, passes, the host (host/run.c
# calls compiled regions) and the driver's program runner; aotmain.c is the
# binaries' main().  Everything but codegen/ and sinter's own commands.
RT_OBJ   := $(patsubst %.c,$(B)/%.o,$(wildcard base/*.c runtime/*.c))
HOST_OBJ := $(filter-out $(B)/codegen/% $(RT_OBJ),$(LIB_OBJ)) \
            $(B)/driver/program.o $(B)/driver/blas.o $(B)/driver/aotmain.o
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# Packages `make deps` installs; the markers below are what each provides.
DEPS := llvm-19-dev llvm-19-tools libopenblas-dev flex bison zlib1g-dev \
        dataset-fashion-mnist python3-numpy fortunes graphviz \
        openmpi-bin libopenmpi-dev
DEP_MARKERS := /usr/bin/flex /usr/bin/bison /usr/include/zlib.h \
        /usr/include/x86_64-linux-gnu/cblas.h /usr/bin/llvm-config-19 \
        /usr/lib/llvm-19/bin/FileCheck \
        /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
        /usr/lib/python3/dist-packages/numpy /usr/share/games/fortunes/computers \
        /usr/bin/dot /usr/bin/mpirun

.PHONY: all install uninstall deps test-deps mutation-check bench-deps test sanitize fuzz fuzz-deps run check-train check-gpt check-conv bench bench-gpt bench-conv bench-compile bench-step bench-profile clean
all: $(BIN)

deps:
	@missing=""; for f in $(DEP_MARKERS); do [ -e $$f ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing: $(DEPS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEPS) >/dev/null; \
	fi

$(B)/.deps:
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(B) && touch $@

$(BIN): $(B)/.deps $(LIB_OBJ) $(DRV_OBJ) $(B)/libsinter_host.a $(B)/libsinter_rt.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(LIB_OBJ) $(DRV_OBJ) $(LDLIBS)

$(B)/libsinter_rt.a: $(RT_OBJ)
	rm -f $@ && ar rcs $@ $(RT_OBJ)

$(B)/libsinter_host.a: $(HOST_OBJ)
	rm -f $@ && ar rcs $@ $(HOST_OBJ)

# One bison run makes both files (a grouped target: with two plain targets
# make -j ran bison twice, racing on the files).
$(B)/parser.c $(B)/parser.h &: lang/parser.y | $(B)/.deps
	@mkdir -p $(B)
	bison -Wall -d -o $(B)/parser.c $<

$(B)/lexer.c: lang/lexer.l $(B)/parser.h | $(B)/.deps
	flex -o $@ $<

# Generated code is not ours to keep warning-free.
$(B)/parser.o $(B)/lexer.o: %.o: %.c
	$(CC) $(CFLAGS) -Wno-unused-function -Wno-sign-compare -c -o $@ $<

$(B)/codegen/%.o: override CFLAGS += $(LLVM_CFLAGS)
# Fused attention's tiles are loops over 64 scores, which -O3 vectorizes;
# runtime/attention.c picks the widest vectors of the CPU at load time
# (target_clones).
$(B)/runtime/attention.o: override CFLAGS += -O3

$(B)/%.o: %.c | $(B)/.deps $(B)/parser.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# -MMD: a test is rebuilt when a header it includes (check.h, cgdiff.h) changes
$(B)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(LIB_OBJ) $(LDLIBS)

# bench/gemm.c times sinter's own sgemm: it links the compiler like a unit test.
$(B)/bench/gemm: bench/gemm.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(LIB_OBJ) $(LDLIBS)

# The tests compare with PyTorch (tests/e2e/torch_gpt.sh): a missing torch
# is a failure there, so the test command installs it.
TEST_DEPS := python3-torch time vim librsvg2-bin groff-base
TEST_DEP_MARKERS := /usr/lib/python3/dist-packages/torch /usr/bin/time /usr/bin/vim.basic \
        /usr/bin/rsvg-convert /usr/bin/groff

test-deps: deps
	@missing=""; for f in $(TEST_DEP_MARKERS); do [ -e $$f ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing: $(TEST_DEPS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_DEPS) >/dev/null; \
	fi

test: test-deps sinter $(UNIT_BIN)
	@tests/run.sh

# Not part of `make test`: each mutation rebuilds a copy of the tree.
mutation-check: sinter
	@tests/mutations/run.sh

run: sinter
	./sinter run examples/mlp.sn

# ASan+UBSan (gcc's) sinter and unit tests in their own folder, then the unit,
# error, gradcheck and spec suites with them, and `sinter check` of every
# error and spec program; any sanitizer report fails.
SAN_B     := build-san
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
sanitize:
	@$(MAKE) --no-print-directory B=$(SAN_B) BIN=$(SAN_B)/sinter CFLAGS="$(SAN_FLAGS)" \
		LDFLAGS="$(SAN_FLAGS)" $(SAN_B)/sinter $(UNIT_SRC:tests/unit/%.c=$(SAN_B)/tests/%)
	@tests/sanitize.sh $(SAN_B)

# Benchmarks need what the tests need: PyTorch and GNU time.
bench-deps: test-deps

bench: sinter bench-deps
	bench/run.sh $(BENCH_FLAGS)

# the GPT of examples/gpt_char.sn: step time and memory against PyTorch
bench-gpt: sinter bench-deps
	bench/gpt_step.sh $(BENCH_FLAGS)

# LeNet-5 and ResNet-8 (examples/lenet.sn, resnet.sn): step time, memory, GEMM floor against PyTorch
bench-conv: sinter bench-deps
	bench/conv_step.sh $(BENCH_FLAGS)

# JIT compile time of examples/mlp.sn, and its step time JIT vs interpreter
bench-compile: sinter
	bench/compile_time.sh $(BENCH_FLAGS)

bench-step: sinter
	bench/step_time.sh $(BENCH_FLAGS)

# what --profile costs on the GPT step (bench/profile_results.md)
bench-profile: sinter
	bench/profile.sh

# libFuzzer targets (tests/fuzz/targets.c) built with clang into build-fuzz/,
# each run for SECONDS seconds (tests/fuzz/run.sh); no LLVM is linked.
# SEED=N fixes libFuzzer's random seed (CI does: see tests/fuzz/run.sh).
FUZZ_B       := build-fuzz
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := check ir safetensors idx tokens csv
FUZZ_OBJ      = $(filter-out $(B)/codegen/%,$(LIB_OBJ)) $(B)/driver/program.o
SECONDS      ?= 60
SEED         ?=
FUZZ_DEPS    := clang libclang-rt-14-dev

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null && echo 'int LLVMFuzzerTestOneInput(void){return 0;}' | \
		$(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null || { \
		echo "installing: $(FUZZ_DEPS)"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FUZZ_DEPS) >/dev/null; }

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS)" \
		$(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz/fuzz_%)
	@FUZZ_SEED=$(SEED) tests/fuzz/run.sh $(FUZZ_B) $(SECONDS)

$(B)/fuzz/fuzz_%: tests/fuzz/targets.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -DFUZZ_$(shell echo $* | tr a-z A-Z) -o $@ $< $(FUZZ_OBJ) \
		-lopenblas -lz -lm -lpthread

check-train: sinter
	@tests/train_mlp.sh

check-gpt: sinter
	@tests/train_gpt.sh

check-conv: sinter
	@tests/train_conv.sh

# The installed layout, found at run time relative to bin/sinter (so a
# moved install still works): ../share/sinter/stdlib (lang/load.c),
# ../lib/sinter/*.a and ../include/sinter (driver/build.c).
PREFIX  ?= /usr/local
DESTDIR ?=
I_BIN   := $(DESTDIR)$(PREFIX)/bin
I_LIB   := $(DESTDIR)$(PREFIX)/lib/sinter
I_INC   := $(DESTDIR)$(PREFIX)/include/sinter
I_SHARE := $(DESTDIR)$(PREFIX)/share/sinter
I_DOC   := $(DESTDIR)$(PREFIX)/share/doc/sinter
I_MAN   := $(DESTDIR)$(PREFIX)/share/man/man1
I_COMP  := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
# what a built program's generated C includes: driver/aot.h and below
AOT_HEADERS := driver/aot.h codegen/codegen.h ir/ir.h ir/ops.def base/arena.h

install: $(BIN) $(B)/libsinter_host.a $(B)/libsinter_rt.a
	install -d $(I_BIN) $(I_LIB) $(I_SHARE)/stdlib $(I_DOC) $(I_MAN) $(I_COMP) \
		$(addprefix $(I_INC)/,$(sort $(dir $(AOT_HEADERS)))) $(I_SHARE)/editors
	install -m 755 $(BIN) $(I_BIN)/sinter
	install -m 644 $(B)/libsinter_host.a $(B)/libsinter_rt.a $(I_LIB)/
	for h in $(AOT_HEADERS); do install -m 644 $$h $(I_INC)/$$h || exit 1; done
	install -m 644 stdlib/*.sn $(I_SHARE)/stdlib/
	install -m 644 README.md docs/*.md $(I_DOC)/
	install -m 644 docs/sinter.1 $(I_MAN)/sinter.1
	install -m 644 editors/bash/sinter $(I_COMP)/sinter
	cp -R editors/vim editors/vscode editors/README.md $(I_SHARE)/editors/

uninstall:
	rm -rf $(I_BIN)/sinter $(I_LIB) $(I_INC) $(I_SHARE) $(I_DOC) $(I_MAN)/sinter.1 $(I_COMP)/sinter

clean:
	rm -rf $(B) sinter

-include $(shell find $(B) -name '*.d' 2>/dev/null)
