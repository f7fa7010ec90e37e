# spec/tally.sh, sourced by the scripts that read a run's output
# (spec/parallel, spec/run-all, mk/memcheck.sh): `tally FILE` reads the
# last summary line in FILE, "N passed, N failed[, N skipped]", into
# last (the line), p, f and s (the counts; s is 0 when none were
# skipped). With no such line, last and p are empty.
# shellcheck disable=SC2034  # last, p, f and s are the caller's
tally() {
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  p=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, .*/\1/p')
  f=$(echo "$last" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p')
  s=$(echo "$last" | sed -n 's/.*, \([0-9]*\) skipped$/\1/p')
  s=${s:-0}
}
