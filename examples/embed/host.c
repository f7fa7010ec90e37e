/*
** host.c: a C program that embeds Lua 5.4 and uxsock, linked statically
** (make embed; run build/embed-host). It shows the C API of uxsock.h:
**   1. uxsock is preloaded with luaL_requiref: no uxsock.so on any path;
**   2. the host makes a socketpair, gives one end to a script as the
**      global 'host' (uxsock_pushfd) and talks to it from C;
**   3. it takes a descriptor back from a script (uxsock_detachfd);
**   4. two Lua states in two threads use uxsock at once, independently;
**   5. lua_close closes every handle a state still has.
** It prints one line per step and exits 0 when every step went right.
*/
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "uxsock.h"

#define LINES_PER_THREAD  1000

static int failures = 0;

static void check (int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAILED: %s\n", what);
    failures++;
  }
}

/* a Lua state with the standard libraries and uxsock, from this binary */
static lua_State *new_state (void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) { fprintf(stderr, "out of memory\n"); exit(2); }
  luaL_openlibs(L);
  luaL_requiref(L, "uxsock", luaopen_uxsock, 0);
  lua_pop(L, 1);
  return L;
}

/* runs Lua code; leaves nresults on the stack or reports the error */
static int run (lua_State *L, const char *code, int nresults) {
  if (luaL_loadstring(L, code) != LUA_OK ||
      lua_pcall(L, 0, nresults, 0) != LUA_OK) {
    fprintf(stderr, "Lua error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    failures++;
    return 0;
  }
  return 1;
}

/* the script's side of a conversation: upper-cases lines until "quit" */
static const char echo_script[] =
  "local uxsock = require('uxsock')\n"
  "local conn <close> = host\n"
  "local n = 0\n"
  "for line in conn:lines() do\n"
  "  if line == 'quit' then break end\n"
  "  assert(conn:sendall(line:upper() .. '\\n'))\n"
  "  n = n + 1\n"
  "end\n"
  "return n\n";

/* reads what the peer sends until n bytes or end of stream */
static size_t read_all (int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

/* the C side of a conversation, in a thread of its own while the script
** runs: sends the request, closes its sending side, reads every reply */
typedef struct talk {
  int fd;
  const char *request;
  size_t reqlen;
  char *reply;
  size_t cap, got;
} talk;

static void *talker (void *arg) {
  talk *t = (talk *)arg;
  size_t sent = 0;
  while (sent < t->reqlen) {
    ssize_t w = write(t->fd, t->request + sent, t->reqlen - sent);
    if (w <= 0) break;
    sent += (size_t)w;
  }
  shutdown(t->fd, SHUT_WR);
  t->got = read_all(t->fd, t->reply, t->cap);
  return NULL;
}

/* runs the echo script on the handle 'host' while C talks through fd;
** returns the number of lines the script answered, -1 on failure */
static long converse (lua_State *L, talk *t) {
  pthread_t th;
  long n = -1;
  if (pthread_create(&th, NULL, talker, t) != 0) return -1;
  if (run(L, echo_script, 1)) {
    n = (long)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  pthread_join(th, NULL);
  return n;
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

/* 2. a socketpair: one end for the script, one for C */
static void talk_to_a_script (void) {
  lua_State *L = new_state();
  const char request[] = "hello\nfrom c\nquit\n";
  const char expect[] = "HELLO\nFROM C\n";
  char reply[64];
  size_t i;
  talk t;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) { perror("socketpair"); exit(2); }
  check(uxsock_pushfd(L, fds[1], "stream") == 0, "uxsock_pushfd of a stream");
  lua_setglobal(L, "host");
  t.fd = fds[0]; t.request = request; t.reqlen = sizeof(request) - 1;
  t.reply = reply; t.cap = sizeof(reply);
  check(converse(L, &t) == 2, "the script answered two lines");
  check(t.got == sizeof(expect) - 1 && memcmp(reply, expect, t.got) == 0,
        "the replies");
  check(run(L, "return require('uxsock').type(host)", 1) &&
        strcmp(lua_tostring(L, -1), "closed stream") == 0,
        "<close> closed the host's handle");
  lua_pop(L, 1);
  for (i = 0; i < t.got; i++) if (reply[i] == '\n') reply[i] = '|';
  printf("conversation: sent \"hello|from c|quit|\", got \"%.*s\"\n",
         (int)t.got, reply);
  /* the wrong kind, and a descriptor that is no socket, are refused */
  check(uxsock_pushfd(L, fds[0], "datagram") != 0, "a stream is no datagram");
  close(fds[0]);
  if (pipe(fds) == 0) {
    check(uxsock_pushfd(L, fds[0], NULL) != 0, "a pipe is no socket");
    close(fds[0]);
    close(fds[1]);
  }
  lua_close(L);
}

/* 3b. a handle of fromfd with no timeout, for a descriptor that came
** non-blocking (its flag is the open file's, shared with whoever made
** it): detachfd gives it back blocking, as uxsock.h promises */
static void detach_blocking (lua_State *L) {
  int fds[2], fd = -1, flags;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) {
    check(0, "socketpair for the blocking check");
    return;
  }
  (void)fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
  lua_pushinteger(L, fds[1]);
  lua_setglobal(L, "fd");
  if (run(L, "return assert(require('uxsock').fromfd(fd))", 1)) {
    fd = uxsock_detachfd(L, -1);
    lua_pop(L, 2);
  }
  flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
  check(fd == fds[1] && flags >= 0 && (flags & O_NONBLOCK) == 0,
        "detach gives a descriptor from fromfd back blocking");
  printf("detach: a descriptor from fromfd that came non-blocking is %s\n",
         flags >= 0 && (flags & O_NONBLOCK) == 0 ? "blocking" : "NON-BLOCKING");
  close(fds[0]);
  if (fd >= 0) close(fd);
}

/* 3. a script's descriptor, taken back by C */
static void take_one_back (void) {
  lua_State *L = new_state();
  char buf[32];
  size_t len;
  const char *pending;
  int fd;
  if (!run(L, "a, b = require('uxsock').socketpair()\n"
              "b:sendall('ahead\\nrest')\n"
              "assert(a:read('l') == 'ahead')\n"  /* 'rest' stays buffered */
              "return a", 1)) {
    lua_close(L);
    return;
  }
  fd = uxsock_detachfd(L, -1);
  pending = lua_tolstring(L, -1, &len);
  check(len == 4 && memcmp(pending, "rest", 4) == 0,
        "detach gives the buffered bytes");
  lua_pop(L, 2);
  check(run(L, "return require('uxsock').type(a) == 'closed stream'", 1) &&
        lua_toboolean(L, -1), "the detached handle is closed");
  lua_pop(L, 1);
  check(write(fd, "from C", 6) == 6, "C writes to the taken fd");
  if (run(L, "return b:recv()", 1)) {
    check(strcmp(lua_tostring(L, -1), "from C") == 0, "the script reads it");
    lua_pop(L, 1);
  }
  run(L, "b:sendall('to C')", 0);
  len = (size_t)read(fd, buf, sizeof(buf));
  check(len == 4 && memcmp(buf, "to C", 4) == 0, "C reads from it");
  close(fd);
  printf("detach: fd %d taken back with \"%s\" pending, used from C\n",
         fd, "rest");
  detach_blocking(L);
  lua_close(L);
}

/* 4. one state per thread, each with its own socketpair */
static void *thread_main (void *arg) {
  int *ok = (int *)arg;
  lua_State *L = new_state();
  static const size_t linelen = 11;  /* "line 00000\n" */
  size_t i, total = LINES_PER_THREAD * linelen;
  char *out = (char *)malloc(total + 6);
  char *in = (char *)malloc(total);
  talk t;
  int fds[2];
  *ok = 0;
  if (out == NULL || in == NULL ||
      socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) return NULL;
  for (i = 0; i < LINES_PER_THREAD; i++)
    sprintf(out + i * linelen, "line %05u\n", (unsigned)i);
  memcpy(out + total, "quit\n", 5);
  if (uxsock_pushfd(L, fds[1], NULL) == 0) {  /* the kind from the socket */
    lua_setglobal(L, "host");
    t.fd = fds[0]; t.request = out; t.reqlen = total + 5;
    t.reply = in; t.cap = total;
    if (converse(L, &t) == LINES_PER_THREAD) {
      for (i = 0; i < total; i++) out[i] = (char)toupper((unsigned char)out[i]);
      *ok = (t.got == total && memcmp(in, out, total) == 0);
    }
  }
  close(fds[0]);
  lua_close(L);
  free(out);
  free(in);
  return NULL;
}

static void two_threads (void) {
  pthread_t t[2];
  int ok[2], i;
  for (i = 0; i < 2; i++)
    check(pthread_create(&t[i], NULL, thread_main, &ok[i]) == 0,
          "pthread_create");
  for (i = 0; i < 2; i++) pthread_join(t[i], NULL);
  check(ok[0] && ok[1], "each thread's state echoed all its lines");
  printf("threads: 2 states x %d lines, %s\n", LINES_PER_THREAD,
         ok[0] && ok[1] ? "all echoed" : "FAILED");
}

/* 5. handles left open when the state closes */
static void close_with_open_handles (void) {
  char dir[] = "/tmp/uxsock-host-XXXXXX", code[512], path[64];
  struct stat st;
  int before = count_fds(), during, after;
  lua_State *L = new_state();
  if (mkdtemp(dir) == NULL) { perror("mkdtemp"); exit(2); }
  snprintf(path, sizeof(path), "%s/left.sock", dir);
  snprintf(code, sizeof(code),
           "local u = require('uxsock')\n"
           "keep = { u.listen('%s'), u.datagram(), u.socketpair('seqpacket') }\n"
           "keep[4] = u.connect('%s')\n", path, path);
  run(L, code, 0);
  during = count_fds();
  lua_close(L);
  after = count_fds();
  check(during == before + 5, "five descriptors while the state lives");
  check(after == before, "lua_close closed them all");
  check(stat(path, &st) != 0, "the listener's socket file is gone");
  rmdir(dir);
  printf("lua_close: descriptors %d before, %d with the state, %d after\n",
         before, during, after);
}

int main (void) {
  talk_to_a_script();
  take_one_back();
  two_threads();
  close_with_open_handles();
  printf("%s\n", failures == 0 ? "embed: all checks passed"
                               : "embed: some checks FAILED");
  return failures == 0 ? 0 : 1;
}
