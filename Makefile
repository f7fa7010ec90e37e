# uxsock: developer Makefile (LuaRocks builds from the rockspec alone).
# make | make test | make test-all | make demo | make embed | make install
# LUA=lua5.1|lua5.2|lua5.3|lua5.4|luajit picks the Lua to build for; 5.4
# builds into build/, the others into build/$(LUA)/.

LUA       ?= lua5.4
LUA_PC    ?= $(LUA)
LUA_INC   ?= $(shell pkg-config --cflags $(LUA_PC) 2>/dev/null)
LUA_LIBS  ?= $(shell pkg-config --libs $(LUA_PC) 2>/dev/null)
LUA_CMOD  ?= $(shell pkg-config --variable=INSTALL_CMOD $(LUA_PC) 2>/dev/null)
LUA_LMOD  ?= $(shell pkg-config --variable=INSTALL_LMOD $(LUA_PC) 2>/dev/null)
PREFIX    ?= /usr/local
CMOD_DIR  ?= $(if $(LUA_CMOD),$(LUA_CMOD),$(PREFIX)/lib/lua/5.4)
LMOD_DIR  ?= $(if $(LUA_LMOD),$(LUA_LMOD),$(PREFIX)/share/lua/5.4)
LIB_DIR   ?= $(PREFIX)/lib
INC_DIR   ?= $(PREFIX)/include

CC        ?= cc
WARN      = -std=c99 -Wall -Wextra -pedantic -Wmissing-prototypes \
            -Wstrict-prototypes -Wshadow -Wcast-align -Wpointer-arith \
            -Wwrite-strings -Wundef -Wdeclaration-after-statement
CFLAGS    ?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden $(LUA_INC)
LDFLAGS   ?=

