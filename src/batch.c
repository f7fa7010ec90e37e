/***
@module uxsock
*/

/*
** batch.c: many messages per system call, for message-rate work:
** sendmany and recvmany on datagram and seqpacket sockets (sendmmsg and
** recvmmsg on Linux, a call per message elsewhere; sys.c). A batch takes
** one timeout as a whole, like sendall. recvmany receives into a
** scratch userdata of the handle's (takescratch), n slot records and
** then n slots of max bytes, which stays with the handle for the next
** call.
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

/* Seqpacket: the kernel gives an empty message and end of stream alike,
** 0 bytes. An empty message followed by others, or by an empty queue
** (end of stream never empties it), is a message. A run of them at the
** end of a full batch may be end of stream: the messages before it are
** returned, and each of the run is owed as end of stream to the next
** receives (h->zeros), as recv would have reported them. Returns how
** many of the 'got' messages to give. */
static size_t keepzeros (ux_handle *h, const ux_slot *slots, size_t got,
                         int drained) {
  size_t last = got;
  if (h->kind != UX_SEQPACKET || drained) return got;
  while (last > 0 && slots[last - 1].full == 0) last--;
  h->zeros += (unsigned)(got - last);
  return last;
}

/* pushes the list of the 'got' messages in the slots, and with 'from'
** the list of their senders; returns the index of the first message
** longer than max (0 for none). The slots and bytes are in a scratch
** userdata the caller holds on its stack: finalizers that run in these
** allocations cannot move or reuse it. */
static size_t pushlists (lua_State *L, const char *base, size_t max,
                         const ux_slot *slots, size_t got, int from) {
  size_t i, cut = 0;
  lua_createtable(L, (int)got, 0);
  for (i = 0; i < got; i++) {
    lua_pushlstring(L, base + i * max, slots[i].len);
    lua_rawseti(L, -2, (int)(i + 1));
    if (cut == 0 && slots[i].full > max) cut = i + 1;
  }
  if (from) {
    lua_createtable(L, (int)got, 0);
    for (i = 0; i < got; i++) {
      ux_pushaddr(L, &slots[i].from, slots[i].fromlen);
      lua_rawseti(L, -2, (int)(i + 1));
    }
  }
  return cut;
}

/* The scratch space of recvmany: a userdata per handle, in the weak-keyed
** registry table SCRATCH, kept for the next call. While a call uses it,
** it is on the call's stack and out of the table, so a recvmany in a
** finalizer makes its own, and a raise leaves it to the collector.
** Pushes it; returns its bytes. */
#define SCRATCH  "uxsock.scratch"

static void *takescratch (lua_State *L, int hidx, size_t need) {
  void *p;
  lua_getfield(L, LUA_REGISTRYINDEX, SCRATCH);  /* made at open */
  lua_pushvalue(L, hidx);
  lua_rawget(L, -2);
  p = lua_touserdata(L, -1);
  if (p == NULL || lua_rawlen(L, -1) < need) {
    lua_pop(L, 1);
    p = lua_newuserdata(L, need);  /* the last allocation before the
                                   ** receive: finalizers run here */
  }
  lua_pushvalue(L, hidx);
  lua_pushnil(L);
  lua_rawset(L, -4);  /* out of the table while in use */
  lua_remove(L, -2);
  return p;
}

/* gives the scratch at sidx back for the next call, unless a nested call
** left one of its own or the handle was closed meanwhile */
static void givescratch (lua_State *L, ux_handle *h, int hidx, int sidx) {
  if (h->fd < 0) return;
  lua_getfield(L, LUA_REGISTRYINDEX, SCRATCH);  /* made at open */
  lua_pushvalue(L, hidx);
  lua_rawget(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pushvalue(L, hidx);
    lua_pushvalue(L, sidx);
    lua_rawset(L, -4);
  }
  lua_pop(L, 2);
}

static int recvmany (lua_State *L, int from) {
  ux_handle *h = ux_checkhandle(L, 1, from ? UX_K(UX_DATAGRAM)
                                           : UX_K(UX_DATAGRAM) | UX_K(UX_SEQPACKET));
  const char *op = from ? "recvmanyfrom" : "recvmany";
  lua_Integer n = luaL_checkinteger(L, 2);
  size_t max = ux_checkmax(L, 3), got, cut;
  ux_slot *slots;
  ux_deadline d;
  int err, drained, sidx, lists = from ? 2 : 1;
  luaL_argcheck(L, n >= 1 && n <= MANY_MAX, 2, "n must be 1 to 1024");
  luaL_argcheck(L, max <= SCRATCH_MAX / (size_t)n, 3,
                "n * max is more than 64 MiB");
  lua_settop(L, 3);
  if (ux_takezero(h)) return ux_fail(L, 1, op, UX_EOF);
  slots = (ux_slot *)takescratch(L, 1, (size_t)n * (sizeof(ux_slot) + max));
  sidx = lua_gettop(L);
  if (h->fd < 0)  /* closed by a finalizer the scratch's allocation ran */
    return luaL_error(L, "attempt to use a closed %s", ux_kindnames[h->kind]);
  ux_deadline_init(&d, h->timeout);
  err = ux_recvmany(h->fd, (char *)(slots + n), max, slots, (size_t)n, from,
                    &got, &drained, &d);
  if (err != 0) {
    givescratch(L, h, 1, sidx);
    return ux_fail(L, 1, op, err);
  }
  got = keepzeros(h, slots, got, drained);
  if (got == 0) {  /* seqpacket: end of stream first */
    givescratch(L, h, 1, sidx);
    h->zeros--;  /* this call reports the first */
    return ux_fail(L, 1, op, UX_EOF);
  }
  cut = pushlists(L, (const char *)(slots + n), max, slots, got, from);
  givescratch(L, h, 1, sidx);
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
ends the list; when it comes first, the call returns it. An empty
message followed by another, or by an empty queue, is `""` (end of
stream never empties the queue); a run of empty messages that ends a
full batch may be end of stream: the call returns the messages before
it, and the next receives report each of the run as end of stream, as
`recv` would. Nothing the kernel handed over is dropped.
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
  lua_getfield(L, LUA_REGISTRYINDEX, SCRATCH);
  if (!lua_istable(L, -1)) {  /* a handle's scratch goes with the handle */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, SCRATCH);
  }
  lua_pop(L, 1);
  ux_addmethods(L, UX_K(UX_DATAGRAM) | UX_K(UX_SEQPACKET), batch_methods);
  ux_addmethods(L, UX_K(UX_DATAGRAM), datagram_methods);
}
