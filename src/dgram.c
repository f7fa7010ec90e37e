/***
@module uxsock
*/

/*
** dgram.c: datagram sockets: uxsock.datagram, sendto, recvfrom, connect.
** Each call moves one whole message; see io.c for send and recv.
*/
#include "handle.h"
#include "io.h"
#include "buffer.h"
#include "kinds.h"

/***
A datagram socket, bound to `path` when one is given. Options: `mode`,
`unlink` and `timeout` as for `listen`, `autobind` (Linux: bind an
unbound socket to a unique abstract name, so that servers can reply).
@function datagram
@tparam[opt] string path the name to bind
@tparam[opt] table opts options
@return a datagram socket
@fail `nil, msg, code` (as for `listen`)
*/
static int l_datagram (lua_State *L) {
  static const char *const known[] =
    {"mode", "unlink", "timeout", "autobind", NULL};
  ux_addr a;
  ux_handle *h;
  double timeout;
  int bound = !lua_isnoneornil(L, 1), mode, unlink, autobind, err, hidx;
  if (bound) ux_checkaddr(L, 1, &a);
  ux_checkopts(L, 2, known);
  mode = ux_optmode(L, 2);
  unlink = ux_optboolean(L, 2, "unlink", 1);
  autobind = ux_optboolean(L, 2, "autobind", 0);
  luaL_argcheck(L, !(bound && autobind), 2,
                "opts.autobind: the socket already has a name");
  ux_optfield(L, 2, "timeout", LUA_TNUMBER);
  timeout = ux_opttimeout(L, -1, 2, "opts.timeout");
  lua_settop(L, 2);
  h = ux_newhandle(L, UX_DATAGRAM);
  hidx = lua_gettop(L);
  if (bound) ux_setname(L, hidx, 1);
  if ((err = ux_socket(SOCK_DGRAM, &h->fd)) != 0)
    return ux_fail(L, hidx, "socket", err);
  if (bound) err = ux_bindhandle(h, &a, mode, unlink, -1, timeout);
  else if (autobind) err = ux_bind_auto(h->fd);
  if (err == 0) err = ux_settimeout(h, timeout);
  if (err != 0) {
    ux_closehandle(L, h, hidx);
    return ux_fail(L, hidx, "bind", err);
  }
  return 1;
}

/***
Sends one datagram to the socket named `path`.
@function datagram:sendto
@within datagram
@tparam string|buffer data the message
@tparam string path where to
@return the number of bytes sent (the whole message)
@fail `nil, msg, code`
*/
static int m_sendto (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_DATAGRAM));
  size_t len, n;
  const char *p = ux_checkbytes(L, 2, &len);
  ux_addr to;
  ux_deadline d;
  int err;
  ux_checkaddr(L, 3, &to);
  ux_deadline_init(&d, h->timeout);
  err = ux_send(h->fd, p, len, &to, &n, &d);
  if (err != 0) return ux_failname(L, 3, "sendto", err);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/***
Receives one datagram and the name of its sender (`""` for an unbound
sender). A zero-length datagram is data (`""`). A datagram longer than
`max` is never cut silently.
@function datagram:recvfrom
@within datagram
@tparam[opt=65536] integer max the largest message to take
@return data, sender
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, head, sender`, `head` being its first `max` bytes
*/
static int m_recvfrom (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_DATAGRAM));
  size_t max = ux_checkmax(L, 2);
  struct sockaddr_un from;
  socklen_t fromlen = sizeof(from);
  int r;
  from.sun_family = AF_UNSPEC;
  r = ux_recvmsg(L, h, max, &from, &fromlen);
  if (r == 3) return r;  /* nothing was received */
  ux_pushaddr(L, &from, fromlen);
  return r + 1;
}

/***
Sets the datagram socket's peer: `send` and `recv` then go to and come
from `path` alone.
@function datagram:connect
@within datagram
@tparam string path the peer's name
@return `true`
@fail `nil, msg, code`
*/
static int m_connect (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_DATAGRAM));
  ux_addr a;
  ux_deadline d;
  int err;
  ux_checkaddr(L, 2, &a);
  ux_deadline_init(&d, h->timeout);
  err = ux_connect(h->fd, &a, &d);
  if (err != 0) return ux_failname(L, 2, "connect", err);
  if (ux_pushname(L, 1) == LUA_TNIL)  /* name an unbound socket */
    ux_setname(L, 1, 2);                         /* by its peer */
  lua_pushboolean(L, 1);
  return 1;
}

/***
Sends one datagram to the peer set by `connect`.
@function datagram:send
@within datagram
@tparam string|buffer data the message
@tparam[opt=1] integer i first byte, as in `string.sub`
@tparam[opt=-1] integer j last byte
@return the number of bytes sent
@fail `nil, msg, code`
*/

/***
Receives one datagram, as `recvfrom` does, without the sender's name.
@function datagram:recv
@within datagram
@tparam[opt=65536] integer max the largest message to take
@return the message
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, head`
*/

/***
Receives one datagram into `buf` (bytes `i` to `j`), as `recv` does,
without making a string.
@function datagram:recvinto
@within datagram
@tparam buffer buf from `uxsock.buffer`
@tparam[opt=1] integer i where the first byte goes
@tparam[opt=-1] integer j the last byte it may fill
@return the message's length
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, n`
*/

/***
The name of the peer set by `connect`.
@function datagram:getpeername
@within datagram
@return a string
@fail `nil, msg, code`
*/

static const luaL_Reg datagram_methods[] = {
  {"sendto", m_sendto},
  {"recvfrom", m_recvfrom},
  {"connect", m_connect},
  {"send", ux_m_send},
  {"recv", ux_m_recv},
  {"recvinto", ux_m_recvinto},
  {"getpeername", ux_m_getpeername},
  {NULL, NULL}
};

const luaL_Reg ux_datagram_functions[] = {
  {"datagram", l_datagram},
  {NULL, NULL}
};

void ux_open_datagram (lua_State *L) {
  ux_newkind(L, UX_DATAGRAM, datagram_methods);
}
