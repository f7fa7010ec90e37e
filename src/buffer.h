/*
** buffer.h: uxsock.buffer, a fixed-size mutable byte array that sockets
** receive into (recvinto) and send from (send, sendall, sendto), so bulk
** transfers make no Lua string, no garbage and no copy of their own.
*/
#ifndef UXSOCK_BUFFER_H
#define UXSOCK_BUFFER_H

#include "handle.h"

typedef struct ux_buffer {
  size_t size;
  char data[];  /* 'size' bytes (C99 flexible array: no slack past them) */
} ux_buffer;

/* the buffer at idx, or NULL if it is none */
ux_buffer *ux_tobuffer (lua_State *L, int idx);
/* pushes the buffer metatable (ux_open_buffer made it) */
void ux_pushbuffermeta (lua_State *L);

/* the bytes of a string or a buffer at idx (raises for anything else) */
const char *ux_checkbytes (lua_State *L, int idx, size_t *len);

/* string.sub's rules: the bytes i..j of len, as an offset and a count */
void ux_range (lua_Integer i, lua_Integer j, size_t len,
               size_t *from, size_t *n);
/* the same for the optional arguments iarg and iarg + 1 */
void ux_checkrange (lua_State *L, int iarg, size_t len,
                    size_t *from, size_t *n);

void ux_open_buffer (lua_State *L);
extern const luaL_Reg ux_buffer_functions[];

#endif
