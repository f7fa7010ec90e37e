/***
@module uxsock
*/

/*
** io.c: send and receive, shared by streams, seqpacket and datagram
** sockets. Streams receive through the handle's read buffer (reader.c)
** when it holds bytes; message sockets never buffer, so a message is
** never split or merged, and one longer than 'max' is reported.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "handle.h"
#include "io.h"
#include "buffer.h"

/* the bytes data[i..j] of the arguments 2, 3, 4; data is a string or a
** buffer. *from is the offset of byte i (i - 1 once i is resolved). */
static const char *checkslice (lua_State *L, size_t *from, size_t *len) {
  size_t l;
  const char *s = ux_checkbytes(L, 2, &l);
  ux_checkrange(L, 3, l, from, len);
  return s + *from;
}

size_t ux_checkmax (lua_State *L, int arg) {
  lua_Integer max = luaL_optinteger(L, arg, UX_RECV_DEFAULT);
  luaL_argcheck(L, max > 0, arg, "max must be positive");
  return (size_t)max;
}

/***
Sends `data`, or `data:sub(i, j)`, with one system call: it may send
fewer bytes than asked. Never raises SIGPIPE: a closed peer is `EPIPE`.
@function stream:send
@within stream
@tparam string|buffer data the bytes
@tparam[opt=1] integer i first byte, as in `string.sub`
@tparam[opt=-1] integer j last byte
@return the number of bytes sent
@fail `nil, msg, code`
*/
int ux_m_send (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED | UX_K(UX_DATAGRAM));
  size_t from, len, n;
  const char *p = checkslice(L, &from, &len);
  ux_deadline d;
  int err;
  ux_deadline_init(&d, h->timeout);
  err = ux_send(h->fd, p, len, NULL, &n, &d);
  if (err != 0) return ux_fail(L, 1, "send", err);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/***
Sends all of `data` (or `data:sub(i, j)`), within one timeout for the
whole call. As LuaSocket's `send`, it returns positions in `data`, not
counts: the index of the last byte sent, so a call cut short resumes
with `sendall(data, last + 1, j)`, wherever the first call started.
@function stream:sendall
@within stream
@tparam string|buffer data the bytes
@tparam[opt=1] integer i first byte
@tparam[opt=-1] integer j last byte
@return the index of the last byte sent (`j`, resolved; `i - 1` when
`i > j`)
@fail `nil, msg, code, last`, `last` being the index of the last byte
sent before the failure (`i - 1` when none went)
*/
int ux_m_sendall (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED);
  size_t from, len, sent = 0;
  const char *p = checkslice(L, &from, &len);
  ux_deadline d;
  ux_deadline_init(&d, h->timeout);  /* one budget for the whole call */
  do {
    size_t n;
    int err = ux_send(h->fd, p + sent, len - sent, NULL, &n, &d);
    if (err != 0) {
      ux_fail(L, 1, "sendall", err);
      lua_pushinteger(L, (lua_Integer)from + (lua_Integer)sent);
      return 4;
    }
    sent += n;
  } while (sent < len);
  lua_pushinteger(L, (lua_Integer)from + (lua_Integer)sent);
  return 1;
}

void ux_toolong (lua_State *L, const char *op, size_t full, size_t max) {
  char what[80];  /* lua_pushfstring has no format for size_t */
  if (full == max + 1)
    (void)snprintf(what, sizeof(what), "message longer than max (%zu bytes)",
                   max);
  else
    (void)snprintf(what, sizeof(what), "message too long (%zu bytes, max %zu)",
                   full, max);
  ux_failmsg(L, 1, op, EMSGSIZE, what);
}

/***
Receives one whole message of at most `max` bytes. A zero-length
message cannot be told from end of stream (the kernel reports both as
0 bytes), so it is taken as end of stream (`recvmany`, `recvfds` and
`recvcred` can tell some apart: see them).
@function seqpacket:recv
@within seqpacket
@tparam[opt=65536] integer max the largest message to take
@return the message
@eof `nil, msg, EOF`
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, head`, `head` being its first `max` bytes (the kernel drops the rest)
*/

