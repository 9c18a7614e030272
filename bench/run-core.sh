#!/usr/bin/env bash
# run-core.sh: side-by-side benchmark of dagr's core runtime against Dask and bare-MPI baselines.
#
# usage (from the build tree): bench/run-core.sh [REPS]          REPS: runs per command (default 3)
#
# Workloads (each command runs REPS times, interleaved rep by rep; medians are reported):
#   throughput  dagr bench throughput --tasks 1000000 (3 ranks) vs Dask sync, threads, distributed
#               (dask_baselines.py throughput, its default 100k leaves + tree reduction; distributed once
#               only) and batch_limit 1000000 1024 2 (the C message-path ceiling of a rank-0 scheduler)
#   chain       dagr bench chain --tasks 100000 vs Dask sync and threads (chain of 100k tasks)
#   transfer    dagr bench transfer --bytes B vs bench/rma_raw --bytes B, B in 1M 64M 1G (3 ranks)
#   tracing     dagr bench tracing --reps 21 (3 ranks): the throughput graph (100k leaves) with the
#               Chrome trace on vs off, alternating in one process (the issue allows 15% loss), vs
#               bench/dask_trace.py: the same graph on Dask sync with dask.diagnostics.Profiler
#               (Dask's task-stream recorder) on vs off
# Progress and failures go to stderr; the final Markdown table goes to stdout.
#
# Environment:
#   BUILD_DIR (.)                    build tree holding dagr and bench/rma_raw
#   DAGR ($BUILD_DIR/dagr)           the dagr command
#   RMA_RAW ($BUILD_DIR/bench/rma_raw) the raw RMA baseline; built from bench/rma_raw.c if missing
#   SHARED_DIR ($(git rev-parse --show-toplevel)/../shared)   where anchors/ lives
#   PYTHON (/usr/bin/python3)        the Python with Debian's Dask 2022.12
#   MPIRUN (mpirun), MPICC (mpicc), NP (3)
#   SKIP_DISTRIBUTED=1               skip Dask's distributed scheduler (slow to start)
#   WORKLOADS ("throughput chain transfer tracing")   subset to run
#   THROUGHPUT_TASKS (1000000), CHAIN_TASKS (100000), TRANSFER_SIZES ("1M 64M 1G")
#   CMD_TIMEOUT (600)                seconds allowed per command; a command over it counts as failed
#   LOG_DIR                          keep every command's output there (default: a temporary directory)
# A command that fails, times out, prints ok=0 or lacks the expected field is reported on stderr and
# counts as NA; the other commands still run. Exit status: 0 when every command gave a value, 1 otherwise.
set -euo pipefail

REPS="${1:-3}"
case "$REPS" in '' | *[!0-9]* | 0) echo "usage: $0 [REPS]   (REPS >= 1, default 3)" >&2; exit 2 ;; esac

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="${BUILD_DIR:-.}"
DAGR="${DAGR:-$BUILD_DIR/dagr}"
RMA_RAW="${RMA_RAW:-$BUILD_DIR/bench/rma_raw}"
if [ -z "${SHARED_DIR:-}" ]; then
  if top="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null)"; then
    SHARED_DIR="$top/../shared"
  elif top="$(git rev-parse --show-toplevel 2>/dev/null)"; then
    SHARED_DIR="$top/../shared"
  else
    SHARED_DIR="$script_dir/../../shared"
  fi
fi
PYTHON="${PYTHON:-/usr/bin/python3}"
MPIRUN="${MPIRUN:-mpirun}"
MPICC="${MPICC:-mpicc}"
NP="${NP:-3}"
CMD_TIMEOUT="${CMD_TIMEOUT:-600}"
WORKLOADS="${WORKLOADS:-throughput chain transfer tracing}"
THROUGHPUT_TASKS="${THROUGHPUT_TASKS:-1000000}"
CHAIN_TASKS="${CHAIN_TASKS:-100000}"
TRANSFER_SIZES="${TRANSFER_SIZES:-1M 64M 1G}"
DASK_PY="$SHARED_DIR/anchors/dask_baselines.py"
BATCH_SRC="$SHARED_DIR/anchors/batch_limit.c"

# Open MPI refuses root without these; 3 ranks exceed this machine's cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

