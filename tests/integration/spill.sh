#!/usr/bin/env bash
# spill.sh: bounded object stores: a graph 4x larger than the stores completes by spilling; spill files are cleaned up.
#
# Run by `make check` through tests/wrapper.sh (MPIRUN, DAGR_TOP_BUILDDIR and Open MPI's
# variables). Shows spill_mpi's ok/FAIL lines per run, checks the spill directory is empty after
# each job and that bad settings are named, and prints "N passed, N failed" last.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
MPIRUN="${MPIRUN:-mpirun}"
prog="$B/tests/integration/spill_mpi"
limit=180
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_spill.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

if [ ! -x "$prog" ]; then
  echo "FAIL setup: $prog is not built"
  echo "0 passed, 1 failed"
  exit 1
fi

# run LABEL EXPECT ENV... -- COMMAND...
run() {
  local label="$1"
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local t0=$SECONDS
  env "${envs[@]}" timeout --kill-after=10 "$limit" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  grep -E '^(ok|FAIL) ' "$tmp/out" | sed "s/\$/ ($label)/"
  grep -E '^# ' "$tmp/out" | sed "s/^/  /"
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$tmp/out" | tail -1)
  if [ -z "$line" ]; then
    bad "$label" "no summary (exit $rc): $(head -c 400 "$tmp/err")"
  else
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && bad "$label" "exit status $rc"
  fi
  echo "  # $label: $((SECONDS - t0)) s"
  if [ -n "$(ls -A "$tmp/spill" 2>/dev/null)" ]; then
    bad "spill directory empty after the job ($label)" "$(ls -R "$tmp/spill" | head -5)"
  else
    ok "spill directory empty after the job ($label)"
  fi
}

mkdir -p "$tmp/spill"
# 2 workers with 32 MiB stores, 256 MiB of intermediates, 128 MiB live at once.
run "-np 3, 32 MiB stores" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=32M -- \
  $MPIRUN -np 3 "$prog" spill
# One worker: everything on one store.
run "-np 2, 48 MiB store" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=48M -- \
  $MPIRUN -np 2 "$prog" spill
# Single process (local worker pool).
run "alone, 32 MiB store" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=32M -- "$prog" any
# An object larger than a whole store (24 MiB, 16 MiB stores) goes straight to a spill file.
run "huge object, -np 3" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=16M -- \
  $MPIRUN -np 3 "$prog" huge
run "huge object, alone" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=16M -- "$prog" huge
# Large stores: the same results, nothing spilled.
run "-np 3, 1 GiB stores" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=1G -- \
  $MPIRUN -np 3 "$prog" nospill

# Spilling impossible (the directory cannot be made): a clear error naming it.
DAGR_SPILL_DIR=/proc/dagr-no-such-dir DAGR_STORE_BYTES=32M timeout --kill-after=10 "$limit" \
  $MPIRUN -np 3 "$prog" spill >"$tmp/out" 2>&1
if grep -q "/proc/dagr-no-such-dir" "$tmp/out"; then
  ok "an unusable spill directory is an error naming it"
else
  bad "an unusable spill directory is an error naming it" "$(grep -E '^(#|FAIL)' "$tmp/out" | head -3)"
fi
# Bad settings are named.
for v in DAGR_STORE_HIGH=1.5 DAGR_STORE_PAUSE=0.5 DAGR_SPILL=2; do
  env "$v" timeout --kill-after=10 60 "$prog" spill >"$tmp/out" 2>&1
  if grep -q "${v%%=*}" "$tmp/out"; then
    ok "bad $v is an error naming it"
  else
    bad "bad $v is an error naming it" "$(head -c 300 "$tmp/out")"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
