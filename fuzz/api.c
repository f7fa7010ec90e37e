/*
** fuzz/api.c: libFuzzer harness for the whole Lua API of uxsock. It
** embeds Lua 5.4 and runs the engine of fuzz/calls.lua on each input:
** the input's bytes pick every call and every argument (one byte per
** choice), so libFuzzer's coverage of the module's C code steers which
** calls, kinds and arguments come next. fuzz/random_calls.lua is the
** same engine driven by a PRNG instead, for plain Lua and valgrind.
**
**   make fuzz-api           (mk/fuzz.mk: clang -fsanitize=fuzzer,address,
**                            undefined; the module's sources and -llua5.4)
**   build/fuzz/api fuzz/corpus/api -max_len=2048 -max_total_time=60
**
** Each input gets a fresh Lua state, so a crash replays from its input
** alone. What is a failure:
**   - a crash, a sanitizer report (ASan, UBSan, LeakSanitizer), a hang
**     (libFuzzer's -timeout; no call may wait more than a few ms);
**   - an invariant of calls.lua broken ("INVARIANT: ..."): the README's
**     promises about results, closing, close-on-exec;
**   - a descriptor leaked: counted (fdcount, given to the engine) once
**     everything is closed and collected, and again after lua_close;
**   - an error escaping the engine that is not a memory error.
** The Lua state's allocator refuses any block over 256 MiB and more than
** 1 GiB in all, so recv(2^40) or uxsock.buffer(2^31) is a quick memory
** error (the module's allocation failure paths run too) rather than the
** process's memory. The C API joins the calls: detach(h)
** (uxsock_detachfd) gives a handle's descriptor to the engine,
** attach(fd, kind) (uxsock_pushfd) makes a handle of one it owns, and
** checkfd(x) (uxsock_checkfd) must give an open handle's descriptor and
** raise for anything else.
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "uxsock.h"

#if !defined(UXFUZZ_CALLS)
#define UXFUZZ_CALLS  "fuzz/calls.lua"
#endif

#define BLOCK_MAX  ((size_t)256 << 20)
#define TOTAL_MAX  ((size_t)1 << 30)

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char dir[64];              /* the engine's private directory */
static char *chunk;               /* calls.lua, compiled once */
static size_t chunklen;
static unsigned long nrun;

typedef struct input {
  const uint8_t *data;
  size_t size, pos;
} input;

/* {======================================================
** The Lua state
** ======================================================= */

static void *capped_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  size_t *total = (size_t *)ud;
  size_t old = ptr != NULL ? osize : 0;
  void *p;
  if (nsize == 0) {
    free(ptr);
    *total -= old;
    return NULL;
  }
  if (nsize > BLOCK_MAX || (nsize > old && *total - old + nsize > TOTAL_MAX))
    return NULL;
  p = realloc(ptr, nsize);
  if (p != NULL) *total = *total - old + nsize;
  return p;
}

/* the engine's next byte; raises calls.DONE (upvalue 2) at the end */
static int nextbyte (lua_State *L) {
  input *in = (input *)lua_touserdata(L, lua_upvalueindex(1));
  if (in->pos >= in->size) {
    lua_pushvalue(L, lua_upvalueindex(2));
    return lua_error(L);
  }
  lua_pushinteger(L, in->data[in->pos++]);
  return 1;
}

/* detach(h): uxsock_detachfd; the descriptor and the bytes it held */
static int detach (lua_State *L) {
  lua_pushinteger(L, uxsock_detachfd(L, 1));
  lua_insert(L, -2);
  return 2;
}

/* checkfd(h): uxsock_checkfd */
static int checkfd (lua_State *L) {
  lua_pushinteger(L, uxsock_checkfd(L, 1));
  return 1;
}

/* attach(fd [, kind]): uxsock_pushfd; the handle, or nil and the errno */
static int attach (lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  const char *kind = luaL_optstring(L, 2, NULL);
  int err;
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "descriptor expected");
  err = uxsock_pushfd(L, (int)fd, kind);
  if (err != 0) {
    luaL_pushfail(L);
    lua_pushinteger(L, err);
    return 2;
  }
  return 1;
}

