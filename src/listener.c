/***
@module uxsock
*/

/*
** listener.c: uxsock.listen and accept.
*/
#include <limits.h>
#include <sys/socket.h>

#include "handle.h"
#include "kinds.h"

#if !defined(UX_BACKLOG)
#define UX_BACKLOG  SOMAXCONN
#endif

/***
A listener on a path or abstract name: the socket is made, bound and
listening. A stale socket file at the path is replaced; a live server's
gives `EADDRINUSE`; anything that is not a socket is never removed (see
Socket names). Options: `backlog` (integer, default `SOMAXCONN`), `mode`
(permission bits of the socket file, e.g. `tonumber("660", 8)`), `type`
(`"stream"`, the default, or `"seqpacket"`), `timeout` (for `accept`, and
for another server replacing the same stale file at once: at most 1 s),
`unlink` (`false` keeps the socket file on close).
@function listen
@tparam string path the socket name
@tparam[opt] table opts options
@return a listener
@fail `nil, msg, code` (`EADDRINUSE`: the path is taken; `ENOENT`: the file was moved or replaced while it was made)
*/
static int l_listen (lua_State *L) {
  static const char *const known[] =
    {"backlog", "mode", "type", "timeout", "unlink", NULL};
  ux_addr a;
  ux_handle *h;
  lua_Integer backlog = UX_BACKLOG;
  double timeout;
  int child, mode, unlink, err, hidx;
  ux_checkaddr(L, 1, &a);
  ux_checkopts(L, 2, known);
  child = ux_opttype(L, 2, UX_K(UX_STREAM) | UX_K(UX_SEQPACKET), UX_STREAM);
  mode = ux_optmode(L, 2);
  unlink = ux_optboolean(L, 2, "unlink", 1);
  if (ux_optfield(L, 2, "backlog", LUA_TNUMBER) != LUA_TNIL) {
    luaL_argcheck(L, ux_tointegerx(L, -1, &backlog) && backlog >= 0 &&
                  backlog <= INT_MAX, 2,
                  "opts.backlog: integer from 0 to INT_MAX expected");
  }
  ux_optfield(L, 2, "timeout", LUA_TNUMBER);
  timeout = ux_opttimeout(L, -1, 2, "opts.timeout");
  lua_settop(L, 2);
  h = ux_newhandle(L, UX_LISTENER);
  hidx = lua_gettop(L);
  h->child = (unsigned char)child;
  ux_setname(L, hidx, 1);
  if ((err = ux_socket(ux_sockettype(child), &h->fd)) != 0)
    return ux_fail(L, hidx, "socket", err);
  if ((err = ux_bindhandle(h, &a, mode, unlink, (int)backlog,
                           timeout)) != 0) {
    ux_closehandle(L, h, hidx);
    return ux_fail(L, hidx, "bind", err);  /* bind or listen */
  }
  if ((err = ux_settimeout(h, timeout)) != 0) {
    ux_closehandle(L, h, hidx);
    return ux_fail(L, hidx, "listen", err);
  }
  return 1;
}

/***
Waits for a client and returns its connection, a stream (or seqpacket)
socket like the listener's type, close-on-exec.
@function listener:accept
@within listener
@return a connected socket
@fail `nil, msg, code` (`ETIMEDOUT` after the listener's timeout)
*/
static int m_accept (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_LISTENER));
  ux_handle *c = ux_newhandle(L, h->child);
  ux_deadline d;
  int err;
  c->readlimit = h->readlimit;
  ux_pushname(L, 1);  /* the listener's name, for messages */
  ux_setname(L, -2, -1);
  lua_pop(L, 1);
  ux_deadline_init(&d, h->timeout);
  err = ux_accept(h->fd, &c->fd, &d);
  if (err != 0) return ux_fail(L, 1, "accept", err);
  return 1;
}

static const luaL_Reg listener_methods[] = {
  {"accept", m_accept},
  {NULL, NULL}
};

const luaL_Reg ux_listener_functions[] = {
  {"listen", l_listen},
  {NULL, NULL}
};

void ux_open_listener (lua_State *L) {
  ux_newkind(L, UX_LISTENER, listener_methods);
}
