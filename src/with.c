/***
@module uxsock
*/

/*
** with.c: uxsock.with(handle, fn, ...), the scoped handle of every Lua
** version: fn(handle, ...) runs, then the handle is closed, whether fn
** returned or raised; fn's results are returned, its error re-raised.
** On Lua 5.4 it does what a <close> variable does.
**
** It is Lua code, compiled when the module opens: Lua's own pcall can be
** yielded across on 5.2+ and LuaJIT, so fn may yield (a coroutine
** scheduler), which a C pcall could not do on every version.
*/
#include "handle.h"
#include "kinds.h"

static const char with_source[] =
  "local uxtype = ...\n"
  "local pcall, error, type, getmetatable = pcall, error, type, getmetatable\n"
  "local io_type = io and io.type or function() end\n"
  "local function callable(f)\n"
  "  local mt = getmetatable(f)\n"
  "  return type(f) == 'function' or (type(mt) == 'table' and mt.__call ~= nil)\n"
  "end\n"
  /* a uxsock handle, an io file, or anything with a close method */
  "local function closable(h)\n"
  "  if uxtype(h) or io_type(h) then return true end\n"
  "  local ok, c = pcall(function() return h.close end)\n"
  "  return ok and callable(c)\n"
  "end\n"
  "local function finish(h, ok, ...)\n"
  "  if io_type(h) ~= 'closed file' then h:close() end\n"
  "  if not ok then error((...), 0) end\n"
  "  return ...\n"
  "end\n"
  "return function(h, fn, ...)\n"
  "  if not closable(h) then\n"
  "    error(\"bad argument #1 to 'with' (handle expected, got \" .. type(h) .. ')', 2)\n"
  "  end\n"
  "  if not callable(fn) then\n"
  "    error(\"bad argument #2 to 'with' (function expected, got \" .. type(fn) .. ')', 2)\n"
  "  end\n"
  "  return finish(h, pcall(fn, h, ...))\n"
  "end\n";

/***
Calls `fn(handle, ...)`, then closes the handle, whether `fn` returned
or raised: the scoped handle of every Lua version (on 5.4, what a
`<close>` variable does). `handle` is a uxsock handle, a Lua file, or
anything with a `close` method. `fn` may yield (not on Lua 5.1, whose
`pcall` cannot).
@function with
@param handle what to close
@tparam function fn what to run
@param ... more arguments for `fn`
@return what `fn` returns
@fail `fn`'s error, raised again after the close
*/
void ux_push_with (lua_State *L, int type) {
  type = lua_absindex(L, type);
  if (luaL_loadbuffer(L, with_source, sizeof(with_source) - 1,
                      "=uxsock.with") != 0)
    lua_error(L);  /* only for lack of memory: the source is ours */
  lua_pushvalue(L, type);
  lua_call(L, 1, 1);
}
