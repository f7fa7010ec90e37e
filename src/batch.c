/***
@module uxsock
*/

/*
** batch.c: many messages per system call, for message-rate work:
** sendmany and recvmany on datagram and seqpacket sockets (sendmmsg and
** recvmmsg on Linux, a call per message elsewhere; sys.c). A batch takes
** one timeout as a whole, like sendall. recvmany receives into the
** handle's scratch buffer (reader.c), n slots of max bytes after n slot
** records, which stays with the handle for the next call.
*/
#include <errno.h>
#include <stdio.h>
#include <sys/uio.h>

#include "handle.h"
#include "io.h"
#include "buffer.h"
#include "kinds.h"

#define MANY_MAX    1024             /* messages per call (UIO_MAXIOV) */
#define SCRATCH_MAX (64 << 20)       /* bytes of scratch recvmany may hold */
#define CHUNK       64               /* strings pinned per sendmmsg run */

/***
Sends every message of the list `msgs` (strings or buffers), as few
system calls as the kernel allows (`sendmmsg`), within one timeout for
the whole list. Each message stays one message.
@function datagram:sendmany
@within datagram
@tparam {string|buffer,...} msgs the messages, at most 1024
@tparam[opt] string to where to (unconnected sockets), as for `sendto`
@return the number of messages sent (all of them)
@fail `nil, msg, code, sent`, `sent` being how many went before the failure
*/
/***
Sends every message of the list `msgs` within one timeout for the whole
list, as `datagram:sendmany` does.
@function seqpacket:sendmany
@within seqpacket
@tparam {string|buffer,...} msgs the messages, at most 1024
@return the number of messages sent
@fail `nil, msg, code, sent`
*/
static int m_sendmany (lua_State *L) {
  ux_handle *h = ux_checkhandle(L, 1, UX_K(UX_DATAGRAM) | UX_K(UX_SEQPACKET));
  struct iovec iov[CHUNK];
  size_t count, done = 0;
  ux_addr to;
  ux_deadline d;
  int hasto = !lua_isnoneornil(L, 3);
  luaL_checktype(L, 2, LUA_TTABLE);
  count = (size_t)lua_rawlen(L, 2);
  luaL_argcheck(L, count <= MANY_MAX, 2, "more than 1024 messages");
  if (hasto) {
    luaL_argcheck(L, h->kind == UX_DATAGRAM, 3,
                  "a seqpacket socket sends to its peer only");
    ux_checkaddr(L, 3, &to);
  }
  lua_settop(L, 3);
  ux_deadline_init(&d, h->timeout);  /* one budget for the whole list */
  while (done < count) {
    size_t k = count - done < CHUNK ? count - done : CHUNK, i, sent;
    int err;
    /* the strings stay in the list, which the stack holds: their bytes
    ** cannot move while the kernel reads them */
    /* cppcheck-suppress knownConditionTrueFalse ; k >= 1 (done < count) */
    for (i = 0; i < k; i++) {
      size_t len;
      const char *p;
      lua_rawgeti(L, 2, (int)(done + i + 1));
      if (lua_type(L, -1) != LUA_TSTRING && ux_tobuffer(L, -1) == NULL) {
        char what[40];
        (void)snprintf(what, sizeof(what), "msgs[%d]", (int)(done + i + 1));
        luaL_argerror(L, 2, lua_pushfstring(L, "%s: string or buffer "
                      "expected, got %s", what, luaL_typename(L, -1)));
      }
      p = ux_checkbytes(L, -1, &len);
      iov[i].iov_base = (void *)p;
      iov[i].iov_len = len;
      lua_pop(L, 1);
    }
    err = ux_sendmany(h->fd, iov, k, hasto ? &to : NULL, &sent, &d);
    done += sent;
    if (err != 0) {
      if (hasto) ux_failname(L, 3, "sendmany", err);
      else ux_fail(L, 1, "sendmany", err);
      lua_pushinteger(L, (lua_Integer)done);
      return 4;
    }
  }
  lua_pushinteger(L, (lua_Integer)done);
  return 1;
}

/* pushes the list of the 'got' messages in the slots, and with 'from'
** the list of their senders; returns the index of the first message
** longer than max (0 for none). Seqpacket: a message of 0 bytes is end
** of stream and ends the list. */
static size_t pushlists (lua_State *L, ux_handle *h, const char *base,
                         size_t max, const ux_slot *slots, size_t *got,
                         int from) {
  size_t i, cut = 0;
  if (h->kind == UX_SEQPACKET)
    for (i = 0; i < *got; i++)
      if (slots[i].full == 0) { *got = i; break; }
  lua_createtable(L, (int)*got, 0);
  for (i = 0; i < *got; i++) {
    lua_pushlstring(L, base + i * max, slots[i].len);
    lua_rawseti(L, -2, (int)(i + 1));
    if (cut == 0 && slots[i].full > max) cut = i + 1;
  }
  if (from) {
    lua_createtable(L, (int)*got, 0);
    for (i = 0; i < *got; i++) {
      ux_pushaddr(L, &slots[i].from, slots[i].fromlen);
      lua_rawseti(L, -2, (int)(i + 1));
    }
  }
  return cut;
}

