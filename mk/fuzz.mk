# Fuzzing (fuzz/), included by the Makefile. Needs clang (libFuzzer):
#   make fuzz             every libFuzzer harness for FUZZ_SECONDS (60) each
#   make fuzz-smoke       the same for 5 s each, and random_calls.lua briefly
#   make fuzz-addr        build/fuzz/addr: the address parser (sys.c)
#   make fuzz-api         build/fuzz/api: random API calls, Lua 5.4 embedded
#   make fuzz-lua         fuzz/random_calls.lua on $(LUA) (FUZZ_SEED, FUZZ_CALLS)
#   make fuzz-valgrind    the same under valgrind
#   make fuzz-merge       minimizes what runs found into fuzz/corpus/
# A run reads the committed corpus fuzz/corpus/<harness>/ and writes what
# it finds to build/fuzz/corpus/<harness>/, so the tree stays clean;
# crashes go to build/fuzz/<harness>-crash-*. Each run ends with
# libFuzzer's stats: executions, and executions per second.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_SEED    ?= 1
FUZZ_CALLS   ?= 20000
FUZZ_DIR     = build/fuzz
FUZZ_SAN     = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  = -std=c99 -g -O1 -Wall -Wextra -pedantic -Wshadow \
               -Wmissing-prototypes -Wstrict-prototypes $(FUZZ_SAN) -Isrc
FUZZ_LUA_INC  ?= $(shell pkg-config --cflags lua5.4 2>/dev/null)
FUZZ_LUA_LIBS ?= $(shell pkg-config --libs lua5.4 2>/dev/null)
# libFuzzer's options for every run: no input over 2 KiB (a few hundred
# calls), 10 s at most per input (a hang is a failure), leaks reported
FUZZ_RUN     = -max_len=2048 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
FUZZ_HARNESSES = addr api
ASAN_ENV     = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-addr fuzz-api fuzz-lua fuzz-valgrind \
        fuzz-merge $(FUZZ_HARNESSES:%=fuzz-run-%)

fuzz-build: fuzz-addr fuzz-api
fuzz-addr: $(FUZZ_DIR)/addr
fuzz-api: $(FUZZ_DIR)/api

$(FUZZ_DIR)/addr: fuzz/addr.c src/sys.c src/sys.h
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/addr.c src/sys.c

# every source of the module, built with the harness: coverage and the
# sanitizers reach all of it; calls.lua is read from here at run time
$(FUZZ_DIR)/api: fuzz/api.c $(SRCS) $(wildcard src/*.h)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LUA_INC) -DUXFUZZ_CALLS='"$(CURDIR)/fuzz/calls.lua"' \
	  -o $@ fuzz/api.c $(SRCS) $(FUZZ_LUA_LIBS) -lm

# make fuzz-run-addr FUZZ_SECONDS=30: one harness
$(FUZZ_HARNESSES:%=fuzz-run-%): fuzz-run-%: $(FUZZ_DIR)/%
	@mkdir -p $(FUZZ_DIR)/corpus/$*
	@echo "fuzz: $* for $(FUZZ_SECONDS) s"
	@$(ASAN_ENV) $(FUZZ_DIR)/$* $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=$(FUZZ_DIR)/$*-crash- $(FUZZ_FLAGS) \
	  $(FUZZ_DIR)/corpus/$* fuzz/corpus/$* 2>$(FUZZ_DIR)/$*.log || \
	  { tail -60 $(FUZZ_DIR)/$*.log; echo "fuzz: $* FAILED (log: $(FUZZ_DIR)/$*.log)"; exit 1; }
	@grep -aE '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
	  $(FUZZ_DIR)/$*.log | sed 's/^/fuzz: $*: /'
	@echo "fuzz: $*: corpus $$(ls fuzz/corpus/$* | wc -l) committed + $$(ls $(FUZZ_DIR)/corpus/$* | wc -l) found"

fuzz: $(FUZZ_HARNESSES:%=fuzz-run-%)

fuzz-smoke:
	@$(MAKE) -s --no-print-directory fuzz FUZZ_SECONDS=5
	@$(MAKE) -s --no-print-directory fuzz-lua FUZZ_CALLS=3000

fuzz-lua: all
	UXSOCK_BUILD=$(BUILD) timeout 300 $(LUA) fuzz/random_calls.lua $(FUZZ_SEED) $(FUZZ_CALLS)

fuzz-valgrind: all
	UXSOCK_BUILD=$(BUILD) timeout 1200 valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite $(LUA) fuzz/random_calls.lua $(FUZZ_SEED) 2000

# keeps the committed corpus small: the fewest inputs that cover every
# edge (hit counts left out), and
# every regress-* input (what a run found once) as it is
fuzz-merge: fuzz-build
	@for h in $(FUZZ_HARNESSES); do \
	  rm -rf $(FUZZ_DIR)/merge/$$h; \
	  mkdir -p $(FUZZ_DIR)/merge/$$h $(FUZZ_DIR)/corpus/$$h; \
	  $(FUZZ_DIR)/$$h -merge=1 -use_counters=0 $(FUZZ_DIR)/merge/$$h fuzz/corpus/$$h \
	    $(FUZZ_DIR)/corpus/$$h 2>/dev/null || exit 1; \
	  find fuzz/corpus/$$h -type f ! -name 'regress-*' -delete; \
	  cp $(FUZZ_DIR)/merge/$$h/* fuzz/corpus/$$h/; \
	  echo "fuzz-merge: $$h: $$(ls fuzz/corpus/$$h | wc -l) inputs," \
	    "$$(du -sk fuzz/corpus/$$h | cut -f1) KiB"; \
	done
