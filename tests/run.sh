#!/bin/sh
# Runs every test program (and tests/test_*.py with Debian's python3), shows each
# one's closing "N passed, N failed" line, and prints the total in the same form.
# A program that crashes or prints no closing line counts as one failure.
# usage: run.sh [--no-gl] TESTDIR SEQJEPA_EXE
nogl=0
if [ "$1" = "--no-gl" ]; then nogl=1; shift; fi
dir=$1
exe=$2
export SEQJEPA_EXE="$exe"
work=$(mktemp -d "${TMPDIR:-/tmp}/seqjepa-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
total_p=0
total_f=0
run_one() { # name, command...
  name=$1; shift
  log="$work/$name.log"
  start=$(date +%s)
  TMPDIR="$work" "$@" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  p=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
  f=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
  if [ -z "$p" ]; then p=0; f=1; last="no closing line (exit $rc)"; fi
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; last="$last, but exit status $rc"; fi
  total_p=$((total_p + p)); total_f=$((total_f + f))
  printf '%-28s %s  (%ss)\n' "$name" "$last" "$secs"
  if [ "$f" != 0 ]; then sed 's/^/    | /' "$log" | tail -n 40; fi
}
for t in "$dir"/test_*; do
  case "$t" in *.o|*.d) continue ;; esac
  [ -x "$t" ] || continue
  name=$(basename "$t")
  case "$name" in test_gl_*) [ $nogl = 1 ] && continue ;; esac
  run_one "$name" "$t"
done
if [ $nogl = 0 ]; then
  for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" /usr/bin/python3 "$t"
  done
fi
echo "total: $total_p passed, $total_f failed"
[ "$total_f" = 0 ]
