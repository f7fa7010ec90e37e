rockspec_format = "3.0"
package = "uxsock"
version = "0.1.0-1"
source = {
  -- the release archive, which `make rock` makes and packs into
  -- uxsock-0.1.0-1.src.rock; installing that rock fetches nothing
  url = "uxsock-0.1.0.tar.gz",
  dir = "uxsock-0.1.0",
}
description = {
  summary = "Unix-domain sockets for Lua, with handles that close themselves",
  detailed = [[
Stream, datagram and seqpacket Unix-domain sockets for Lua 5.4, as one C
module. Handles work with <close>, every descriptor is close-on-exec, no
send raises SIGPIPE, timeouts are deadlines, abstract names round-trip.
]],
  license = "MIT",
  labels = { "socket", "unix", "ipc" },
}
dependencies = {
  "lua >= 5.1",
}
build = {
  type = "builtin",
  modules = {
    uxsock = {
      sources = {
        "src/dgram.c", "src/handle.c", "src/io.c", "src/listener.c",
        "src/reader.c", "src/stream.c", "src/sys.c", "src/uxsock.c",
        "src/with.c", "src/capi.c", "src/buffer.c", "src/fdpass.c",
        "src/sysmsg.c", "src/poll.c", "src/syspoll.c", "src/options.c",
        "src/batch.c", "src/sockfile.c",
      },
      incdirs = { "src" },
    },
    ["uxsock.loop"] = "lua/uxsock/loop.lua",
  },
}
