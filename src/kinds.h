/*
** kinds.h: what each kind's file gives the module entry (uxsock.c):
** its constructors and a function that makes its metatables.
*/
#ifndef UXSOCK_KINDS_H
#define UXSOCK_KINDS_H

#include "lua.h"
#include "lauxlib.h"

extern const luaL_Reg ux_listener_functions[];
extern const luaL_Reg ux_stream_functions[];
extern const luaL_Reg ux_datagram_functions[];

void ux_open_listener (lua_State *L);
void ux_open_stream (lua_State *L);
void ux_open_datagram (lua_State *L);

/* methods several kinds share, added after the kinds are made */
void ux_open_fdpass (lua_State *L);   /* fdpass.c: sendfds, recvfds, ... */
void ux_open_options (lua_State *L);  /* options.c: setoption, getoption */
void ux_open_batch (lua_State *L);    /* batch.c: sendmany, recvmany */

/* module functions of the files that are not a kind */
extern const luaL_Reg ux_fdpass_functions[];
extern const luaL_Reg ux_poll_functions[];
void ux_open_poll (lua_State *L);     /* poll.c: the poller's metatable */

/* the metatables of every kind, made once per Lua state (uxsock.c) */
void ux_open_kinds (lua_State *L);

/* pushes uxsock.with (with.c); 'type' is the index of uxsock.type */
void ux_push_with (lua_State *L);

#endif
