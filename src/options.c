/***
@module uxsock
*/

/*
** options.c: setoption and getoption, one pair for the socket options
** that matter on Unix sockets, by name. A name this system lacks is
** ENOTSUP (an I/O failure: the script may run elsewhere); a name no
** system has, a value of the wrong type, or setting a read-only option
** is an argument error.
*/
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE  /* SO_PASSCRED */
#endif

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include "handle.h"
#include "kinds.h"

#if !defined(SO_PASSCRED)
#define SO_PASSCRED  (-1)  /* Linux only */
#endif

enum { O_INT, O_BOOL, O_TYPE, O_INQ, O_OUTQ, O_LIMIT };

typedef struct option {
  const char *name;
  int how;        /* O_INT, O_BOOL: a socket option; O_LIMIT the
                  ** handle's own; others read-only */
  int optname;    /* at SOL_SOCKET; -1 where the system lacks it */
  int readonly;
} option;

static const option options[] = {
  {"sndbuf", O_INT, SO_SNDBUF, 0},
  {"rcvbuf", O_INT, SO_RCVBUF, 0},
  {"rcvlowat", O_INT, SO_RCVLOWAT, 0},
  {"passcred", O_BOOL, SO_PASSCRED, 0},
  {"acceptconn", O_BOOL, SO_ACCEPTCONN, 1},
  {"error", O_INT, SO_ERROR, 1},
  {"type", O_TYPE, SO_TYPE, 1},
  {"nread", O_INQ, 0, 1},
  {"nwrite", O_OUTQ, 0, 1},
  {"readlimit", O_LIMIT, 0, 0},
  {NULL, 0, 0, 0}
};

/* the option named by argument 2, or an argument error that lists them */
static const option *checkoption (lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  const option *o;
  luaL_Buffer b;
  for (o = options; o->name != NULL; o++)
    if (strcmp(o->name, name) == 0) return o;
  luaL_buffinit(L, &b);
  for (o = options; o->name != NULL; o++) {
    luaL_addstring(&b, o == options ? "" : ", ");
    luaL_addstring(&b, o->name);
  }
  luaL_pushresult(&b);
  luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s' (known: %s)",
                                      name, lua_tostring(L, -1)));
  return NULL;
}

/* readlimit: of streams, and of listeners for the streams they accept */
static ux_handle *checklimited (lua_State *L) {
  return ux_checkhandle(L, 1, UX_K(UX_STREAM) | UX_K(UX_LISTENER));
}

/* setoption(name, n): an integer >= 1, or math.huge for no limit */
static int setlimit (lua_State *L) {
  ux_handle *h = checklimited(L);
  lua_Number x = luaL_checknumber(L, 3);
  if (x == (lua_Number)HUGE_VAL) h->readlimit = UX_NOLIMIT;
  else {
    lua_Integer v = luaL_checkinteger(L, 3);
    luaL_argcheck(L, v >= 1, 3, "readlimit must be at least 1");
    h->readlimit = (size_t)v;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/***
Sets a socket option by name: `"sndbuf"` and `"rcvbuf"` (bytes; Linux
doubles the figure for its bookkeeping, and `getoption` shows that),
`"rcvlowat"` (bytes a stream `recv` waits for), `"passcred"` (Linux:
every message received carries its sender's credentials, see
`recvcred`), `"readlimit"` (streams: the longest line, and the most
bytes of an `"a"` read, that `read` and `lines` take, `math.huge` for
none; default 4 MiB; a listener passes its own to the streams it
accepts). The others `getoption` knows are read-only.
@function handle:setoption
@within handle
@tparam string name the option
@tparam integer|boolean value a count of bytes, or `true`/`false` for `"passcred"`
@return `true`
@fail `nil, msg, code` (`ENOTSUP` where the system lacks the option)
*/
static int h_setoption (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_ANY);
  const option *o = checkoption(L);
  int value, err;
  if (o->readonly)
    return luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' is read-only",
                                               o->name));
  if (o->how == O_LIMIT) return setlimit(L);
  if (o->how == O_BOOL) {
    luaL_checktype(L, 3, LUA_TBOOLEAN);
    value = lua_toboolean(L, 3);
  }
  else {
    lua_Integer v = luaL_checkinteger(L, 3);
    luaL_argcheck(L, v >= 0 && v <= INT_MAX, 3, "value out of range");
    value = (int)v;
  }
  if (o->optname < 0) return ux_fail(L, 1, "setoption", ENOTSUP);
  err = ux_setsockopt(h->fd, SOL_SOCKET, o->optname, value);
  if (err != 0) return ux_fail(L, 1, "setoption", err);
  lua_pushboolean(L, 1);
  return 1;
}

/***
Reads a socket option by name: those `setoption` sets, and read-only
ones: `"type"` (`"stream"`, `"seqpacket"` or `"datagram"`),
`"acceptconn"` (a listening socket?), `"error"` (the pending error,
which reading clears; 0 for none), `"nread"` (bytes waiting to be read;
on a datagram socket, the size of the next datagram), `"nwrite"` (the kernel memory that
data sent and not yet read by the peer holds, overhead included: 0 once
the peer has read everything).
@function handle:getoption
@within handle
@tparam string name the option
@return its value: an integer, a boolean or a string
@fail `nil, msg, code` (`ENOTSUP` where the system lacks the option)
*/
static int h_getoption (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_ANY);
  const option *o = checkoption(L);
  int value, err;
  if (o->how == O_LIMIT) {
    h = checklimited(L);
    if (h->readlimit == UX_NOLIMIT) lua_pushnumber(L, (lua_Number)HUGE_VAL);
    else lua_pushinteger(L, (lua_Integer)h->readlimit);
    return 1;
  }
  if (o->optname < 0) return ux_fail(L, 1, "getoption", ENOTSUP);
  if (o->how == O_INQ || o->how == O_OUTQ)
    err = ux_queued(h->fd, o->how == O_OUTQ, &value);
  else
    err = ux_getsockopt(h->fd, SOL_SOCKET, o->optname, &value);
  if (err != 0) return ux_fail(L, 1, "getoption", err);
  if (o->how == O_INQ && h->kind == UX_STREAM) {  /* and a read's buffered */
    size_t all = (size_t)value + h->rb.len;
    value = all > INT_MAX ? INT_MAX : (int)all;
  }
  switch (o->how) {
    case O_BOOL: lua_pushboolean(L, value != 0); break;
    case O_TYPE:
      lua_pushstring(L, value == SOCK_DGRAM ? "datagram"
                        : value == SOCK_SEQPACKET ? "seqpacket" : "stream");
      break;
    default: lua_pushinteger(L, value);
  }
  return 1;
}

static const luaL_Reg option_methods[] = {
  {"setoption", h_setoption},
  {"getoption", h_getoption},
  {NULL, NULL}
};

void ux_open_options (lua_State *L) {
  ux_addmethods(L, UX_ANY, option_methods);
}
