/***
@module uxsock
*/

/*
** stream.c: connected sockets, stream and seqpacket: uxsock.connect and
** the methods only they have. Streams also read exact counts, lines and
** everything to the end, through the handle's read buffer (reader.c).
*/
#include <string.h>
#include <sys/socket.h>

#include "handle.h"
#include "io.h"
#include "kinds.h"

#define READ_CHUNK  4096  /* room asked for before each receive */


/* {======================================================
** Buffered reads (streams)
** ======================================================= */

/* receives once into the read buffer, with room for 'want' bytes */
static int fill (lua_State *L, ux_handle *h, size_t want, ux_deadline *d) {
  ux_rbuf *rb = &h->rb;
  char *p = ux_rbuf_space(L, rb, want);
  size_t n;
  int err = ux_recv(h->fd, p, rb->cap - rb->pos - rb->len, &n,
                    NULL, NULL, NULL, d);
  if (err != 0) return err;
  if (n == 0) return UX_EOF;
  rb->len += n;
  return 0;
}

/* pushes the first n buffered bytes (less 'drop' at the end), taking n */
static int take (lua_State *L, ux_handle *h, size_t n, size_t drop) {
  lua_pushlstring(L, h->rb.p + h->rb.pos, n - drop);
  ux_rbuf_consume(L, &h->rb, n);
  return 1;
}

static int read_count (lua_State *L, ux_handle *h, size_t n, ux_deadline *d) {
  while (h->rb.len < n) {
    size_t want = n - h->rb.len;
    int err = fill(L, h, want < 65536 ? want : 65536, d);
    if (err != 0) return ux_fail(L, 1, "read", err);
  }
  return take(L, h, n, 0);
}

static int read_line (lua_State *L, ux_handle *h, int keepnl, ux_deadline *d) {
  size_t scanned = 0;
  for (;;) {
    ux_rbuf *rb = &h->rb;
    int err;
    if (rb->len > scanned) {
      const char *start = rb->p + rb->pos;
      const char *nl = (const char *)memchr(start + scanned, '\n',
                                            rb->len - scanned);
      if (nl != NULL)
        return take(L, h, (size_t)(nl - start) + 1, keepnl ? 0 : 1);
      scanned = rb->len;
    }
    err = fill(L, h, READ_CHUNK, d);
    if (err == UX_EOF && rb->len > 0)  /* a last line with no newline */
      return take(L, h, rb->len, 0);
    if (err != 0) return ux_fail(L, 1, "read", err);
  }
}

static int read_all (lua_State *L, ux_handle *h, ux_deadline *d) {
  for (;;) {
    int err = fill(L, h, READ_CHUNK, d);
    if (err == UX_EOF) return take(L, h, h->rb.len, 0);
    if (err != 0) return ux_fail(L, 1, "read", err);
  }
}

/* reads one format at stack index fmt: a count, "l", "L" or "a" */
static int read_format (lua_State *L, ux_handle *h, int fmt) {
  ux_deadline d;
  ux_deadline_init(&d, h->timeout);  /* one budget for the whole read */
  if (lua_type(L, fmt) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, fmt);
    luaL_argcheck(L, n >= 0, fmt, "count must not be negative");
    if (n == 0) { lua_pushliteral(L, ""); return 1; }
    return read_count(L, h, (size_t)n, &d);
  }
  else {
    const char *f = luaL_optstring(L, fmt, "l");
    if (*f == '*') f++;  /* "*l" as in Lua 5.1 */
    switch (*f) {
      case 'l': return read_line(L, h, 0, &d);
      case 'L': return read_line(L, h, 1, &d);
      case 'a': return read_all(L, h, &d);
      default: return luaL_argerror(L, fmt, "invalid format");
    }
  }
}

/***
Reads through the handle's buffer: `n` (a count) reads exactly `n`
bytes; `"l"` (the default) the next line without its newline, and a
last line with no newline too; `"L"` the next line with its newline;
`"a"` everything to end of stream (maybe `""`). A read cut short by end
of stream or a timeout keeps the bytes that came for the next read.
@function stream:read
@within stream
@tparam[opt="l"] integer|string fmt a count, `"l"`, `"L"` or `"a"`
@return the data
@eof `nil, msg, EOF` (not for `"a"`)
@fail `nil, msg, code`
*/
static int s_read (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_STREAM));
  return read_format(L, h, 2);
}

/* the lines() iterator: upvalues are the handle and the format */
static int s_lines_next (lua_State *L) {
  ux_handle *h;
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, lua_upvalueindex(2));
  h = (ux_handle *)lua_touserdata(L, 1);
  if (h->fd < 0) return luaL_error(L, "attempt to use a closed stream");
  if (read_format(L, h, 2) == 1) return 1;
  if (lua_tointeger(L, -1) == UX_EOF) return 0;  /* the loop ends */
  return luaL_error(L, "%s", lua_tostring(L, -2));
}

