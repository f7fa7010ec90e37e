#!/bin/sh
# make demo: the echo server and client talking over a fresh socket path,
# then the same over datagrams.
set -e
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run_pair() {  # run_pair SERVER CLIENT PATH
  echo "\$ lua5.4 examples/$1 $3 &"
  lua5.4 "examples/$1" "$3" >"$dir/server.out" 2>&1 &
  server=$!
  i=0
  while [ ! -S "$3" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  echo "\$ lua5.4 examples/$2 $3"
  lua5.4 "examples/$2" "$3"
  wait $server
  echo "server said:"
  sed 's/^/  /' "$dir/server.out"
  if [ -e "$3" ]; then echo "socket file left behind: $3"; exit 1; fi
  echo
}

run_pair echo_server.lua echo_client.lua "$dir/docode.sock"
run_pair datagram_server.lua datagram_client.lua "$dir/docode-dgram.sock"
echo "both servers removed their socket files on exit."