tmp="$(mktemp -d "${TMPDIR:-/tmp}/dagr-run-core.XXXXXX")"
marker="$tmp/marker"
: >"$marker"
keep_logs=
if [ -n "${LOG_DIR:-}" ]; then keep_logs=1; else LOG_DIR="$tmp/logs"; fi
mkdir -p "$LOG_DIR"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  # Shared-memory segments that our runs created and a failed run left behind.
  find /dev/shm -maxdepth 1 -name 'vader_segment*' -newer "$marker" -delete 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }

# field NAME TEXT: the value of the last NAME=value token in TEXT (one line or several); empty if none.
field() {
  printf '%s\n' "$2" | awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) v = substr($i, length(k) + 2) }
    END { if (v != "") print v }'
}

# measure LABEL FIELD CMD...: run CMD under the time bound and set MEAS to FIELD's value, or NA with
# the reason on stderr. (A global, not stdout, so that it runs in this shell, not a subshell.)
nlog=0
MEAS=NA
measure() {
  local label="$1" name="$2"
  shift 2
  nlog=$((nlog + 1))
  local log
  log="$LOG_DIR/$(printf '%03d' "$nlog")-$(printf '%s' "$label" | tr -c 'A-Za-z0-9._-' '_').log"
  printf '$ %s\n' "$*" >"$log"
  local rc=0
  timeout --signal=TERM --kill-after=10 "$CMD_TIMEOUT" "$@" >>"$log" 2>&1 </dev/null || rc=$?
  local out val ok
  out="$(tail -n +2 "$log")"
  val="$(field "$name" "$out")"
  ok="$(field ok "$out")"
  local why=""
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="timed out after ${CMD_TIMEOUT}s"
  elif [ "$rc" -ne 0 ]; then why="exit status $rc"
  elif [ "$ok" = 0 ]; then why="reported ok=0 (result check failed)"
  elif [ -z "$val" ]; then why="no '$name=' in its output"
  elif ! awk -v v="$val" 'BEGIN { exit !(v + 0 == v && v > 0) }'; then why="non-numeric $name=$val"
  fi
  if [ -n "$why" ]; then
    say "FAILED [$label]: $why: $*"
    tail -n 5 "$log" | sed 's/^/    | /' >&2
    MEAS=NA
  else
    say "  [$label] $name=$val"
    MEAS="$val"
  fi
}

# Results: VALS[key] holds a space-separated list of values (NA for failed runs).
declare -A VALS=()
add() { VALS[$1]="${VALS[$1]:-} $2"; }

# median KEY: the median of KEY's numeric values, NA if none.
median() {
  tr ' ' '\n' <<<"${VALS[$1]:-}" | awk '$1 != "NA" && $1 != "" { print $1 }' | sort -g |
    awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) printf "%.10g\n", a[(NR + 1) / 2];
          else printf "%.10g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
nvals() { tr ' ' '\n' <<<"${VALS[$1]:-}" | awk '$1 != "NA" && $1 != "" { n++ } END { print n + 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b + 0 == 0) print "NA"; else printf "%.3f\n", a / b }'; }
# fmt KIND VALUE: tasks/s as an integer, bytes/s as GB/s.
fmt() {
  awk -v k="$1" -v v="$2" 'BEGIN { if (v == "NA") print "NA"; else if (k == "bytes") printf "%.2f GB/s\n", v / 1e9;
       else printf "%.0f tasks/s\n", v }'
}

have_dagr=1
if [ ! -x "$DAGR" ]; then
  say "WARNING: dagr binary '$DAGR' not found or not executable (set BUILD_DIR or DAGR); dagr rows will be NA."
  have_dagr=0
fi
dagr_run() { # dagr_run LABEL FIELD ARGS...
  local label="$1" name="$2"
  shift 2
  if [ "$have_dagr" = 1 ]; then measure "$label" "$name" "$MPIRUN" -np "$NP" "$DAGR" "$@"; else MEAS=NA; fi
}
have_dask=1
if [ ! -f "$DASK_PY" ]; then
  say "WARNING: $DASK_PY not found (set SHARED_DIR); Dask rows will be NA."
  have_dask=0
fi
dask_run() { # dask_run WORKLOAD SCHEDULER
  if [ "$have_dask" = 1 ]; then measure "dask $1 $2" tasks_per_s "$PYTHON" "$DASK_PY" "$1" --scheduler "$2"
  else MEAS=NA; fi
}

