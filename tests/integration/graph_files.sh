#!/usr/bin/env bash
# graph_files.sh: runs every tests/data/*.json through `dagr run` (alone and under mpirun -np 3) against its .expect file.
#
# Run by `make check` through tests/wrapper.sh, which exports MPIRUN, DAGR_TOP_SRCDIR,
# DAGR_TOP_BUILDDIR and Open MPI's root/oversubscribe variables. By hand:
#   DAGR_TOP_SRCDIR=. DAGR_TOP_BUILDDIR=. MPIRUN=mpirun tests/integration/graph_files.sh
#
# A graph named bad_*.json is invalid: `dagr run` must exit non-zero (a plain error exit, not a
# timeout or a crash) and its stderr must contain the text of bad_*.expect. Any other graph is
# valid: `dagr run` must exit 0 and its stdout must equal the .expect file (trailing newlines
# aside).
set -u

srcdir="${DAGR_TOP_SRCDIR:-.}"
builddir="${DAGR_TOP_BUILDDIR:-.}"
mpirun="${MPIRUN:-mpirun}"
dagr="$builddir/dagr"
data="$srcdir/tests/data"
limit=60
nranks=3

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_graph_files.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() {
  echo "ok $1"
  passed=$((passed + 1))
}

fail() {
  echo "FAIL $1: $2"
  # Show what the command printed, indented, to explain the failure.
  if [ -s "$tmp/out" ]; then
    echo "  stdout:"
    head -c 2000 "$tmp/out" | sed 's/^/    /'
  fi
  if [ -s "$tmp/err" ]; then
    echo "  stderr:"
    head -c 2000 "$tmp/err" | sed 's/^/    /'
  fi
  failed=$((failed + 1))
}

if [ ! -x "$dagr" ]; then
  echo "FAIL setup: $dagr is not an executable (build it first)"
  echo "0 passed, 1 failed"
  exit 1
fi

shopt -s nullglob
files=("$data"/*.json)
if [ ${#files[@]} -eq 0 ]; then
  echo "FAIL setup: no graph files in $data"
  echo "0 passed, 1 failed"
  exit 1
fi

for file in "${files[@]}"; do
  name=$(basename "$file" .json)
  expfile="$data/$name.expect"
  if [ ! -f "$expfile" ]; then
    : >"$tmp/out"
    : >"$tmp/err"
    fail "$name" "missing $expfile"
    continue
  fi
  # $(...) drops trailing newlines, so the .expect file may end with one or not.
  expect=$(cat "$expfile")
  case "$name" in
  bad_*) valid=0 ;;
  *) valid=1 ;;
  esac

  for mode in single mpi; do
    if [ "$mode" = single ]; then
      label="$name (single process)"
      timeout --kill-after=10 "$limit" "$dagr" run "$file" </dev/null >"$tmp/out" 2>"$tmp/err"
      rc=$?
    else
      label="$name ($mpirun -np $nranks)"
      timeout --kill-after=10 "$limit" "$mpirun" -np "$nranks" "$dagr" run "$file" </dev/null \
        >"$tmp/out" 2>"$tmp/err"
      rc=$?
    fi

    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
      fail "$label" "timed out after ${limit}s (exit $rc)"
      continue
    fi
    if [ $valid -eq 1 ]; then
      if [ $rc -ne 0 ]; then
        fail "$label" "exit status $rc, expected 0"
        continue
      fi
      got=$(cat "$tmp/out")
      if [ "$got" != "$expect" ]; then
        fail "$label" "stdout differs: expected '$expect', got '$got'"
        continue
      fi
      ok "$label"
    else
      if [ $rc -eq 0 ]; then
        fail "$label" "exit status 0, expected an error"
        continue
      fi
      # 125-127: timeout/exec failures; above 128: killed by a signal (a crash, not an error).
      if [ $rc -ge 125 ]; then
        fail "$label" "exit status $rc (crash or failure to run), expected an error exit"
        continue
      fi
      if ! grep -qF -- "$expect" "$tmp/err"; then
        fail "$label" "stderr does not contain '$expect'"
        continue
      fi
      ok "$label"
    fi
  done
done

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
