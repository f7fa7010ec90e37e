/***
@module uxsock
*/

/*
** stream.c: connected sockets, stream and seqpacket: uxsock.connect and
** the methods only they have. Streams also read exact counts, lines and
** everything to the end, through the handle's read buffer (reader.c).
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "handle.h"
#include "io.h"
#include "kinds.h"


/* {======================================================
** Buffered reads (streams)
** ======================================================= */

#define READ_CHUNK  4096   /* room asked for before each receive */
#define READ_STEP   65536  /* the most room a count asks for at once */
#define MAXFORMATS  250    /* formats a lines() iterator keeps, as io's */

/* what a format asks for: a count of bytes, a line (without its newline,
** with it, without its CR LF or LF), or everything to end of stream */
enum { F_COUNT, F_LINE, F_LINENL, F_CRLF, F_ALL };

typedef struct rformat {
  int kind;
  size_t n;  /* F_COUNT */
} rformat;

/* the format at idx; raises for one that is not a format. For one that
** was checked before it neither raises nor allocates. */
static void checkformat (lua_State *L, int idx, rformat *f) {
  const char *s;
  f->n = 0;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, idx);
    luaL_argcheck(L, n >= 0, idx, "count must not be negative");
    f->kind = F_COUNT;
    f->n = (size_t)n;
    return;
  }
  s = luaL_checkstring(L, idx);  /* a string: nothing is converted */
  if (*s == '*') s++;  /* "*l" as in Lua 5.1 */
  if (strcmp(s, "crlf") == 0) { f->kind = F_CRLF; return; }
  switch (*s) {  /* as io, the first letter names the format */
    case 'l': f->kind = F_LINE; return;
    case 'L': f->kind = F_LINENL; return;
    case 'a': f->kind = F_ALL; return;
    case 'n':
      luaL_argerror(L, idx, "format 'n' is not supported on streams "
                    "(read a line and use tonumber)");
      return;
    default: luaL_argerror(L, idx, "invalid format");
  }
}

/* what scan tells */
enum { S_OK, S_NEED, S_EOF, S_LONG };

/* whether the 'avail' bytes at p answer format f ('eof': no more will
** come): S_OK with the bytes the value takes and the value's length
** (less its line ending), S_NEED (more bytes decide), S_EOF (the format
** fails at end of stream, as io's does) or S_LONG (the line, or the
** stream for "a", is longer than 'limit'). *seen counts the bytes known
** to hold no newline, so a line is searched once. */
static int scan (const rformat *f, const char *p, size_t avail, int eof,
                 size_t limit, size_t *seen, size_t *take, size_t *len) {
  size_t window;
  const char *nl;
  switch (f->kind) {
    case F_COUNT:  /* n == 0 tests for end of stream, as io's */
      if (avail > 0 && avail >= f->n) { *take = *len = f->n; return S_OK; }
      break;
    case F_ALL:
      if (avail > limit) return S_LONG;
      break;
    default:
      window = avail < limit ? avail : limit;  /* a line ends in there */
      nl = window > *seen ? (const char *)memchr(p + *seen, '\n',
                                                 window - *seen) : NULL;
      if (nl != NULL) {
        size_t i = (size_t)(nl - p);
        *take = i + 1;
        *len = f->kind == F_LINENL ? i + 1
             : f->kind == F_CRLF && i > 0 && p[i - 1] == '\r' ? i - 1 : i;
        return S_OK;
      }
      *seen = window;
      if (avail > limit) return S_LONG;
  }
  if (!eof) return S_NEED;
  if (avail == 0 && f->kind != F_ALL) return S_EOF;
  *take = *len = avail;  /* a last line with no newline, a short count */
  return S_OK;
}

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

static int toolong (lua_State *L, const rformat *f, size_t limit) {
  char what[80];  /* lua_pushfstring has no format for size_t */
  (void)snprintf(what, sizeof(what), f->kind == F_ALL
                 ? "more than readlimit (%zu bytes) before end of stream"
                 : "line longer than readlimit (%zu bytes)", limit);
  return ux_failmsg(L, 1, "read", EMSGSIZE, what);
}

