# uxsock: developer Makefile (LuaRocks builds from the rockspec alone).
# make | make test | make demo | make install | make clean

LUA       ?= lua5.4
LUA_PC    ?= $(LUA)
LUA_INC   ?= $(shell pkg-config --cflags $(LUA_PC) 2>/dev/null)
LUA_CMOD  ?= $(shell pkg-config --variable=INSTALL_CMOD $(LUA_PC) 2>/dev/null)
LUA_LMOD  ?= $(shell pkg-config --variable=INSTALL_LMOD $(LUA_PC) 2>/dev/null)
PREFIX    ?= /usr/local
CMOD_DIR  ?= $(if $(LUA_CMOD),$(LUA_CMOD),$(PREFIX)/lib/lua/5.4)
LMOD_DIR  ?= $(if $(LUA_LMOD),$(LUA_LMOD),$(PREFIX)/share/lua/5.4)

CC        ?= cc
WARN      = -std=c99 -Wall -Wextra -pedantic -Wmissing-prototypes \
            -Wstrict-prototypes -Wshadow -Wcast-align -Wpointer-arith \
            -Wwrite-strings -Wundef -Wdeclaration-after-statement
CFLAGS    ?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden $(LUA_INC)
LDFLAGS   ?=

BUILD     = build
SRCS      = $(wildcard src/*.c)
OBJS      = $(SRCS:src/%.c=$(BUILD)/%.o)
MODULE    = $(BUILD)/uxsock.so

.PHONY: all test demo lint install clean deps
all: $(MODULE)

$(MODULE): $(OBJS)
	$(CC) -shared $(LDFLAGS) -o $@ $(OBJS)

$(BUILD)/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $@

# installs the Debian packages a fresh machine lacks (as root), or says how
deps:
	@sh .ci/deps

test: deps
	@$(MAKE) -s --no-print-directory all
	@sh spec/run

demo: deps
	@$(MAKE) -s --no-print-directory all
	@sh examples/demo.sh

lint: deps
	luacheck -q $(wildcard lua spec examples)

install: $(MODULE)
	install -d $(DESTDIR)$(CMOD_DIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(CMOD_DIR)/uxsock.so

clean:
	rm -rf $(BUILD)
