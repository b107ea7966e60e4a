# kvsim - make builds ./kvsim; see README.md.
CC      ?= cc
CFLAGS  ?= -std=c11 -O2 -g -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
SIM_DIRS = $(sort $(dir $(wildcard sim/*/*.c)))
CPPFLAGS += -D_POSIX_C_SOURCE=200809L $(patsubst %/,-I%,$(SIM_DIRS)) -MMD -MP
LDLIBS  = -lyaml -ljansson -lsqlite3 -lm
LDLIBS += -lopenblas -lgsl   # reference kernels: CBLAS sgemm, GSL RNG
# OpenMP: the kernels split their work over OMP_NUM_THREADS threads (BLAS
# itself runs single-threaded inside them; see sim/kern.h).
OMPFLAGS ?= -fopenmp
CPPFLAGS += $(OMPFLAGS)
LDLIBS  += $(OMPFLAGS)

# Debian packages kvsim builds and runs with.
DEB_PKGS = libyaml-dev libsqlite3-dev sqlite3 libgsl-dev gnuplot-nox libopenblas-dev libjansson-dev \
           python3-numpy pkg-config \
           clang libclang-rt-14-dev valgrind   # make fuzz (libFuzzer), make valgrind

# O: the build directory (objects, test programs and the kvsim binary go
# there, never beside the sources; `make asan` uses build-asan so it never
# mixes with the normal build). The default build also links ./kvsim to it.
O       ?= build
LIB_SRC = $(filter-out sim/cli/main.c,$(wildcard sim/*/*.c))
LIB_OBJ = $(patsubst %.c,$(O)/%.o,$(LIB_SRC))
# The model library: spec, layer types' cost side, cost, units, formats,
# deployments and engine allocation rules (sim/deploy). It
# needs libyaml and libm only (tests/model_alone.c proves it links alone).
MODEL_SRC = $(wildcard sim/model/*.c) $(filter-out %_ref.c,$(wildcard sim/layers/*.c)) $(wildcard sim/deploy/*.c)
MODEL_OBJ = $(patsubst %.c,$(O)/%.o,$(MODEL_SRC))
TESTS   = $(patsubst tests/%.c,$(O)/tests/bin/%,$(wildcard tests/test_*.c))

# all: the kvsim binary and the model library.
all: $(O)/kvsim $(O)/libkvsim-model.a
ifeq ($(O),build)
all: kvsim
kvsim: $(O)/kvsim
	@ln -sf $(O)/kvsim kvsim
endif

$(O)/kvsim: $(O)/sim/cli/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(O)/libkvsim-model.a: $(MODEL_OBJ)
	$(AR) rcs $@ $^

# A program that uses the model alone, linked with -lyaml -lm and the model's
# headers only (no kernels, BLAS, GSL, SQLite, Jansson or OpenMP).
$(O)/tests/bin/model_alone: tests/model_alone.c $(O)/libkvsim-model.a
	@mkdir -p $(O)/tests/bin
	$(CC) $(CFLAGS) -D_POSIX_C_SOURCE=200809L -Isim/model -Isim/layers -o $@ $< $(O)/libkvsim-model.a -lyaml -lm

# The blocked prefill's micro-kernels fuse multiply-adds (FMA doubles their
# rate; see sim/kern/kern_attn_gather.c): the one file built so.
$(O)/sim/kern/kern_attn_gather.o: CFLAGS += -ffp-contract=fast

$(O)/sim/%.o: sim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

# deps: install missing Debian packages (as root), or print the command to run.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "make deps: missing packages; run:  sudo apt-get install -y$$missing"; exit 1; \
	fi

$(O)/tests/bin/%: tests/%.c $(LIB_OBJ) tests/check.h tests/util.h
	@mkdir -p $(O)/tests/bin
	$(CC) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

# Fuzz targets (tests/fuzz/fuzz_TARGET.c). replay_TARGET is the same code
# built normally with a plain main() (tests/fuzz/replay.c): make test reruns
# every input kept in tests/fuzz/regress/TARGET/ with it.
FUZZ_TARGETS = spec scenario import
REPLAYS = $(patsubst %,$(O)/tests/bin/replay_%,$(FUZZ_TARGETS))

$(O)/tests/bin/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_OBJ)
	@mkdir -p $(O)/tests/bin
	$(CC) $(CFLAGS) $(CPPFLAGS) -o $@ tests/fuzz/replay.c $< $(LIB_OBJ) $(LDLIBS)

# test: every unit test program, then the CLI and bad-input tests.
TEST_PROGS = $(TESTS) $(O)/tests/bin/model_alone
test: deps test-bins
	@sh tests/run.sh $(O)/kvsim $(TEST_PROGS)
test-bins: $(O)/kvsim $(TEST_PROGS) $(REPLAYS) $(O)/bench/cost $(O)/bench/sweep $(O)/bench/kern

# mutate: mutation testing (tests/mutate.sh, mutants in tests/mutants/):
# one line per mutant and the score; MUTANTS="glob ..." runs a subset. Not
# part of make test (about 15 minutes on 2 cores).
mutate: deps
	@sh tests/mutate.sh

# asan: the same tests under AddressSanitizer + UBSan, built in build-asan/
# (float-cast-overflow named: gcc's "undefined" leaves it out, clang's has it).
asan: deps
	$(MAKE) --no-print-directory O=build-asan test \
	  CFLAGS="-std=c11 -O1 -g -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all -Wall -Wextra"

# fuzz: each libFuzzer target for FUZZ_SECONDS (default 60) with clang,
# ASan and UBSan, built in build-fuzz/; prints the executions per target and
# stops at a crash (input saved under build-fuzz/crashes/). Without OpenMP
# (the targets need no threads; clang at -O1 warns on every simd pragma).
FUZZ_SECONDS ?= 60
fuzz: deps
	$(MAKE) --no-print-directory O=build-fuzz CC=clang OMPFLAGS= fuzz-bins \
	  CFLAGS="-std=c11 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wall -Wextra"
	@sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-bins: $(patsubst %,$(O)/tests/bin/fuzz_%,$(FUZZ_TARGETS))

$(O)/tests/bin/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJ)
	@mkdir -p $(O)/tests/bin
	$(CC) $(CFLAGS) $(CPPFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(LDLIBS)

# valgrind: one sweep, one cost and one run under valgrind (memcheck): no
# errors and no leaks (tests/valgrind.sh).
valgrind: deps $(O)/kvsim
	@sh tests/valgrind.sh $(O)/kvsim

# demo: the main job end to end: sweep the flagship scenario into the
# embedded database and write its report (see README.md).
demo: deps $(O)/kvsim
	$(O)/kvsim compare archs/deepseek-v3.2.yaml archs/deepseek-v4-pro.yaml archs/deepseek-v4-flash.yaml archs/gemma4-e2b.yaml archs/gemma4-e4b.yaml --ctx 1M
	$(O)/kvsim sweep scenarios/gemma4-vs-deepseek-v4.yaml --db reports/kvsim.db
	$(O)/kvsim report scenarios/gemma4-vs-deepseek-v4.yaml --db reports/kvsim.db --out reports/gemma4-vs-deepseek-v4
	@echo
	@echo "The report is reports/gemma4-vs-deepseek-v4/index.md (figures beside it); the database is reports/kvsim.db."

# bench: one cost evaluation's time, the sweep's SQLite throughput, and the
# reference kernels against this machine and the roofline, written to
# reports/bench.json (see README.md, "How to read make bench").
bench: $(O)/kvsim $(O)/bench/cost $(O)/bench/capacity $(O)/bench/sweep $(O)/bench/kern
	$(O)/bench/cost
	$(O)/bench/capacity
	$(O)/bench/sweep
	$(O)/bench/kern

$(O)/bench/%: bench/%.c $(LIB_OBJ)
	@mkdir -p $(O)/bench
	$(CC) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

# install: the binary, the shipped specs, scenarios and hardware profiles
# (PREFIX/share/kvsim, found by the binary from any directory: paths.h), the
# man page and the bash completion. `make install PREFIX=$HOME/.local`.
PREFIX ?= /usr/local
SHARE   = $(DESTDIR)$(PREFIX)/share
install: $(O)/kvsim
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/kvsim/archs/tiny $(SHARE)/kvsim/scenarios/hw \
	  $(SHARE)/man/man1 $(SHARE)/bash-completion/completions
	install -m 755 $(O)/kvsim $(DESTDIR)$(PREFIX)/bin/kvsim
	install -m 644 archs/*.yaml $(SHARE)/kvsim/archs/
	install -m 644 archs/tiny/*.yaml $(SHARE)/kvsim/archs/tiny/
	install -m 644 scenarios/*.yaml $(SHARE)/kvsim/scenarios/
	install -m 644 scenarios/hw/*.yaml $(SHARE)/kvsim/scenarios/hw/
	install -m 644 doc/kvsim.1 $(SHARE)/man/man1/kvsim.1
	install -m 644 doc/kvsim.bash $(SHARE)/bash-completion/completions/kvsim

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kvsim $(SHARE)/man/man1/kvsim.1 $(SHARE)/bash-completion/completions/kvsim
	rm -rf $(SHARE)/kvsim

# debug: unoptimised build.
debug:
	$(MAKE) O=build-debug CFLAGS="-std=c11 -O0 -g3 -Wall -Wextra"

# clean: remove build products.
clean:
	rm -rf $(O) kvsim build build-asan build-debug build-fuzz

.PHONY: all deps test test-bins mutate asan fuzz fuzz-bins valgrind demo bench debug clean install uninstall
-include $(wildcard $(O)/sim/*/*.d $(O)/tests/bin/*.d)
