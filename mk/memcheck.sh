#!/bin/sh
# mk/memcheck.sh asan|valgrind DIR [busted args]: runs the whole spec
# suite on Lua 5.4 with every Lua process checked (make asan, make
# valgrind: mk/check.mk).
#
# Only Lua processes load uxsock, so only they are checked: DIR/bin/lua5.4,
# a wrapper, comes first on PATH, and busted, every Lua child a spec
# starts (helpers.LUA, "make demo") and every child an example starts
# (arg[-1]) run through it. Other programs (sh, python3, strace, cc, ...)
# run as they are, with nothing preloaded into them:
#   asan      lua5.4 gets the ASan runtime preloaded and loads
#             DIR/uxsock.so, built with ASan and UBSan
#   valgrind  lua5.4 runs under memcheck, with build/uxsock.so; there is
#             no --trace-children: a traced sh costs seconds per
#             os.execute("sleep ..."), and a skipped sh would leave the
#             Lua processes it starts unchecked
# The wrapper sets the Lua's argv[0] to itself, so arg[-1] is the checked
# Lua, and preloads nothing that the Lua's own children would inherit.
# Each process writes its report to a file of its own in DIR/log, so no
# spec sees it in a child's output; after the suite every report is
# printed and counted as a failure. The example C host (spec 11 runs
# build/embed-host) is run once, checked, before the suite.
# The last line is "N passed, N failed", as spec/run prints it; the exit
# status is non-zero on a failed spec or on any report.
set -u
tool=$1 dir=$2
shift 2
cd "$(dirname "$0")/.." || exit 1
. spec/tally.sh
root=$(pwd)
lua=$(command -v lua5.4) || { echo "lua5.4 not found" >&2; exit 1; }
lua=$(readlink -f "$lua")
log=$root/$dir/log
wrapper=$root/$dir/bin/lua5.4
mkdir -p "$root/$dir/bin"
# a spec runs a Lua child as another user (16_fdpass, as root): it must
# be able to write its report too
rm -rf "$log" && mkdir -p "$log" && chmod 1777 "$log"

case $tool in
asan)
  export UXSOCK_MEMCHECK=asan  # specs read it (spec 23's signal storm)
  # clang 14 (Debian 12) names the runtime by its arch; later clangs keep
  # it in a per-target directory without the suffix
  rt=$(${CHECK_CC:-clang} -print-file-name="libclang_rt.asan-$(uname -m).so")
  [ -f "$rt" ] || rt=$(${CHECK_CC:-clang} -print-file-name=libclang_rt.asan.so)
  [ -f "$rt" ] || { echo "no ASan runtime ($rt): apt-get install libclang-rt-dev" >&2; exit 1; }
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:log_path=$log/san"
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$log/san"
  export ASAN_OPTIONS UBSAN_OPTIONS
  # the runtime is preloaded with LD_PRELOAD (ld.so --preload would do it
  # without the variable, but ASan then names the interpreter's frames
  # after ld.so's functions), and unpreload.so removes the variable as the
  # process starts. What the caller preloads (spec 23's tests/sigpump.c)
  # comes after them. LeakSanitizer cannot work under ptrace: a Lua under
  # strace (specs 10 and 16) is checked by ASan and UBSan alone.
  ${CHECK_CC:-clang} -std=c99 -Wall -Wextra -pedantic -shared -fPIC \
    -o "$dir/unpreload.so" mk/unpreload.c || exit 1
  cat >"$wrapper" <<EOF
#!/bin/bash
# lua5.4 with the ASan runtime loaded first (mk/memcheck.sh)
grep -q '^TracerPid:[[:space:]]*0$' /proc/\$\$/status ||
  export ASAN_OPTIONS="\$ASAN_OPTIONS:detect_leaks=0"
export LD_PRELOAD="$rt $root/$dir/unpreload.so\${LD_PRELOAD:+ \$LD_PRELOAD}"
exec -a "\$0" "$lua" "\$@"
EOF
  host="$dir/embed-host" mod=$dir
  ;;