wants() { case " $WORKLOADS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

say "run-core: REPS=$REPS NP=$NP DAGR=$DAGR SHARED_DIR=$SHARED_DIR${keep_logs:+ logs in $LOG_DIR}"

# ---- throughput -----------------------------------------------------------------------------------
if wants throughput; then
  have_batch=0
  if [ -f "$BATCH_SRC" ] && "$MPICC" -O2 "$BATCH_SRC" -o "$tmp/batch_limit" >"$tmp/batch_limit.build" 2>&1; then
    have_batch=1
  else
    say "FAILED: could not build $BATCH_SRC with $MPICC; batch_limit will be NA"
    sed 's/^/    | /' "$tmp/batch_limit.build" >&2 2>/dev/null || true
  fi
  for r in $(seq 1 "$REPS"); do
    say "throughput rep $r/$REPS"
    dagr_run "dagr throughput" tasks_per_s bench throughput --tasks "$THROUGHPUT_TASKS"; add tp_dagr "$MEAS"
    dask_run throughput sync; add tp_sync "$MEAS"
    dask_run throughput threads; add tp_threads "$MEAS"
    if [ "$have_batch" = 1 ]; then
      measure "batch_limit" tasks_per_s "$MPIRUN" -np "$NP" "$tmp/batch_limit" "$THROUGHPUT_TASKS" 1024 2
      add tp_batch "$MEAS"
    else
      add tp_batch NA
    fi
  done
  if [ "${SKIP_DISTRIBUTED:-0}" = 1 ]; then
    say "throughput: Dask distributed skipped (SKIP_DISTRIBUTED=1)"
    add tp_dist SKIP
  else
    say "throughput: Dask distributed (once)"
    dask_run throughput distributed; add tp_dist "$MEAS"
  fi
fi

# ---- chain ----------------------------------------------------------------------------------------
if wants chain; then
  for r in $(seq 1 "$REPS"); do
    say "chain rep $r/$REPS"
    dagr_run "dagr chain" tasks_per_s bench chain --tasks "$CHAIN_TASKS"; add ch_dagr "$MEAS"
    dask_run chain sync; add ch_sync "$MEAS"
    dask_run chain threads; add ch_threads "$MEAS"
  done
fi

# ---- transfer -------------------------------------------------------------------------------------
if wants transfer; then
  have_raw=1
  if [ ! -x "$RMA_RAW" ]; then
    if [ -f "$script_dir/rma_raw.c" ] &&
      "$MPICC" -O2 -std=gnu11 "$script_dir/rma_raw.c" -o "$tmp/rma_raw" >"$tmp/rma_raw.build" 2>&1; then
      say "note: $RMA_RAW not built; compiled $script_dir/rma_raw.c into a temporary directory"
      RMA_RAW="$tmp/rma_raw"
    else
      say "FAILED: $RMA_RAW missing and $script_dir/rma_raw.c could not be built; rma_raw will be NA"
      have_raw=0
    fi
  fi
  for b in $TRANSFER_SIZES; do
    for r in $(seq 1 "$REPS"); do
      say "transfer $b rep $r/$REPS"
      dagr_run "dagr transfer $b" bytes_per_s bench transfer --bytes "$b"; d="$MEAS"
      if [ "$have_raw" = 1 ]; then
        measure "rma_raw $b" bytes_per_s "$MPIRUN" -np "$NP" "$RMA_RAW" --bytes "$b"; w="$MEAS"
      else
        w=NA
      fi
      add "tr_dagr_$b" "$d"
      add "tr_raw_$b" "$w"
      add "tr_ratio_$b" "$(ratio "$d" "$w")" # paired: this rep's dagr over this rep's raw
    done
  done
fi

# ---- tracing --------------------------------------------------------------------------------------
if wants tracing; then
  for r in $(seq 1 "$REPS"); do
    say "tracing rep $r/$REPS"
    dagr_run "dagr tracing" tasks_per_s_on bench tracing --reps 21; add tt_on "$MEAS"
    # The same run's trace-off figure, from the same log.
    off=NA
    if [ "$MEAS" != NA ]; then
      off="$(field tasks_per_s_off "$(cat "$LOG_DIR/$(printf '%03d' "$nlog")"-*.log)")"
      [ -n "$off" ] || off=NA
    fi
    add tt_off "$off"
    if [ "$have_dask" = 1 ]; then
      measure "dask tracing sync" tasks_per_s_on "$PYTHON" "$script_dir/dask_trace.py" \
        "$(dirname "$DASK_PY")" --scheduler sync --reps 3
      add td_on "$MEAS"
      off=NA
      if [ "$MEAS" != NA ]; then
        off="$(field tasks_per_s_off "$(cat "$LOG_DIR/$(printf '%03d' "$nlog")"-*.log)")"
        [ -n "$off" ] || off=NA
      fi
      add td_off "$off"
    fi
  done
fi

# ---- table ----------------------------------------------------------------------------------------
# One row per (workload, baseline): dagr median, baseline median, ratio of the medians (dagr/baseline).
row() { # row WORKLOAD KIND DAGR_KEY BASELINE_NAME BASE_KEY NOTE
  local d b n
  d="$(median "$3")"
  if [ "${VALS[$5]:-}" = " SKIP" ]; then
    printf '| %s | %s | %s | skipped | - | %s |\n' "$1" "$(fmt "$2" "$d")" "$4" "$6"
    return
  fi
  b="$(median "$5")"
  n="$(nvals "$5")"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$2" "$d")" "$4" "$(fmt "$2" "$b")" "$(ratio "$d" "$b")" \
    "${6:+$6; }baseline runs: $n"
}

{
  echo
  echo "## dagr core benchmarks ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname), $(nproc) cores, REPS=$REPS, NP=$NP)"
  echo
  echo "| workload | dagr (median) | baseline | baseline (median) | dagr / baseline | notes |"
  echo "|---|---|---|---|---|---|"
  if wants throughput; then
    nd="dagr runs: $(nvals tp_dagr)"
    row "throughput ($THROUGHPUT_TASKS tasks)" tasks tp_dagr "Dask sync (100k leaves)" tp_sync "$nd"
    row "throughput ($THROUGHPUT_TASKS tasks)" tasks tp_dagr "Dask threads (100k leaves)" tp_threads "$nd"
    row "throughput ($THROUGHPUT_TASKS tasks)" tasks tp_dagr "Dask distributed (100k leaves, 1 run)" tp_dist "$nd"
    row "throughput ($THROUGHPUT_TASKS tasks)" tasks tp_dagr "batch_limit 1024x2 (C ceiling)" tp_batch "$nd"
  fi
  if wants chain; then
    nd="dagr runs: $(nvals ch_dagr)"
    row "chain ($CHAIN_TASKS tasks)" tasks ch_dagr "Dask sync" ch_sync "$nd"
    row "chain ($CHAIN_TASKS tasks)" tasks ch_dagr "Dask threads" ch_threads "$nd"
  fi
  if wants transfer; then
    for b in $TRANSFER_SIZES; do
      row "transfer $b" bytes "tr_dagr_$b" "rma_raw (MPI_Rget)" "tr_raw_$b" \
        "median of paired ratios: $(median "tr_ratio_$b"); dagr runs: $(nvals "tr_dagr_$b")"
    done
  fi
  if wants tracing; then
    row "throughput with the Chrome trace on (100k leaves)" tasks tt_on "the same runs, trace off" tt_off \
      "dagr runs: $(nvals tt_on)"
    if [ "$have_dask" = 1 ]; then
      row "Dask sync with Profiler on (100k leaves)" tasks td_on "the same runs, Profiler off" td_off \
        "Dask runs: $(nvals td_on); the first column is Dask here"
      row "throughput with the Chrome trace on (100k leaves)" tasks tt_on "Dask sync with Profiler on" td_on \
        "dagr runs: $(nvals tt_on)"
    fi
  fi
  echo
  echo "Ratios above 1 mean dagr is faster (tasks/s, bytes/s); for the trace row, on / off (0.85: 15% lost)."
  echo "Medians over REPS runs; NA: no successful run."
}

# Every NA among the measurements (paired ratios aside) is a command that gave no value.
failures=0
for k in "${!VALS[@]}"; do
  case "$k" in tr_ratio_*) continue ;; esac
  n="$(tr ' ' '\n' <<<"${VALS[$k]}" | awk '$1 == "NA" { n++ } END { print n + 0 }')"
  failures=$((failures + n))
done
if [ "$failures" -gt 0 ]; then
  say "run-core: $failures run(s) gave no value (see the FAILED lines above${keep_logs:+; logs in $LOG_DIR})"
  exit 1
fi
exit 0
