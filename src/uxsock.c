/*
** uxsock.c: the module entry. It makes the metatables of every kind,
** gathers the kinds' constructors into one table and adds socketpair,
** type and the error codes.
**
** Who owns what:
**   sys.c       system calls, no Lua (EINTR, deadlines, names, files)
**   handle.c    the handle: make, check, close, name, errors, options
**   reader.c    the per-handle receive buffer
**   io.c        send and recv for every kind that moves data
**   stream.c    connect; stream and seqpacket methods; read and lines
**   listener.c  listen and accept
**   dgram.c     datagram, sendto, recvfrom
**   buffer.c    uxsock.buffer, the byte array recvinto fills
**   with.c      uxsock.with, the scoped handle of every Lua version
**   fdpass.c    descriptors and credentials in messages (sysmsg.c)
**   poll.c      uxsock.poll and the epoll poller (syspoll.c)
**   options.c   setoption and getoption
**   batch.c     sendmany and recvmany (sendmmsg, recvmmsg)
**   capi.c      the C API of uxsock.h: descriptors to and from a host
**   compat.h    the Lua 5.4 C API on 5.1, 5.2, 5.3 and LuaJIT
*/
/***
Unix-domain sockets for Lua: stream, datagram and seqpacket, with
handles that close themselves. Operating-system failures return
`nil, msg, code`, where `code` is compared with `uxsock.EOF`,
`uxsock.ETIMEDOUT` and the other codes (see Errors); argument mistakes
raise.
@module uxsock
*/
#include <errno.h>
#include <string.h>

#include "uxsock.h"
#include "handle.h"
#include "kinds.h"
#include "buffer.h"

/***
Two sockets connected to each other, as the socketpair system call makes
them: the way to talk to a child process or a thread.
@function socketpair
@tparam[opt="stream"] string type `"stream"`, `"datagram"` or `"seqpacket"`
@return two connected handles of that type
@fail `nil, msg, code`
*/
static int l_socketpair (lua_State *L) {
  static const char *const names[] = {"stream", "datagram", "seqpacket", NULL};
  static const int kinds[] = {UX_STREAM, UX_DATAGRAM, UX_SEQPACKET};
  int kind = kinds[luaL_checkoption(L, 1, "stream", names)];
  ux_handle *a = ux_newhandle(L, kind);
  ux_handle *b = ux_newhandle(L, kind);
  int fds[2];
  int err = ux_socketpair(ux_sockettype(kind), fds);
  if (err != 0) return ux_fail(L, 0, "socketpair", err);
  a->fd = fds[0];
  b->fd = fds[1];
  return 2;
}

/***
What x is, in the spirit of `io.type`: `"listener"`, `"stream"`,
`"seqpacket"`, `"datagram"`, `"closed stream"` and so on, or `nil` for a
value that is not a uxsock handle. Never raises for a value.
@function type
@param x any value
@return a string or nil
*/
static int l_type (lua_State *L) {
  ux_handle *h;
  luaL_checkany(L, 1);
  h = ux_tohandle(L, 1);
  if (h == NULL) luaL_pushfail(L);
  else if (h->fd < 0) lua_pushfstring(L, "closed %s", ux_kindnames[h->kind]);
  else lua_pushstring(L, ux_kindnames[h->kind]);
  return 1;
}

/***
Seconds on a monotonic clock (`CLOCK_MONOTONIC`): for deadlines and for
timing, never set back. Only differences between two readings mean
anything.
@function monotime
@return a number of seconds
*/
static int l_monotime (lua_State *L) {
  lua_pushnumber(L, (lua_Number)ux_now());
  return 1;
}

/* __index of the module table: uxsock.loop is require("uxsock.loop"),
** the scheduler in Lua (lua/uxsock/loop.lua), loaded on first use */
static int l_index (lua_State *L) {
  const char *key = lua_tostring(L, 2);
  if (key == NULL || strcmp(key, "loop") != 0) return 0;
  lua_getglobal(L, "require");
  if (lua_type(L, -1) != LUA_TFUNCTION)
    return luaL_error(L, "uxsock.loop needs require (the package library)");
  lua_pushliteral(L, "uxsock.loop");
  lua_call(L, 1, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, "loop");  /* once: later lookups find the field */
  return 1;
}

