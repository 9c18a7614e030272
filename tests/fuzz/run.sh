#!/usr/bin/env bash
# run.sh: runs one libFuzzer harness for a bounded time on a scratch copy of its seed corpus (for `make fuzz`).
#
# usage: run.sh NAME SECONDS DIR DICT SEED_DIR...
#   NAME      harness, built as DIR/NAME
#   SECONDS   total fuzzing time (libFuzzer -max_total_time)
#   DIR       where the harness is and where NAME.log (summary), NAME.out (libFuzzer's output)
#             and crashing inputs (NAME-crash-*, -leak-*, -timeout-*, -oom-*) go
#   DICT      libFuzzer dictionary file, or "" for none
#   SEED_DIR  directories whose files seed the corpus; they are copied, never written to
# NAME.log ends with "1 passed, 0 failed" or "0 passed, 1 failed" like the integration tests.
# Always exits 0: `make fuzz` reads the verdict from the log, so one harness's crash does not
# stop the others from running.
set -u

name="$1"
secs="$2"
dir="$3"
dict="$4"
shift 4
prog="$dir/$name"
log="$dir/$name.log"
out="$dir/$name.out"
srcdir="$(cd "$(dirname "$0")/../.." && pwd)"

verdict() {
  # verdict ok|FAIL MESSAGE [DETAIL_FILE]: writes the summary (and the detail, indented) to the log.
  {
    if [ "$1" = ok ]; then
      printf 'ok %s: %s\n' "$name" "$2"
    else
      printf 'FAIL %s: %s\n' "$name" "$2"
      [ -n "${3:-}" ] && sed 's/^/  /' "$3"
    fi
    if [ "$1" = ok ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
  } >"$log"
}

if [ ! -x "$prog" ]; then
  verdict FAIL "$prog was not built"
  exit 0
fi

echo "$name: fuzzing for $secs s"
corpus=$(mktemp -d "${TMPDIR:-/tmp}/dagr_$name.XXXXXX") || exit 1
trap 'rm -rf "$corpus"' EXIT
nseeds=0
for d in "$@"; do
  for f in "$d"/*; do
    [ -f "$f" ] || continue
    cp "$f" "$corpus/$(basename "$d")_$(basename "$f")"
    nseeds=$((nseeds + 1))
  done
done
if [ "$nseeds" -eq 0 ]; then
  verdict FAIL "no seed inputs in $*"
  exit 0
fi

# UBSan keeps going after a report by default: halt so that libFuzzer sees a crash and saves the
# input. The suppression file names only known, reported findings (see its comments). Leak
# checking is libFuzzer's own (-detect_leaks, on by default with ASan).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$srcdir/tests/sanitizers/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

args=(-max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=16384
  -print_final_stats=1 -artifact_prefix="$dir/$name-")
[ -n "$dict" ] && args+=(-dict="$dict")
start=$(date +%s)
"$prog" "${args[@]}" "$corpus" >"$out" 2>&1
rc=$?
took=$(($(date +%s) - start))

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
cov=$(grep -oE 'cov: [0-9]+' "$out" | tail -n 1)
ncorpus=$(find "$corpus" -type f | wc -l)
if [ $rc -eq 0 ]; then
  verdict ok "${runs:-?} runs in ${took} s, ${cov:-cov: ?} edges, corpus $nseeds -> $ncorpus inputs"
else
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -n 1)
  what=$(grep -m1 -oE '(ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error):.*' "$out")
  # The report itself goes into the log, so that the CI output shows it without the build tree.
  grep -m1 -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$out" \
    >"$corpus/report"
  [ -n "$artifact" ] && echo "reproduce: $prog $artifact" >>"$corpus/report"
  verdict FAIL "exit status $rc after ${took} s: ${what:-see $out}" "$corpus/report"
fi
exit 0
