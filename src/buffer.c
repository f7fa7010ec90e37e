/***
@module uxsock
*/

/*
** buffer.c: uxsock.buffer(size), a fixed-size mutable byte array. It is
** one userdata holding its bytes, made zeroed; the collector frees it
** (no descriptor, nothing to close). Sockets receive into it with
** recvinto and send from it anywhere a string is taken; its own methods
** look at bytes (byte, find), copy them out (sub, tostring) and put a
** string in (fill), all with string.sub's rules for positions.
*/
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "buffer.h"

#define BUFFER_META  "uxsock.buffer"

/* In uxsock's methods upvalue 2 is the buffer metatable (ux_newkind,
** ux_open_buffer): one comparison; elsewhere the registry's. */
ux_buffer *ux_tobuffer (lua_State *L, int idx) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (same) return (ux_buffer *)p;
  }
  return (ux_buffer *)luaL_testudata(L, idx, BUFFER_META);
}

void ux_pushbuffermeta (lua_State *L) {
  luaL_getmetatable(L, BUFFER_META);
}

static ux_buffer *checkbuffer (lua_State *L, int idx) {
  ux_buffer *b = ux_tobuffer(L, idx);
  if (b == NULL) luaL_checkudata(L, idx, BUFFER_META);  /* raises */
  return b;
}

const char *ux_checkbytes (lua_State *L, int idx, size_t *len) {
  ux_buffer *b;
  if (lua_type(L, idx) == LUA_TSTRING) return lua_tolstring(L, idx, len);
  b = ux_tobuffer(L, idx);
  if (b == NULL)
    luaL_argexpected(L, lua_isstring(L, idx), idx, "string or buffer");
  else {
    *len = b->size;
    return b->data;
  }
  return lua_tolstring(L, idx, len);  /* a number, as strings are taken */
}

/* positions as string.sub takes them: i from the start (1) or the end
** (negative); the range i..j clipped to 1..len, empty when i > j. An
** empty range starts where i points, at most at len: sendall reports
** from + n as the last byte sent, i - 1 when nothing was to send. */
void ux_range (lua_Integer i, lua_Integer j, size_t len,
               size_t *from, size_t *n) {
  lua_Integer l = (lua_Integer)len;
  if (i < 0) i = (i < -l) ? 1 : l + i + 1;
  else if (i == 0) i = 1;
  if (j < 0) j = (j < -l) ? 0 : l + j + 1;
  else if (j > l) j = l;
  if (i > j) { *from = (size_t)(i - 1 < l ? i - 1 : l); *n = 0; }
  else { *from = (size_t)(i - 1); *n = (size_t)(j - i + 1); }
}

/* the range of the optional arguments i (default 1) and j (default -1) */
void ux_checkrange (lua_State *L, int iarg, size_t len,
                    size_t *from, size_t *n) {
  if (lua_gettop(L) < iarg) {  /* no i, no j: all of it (the hot path) */
    *from = 0;
    *n = len;
    return;
  }
  ux_range(luaL_optinteger(L, iarg, 1), luaL_optinteger(L, iarg + 1, -1),
           len, from, n);
}

/***
A mutable buffer of `size` bytes, all zero, to receive into without
making a string per read (`recvinto`) and to send from (`send`,
`sendall` and `sendto` take a buffer wherever they take a string).
`#buf` is its size.
@function buffer
@tparam integer size bytes, at least 1
@return a buffer
*/
static int newbuffer (lua_State *L) {
  size_t size = (size_t)lua_tointeger(L, 1);
  ux_newudata(L, sizeof(ux_buffer) + size);
  return 1;
}

/* Sizes at or under 2 GiB are made directly. Above it a Lua may refuse
** with an error of its own (LuaJIT: "userdata length overflow"), so the
** userdata is made in a protected call and a refusal that is not lack of
** memory becomes an error naming the argument. */
#define BUFFER_DIRECT_MAX  ((lua_Integer)0x7fffff00)

static int l_buffer (lua_State *L) {
  lua_Integer size = luaL_checkinteger(L, 1);
  ux_buffer *b;
  luaL_argcheck(L, size > 0, 1, "size must be positive");
  luaL_argcheck(L, (size_t)size < ((size_t)-1 >> 1), 1, "size too large");
  if (size <= BUFFER_DIRECT_MAX)
    b = (ux_buffer *)ux_newudata(L, sizeof(ux_buffer) + (size_t)size);
  else {
    int status;
    lua_pushcfunction(L, newbuffer);
    lua_pushinteger(L, size);
    status = lua_pcall(L, 1, 1, 0);
    if (status == LUA_ERRMEM) lua_error(L);
    if (status != 0)
      return luaL_argerror(L, 1, lua_pushfstring(L,
                           "size too large for this Lua (%s)",
                           lua_isstring(L, -1) ? lua_tostring(L, -1)
                                               : "refused"));
    b = (ux_buffer *)lua_touserdata(L, -1);
  }
  b->size = (size_t)size;
  memset(b->data, 0, (size_t)size);
  luaL_setmetatable(L, BUFFER_META);
  return 1;
}

