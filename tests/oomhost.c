/*
** oomhost.c: a Lua 5.4 host whose allocator fails on demand, for the
** out-of-memory cases of spec/23_faults_spec.lua (make test-hosts builds
** build/oomhost; it links build/libuxsock.a as examples/embed/host.c
** does). Usage: build/oomhost script.lua [args...]
**
** It runs three sweeps; in each, attempt n refuses the allocator's
** request number n + 1 (counting from the start of the attempt) and then
**   "all"  every later request until the call returns, or
**   "one"  only that request (and Lua's immediate retry of it, which
**          comes after an emergency collection), then none;
** n goes up from 0 until a call needs no refused request to finish, by
** 1, or by the environment's OOM_STEP (a quicker sample, for valgrind).
**   1. open: require("uxsock") in a fresh state, then a smoke test of
**      the module with memory back (a first open that failed half way
**      must not leave the state with a broken module);
**   2. pushfd: uxsock_pushfd of a socketpair end, in a fresh state; the
**      descriptor must stay the caller's when it raises;
**   3. the script, in one state, with uxsock preloaded and a table 'oom':
**        oom.try(n, mode, f, ...)  calls f(...) as above; returns the
**            number of requests refused, then pcall's results
**        oom.bytes()   bytes the allocator holds now, and the bytes Lua's
**            own count holds (collectgarbage("count")): the difference is
**            what uxsock took from the allocator directly
**        oom.fds()     the number of open descriptors
**        oom.rawpair() a socketpair's two descriptors, as integers
**      The script checks each of its attempts; it returns the number of
**      cases it ran, and raises for a failure.
** After each state's lua_close, the allocator must hold 0 bytes, and
** the descriptors must be those open before it.
** It prints a line per sweep and "oomhost: all checks passed" (exit 0).
*/
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "uxsock.h"

#define MAX_N  5000   /* a call that needs more requests than this fails */

static long step = 1;  /* OOM_STEP: n goes up by this */

enum { FAIL_NONE, FAIL_ALL, FAIL_ONE };

typedef struct heap {
  size_t bytes;       /* held now */
  long requests;      /* growing requests since the attempt started */
  long failat;        /* the request to refuse first (-1: none) */
  int mode;
  long refused;       /* requests refused in this attempt */
  void *lastptr;      /* the request refused last, to tell Lua's retry */
  size_t lastsize;
  int retry;          /* the next request may be that retry */
} heap;

static heap H;
static int failures = 0;

static void check (int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAILED: %s\n", what);
    failures++;
  }
}

/* Shrinking never fails (Lua may count on it); a growing request fails
** when the attempt says so. */
static void *l_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  heap *h = (heap *)ud;
  size_t old = ptr != NULL ? osize : 0;
  void *np;
  if (nsize == 0) {
    if (ptr != NULL) { h->bytes -= old; free(ptr); }
    return NULL;
  }
  if (nsize > old && h->mode != FAIL_NONE) {
    int refuse;
    if (h->retry && ptr == h->lastptr && nsize == h->lastsize)
      refuse = 1;  /* "one": the retry of the request refused */
    else {
      long k = h->requests++;
      refuse = (h->mode == FAIL_ALL) ? (k >= h->failat) : (k == h->failat);
    }
    h->retry = 0;
    if (refuse) {
      h->refused++;
      h->lastptr = ptr;
      h->lastsize = nsize;
      h->retry = (h->mode == FAIL_ONE && h->refused == 1);
      return NULL;
    }
  }
  np = realloc(ptr, nsize);
  if (np == NULL) return NULL;
  h->bytes = h->bytes - old + nsize;
  return np;
}

static void attempt_start (long n, int mode) {
  H.requests = 0;
  H.failat = n;
  H.refused = 0;
  H.retry = 0;
  H.lastptr = NULL;
  H.lastsize = 0;
  H.mode = mode;
}

static long attempt_end (void) {
  H.mode = FAIL_NONE;
  return H.refused;
}

static int count_fds (void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;  /* less the one opendir holds */
}

static lua_State *new_state (void) {
  lua_State *L = lua_newstate(l_alloc, &H);
  if (L == NULL) { fprintf(stderr, "oomhost: no state\n"); exit(2); }
  luaL_openlibs(L);
  return L;
}

/* closes the state: nothing may stay allocated or open after it */
static void close_state (lua_State *L, int fds, const char *what) {
  char msg[160];
  lua_close(L);
  snprintf(msg, sizeof(msg), "%s: %lu bytes still allocated after lua_close",
           what, (unsigned long)H.bytes);
  check(H.bytes == 0, msg);
  snprintf(msg, sizeof(msg), "%s: descriptors %d before the state, %d after",
           what, fds, count_fds());
  check(count_fds() == fds, msg);
}