static int writer (lua_State *L, const void *p, size_t n, void *ud) {
  (void)L; (void)ud;
  chunk = realloc(chunk, chunklen + n);
  if (chunk == NULL) return 1;
  memcpy(chunk + chunklen, p, n);
  chunklen += n;
  return 0;
}

/* }====================================================== */


/* {======================================================
** Descriptors and files
** ======================================================= */

static int fdcount (void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (d == NULL) abort();
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;  /* the directory's own descriptor */
}

/* fdcount(): the engine's leak check counts as the harness does */
static int lfdcount (lua_State *L) {
  lua_pushinteger(L, fdcount());
  return 1;
}

static void cleardir (void) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char path[512];
  if (d == NULL) return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (unlink(path) != 0) (void)rmdir(path);
  }
  closedir(d);
}

static void removedir (void) {
  cleardir();
  (void)rmdir(dir);
}

/* }====================================================== */


int LLVMFuzzerInitialize (int *argc, char ***argv) {
  size_t total = 0;
  lua_State *L = lua_newstate(capped_alloc, &total);
  (void)argc; (void)argv;
  strcpy(dir, "/tmp/uxfuzz-XXXXXX");
  if (mkdtemp(dir) == NULL) { perror("mkdtemp"); exit(1); }
  atexit(removedir);
  if (L == NULL || luaL_loadfile(L, UXFUZZ_CALLS) != LUA_OK ||
      lua_dump(L, writer, NULL, 1) != 0) {
    fprintf(stderr, "fuzz/api.c: cannot load %s: %s\n", UXFUZZ_CALLS,
            L ? lua_tostring(L, -1) : "no memory");
    exit(1);
  }
  lua_close(L);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  size_t total = 0;
  input in;
  lua_State *L;
  int before = fdcount(), after, status;
  char tag[32];
  in.data = data; in.size = size; in.pos = 0;
  L = lua_newstate(capped_alloc, &total);
  if (L == NULL) abort();
  luaL_openlibs(L);
  luaL_requiref(L, "uxsock", luaopen_uxsock, 1);  /* 1: uxsock */
  if (luaL_loadbuffer(L, chunk, chunklen, "=calls.lua") != LUA_OK) abort();
  lua_call(L, 0, 1);                               /* 2: calls */
  lua_getfield(L, 2, "run");                       /* 3: calls.run */
  lua_pushvalue(L, 1);
  lua_pushlightuserdata(L, &in);
  lua_getfield(L, 2, "DONE");
  lua_pushcclosure(L, nextbyte, 2);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, dir);
  lua_setfield(L, -2, "dir");
  snprintf(tag, sizeof(tag), "%ld-%lu", (long)getpid(), ++nrun);
  lua_pushstring(L, tag);
  lua_setfield(L, -2, "tag");
  lua_pushcfunction(L, lfdcount);
  lua_setfield(L, -2, "fdcount");
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "bigalloc");
  lua_pushcfunction(L, detach);
  lua_setfield(L, -2, "detach");
  lua_pushcfunction(L, attach);
  lua_setfield(L, -2, "attach");
  lua_pushcfunction(L, checkfd);
  lua_setfield(L, -2, "checkfd");
  status = lua_pcall(L, 3, 0, 0);
  if (status != LUA_OK && status != LUA_ERRMEM) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strstr(msg, "not enough memory") == NULL) {
      fprintf(stderr, "fuzz/api.c: %s\n", msg ? msg : "(an error object)");
      abort();
    }
  }
  lua_close(L);
  cleardir();
  after = fdcount();
  if (after != before) {
    fprintf(stderr, "fuzz/api.c: descriptors leaked: %d before, %d after "
            "lua_close\n", before, after);
    (void)system("ls -l /proc/$PPID/fd >&2");
    abort();
  }
  return 0;
}