/* the buffered bytes from 'off' on (p is NULL until the first fill) */
static const char *bufat (const ux_rbuf *rb, size_t off) {
  return rb->p != NULL ? rb->p + rb->pos + off : "";
}

#define FIXED  8  /* formats whose results fit on the C stack */

/* Reads the nf formats at first.. (checked before) from the handle at
** index 1, as io's read does, and pushes one value per format; at end of
** stream the values before and nil, msg, EOF for the one that failed
** (*nvals: the values as io counts them). Any other failure (timeout,
** limit, error) takes nothing and pushes nil, msg, code: the bytes stay
** for the next read, so a read that would block can be called again.
** Returns how many values it pushed.
** The rule of handle.h: nothing runs a finalizer from the first receive
** to the first push (ux_rbuf_space never runs the collector; what else
** allocates comes before). Every string is made before the bytes are
** taken, so a raise (out of memory) loses none, and after the pushes the
** state is read again: a finalizer that took bytes meanwhile has some of
** the values, which are dropped and read again (closing drops the
** bytes too: the read then raises, as on a closed stream). */
static int readformats (lua_State *L, ux_handle *h, int first, int nf,
                        int *nvals) {
  size_t fixed[2 * FIXED], *res = fixed;  /* per format: take, length */
  ux_rbuf *rb = &h->rb;
  ux_deadline d;
  int base;
  luaL_checkstack(L, nf + LUA_MINSTACK, "too many formats");
  if (nf > FIXED) {
    res = (size_t *)lua_newuserdata(L, 2 * (size_t)nf * sizeof(size_t));
    lua_insert(L, first);  /* below the formats: out of the results */
    first++;
  }
  base = lua_gettop(L);
  ux_deadline_init(&d, h->timeout);  /* one budget for the whole read */
  for (;;) {
    size_t off = 0, limit = h->readlimit;
    unsigned takes;
    int k, eof = 0;
    if (h->fd < 0) return luaL_error(L, "attempt to use a closed stream");
    for (k = 0; k < nf; k++) {
      rformat f;
      size_t seen = off == 0 ? rb->noline : 0, *r = res + 2 * (size_t)k;
      int st, err = 0;
      checkformat(L, first + k, &f);
      for (;;) {
        size_t avail = rb->len - off, want = READ_CHUNK;
        st = scan(&f, bufat(rb, off), avail, eof, limit, &seen, &r[0], &r[1]);
        if (off == 0 && f.kind != F_COUNT && f.kind != F_ALL)
          rb->noline = seen;  /* for the next try, if this one stops */
        if (st != S_NEED) break;
        if (f.kind == F_COUNT && f.n > avail + READ_CHUNK)
          want = f.n - avail < READ_STEP ? f.n - avail : READ_STEP;
        err = fill(L, h, want, &d);
        if (err == UX_EOF) { eof = 1; err = 0; }
        else if (err != 0) break;
      }
      if (err != 0) return ux_fail(L, 1, "read", err);
      if (st == S_LONG) return toolong(L, &f, limit);
      if (st == S_EOF) break;
      off += r[0];
    }
    takes = rb->takes;
    *nvals = k < nf ? k + 1 : nf;
    if (k == 1)
      lua_pushlstring(L, bufat(rb, 0), res[1]);
    else if (k > 1) {  /* one copy, and the values from it: after the
                       ** first push the buffer may have moved */
      const char *s;
      size_t pos = 0;
      int i;
      lua_pushlstring(L, bufat(rb, 0), off);
      s = lua_tostring(L, -1);
      for (i = 0; i < k; i++) {
        lua_pushlstring(L, s + pos, res[2 * (size_t)i + 1]);
        pos += res[2 * (size_t)i];
      }
      lua_remove(L, base + 1);
    }
    if (k < nf) {  /* nil, msg, EOF right after the values */
      int top = lua_gettop(L);
      ux_fail(L, 1, "read", UX_EOF);
      while (lua_gettop(L) > top + 3) lua_remove(L, top + 1);
    }
    if (rb->takes == takes && h->fd >= 0) {
      ux_rbuf_consume(L, rb, off);
      break;
    }
    lua_settop(L, base);  /* a finalizer took bytes: read again */
  }
  return lua_gettop(L) - base;
}

