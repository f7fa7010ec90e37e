#!/bin/sh
# Protocol check for benchmark peers (bench/README.md), small counts.
#
#   bench/peers/selftest.sh [SERVER_CMD CLIENT_CMD]...
#
# Each pair of arguments is a server command and a client command (quoted if
# they take arguments, e.g. "lua bench/peers/uxsock.lua"). With none, it
# checks raw and python against themselves and each other. It needs
# bench/build/raw built. Exit status: the number of failed runs (0: all ok).
set -u
cd "$(dirname "$0")/../.." || exit 1

RAW=bench/build/raw
PY=bench/peers/python.py
[ $# -gt 0 ] || set -- "$RAW" "$RAW" "$PY" "$PY" "$RAW" "$PY" "$PY" "$RAW"

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
fails=0

# run SERVER CLIENT WORKLOAD COUNT SIZE
run() {
    path=$dir/s
    rm -f "$path" "$path.c"
    $1 server "$3" "$path" "$4" "$5" >"$dir/sout" 2>"$dir/serr" &
    spid=$!
    i=0
    while [ ! -S "$path" ] && kill -0 "$spid" 2>/dev/null && [ $i -lt 500 ]; do
        sleep 0.01; i=$((i + 1))
    done
    out=$($2 client "$3" "$path" "$4" "$5" 2>"$dir/cerr"); crc=$?
    wait "$spid"; src=$?
    why=
    [ $crc -eq 0 ] || why="$why client exit $crc: $(cat "$dir/cerr");"
    [ $src -eq 0 ] || why="$why server exit $src: $(cat "$dir/serr");"
    [ ! -s "$dir/sout" ] || why="$why server wrote to stdout;"
    [ ! -e "$path" ] || why="$why $path left behind;"
    [ ! -e "$path.c" ] || why="$why $path.c left behind;"
    case $out in
    "result peer="*" workload=$3 count=$4 size=$5 seconds="[0-9]*.[0-9]*) ;;
    *) why="$why bad client output: $out;" ;;
    esac
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || why="$why more than one line;"
    if [ -z "$why" ]; then
        echo "ok   $1 / $2 $3 $4 $5: ${out#*seconds=}s"
    else
        echo "FAIL $1 / $2 $3 $4 $5:$why"
        fails=$((fails + 1))
    fi
}

while [ $# -ge 2 ]; do
    run "$1" "$2" pingpong 1000 64
    run "$1" "$2" pingpong 100 100000
    run "$1" "$2" bulk 100 65536
    run "$1" "$2" bulk 10 1000000
    run "$1" "$2" bulkbuf 100 65536
    run "$1" "$2" dgram 10000 256
    run "$1" "$2" dgram 100 1
    run "$1" "$2" connect 1000 1
    shift 2
done
exit $fails
