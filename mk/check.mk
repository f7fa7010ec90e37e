# mk/check.mk: memory safety and static analysis (issue 6), for CI.
#   make cppcheck   cppcheck over src/ (warning, style, performance,
#                   portability); clean or it fails
#   make tidy       clang-tidy over src/*.c with the checks of .clang-tidy
#   make asan       the whole spec suite on Lua 5.4 against a module built
#                   with AddressSanitizer and UBSan (build/asan/)
#   make valgrind   the whole spec suite on Lua 5.4, every Lua process
#                   under memcheck, against the normal build
#   make check      the four, in that order
# asan and valgrind run the suite through mk/memcheck.sh and end with its
# line "N passed, N failed"; any sanitizer or memcheck report fails them.
# CHECK_DEPS installs clang, clang-tidy, cppcheck, valgrind and the
# sanitizer runtime (.ci/deps check); CHECK_CC is the sanitizing compiler.

CHECK_CC   ?= clang
CHECK_DEPS ?= sh .ci/deps check
ASAN_BUILD  = build/asan
ASAN_FLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=all -g -O1

# the static checks run once per Lua whose headers are installed (CI has
# them all), so compat.h's branch for each is checked
CHECK_LUAS  = $(foreach v,$(VERSIONS),$(if $(shell pkg-config --exists $(v) && echo y),$(v)))

# cppcheck is given no system header, as its manual advises (it knows
# the C and POSIX functions from --library); it is told what the headers
# would say where src/ asks with #if: Linux, a GCC-compatible compiler,
# a 64-bit long long (luaconf.h), and the Linux values of the macros
# src/ tests with defined(...), so it checks the code Linux compiles
CPPCHECK_FLAGS = --enable=warning,style,performance,portability \
  --error-exitcode=1 --inline-suppr --quiet --std=c99 --library=posix \
  -D__linux__ -D__GNUC__ -DLLONG_MAX=9223372036854775807LL \
  -DMSG_CMSG_CLOEXEC=0x40000000 -DMSG_NOSIGNAL=0x4000 -DO_PATH=010000000 \
  -DPOLLRDHUP=0x2000 -DSCM_CREDENTIALS=2 -DSOCK_CLOEXEC=02000000 \
  -DSO_PASSCRED=16 -DSO_PEERCRED=17 -DTIOCOUTQ=0x5411

.PHONY: check cppcheck tidy asan valgrind check-deps

cppcheck: check-deps
	@for v in $(CHECK_LUAS); do \
	  echo "cppcheck src/ ($$v)"; \
	  cppcheck $(CPPCHECK_FLAGS) $$(pkg-config --cflags-only-I $$v) src/ || exit 1; \
	done

# the Makefile's flags; Lua's headers as system headers, so what their
# macros expand to (LUAL_BUFFERSIZE's sizeof * sizeof) is not ours
# (clang-tidy counts what it did not show: "N warnings generated.")
tidy: check-deps
	@mkdir -p build
	@for v in $(CHECK_LUAS); do \
	  echo "clang-tidy src/*.c ($$v)"; \
	  clang-tidy --quiet $(SRCS) -- $(WARN) -fPIC -fvisibility=hidden \
	    $$(pkg-config --cflags-only-I $$v | sed 's/-I/-isystem /g') \
	    >build/tidy.out 2>&1; rc=$$?; \
	  grep -v '^[0-9]* warnings\? generated\.$$' build/tidy.out; \
	  [ $$rc -eq 0 ] || exit 1; \
	done; rm -f build/tidy.out

check-deps:
	@$(CHECK_DEPS)

check: check-deps
	@$(MAKE) -s --no-print-directory cppcheck CHECK_DEPS=true
	@$(MAKE) -s --no-print-directory tidy CHECK_DEPS=true
	@$(MAKE) -s --no-print-directory asan CHECK_DEPS=true
	@$(MAKE) -s --no-print-directory valgrind CHECK_DEPS=true

# the module, libuxsock.a and the embed host, all instrumented; LDFLAGS
# brings the flags to the link of uxsock.so (the host links with CFLAGS).
# The normal build too, as make test makes it: spec 11 runs
# build/embed-host (mk/memcheck.sh runs the instrumented host itself).
# The examples the specs start load the instrumented module
# ($UXSOCK_BUILD)
asan: check-deps
	@$(MAKE) -s --no-print-directory LUA=lua5.4 all embed
	@$(MAKE) -s --no-print-directory LUA=lua5.4 BUILD=$(ASAN_BUILD) \
	  CC=$(CHECK_CC) CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" all embed
	@CHECK_CC=$(CHECK_CC) sh mk/memcheck.sh asan $(ASAN_BUILD)

valgrind: check-deps
	@$(MAKE) -s --no-print-directory LUA=lua5.4 all embed
	@sh mk/memcheck.sh valgrind build/valgrind