/***
Copies bytes `i` to `j` out as a string, as `string.sub` would.
@function buffer:sub
@within buffer
@tparam[opt=1] integer i first byte
@tparam[opt=-1] integer j last byte
@return a string
*/
static int b_sub (lua_State *L) {
  ux_buffer *b = checkbuffer(L, 1);
  size_t from, n;
  ux_checkrange(L, 2, b->size, &from, &n);
  lua_pushlstring(L, b->data + from, n);
  return 1;
}

/***
The bytes `i` to `j` as numbers, as `string.byte` gives them.
@function buffer:byte
@within buffer
@tparam[opt=1] integer i first byte
@tparam[opt=i] integer j last byte
@return the byte values
*/
static int b_byte (lua_State *L) {
  ux_buffer *b = checkbuffer(L, 1);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  size_t from, n, k;
  ux_range(i, luaL_optinteger(L, 3, i), b->size, &from, &n);
  if (n >= (size_t)INT_MAX) luaL_error(L, "buffer slice too long");
  luaL_checkstack(L, (int)n, "buffer slice too long");
  for (k = 0; k < n; k++)
    lua_pushinteger(L, (unsigned char)b->data[from + k]);
  return (int)n;
}

/***
Where the string `s` first stands in the buffer, from byte `init` on:
a plain search, no patterns.
@function buffer:find
@within buffer
@tparam string s what to look for
@tparam[opt=1] integer init where to start
@return the first and last position, or `nil`
*/
static int b_find (lua_State *L) {
  ux_buffer *b = checkbuffer(L, 1);
  size_t len, from, n;
  const char *s = luaL_checklstring(L, 2, &len);
  const char *p, *end;
  lua_Integer init = luaL_optinteger(L, 3, 1);
  ux_range(init, -1, b->size, &from, &n);
  if (len == 0) {  /* as string.find: found at init, if init is in 1..#b+1 */
    lua_Integer size = (lua_Integer)b->size;
    init = init < 0 ? (init < -size ? 1 : size + init + 1) : (init == 0 ? 1 : init);
    if (init > size + 1) { luaL_pushfail(L); return 1; }
    lua_pushinteger(L, init);
    lua_pushinteger(L, init - 1);
    return 2;
  }
  p = b->data + from;
  end = b->data + from + n;
  while ((size_t)(end - p) >= len) {
    const char *q = (const char *)memchr(p, s[0], (size_t)(end - p) - len + 1);
    if (q == NULL) break;
    if (memcmp(q, s, len) == 0) {
      lua_pushinteger(L, (lua_Integer)(q - b->data) + 1);
      lua_pushinteger(L, (lua_Integer)(q - b->data) + (lua_Integer)len);
      return 2;
    }
    p = q + 1;
  }
  luaL_pushfail(L);
  return 1;
}

/***
Copies the string `s` into the buffer from byte `at` on.
@function buffer:fill
@within buffer
@tparam string s the bytes
@tparam[opt=1] integer at where the first one goes
@return the position after the last byte written
*/
static int b_fill (lua_State *L) {
  ux_buffer *b = checkbuffer(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  lua_Integer at = luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, at >= 1 && (size_t)at <= b->size + 1, 3,
                "position out of the buffer");
  luaL_argcheck(L, len <= b->size - (size_t)(at - 1), 2,
                "string does not fit in the buffer");
  memcpy(b->data + at - 1, s, len);
  lua_pushinteger(L, at + (lua_Integer)len);
  return 1;
}

static int b_len (lua_State *L) {
  lua_pushinteger(L, (lua_Integer)checkbuffer(L, 1)->size);
  return 1;
}

/***
Names the buffer and its size, `"uxsock.buffer (65536 bytes)"`; the
bytes themselves come out with `sub`.
@function buffer:__tostring
@within buffer
@return a string
*/
static int b_tostring (lua_State *L) {
  char size[24];  /* lua_pushfstring has no format for size_t */
  (void)snprintf(size, sizeof(size), "%zu", checkbuffer(L, 1)->size);
  lua_pushfstring(L, BUFFER_META " (%s bytes)", size);
  return 1;
}

static const luaL_Reg buffer_methods[] = {
  {"sub", b_sub},
  {"byte", b_byte},
  {"find", b_find},
  {"fill", b_fill},
  {NULL, NULL}
};

const luaL_Reg ux_buffer_functions[] = {
  {"buffer", l_buffer},
  {NULL, NULL}
};

/* once per Lua state (ux_open_kinds); a metatable made before by an
** open that ran out of memory half way is filled again */
void ux_open_buffer (lua_State *L) {
  luaL_newmetatable(L, BUFFER_META);
  lua_pushcfunction(L, b_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, b_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, -2);  /* upvalues 1 and 2: as for handles' methods */
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, buffer_methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