valgrind)
  export UXSOCK_MEMCHECK=valgrind
  command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
  # memcheck runs the dynamic loader, which runs lua5.4 with argv[0] set
  ldso=$(readelf -l "$lua" | sed -n 's/.*interpreter: \(.*\)\]$/\1/p')
  [ -x "$ldso" ] || { echo "no dynamic loader found for $lua" >&2; exit 1; }
  vg="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1"
  vg="$vg --num-callers=30 --log-file=$log/vg.%p"
  cat >"$wrapper" <<EOF
#!/bin/sh
# lua5.4 under memcheck (mk/memcheck.sh)
exec $vg "$ldso" --argv0 "\$0" "$lua" "\$@"
EOF
  host="$vg build/embed-host" mod=build
  ;;
*) echo "usage: mk/memcheck.sh asan|valgrind DIR [busted args]" >&2; exit 2 ;;
esac
chmod +x "$wrapper"

# the files in $log that hold an error report. ASan writes none
# otherwise; valgrind writes one per process (and per fork before an
# exec), which ends "ERROR SUMMARY: 0 errors" when all is well, or has
# no summary at all if the process was killed: then any stack trace in
# it is an error it saw first
reports() {
  for f in "$log"/*; do
    [ -f "$f" ] || continue
    case $tool in
    valgrind)
      if grep -q "ERROR SUMMARY:" "$f"; then
        grep -q "ERROR SUMMARY: [1-9]" "$f" || continue
      else
        grep -Eq '^==[0-9]+==    (at|by) 0x' "$f" || continue
      fi ;;
    esac
    echo "$f"
  done
}

echo "=== $tool: the example C host"
$host >"$dir/host.out" 2>&1
hostrc=$?
tail -n 1 "$dir/host.out"
[ "$hostrc" -eq 0 ] || { cat "$dir/host.out"; echo "embed host: exit $hostrc"; }

echo "=== $tool: the specs on Lua 5.4 ($dir/bin/lua5.4)"
# luarocks (specs 08 and 13) takes the directory of the first lua5.4 on
# PATH for Lua's own: its configuration names the real one
luadir=$(dirname "$(dirname "$lua")")
printf 'variables = { LUA_DIR = "%s", LUA_BINDIR = "%s" }\n' "$luadir" \
  "$(dirname "$lua")" >"$dir/luarocks-config.lua"
# the output goes to a file that tail shows until the suite ends: a pipe
# would stay open as long as anything the suite left behind runs (a
# failed spec's server waiting for a client)
out=$dir/spec.out
PATH="$root/$dir/bin:$PATH" LUA=lua5.4 UXSOCK_BUILD=$mod \
  LUAROCKS_CONFIG="$root/$dir/luarocks-config.lua" \
  sh spec/run "$@" >"$out" 2>&1 </dev/null &
suite=$!
tail -n +1 -s 0.2 --pid=$suite -f "$out"
wait $suite
suiterc=$?
tally "$out"
rest=${last#"$p passed, $f failed"}
[ -n "$p" ] || { p=0 f=1; echo "the suite did not finish"; }

n=0
[ "$hostrc" -eq 0 ] || n=1
# a summary with no failure, and yet a failed exit: the Lua running busted
# ended badly after its summary (an abort at exit)
if [ "$f" -eq 0 ] && [ "$suiterc" -ne 0 ]; then
  echo "the suite exited with status $suiterc"
  n=$((n + 1))
fi
for r in $(reports); do
  n=$((n + 1))
  echo "=== $tool report: ${r#"$root"/}"
  cat "$r"
done
if [ "$n" -gt 0 ] || [ -z "$last" ]; then
  echo "$tool: $n failure(s) besides the specs' (above; logs in $dir/log)"
  echo "$p passed, $((f + n)) failed$rest"
fi
[ "$f" -eq 0 ] && [ "$n" -eq 0 ]