static int mode_of (const char *s) {
  return strcmp(s, "one") == 0 ? FAIL_ONE : FAIL_ALL;
}

/* {======================================================
** 1. opening the module
** ======================================================= */

static const char smoke[] =
  "local u = require('uxsock')\n"
  "local a, b = assert(u.socketpair())\n"
  "assert(u.type(a) == 'stream' and a:sendall('ping') == 4)\n"
  "assert(b:read(4) == 'ping')\n"
  /* the abstract namespace is the machine's: the name holds the pid, so
  ** suites running side by side never meet */
  "local stat = assert(io.open('/proc/self/stat'))\n"
  "local name = '@uxsock-oomhost-' .. stat:read('*n') .. '-' .. a:getfd()\n"
  "stat:close()\n"
  "local l = assert(u.listen(name))\n"
  "local c = assert(u.connect(name))\n"
  "local s = assert(l:accept())\n"
  "assert(c:send('x') == 1 and s:recv() == 'x')\n"
  "local q1, q2 = assert(u.socketpair('seqpacket'))\n"
  "assert(q1:sendfds('fd', { c }) == 2)\n"
  "local data, fds = assert(q2:recvfds())\n"
  "assert(data == 'fd' and u.type(fds[1]) == 'stream')\n"
  "local d = assert(u.datagram())\n"
  "assert(d:getoption('type') == 'datagram')\n"
  "local buf = u.buffer(16)\n"
  "assert(#buf == 16 and buf:fill('abc') == 4)\n"
  "local p = assert(u.poller())\n"
  "assert(p:add(b) and p:count() == 1)\n"
  "p:close()\n"
  "assert(u.poll({ a }, 0))\n"
  "assert(u.with(d, function() return true end))\n"
  "for _, h in ipairs({ a, b, l, c, s, q1, q2, fds[1] }) do h:close() end\n"
  "assert(u.type(a) == 'closed stream' and tostring(l):find('closed'))\n"
  "return true\n";

static int open_module (lua_State *L) {
  luaL_requiref(L, "uxsock", luaopen_uxsock, 0);
  return 1;
}

/* returns the number of attempts */
static long sweep_open (int mode) {
  long n, cases = 0;
  for (n = 0; n < MAX_N; n += step) {
    int fds = count_fds(), st;
    lua_State *L = new_state();
    long refused;
    lua_pushcfunction(L, open_module);
    attempt_start(n, mode);
    st = lua_pcall(L, 0, 1, 0);
    refused = attempt_end();
    cases++;
    if (st != LUA_OK) {
      check(refused > 0, "open: an error with no request refused");
      check(strcmp(lua_tostring(L, -1), "not enough memory") == 0,
            "open: the error is \"not enough memory\"");
    }
    lua_settop(L, 0);
    /* memory is back: the module must open and work */
    lua_gc(L, LUA_GCCOLLECT, 0);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushnil(L);
    lua_setfield(L, -2, "uxsock");
    lua_getfield(L, -2, "preload");
    lua_pushcfunction(L, luaopen_uxsock);
    lua_setfield(L, -2, "uxsock");
    lua_settop(L, 0);
    if (luaL_loadstring(L, smoke) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
      char msg[300];
      snprintf(msg, sizeof(msg), "open (n = %ld, %s): the module is broken "
               "after a failed open: %s", n, mode == FAIL_ALL ? "all" : "one",
               lua_tostring(L, -1));
      check(0, msg);
    }
    close_state(L, fds, "open");
    if (refused == 0) break;
  }
  check(n < MAX_N, "open: no attempt succeeded");
  return cases;
}

/* }====================================================== */


/* {======================================================
** 2. uxsock_pushfd
** ======================================================= */

static int call_pushfd (lua_State *L) {
  int fd = (int)lua_tointeger(L, 1);
  int err = uxsock_pushfd(L, fd, "stream");
  if (err != 0) return luaL_error(L, "pushfd: %d", err);
  return 1;
}