/* the formats of a read or lines at 2..top: trailing nils are none, and
** none is "l"; returns how many, each checked */
static int checkformats (lua_State *L) {
  int top = lua_gettop(L), i;
  while (top > 1 && lua_isnil(L, top)) top--;
  lua_settop(L, top);
  if (top == 1) {
    lua_pushliteral(L, "l");
    top = 2;
  }
  for (i = 2; i <= top; i++) {
    rformat f;
    checkformat(L, i, &f);
  }
  return top - 1;
}

/***
Reads through the handle's buffer, as Lua's `file:read` does (see
Reading streams): one value per format. A count `n` gives `n` bytes,
fewer only at end of stream (`0` gives `""` while a byte is left);
`"l"` (the default) the next line without its newline, `"L"` with it,
`"crlf"` without its CR LF or LF; `"a"` everything to end of stream
(maybe `""`). At end of stream the first format that finds nothing gives
`nil`, and the ones after it are not read. A line, or the stream for
`"a"`, longer than the handle's `readlimit` (4 MiB unless set) fails
with `EMSGSIZE`. A failure other than end of stream takes nothing:
every byte stays for the next read or `recv`, those of the formats
before it too.
@function stream:read
@within stream
@tparam[opt="l"] integer|string fmt a count, `"l"`, `"L"`, `"crlf"` or `"a"`
@param ... more formats
@return a value per format
@eof the values before, then `nil, msg, EOF`
@fail `nil, msg, code` (`EMSGSIZE` over the `readlimit`)
*/
static int s_read (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_STREAM));
  int nvals = 0, nf = checkformats(L);
  return readformats(L, h, 2, nf, &nvals);
}

/* the lines() iterator: upvalues are the handle, the count of formats
** and the formats */
static int s_lines_next (lua_State *L) {
  int nf = (int)lua_tointeger(L, lua_upvalueindex(2));
  int i, n, nvals = 0;
  ux_handle *h;
  lua_settop(L, 0);
  luaL_checkstack(L, nf + 1, "too many formats");
  lua_pushvalue(L, lua_upvalueindex(1));
  for (i = 1; i <= nf; i++) lua_pushvalue(L, lua_upvalueindex(2 + i));
  h = (ux_handle *)lua_touserdata(L, 1);
  n = readformats(L, h, 2, nf, &nvals);
  if (!lua_isnil(L, -n)) {  /* as io's: the values, up to a nil */
    lua_pop(L, n - nvals);  /* msg, code after that nil */
    return nvals;
  }
  if (lua_tointeger(L, -1) == UX_EOF) return 0;  /* the loop ends */
  return luaL_error(L, "%s", lua_tostring(L, -2));
}

/***
An iterator for a generic `for`, as `file:lines(...)`: each step is
`read(...)` and gives its values; the loop ends at end of stream, and a
failure (a timeout, the `readlimit`) raises its message.
@function stream:lines
@within stream
@tparam[opt="l"] integer|string fmt a format, as for `read`
@param ... more formats
@return an iterator
*/
static int s_lines (lua_State *L) {
  int nf;
  ux_checkhandle(L, 1, UX_K(UX_STREAM));
  nf = checkformats(L);
  luaL_argcheck(L, nf <= MAXFORMATS, MAXFORMATS + 2, "too many arguments");
  lua_pushinteger(L, nf);
  lua_insert(L, 2);
  lua_pushcclosure(L, s_lines_next, nf + 2);
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