/* What a receive costs in memory follows what came, never what the
** caller allowed: a max up to RECV_DIRECT is room enough to take as it
** is; above it the kernel is asked first how much it holds (a message's
** length, a stream's queued bytes), and the room is that, at least
** RECV_DIRECT. Who else acts: a second reader of the socket (a forked
** child, a copy passed with sendfds) can take the message asked about
** before the receive; an ordinary one received in its place still fits,
** a longer one is reported as longer than the room (EMSGSIZE). */
#define RECV_DIRECT  65536

int ux_recvroom (ux_handle *h, size_t max, size_t *room, ux_deadline *d) {
  size_t size;
  int known, err;
  *room = max;
  if (max <= RECV_DIRECT) return 0;
  err = ux_recvsize(h->fd, h->kind == UX_STREAM, &size, &known, d);
  if (err != 0) return err;
  if (known && size < max) *room = size > RECV_DIRECT ? size : RECV_DIRECT;
  return 0;
}

int ux_takezero (ux_handle *h) {
  if (h->kind != UX_SEQPACKET || h->zeros == 0) return 0;
  h->zeros--;
  return 1;
}

/* receives one message of at most max bytes; pushes the data, or the
** failure (3 values), or for a message longer than max: nil, msg,
** EMSGSIZE and the first max bytes, so the caller keeps what the kernel
** gave (4 values). 'from' may be NULL. Small rooms are on the C stack,
** large ones in the handle's buffer (raw memory: no finalizer runs
** between the receive and the copy), given back after. */
int ux_recvmsg (lua_State *L, ux_handle *h, size_t max,
                struct sockaddr_un *from, socklen_t *fromlen) {
  const char *op = from ? "recvfrom" : "recv";
  ux_deadline d;
  size_t n = 0, full = 0, room;
  char *p;
  luaL_Buffer b;
  int err, small;
  if (ux_takezero(h)) return ux_fail(L, 1, op, UX_EOF);
  ux_deadline_init(&d, h->timeout);
  if ((err = ux_recvroom(h, max, &room, &d)) != 0) return ux_fail(L, 1, op, err);
  small = (room <= LUAL_BUFFERSIZE);
  p = small ? luaL_buffinitsize(L, &b, room) : ux_rbuf_space(L, &h->rb, room);
  err = ux_recv(h->fd, p, room, &n, &full, from, fromlen, &d);
  if (small) luaL_pushresultsize(&b, n);  /* keeps the stack balanced */
  else {
    lua_pushlstring(L, p, n);
    ux_rbuf_trim(L, &h->rb);
  }
  if (err == 0 && n == 0 && h->kind == UX_SEQPACKET) err = UX_EOF;
  if (err != 0) return ux_fail(L, 1, op, err);
  if (full > room) {
    int data = lua_gettop(L);
    ux_toolong(L, op, full, room);
    lua_pushvalue(L, data);
    return 4;
  }
  return 1;
}

int ux_pushbuffered (lua_State *L, ux_handle *h, size_t max) {
  for (;;) {
    ux_rbuf *rb = &h->rb;
    size_t n = rb->len < max ? rb->len : max;
    unsigned takes = rb->takes;
    if (h->fd < 0)
      return luaL_error(L, "attempt to use a closed %s", ux_kindnames[h->kind]);
    if (n == 0) return 0;
    lua_pushlstring(L, rb->p + rb->pos, n);
    if (rb->takes == takes) {  /* closing frees the buffer: a take too */
      ux_rbuf_consume(L, rb, n);
      return 1;
    }
    lua_pop(L, 1);  /* a finalizer took bytes while the string was made */
  }
}

