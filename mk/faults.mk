# Fault injection and descriptor hygiene (spec/23_faults_spec.lua,
# spec/24_hygiene_spec.lua): the test programs, in build/ whatever LUA is.
#   build/oomhost    a Lua 5.4 host whose allocator fails on demand
#                    (tests/oomhost.c), linked with build/libuxsock.a
#   build/sigpump.so preloaded into any Lua: a SIGUSR1 handler without
#                    SA_RESTART and a thread sending it every millisecond
#                    (tests/sigpump.c)
#   build/forkenv.so preloaded into any Lua: fork, wait and exec through
#                    os.getenv, for the forked-child cases of spec 27
#                    (tests/forkenv.c)
# make test-hosts builds them; specs 23 and 27 run it (helpers.test_hosts),
# so `make test` covers them.

FAULTS_HOSTS = build/oomhost build/sigpump.so build/forkenv.so

.PHONY: test-hosts faults-hosts
test-hosts:
	@$(MAKE) -s --no-print-directory LUA=lua5.4 faults-hosts

faults-hosts: $(FAULTS_HOSTS)

# a Lua 5.4 program, like the embed host: only with LUA=lua5.4 is
# $(STATIC) build/libuxsock.a (test-hosts sees to that)
build/oomhost: tests/oomhost.c src/uxsock.h $(STATIC)
	$(CC) $(WARN) $(CFLAGS) -Isrc $(LUA_INC) -o $@ $< $(STATIC) $(LUA_LIBS) -lm

build/sigpump.so: tests/sigpump.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -pthread -o $@ $< -ldl

build/forkenv.so: tests/forkenv.c | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -o $@ $< -ldl
