#!/usr/bin/env bash
# run_prog.sh: runs one array test program alone and under mpirun with 1, 3 and 4 ranks, summing its ok/FAIL counts.
# Sourced by the per-program test scripts, which set prog_name first.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
prog="$B/tests/integration/$prog_name"
MPIRUN="${MPIRUN:-mpirun}"
pass=0
fail=0
run() {
  local label="$1"
  shift
  echo "== $label"
  local out rc
  out=$(timeout 300 "$@" 2>&1)
  rc=$?
  echo "$out" | grep -E '^(ok|FAIL) ' | sed "s|\$| ($label)|"
  local line p f
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL $label: no summary (exit $rc)"
    echo "$out" | tail -n 5 | sed 's/^/    /'
    fail=$((fail + 1))
    return
  fi
  p=${line%% passed*}
  f=${line#*passed, }
  f=${f%% failed*}
  pass=$((pass + p))
  fail=$((fail + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $label: exit status $rc with no failed case"
    fail=$((fail + 1))
  fi
}
run "alone" "$prog"
for n in 1 3 4; do
  run "$MPIRUN -np $n" "$MPIRUN" -np "$n" "$prog"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