static long sweep_pushfd (int mode) {
  long n, cases = 0;
  for (n = 0; n < MAX_N; n += step) {
    int fds = count_fds(), sv[2], st;
    lua_State *L = new_state();
    long refused;
    char c = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) { perror("socketpair"); exit(2); }
    lua_pushcfunction(L, call_pushfd);
    lua_pushinteger(L, sv[1]);
    attempt_start(n, mode);
    st = lua_pcall(L, 1, 1, 0);
    refused = attempt_end();
    cases++;
    if (st != LUA_OK) {
      /* it raised: sv[1] is still ours, open, and works */
      check(strcmp(lua_tostring(L, -1), "not enough memory") == 0,
            "pushfd: the error is \"not enough memory\"");
      check(write(sv[1], "y", 1) == 1 && read(sv[0], &c, 1) == 1 && c == 'y',
            "pushfd: after a raise the descriptor is the caller's, open");
      close(sv[1]);
    }
    else {
      /* the handle owns sv[1]: Lua writes, C reads */
      lua_setglobal(L, "h");
      check(luaL_dostring(L, "assert(h:sendall('z') == 1)") == LUA_OK,
            "pushfd: the handle works");
      check(read(sv[0], &c, 1) == 1 && c == 'z', "pushfd: C reads it");
    }
    close_state(L, fds + 1, "pushfd");  /* sv[1] closed by C or the state */
    close(sv[0]);
    if (refused == 0) break;
  }
  check(n < MAX_N, "pushfd: no attempt succeeded");
  return cases;
}

/* }====================================================== */


/* {======================================================
** 3. the script
** ======================================================= */

/* oom.try(n, mode, f, ...) */
static int o_try (lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  int mode = mode_of(luaL_checkstring(L, 2));
  int base, st;
  long refused;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_pushinteger(L, 0);  /* the slot for 'refused', made before */
  lua_replace(L, 1);
  lua_remove(L, 2);       /* 1: slot, 2: f, 3...: its arguments */
  base = 1;
  attempt_start((long)n, mode);
  st = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
  refused = attempt_end();
  luaL_checkstack(L, 2, "oom.try");
  lua_pushinteger(L, (lua_Integer)refused);
  lua_replace(L, base);
  lua_pushboolean(L, st == LUA_OK);
  lua_insert(L, base + 1);
  return lua_gettop(L);
}

static int o_bytes (lua_State *L) {
  size_t luabytes = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 +
                    (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
  lua_pushinteger(L, (lua_Integer)H.bytes);
  lua_pushinteger(L, (lua_Integer)luabytes);
  return 2;
}

static int o_fds (lua_State *L) {
  lua_pushinteger(L, count_fds());
  return 1;
}

/* two connected stream descriptors, as integers: the caller closes them */
static int o_rawpair (lua_State *L) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
    return luaL_error(L, "socketpair failed");
  lua_pushinteger(L, sv[0]);
  lua_pushinteger(L, sv[1]);
  return 2;
}

static const luaL_Reg oomlib[] = {
  {"try", o_try},
  {"bytes", o_bytes},
  {"fds", o_fds},
  {"rawpair", o_rawpair},
  {NULL, NULL}
};

static long run_script (int argc, char **argv) {
  int fds = count_fds(), i;
  long cases = 0;
  lua_State *L = new_state();
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_uxsock);
  lua_setfield(L, -2, "uxsock");
  lua_pop(L, 1);
  luaL_newlib(L, oomlib);
  lua_setglobal(L, "oom");
  if (luaL_loadfile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "oomhost: %s\n", lua_tostring(L, -1));
    exit(2);
  }
  for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
  if (lua_pcall(L, argc - 2, 1, 0) != LUA_OK) {
    char msg[600];
    snprintf(msg, sizeof(msg), "script: %s", lua_tostring(L, -1));
    check(0, msg);
  }
  else cases = (long)lua_tointeger(L, -1);
  close_state(L, fds, "script");
  return cases;
}

/* }====================================================== */


int main (int argc, char **argv) {
  long open_all, open_one, push_all, push_one, script;
  const char *s = getenv("OOM_STEP");
  if (argc < 2) {
    fprintf(stderr, "usage: oomhost script.lua [args...]\n");
    return 2;
  }
  if (s != NULL && atol(s) > 0) step = atol(s);
  open_all = sweep_open(FAIL_ALL);
  open_one = sweep_open(FAIL_ONE);
  printf("open: %ld cases (%ld all, %ld one)\n", open_all + open_one,
         open_all, open_one);
  push_all = sweep_pushfd(FAIL_ALL);
  push_one = sweep_pushfd(FAIL_ONE);
  printf("pushfd: %ld cases (%ld all, %ld one)\n", push_all + push_one,
         push_all, push_one);
  script = run_script(argc, argv);
  printf("script: %ld cases\n", script);
  printf("total: %ld cases\n", open_all + open_one + push_all + push_one +
         script);
  printf("%s\n", failures == 0 ? "oomhost: all checks passed"
                               : "oomhost: some checks FAILED");
  return failures == 0 ? 0 : 1;
}