/***
Receives the bytes that are there, 1 to `max`, waiting for some if there
are none. Bytes a `read` buffered come first, with no system call.
Memory follows what came: a large `max` costs only what the kernel
holds.
@function stream:recv
@within stream
@tparam[opt=65536] integer max the most bytes to return
@return the data
@eof `nil, msg, EOF`
@fail `nil, msg, code`
*/
int ux_m_recv (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED | UX_K(UX_DATAGRAM));
  size_t max = ux_checkmax(L, 2);
  ux_deadline d;
  if (h->kind != UX_STREAM) return ux_recvmsg(L, h, max, NULL, NULL);
  ux_deadline_init(&d, h->timeout);
  /* received bytes go to the read buffer and are given from there: if
  ** making the string raises (memory), they are the next read's */
  while (!ux_pushbuffered(L, h, max)) {
    size_t room, n = 0;
    int err = ux_recvroom(h, max, &room, &d);
    if (err == 0) {
      char *p = ux_rbuf_space(L, &h->rb, room);
      err = ux_recv(h->fd, p, room, &n, NULL, NULL, NULL, &d);
    }
    if (err == 0 && n == 0) err = UX_EOF;
    if (err != 0) return ux_fail(L, 1, "recv", err);
    h->rb.len += n;
  }
  return 1;
}

/***
Shuts down one or both directions: after `"write"` the peer reads end of
stream, and this side can still receive.
@function stream:shutdown
@within stream
@tparam[opt="both"] string how `"read"`, `"write"` or `"both"`
@return `true`
@fail `nil, msg, code`
*/
/***
Receives into `buf`, bytes `i` to `j` (default: all of it), with no
string made: the bytes the kernel copies are the only copy. Like `recv`
it returns as soon as some bytes are there; on a datagram or seqpacket
socket it takes one message.
@function stream:recvinto
@within stream
@tparam buffer buf from `uxsock.buffer`
@tparam[opt=1] integer i where the first byte goes
@tparam[opt=-1] integer j the last byte it may fill
@return the number of bytes received, at `buf` positions `i` on
@eof `nil, msg, EOF`
@fail `nil, msg, code`; a message longer than `j - i + 1`: `nil, msg, EMSGSIZE, n` with its first `n` bytes in `buf`
*/
int ux_m_recvinto (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED | UX_K(UX_DATAGRAM));
  ux_buffer *b = ux_tobuffer(L, 2);
  size_t from, max, n, full;
  char *p;
  ux_deadline d;
  int err;
  luaL_argexpected(L, b != NULL, 2, "uxsock.buffer");
  ux_checkrange(L, 3, b->size, &from, &max);
  luaL_argcheck(L, max > 0, 3, "empty range");
  p = b->data + from;
  if (ux_takezero(h)) return ux_fail(L, 1, "recvinto", UX_EOF);
  if (h->kind == UX_STREAM && h->rb.len > 0) {  /* no allocation: */  /* what a reader left */
    n = h->rb.len < max ? h->rb.len : max;
    memcpy(p, h->rb.p + h->rb.pos, n);
    ux_rbuf_consume(L, &h->rb, n);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
  }
  ux_deadline_init(&d, h->timeout);
  if (h->kind == UX_STREAM)
    err = ux_recv(h->fd, p, max, &n, NULL, NULL, NULL, &d);
  else
    err = ux_recv(h->fd, p, max, &n, &full, NULL, NULL, &d);
  if (err == 0 && n == 0 && h->kind != UX_DATAGRAM) err = UX_EOF;
  if (err != 0) return ux_fail(L, 1, "recvinto", err);
  if (h->kind != UX_STREAM && full > max) {
    ux_toolong(L, "recvinto", full, max);
    lua_pushinteger(L, (lua_Integer)n);
    return 4;
  }
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

int ux_m_shutdown (lua_State *L) {
  static const char *const names[] = {"read", "write", "both", NULL};
  static const int hows[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};
  ux_handle *h = ux_checkhandle(L, 1, UX_CONNECTED);
  int err = ux_shutdown(h->fd, hows[luaL_checkoption(L, 2, "both", names)]);
  if (err != 0) return ux_fail(L, 1, "shutdown", err);
  lua_pushboolean(L, 1);
  return 1;
}

/***
The peer's name (`""` if it has none).
@function stream:getpeername
@within stream
@return a string
@fail `nil, msg, code`
*/
int ux_m_getpeername (lua_State *L) {
  return ux_getname_(L, 1);
}