static const luaL_Reg functions[] = {
  {"socketpair", l_socketpair},
  {"type", l_type},
  {"monotime", l_monotime},
  {NULL, NULL}
};

/* the codes a caller compares the third result with */
static const struct { const char *name; int value; } codes[] = {
  {"EOF", UX_EOF}, {"ETIMEDOUT", ETIMEDOUT}, {"EAGAIN", EAGAIN},
  {"EPIPE", EPIPE}, {"ECONNREFUSED", ECONNREFUSED},
  {"ECONNRESET", ECONNRESET}, {"ENOENT", ENOENT},
  {"EADDRINUSE", EADDRINUSE}, {"EACCES", EACCES}, {"EPERM", EPERM},
  {"EMSGSIZE", EMSGSIZE}, {"ENOTCONN", ENOTCONN}, {"EISCONN", EISCONN},
  {"EDESTADDRREQ", EDESTADDRREQ}, {"EPROTOTYPE", EPROTOTYPE},
  {"EMFILE", EMFILE}, {"ENFILE", ENFILE}, {"ENOBUFS", ENOBUFS},
  {"ENOMEM", ENOMEM}, {"ENOTSOCK", ENOTSOCK}, {"ENOTDIR", ENOTDIR},
  {"ENAMETOOLONG", ENAMETOOLONG}, {"EINVAL", EINVAL},
  {"ENOTSUP", ENOTSUP}, {"EINTR", EINTR}, {"EBADF", EBADF},
  {"EAFNOSUPPORT", EAFNOSUPPORT}, {"EEXIST", EEXIST},
  {NULL, 0}
};

/* Once per Lua state. The mark is set when every metatable is complete:
** an open that ran out of memory half way leaves some made and some
** not, and the next open makes or fills them all (a metatable left
** without its methods or its __gc would break, or leak, every handle
** made after). */
#define KINDS_MADE  "uxsock.kinds"

void ux_open_kinds (lua_State *L) {
  int made = (lua_getfield(L, LUA_REGISTRYINDEX, KINDS_MADE) != LUA_TNIL);
  lua_pop(L, 1);
  if (made) return;
  ux_open_buffer(L);
  ux_open_listener(L);
  ux_open_stream(L);
  ux_open_datagram(L);
  ux_open_fdpass(L);
  ux_open_options(L);
  ux_open_batch(L);
  ux_open_poll(L);
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, KINDS_MADE);
}

UXSOCK_API int luaopen_uxsock (lua_State *L) {
  int i;
  ux_open_kinds(L);
  lua_newtable(L);
  luaL_setfuncs(L, functions, 0);
  luaL_setfuncs(L, ux_listener_functions, 0);
  luaL_setfuncs(L, ux_stream_functions, 0);
  luaL_setfuncs(L, ux_datagram_functions, 0);
  luaL_setfuncs(L, ux_buffer_functions, 0);
  luaL_setfuncs(L, ux_fdpass_functions, 0);
  luaL_setfuncs(L, ux_poll_functions, 0);
  for (i = 0; codes[i].name != NULL; i++) {
    lua_pushinteger(L, codes[i].value);
    lua_setfield(L, -2, codes[i].name);
  }
  lua_pushliteral(L, UXSOCK_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  ux_push_with(L);
  lua_setfield(L, -2, "with");
  return 1;
}


/***
The module's version, `"uxsock 0.1.0"`.
@field _VERSION
*/

/***
Every handle.
@type handle
*/

/***
Listener.
@type listener
*/

/***
Stream socket.
`recv` and `read` share one buffer: bytes `read` received ahead are
returned first by the next `recv`, with no system call.
@type stream
*/

/***
Seqpacket socket.
Connected like a stream, but every `send` is one message and every
`recv` returns one whole message. It has the stream's `send`,
`sendall`, `shutdown`, `getpeername` and `peercred`, and no `read` or
`lines`, which would split messages.
@type seqpacket
*/

/***
Buffer.
A fixed-size byte array from `uxsock.buffer(size)`: `recvinto` fills it,
`send`, `sendall` and `sendto` send from it as from a string, and its
methods look at its bytes without making a string (`byte`, `find`) or
copy them out (`sub`). Positions follow `string.sub`.
@type buffer
*/

/***
Datagram socket.
Message boundaries are kept, and a zero-length datagram is data (`""`),
never end of stream. It has `close`, `settimeout` and the other methods
of every handle.
@type datagram
*/