/***
An iterator for a generic `for`, as `file:lines()`: each step is
`read(fmt)`; the loop ends at end of stream, and a failure raises its
message.
@function stream:lines
@within stream
@tparam[opt="l"] integer|string fmt as for `read`
@return an iterator
*/
static int s_lines (lua_State *L) {
  ux_checkhandle(L, 1, UX_K(UX_STREAM));
  if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TNUMBER) {
    const char *f = luaL_checkstring(L, 2);
    if (*f == '*') f++;
    luaL_argcheck(L, *f == 'l' || *f == 'L' || *f == 'a', 2,
                  "invalid format");
  }
  else if (lua_type(L, 2) == LUA_TNUMBER)
    luaL_argcheck(L, luaL_checkinteger(L, 2) >= 0, 2,
                  "count must not be negative");
  lua_settop(L, 2);
  lua_pushcclosure(L, s_lines_next, 2);
  return 1;
}

/* }====================================================== */


/***
Who is on the other end, as the kernel saw it at connect time (Linux
`SO_PEERCRED`; the BSDs give pid `-1`).
@function stream:peercred
@within stream
@return pid, uid, gid
@fail `nil, msg, code` (`ENOTSUP` where the system cannot tell)
*/
static int s_peercred (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED);
  long pid, uid, gid;
  int err = ux_peercred(h->fd, &pid, &uid, &gid);
  if (err != 0) return ux_fail(L, 1, "peercred", err);
  lua_pushinteger(L, pid);
  lua_pushinteger(L, uid);
  lua_pushinteger(L, gid);
  return 3;
}

/***
A socket connected to the server at a path or abstract name. Options:
`type` (`"stream"`, the default, or `"seqpacket"`), `timeout` (bounds
the connect and becomes the socket's timeout).
@function connect
@tparam string path the socket name
@tparam[opt] table opts options
@return a stream (or seqpacket) socket
@fail `nil, msg, code` (`ENOENT`, `ECONNREFUSED`, `ETIMEDOUT`, ...)
*/
static int l_connect (lua_State *L) {
  static const char *const known[] = {"type", "timeout", NULL};
  ux_addr a;
  ux_handle *h;
  ux_deadline d;
  double timeout;
  int kind, err;
  ux_checkaddr(L, 1, &a);
  ux_checkopts(L, 2, known);
  kind = ux_opttype(L, 2, UX_K(UX_STREAM) | UX_K(UX_SEQPACKET), UX_STREAM);
  ux_optfield(L, 2, "timeout", LUA_TNUMBER);
  timeout = ux_opttimeout(L, -1, 2, "opts.timeout");
  h = ux_newhandle(L, kind);
  ux_setname(L, -1, 1);
  if ((err = ux_socket(ux_sockettype(kind), &h->fd)) != 0)
    return ux_fail(L, -1, "socket", err);
  if ((err = ux_settimeout(h, timeout)) == 0) {
    ux_deadline_init(&d, timeout);
    err = ux_connect(h->fd, &a, &d);
  }
  if (err != 0) {
    int hidx = lua_gettop(L);
    ux_closehandle(L, h, hidx);
    return ux_fail(L, hidx, "connect", err);
  }
  return 1;
}

static const luaL_Reg stream_methods[] = {
  {"send", ux_m_send},
  {"sendall", ux_m_sendall},
  {"recv", ux_m_recv},
  {"recvinto", ux_m_recvinto},
  {"read", s_read},
  {"lines", s_lines},
  {"shutdown", ux_m_shutdown},
  {"getpeername", ux_m_getpeername},
  {"peercred", s_peercred},
  {NULL, NULL}
};

/* seqpacket keeps message boundaries: no byte-stream readers */
static const luaL_Reg seqpacket_methods[] = {
  {"send", ux_m_send},
  {"sendall", ux_m_sendall},
  {"recv", ux_m_recv},
  {"recvinto", ux_m_recvinto},
  {"shutdown", ux_m_shutdown},
  {"getpeername", ux_m_getpeername},
  {"peercred", s_peercred},
  {NULL, NULL}
};

const luaL_Reg ux_stream_functions[] = {
  {"connect", l_connect},
  {NULL, NULL}
};

void ux_open_stream (lua_State *L) {
  ux_newkind(L, UX_STREAM, stream_methods);
  ux_newkind(L, UX_SEQPACKET, seqpacket_methods);
}
