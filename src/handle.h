/*
** handle.h: the uxsock handle, shared by every kind of socket.
**
** A handle is a full userdata holding a ux_handle, with one user value:
** the name it was made with (the path for messages and for removing the
** socket file). Its kind is fixed when it is made and picks its
** metatable ("uxsock.stream", ...). fd == -1 means closed.
**
** Who else acts on a handle while a method runs: a finalizer. Any Lua
** allocation (pushing a string, making a table, growing the stack) can
** run a step of the collector, and a step can run __gc of any object,
** which can call any method of any handle: close this one, read from
** it, grow or free its receive buffer. So, the rule every method keeps:
**   - No pointer into handle state (h->rb.p, a count, h->fd) is used
**     after a call that can allocate. The state a call changes is
**     committed first (bytes taken out of the buffer before the string
**     is pushed from them), or re-read after (h->fd < 0: closed meanwhile).
**   - Memory is given back only by code that re-reads the state it frees.
**   - Copying out of the buffer (lua_pushlstring) is safe: the collector
**     steps after the copy. The raw allocator (ux_rbuf_space) never runs
**     the collector.
** spec/30_finalizers_spec.lua checks it: finalizers that call methods on
** the handles in use, with the collector stepping at every allocation.
*/
#ifndef UXSOCK_HANDLE_H
#define UXSOCK_HANDLE_H

#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"
#include "compat.h"

#include "sys.h"
#include "sockfile.h"

enum ux_kind { UX_LISTENER, UX_STREAM, UX_SEQPACKET, UX_DATAGRAM, UX_NKINDS };
#define UX_K(k)     (1 << (k))
#define UX_CONNECTED  (UX_K(UX_STREAM) | UX_K(UX_SEQPACKET))
#define UX_ANY      (UX_K(UX_NKINDS) - 1)

/* the error code for end of stream: not an errno, so never confused */
#define UX_EOF  (-1)

/* a new handle's readlimit (stream.c): the longest line, and the most
** bytes of a read to end of stream, that a peer can make it buffer */
#if !defined(UX_READLIMIT)
#define UX_READLIMIT  ((size_t)4 << 20)
#endif
#define UX_NOLIMIT    ((size_t)-1)

/* received bytes not yet given to Lua: p[pos .. pos+len). 'takes'
** counts the calls that took bytes out: a reader that made strings from
** the bytes before taking them tells by it whether a finalizer took some
** meanwhile. 'noline': the first bytes that hold no newline, searched by
** an earlier read, so a long line coming in pieces is searched once. */
typedef struct ux_rbuf {
  char *p;
  size_t cap, pos, len;
  size_t noline;
  unsigned takes;
} ux_rbuf;

typedef struct ux_handle {
  int fd;
  unsigned char kind;
  unsigned char owns_file;  /* close removes the socket file it bound */
  unsigned char child;      /* listeners: the kind accept() makes */
  double timeout;           /* seconds; < 0 blocks forever */
  size_t readlimit;         /* streams: longest line or "a" read */
  unsigned zeros;           /* seqpacket: empty messages recvmany took
                            ** and did not give, each a later end of
                            ** stream (batch.c) */
  ux_sockfile file;         /* the socket file made, if owns_file */
  ux_rbuf rb;
} ux_handle;

extern const char *const ux_kindnames[UX_NKINDS];

ux_handle *ux_newhandle (lua_State *L, int kind);
ux_handle *ux_tohandle (lua_State *L, int idx);
/* methods use ux_checkhandle; other C functions ux_checkhandle_any */
ux_handle *ux_checkhandle (lua_State *L, int idx, int kinds);
ux_handle *ux_checkhandle_any (lua_State *L, int idx, int kinds);
void ux_setname (lua_State *L, int hidx, int nameidx);
int ux_pushname (lua_State *L, int hidx);
void ux_closehandle (lua_State *L, ux_handle *h, int hidx);
/* poll.c: every poller of the state lets go of descriptor fd, which is
** about to be closed or given away (close means gone). No allocation. */
void ux_poll_forget (lua_State *L, int fd);
void ux_newkind (lua_State *L, int kind, const luaL_Reg *methods);
void ux_addmethods (lua_State *L, int kinds, const luaL_Reg *methods);

/* the descriptor of a uxsock handle, an open Lua io file or an integer
** >= 0 at idx; raises "bad argument #arg (what: ...)" for anything else,
** a closed handle or a closed file */
int ux_checkfdobj (lua_State *L, int idx, int arg, const char *what);
/* the same without raising: -1 for anything ux_checkfdobj refuses */
int ux_tofd (lua_State *L, int idx);
/* the FILE* of an open Lua file at idx (NULL if closed or not a file;
** *isfile tells which) */
FILE *ux_tofile (lua_State *L, int idx, int *isfile);

int ux_sockettype (int kind);
int ux_settimeout (ux_handle *h, double t);
double ux_opttimeout (lua_State *L, int idx, int arg, const char *what);
void ux_checkopts (lua_State *L, int idx, const char *const known[]);
int ux_opttype (lua_State *L, int opts, int allowed, int def);
int ux_optmode (lua_State *L, int opts);
int ux_optboolean (lua_State *L, int opts, const char *key, int def);
int ux_bindhandle (ux_handle *h, const ux_addr *a, int mode, int unlink,
                   int backlog, double timeout);
void ux_checkaddr (lua_State *L, int arg, ux_addr *a);
void ux_pushaddr (lua_State *L, const struct sockaddr_un *sa, socklen_t len);
int ux_fail (lua_State *L, int hidx, const char *op, int err);
int ux_failname (lua_State *L, int nameidx, const char *op, int err);
int ux_failmsg (lua_State *L, int hidx, const char *op, int err,
                const char *what);
int ux_getname_ (lua_State *L, int peer);

/* option tables: the value of opts[key] (nil when absent) is pushed */
int ux_optfield (lua_State *L, int opts, const char *key, int type);

/* the read buffer (reader.c) */
char *ux_rbuf_space (lua_State *L, ux_rbuf *rb, size_t need);
void ux_rbuf_consume (lua_State *L, ux_rbuf *rb, size_t n);
void ux_rbuf_trim (lua_State *L, ux_rbuf *rb);
void ux_rbuf_free (lua_State *L, ux_rbuf *rb);

#endif