static int recvmany (lua_State *L, int from) {
  ux_handle *h = ux_checkhandle(L, 1, from ? UX_K(UX_DATAGRAM)
                                           : UX_K(UX_DATAGRAM) | UX_K(UX_SEQPACKET));
  const char *op = from ? "recvmanyfrom" : "recvmany";
  lua_Integer n = luaL_checkinteger(L, 2);
  size_t max = ux_checkmax(L, 3), got, cut, need;
  ux_slot *slots;
  char *base;
  ux_deadline d;
  int err, lists = from ? 2 : 1;
  luaL_argcheck(L, n >= 1 && n <= MANY_MAX, 2, "n must be 1 to 1024");
  luaL_argcheck(L, max <= SCRATCH_MAX / (size_t)n, 3,
                "n * max is more than 64 MiB");
  need = (size_t)n * (sizeof(ux_slot) + max);
  slots = (ux_slot *)(void *)ux_rbuf_space(L, &h->rb, need);  /* aligned: */
  base = (char *)(slots + n);                    /* the buffer is empty */
  ux_deadline_init(&d, h->timeout);
  err = ux_recvmany(h->fd, base, max, slots, (size_t)n, from, &got, &d);
  if (err != 0) return ux_fail(L, 1, op, err);
  cut = pushlists(L, h, base, max, slots, &got, from);
  if (got == 0) {  /* seqpacket: end of stream first */
    lua_pop(L, lists);
    return ux_fail(L, 1, op, UX_EOF);
  }
  if (cut != 0) {  /* nil, msg, EMSGSIZE, msgs[, senders] */
    char what[96];
    int top = lua_gettop(L);
    (void)snprintf(what, sizeof(what), "message %d longer than max (%zu bytes)",
                   (int)cut, max);
    ux_failmsg(L, 1, op, EMSGSIZE, what);
    lua_pushvalue(L, top - lists + 1);
    if (from) lua_pushvalue(L, top);
    return 3 + lists;
  }
  return lists;
}

/***
Receives up to `n` messages: waits (by the handle's timeout) for the
first, then takes what is already queued without waiting, with as few
system calls as the kernel allows (`recvmmsg`). Zero-length datagrams
are data (`""`). The handle keeps `n * max` bytes of scratch space for
the next call.
@function datagram:recvmany
@within datagram
@tparam integer n the most messages to take, 1 to 1024
@tparam[opt=65536] integer max the largest message to take
@return a list of 1 to `n` messages
@fail `nil, msg, code`; a message longer than `max`: `nil, msg, EMSGSIZE, msgs`, with every message received (the long one cut to `max` bytes) and `msg` naming which
*/
/***
Receives up to `n` messages, as `datagram:recvmany` does. End of stream
ends the list; when it comes first, the call returns it.
@function seqpacket:recvmany
@within seqpacket
@tparam integer n the most messages to take, 1 to 1024
@tparam[opt=65536] integer max the largest message to take
@return a list of 1 to `n` messages
@eof `nil, msg, EOF`
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, msgs`
*/
static int m_recvmany (lua_State *L) {
  return recvmany(L, 0);
}

/***
Receives up to `n` messages as `recvmany` does, and the name of each
one's sender (`""` for an unbound sender).
@function datagram:recvmanyfrom
@within datagram
@tparam integer n the most messages to take, 1 to 1024
@tparam[opt=65536] integer max the largest message to take
@return msgs, senders: two lists of the same length
@fail `nil, msg, code`; too long: `nil, msg, EMSGSIZE, msgs, senders`
*/
static int m_recvmanyfrom (lua_State *L) {
  return recvmany(L, 1);
}

static const luaL_Reg batch_methods[] = {
  {"sendmany", m_sendmany},
  {"recvmany", m_recvmany},
  {NULL, NULL}
};

static const luaL_Reg datagram_methods[] = {
  {"recvmanyfrom", m_recvmanyfrom},
  {NULL, NULL}
};

void ux_open_batch (lua_State *L) {
  ux_addmethods(L, UX_K(UX_DATAGRAM) | UX_K(UX_SEQPACKET), batch_methods);
  ux_addmethods(L, UX_K(UX_DATAGRAM), datagram_methods);
}