BUILD     ?= $(if $(filter lua5.4,$(LUA)),build,build/$(LUA))
SRCS      = $(wildcard src/*.c)
OBJS      = $(SRCS:src/%.c=$(BUILD)/%.o)
MODULE    = $(BUILD)/uxsock.so
STATIC    = $(BUILD)/libuxsock.a
HOST      = $(BUILD)/embed-host
VERSIONS  = lua5.1 lua5.2 lua5.3 lua5.4 luajit

.PHONY: all test test-all demo embed rock lint docs install clean deps \
        bench bench-count bench-plot bench-limits
all: $(MODULE) $(STATIC)

$(MODULE): $(OBJS)
	$(CC) -shared $(LDFLAGS) -o $@ $(OBJS)

# One relocatable object with every hidden symbol made local: the archive
# exports the public API (uxsock.h) and nothing else.
$(STATIC): $(OBJS)
	$(LD) -r -o $(BUILD)/uxsock-all.o $(OBJS)
	objcopy --localize-hidden $(BUILD)/uxsock-all.o
	rm -f $@
	$(AR) rcs $@ $(BUILD)/uxsock-all.o

$(BUILD)/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $@

# the example C host: links libuxsock.a and the Lua library
embed: $(HOST)
$(HOST): examples/embed/host.c src/uxsock.h $(STATIC)
	$(CC) $(WARN) $(CFLAGS) -pthread -Isrc $(LUA_INC) -o $@ $< $(STATIC) \
	  $(LUA_LIBS) -lm

# the release: build/rock/uxsock-$(VERSION)-1.src.rock from the versioned
# rockspec and an archive of the files it builds from. luarocks pack looks
# for a file url from a temporary directory, so it packs a staged copy
# that names the archive by its absolute path; the rock then gets the
# rockspec as it is committed. Installing the .src.rock uses the archive
# inside it and fetches nothing.
VERSION   = 0.1.0
ROCKDIR   = build/rock
ROCK      = $(ROCKDIR)/uxsock-$(VERSION)-1.src.rock
rock: $(ROCK)
$(ROCK): uxsock-$(VERSION)-1.rockspec $(SRCS) $(wildcard src/*.h) lua/uxsock/loop.lua \
         LICENSE README.md
	rm -rf $(ROCKDIR) && mkdir -p $(ROCKDIR)/stage
	tar -cf - --transform 's,^,uxsock-$(VERSION)/,' src lua LICENSE README.md \
	  uxsock-$(VERSION)-1.rockspec | gzip -n >$(ROCKDIR)/uxsock-$(VERSION).tar.gz
	sed 's|url = "uxsock-$(VERSION).tar.gz"|url = "file://$(CURDIR)/$(ROCKDIR)/uxsock-$(VERSION).tar.gz"|' \
	  uxsock-$(VERSION)-1.rockspec >$(ROCKDIR)/stage/uxsock-$(VERSION)-1.rockspec
	cd $(ROCKDIR)/stage && luarocks pack uxsock-$(VERSION)-1.rockspec >/dev/null
	cp uxsock-$(VERSION)-1.rockspec $(ROCKDIR)/stage/
	cd $(ROCKDIR)/stage && zip -q uxsock-$(VERSION)-1.src.rock uxsock-$(VERSION)-1.rockspec
	mv $(ROCKDIR)/stage/uxsock-$(VERSION)-1.src.rock $@
	rm -rf $(ROCKDIR)/stage

# the benchmarks (bench/README.md): raw C, uxsock, LuaSocket, cqueues and
# Python over the same protocol; bench-count counts instructions and
# system calls per operation; bench-plot draws bench/results/ratios.png
RAW = bench/build/raw
$(RAW): bench/peers/raw.c
	@mkdir -p bench/build
	$(CC) -std=c99 -O2 -Wall -Wextra -pedantic -o $@ $<

bench: $(MODULE) $(RAW)
	@sh .ci/deps bench
	lua5.4 bench/run.lua $(BENCH_ARGS)
	lua5.4 bench/poller.lua
	lua5.4 bench/plot.lua

bench-count: $(MODULE) $(RAW)
	@sh .ci/deps bench
	lua5.4 bench/run.lua --count --peers raw,uxsock $(BENCH_ARGS)

# the kernel's own ceiling for batched datagrams, raw C (bench/limits/)
bench/build/batch: bench/limits/batch.c
	@mkdir -p bench/build
	$(CC) -std=c99 -O2 -Wall -Wextra -pedantic -o $@ $<

bench-limits: bench/build/batch
	@sh .ci/deps bench
	lua5.4 bench/limits/run.lua bench/build/batch

bench-plot:
	@sh .ci/deps bench
	lua5.4 bench/plot.lua

# installs the Debian packages a fresh machine lacks (as root), or says how
deps:
	@sh .ci/deps

# the embed host and the test programs (mk/faults.mk) are Lua 5.4
# programs whatever LUA is; all are built before the spec files start,
# several at once (spec/parallel)
test: deps
	@$(MAKE) -s --no-print-directory all
	@$(MAKE) -s --no-print-directory LUA=lua5.4 embed test-hosts
	@LUA=$(LUA) UXSOCK_BUILD=$(BUILD) sh spec/run

# every Lua of VERSIONS that is installed; one summary line at the end
test-all:
	@sh .ci/deps all
	@sh spec/run-all $(VERSIONS)

demo: deps
	@$(MAKE) -s --no-print-directory all
	@sh examples/demo.sh

lint: deps
	luacheck -q $(wildcard lua spec examples doc bench tests fuzz)

# the reference from the doc comments in src/: build/doc/index.html, and
# the README's API reference (doc/readme.lua, between its markers)
docs: deps
	ldoc -q . >/dev/null
	ldoc -q --filter doc.readme.markdown . >/dev/null

install: $(MODULE) $(STATIC)
	install -d $(DESTDIR)$(CMOD_DIR) $(DESTDIR)$(LMOD_DIR)/uxsock \
	  $(DESTDIR)$(LIB_DIR) $(DESTDIR)$(INC_DIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(CMOD_DIR)/uxsock.so
	install -m 0644 lua/uxsock/loop.lua $(DESTDIR)$(LMOD_DIR)/uxsock/loop.lua
	install -m 0644 $(STATIC) $(DESTDIR)$(LIB_DIR)/libuxsock.a
	install -m 0644 src/uxsock.h $(DESTDIR)$(INC_DIR)/uxsock.h

clean:
	rm -rf build bench/build

# checks that live in files of their own (mk/*.mk): sanitizers, valgrind,
# static analysis, fault injection, fuzzing
-include $(wildcard mk/*.mk)
