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

/* the metatables of every kind, made once per Lua state (uxsock.c) */
void ux_open_kinds (lua_State *L);

/* pushes uxsock.with (with.c); 'type' is the index of uxsock.type */
void ux_push_with (lua_State *L, int type);

#endif
