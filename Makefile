# kvsim - make builds ./kvsim; see README.md.
CC      ?= cc
CFLAGS  ?= -std=c11 -O2 -g -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -Isim -MMD -MP
LDLIBS  = -lyaml -ljansson -lm

# Debian packages kvsim builds and runs with.
DEB_PKGS = libyaml-dev libsqlite3-dev sqlite3 libgsl-dev gnuplot-nox libopenblas-dev libjansson-dev \
           python3-numpy pkg-config

LIB_SRC = $(filter-out sim/main.c,$(wildcard sim/*.c))
LIB_OBJ = $(LIB_SRC:.c=.o)
TESTS   = $(patsubst tests/%.c,tests/bin/%,$(wildcard tests/test_*.c))

# all: the kvsim binary.
all: kvsim

kvsim: sim/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

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

tests/bin/%: tests/%.c $(LIB_OBJ) tests/check.h
	@mkdir -p tests/bin
	$(CC) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

# test: every unit test program, then the CLI and bad-input tests.
test: deps kvsim $(TESTS)
	@sh tests/run.sh ./kvsim $(TESTS)

# asan: the same tests under AddressSanitizer + UBSan, in a separate build tree.
asan: deps
	$(MAKE) --no-print-directory clean-objs
	$(MAKE) --no-print-directory test CFLAGS="-std=c11 -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -Wall -Wextra"
	$(MAKE) --no-print-directory clean-objs

# demo: the main job end to end (see README.md).
demo: deps kvsim
	./kvsim compare archs/gemma4-e2b.yaml archs/gemma4-e4b.yaml archs/deepseek-v4-flash.yaml archs/deepseek-v4-pro.yaml --ctx 128k
	@echo
	./kvsim compare archs/deepseek-v3.2.yaml archs/deepseek-v4-pro.yaml archs/deepseek-v4-flash.yaml archs/gemma4-e2b.yaml archs/gemma4-e4b.yaml --ctx 1M

# bench: timing of one cost evaluation (see README.md).
bench: kvsim tests/bin/bench_cost
	./tests/bin/bench_cost

tests/bin/bench_cost: tests/bench_cost.c $(LIB_OBJ)
	@mkdir -p tests/bin
	$(CC) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

# debug: unoptimised build.
debug:
	$(MAKE) clean-objs && $(MAKE) CFLAGS="-std=c11 -O0 -g3 -Wall -Wextra"

clean-objs:
	rm -f sim/*.o sim/*.d kvsim tests/bin/*

# clean: remove build products.
clean: clean-objs
	rm -rf tests/bin

.PHONY: all deps test asan demo bench debug clean clean-objs
-include $(wildcard sim/*.d tests/bin/*.d)
