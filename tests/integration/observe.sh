#!/usr/bin/env bash
# observe.sh: observability end to end: callbacks, run summary, Chrome trace (parsed), spill events, progress bar, bad settings.
#
# Run by `make check` through tests/wrapper.sh (MPIRUN, PYTHON3_SYS, DAGR_TOP_BUILDDIR and Open
# MPI's variables). tests/integration/observe_mpi runs its callbacks, summary and trace modes
# alone and under -np 2 and -np 3 (its own ok/FAIL lines are shown and counted), and its info mode
# (dagr_info_print inside a callback) alone and under -np 3 with a short bound; the files it
# leaves are checked here with Python: the worker callbacks' per-rank logs, and the Chrome trace
# (valid JSON; one slice per task with its kernel, rank and byte counts; no overlap on a track;
# slices inside their dagr_get; rank names; store counters; the 1 MiB transfer between workers
# 1 and 2). spill_mpi's spilling run (and its object larger than a store) must leave spill and
# restore events that add up to the runs' bytes_spilled. `dagr run` checks the
# progress bar (non-terminal lines, DAGR_PROGRESS=0/1, short runs, a terminal through script(1)),
# DAGR_SUMMARY=1, "%j" in trace names, and that bad DAGR_PROGRESS, DAGR_PROGRESS_INTERVAL,
# DAGR_SUMMARY, DAGR_TRACE and --trace values are errors naming them. Prints ok/FAIL lines and
# "N passed, N failed" last.
set -u
B="${DAGR_TOP_BUILDDIR:-.}"
MPIRUN="${MPIRUN:-mpirun}"
PY="${PYTHON3_SYS:-/usr/bin/python3}"
prog="$B/tests/integration/observe_mpi"
spill="$B/tests/integration/spill_mpi"
dagr="$B/dagr"
limit=120
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dagr_observe.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ok() { echo "ok $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
# Shows a checker's ok/FAIL lines (suffixed with the label) and adds them to the counts; other
# lines are indented; a "N passed, N failed" line is not counted again.
tally() {
  local label="$1" file="$2" line
  while IFS= read -r line; do
    case "$line" in
    ok\ *) echo "$line ($label)"; passed=$((passed + 1)) ;;
    FAIL\ *) echo "$line ($label)"; failed=$((failed + 1)) ;;
    *\ passed,\ *\ failed) ;;
    *) echo "  $line" ;;
    esac
  done <"$file"
}
# A program's own "N passed, N failed" must be there and agree with its exit status.
summary_of() {
  local label="$1" file="$2" rc="$3" line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$file" | tail -1)
  if [ -z "$line" ]; then
    bad "$label: the program finished" "exit $rc, no summary line; stderr: $(head -c 600 "$tmp/err")"
  elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$file"; then
    bad "$label: the program exits 0" "exit $rc without a failed check; stderr: $(head -c 600 "$tmp/err")"
  fi
}

for p in "$prog" "$spill" "$dagr"; do
  if [ ! -x "$p" ]; then
    echo "FAIL setup: $p is not built"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "FAIL setup: no python3 at $PY"
  echo "0 passed, 1 failed"
  exit 1
fi
# The progress bar and summary are rank 0's, on stderr; nothing in the environment may turn them on
# or off behind the test's back.
unset DAGR_PROGRESS DAGR_PROGRESS_INTERVAL DAGR_SUMMARY DAGR_TRACE DAGR_REPORT SLURM_JOB_ID

# Launchers: "alone" (a single process with its local worker pool), -np 2 (one worker), -np 3.
# launch LAUNCHER SECONDS COMMAND...: the command under that launcher, within a time bound.
launch() {
  local np="$1" secs="$2"
  shift 2
  if [ "$np" = alone ]; then
    timeout --kill-after=10 "$secs" "$@"
  else
    timeout --kill-after=10 "$secs" $MPIRUN -np "$np" "$@"
  fi
}
label_of() { [ "$1" = alone ] && echo alone || echo "-np $1"; }

# --- checkers -----------------------------------------------------------------------------------
cat >"$tmp/check_wcb.py" <<'EOF'
# Worker callbacks: DIR/wcb.RANK against DIR/expect_wcb.txt, driver.txt and threads.txt.
import glob, os, sys
d, mpi, nranks = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
def ok(m): print("ok " + m)
def bad(m, why): print("FAIL %s: %s" % (m, why))
workers = list(range(1, nranks)) if mpi else [0]
expect = {}
for line in open(os.path.join(d, "expect_wcb.txt")):
    key, kernel, nbytes, minsec, attempts, worker, fails = line.rstrip("\n").split("\t")
    expect[key] = dict(kernel=kernel, nbytes=int(nbytes), minsec=float(minsec),
                       attempts=int(attempts), worker=int(worker), fails=fails == "1")
driver = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(d, "driver.txt")))
threads = {int(a): int(b) for a, b in (l.split() for l in open(os.path.join(d, "threads.txt")))}
files = sorted(glob.glob(os.path.join(d, "wcb.*")))
ranks = sorted(int(f.rsplit(".", 1)[1]) for f in files)
if ranks and set(ranks) <= set(workers):
    ok("worker callbacks: only worker ranks log tasks")
else:
    bad("worker callbacks: only worker ranks log tasks", "files for ranks %s, workers %s" % (ranks, workers))
calls = {}
bad_rank = bad_thread = bad_pre = bad_post = bad_secs = bad_len = bad_kernel = bad_order = 0
why = {}
for f in files:
    frank = int(f.rsplit(".", 1)[1])
    open_attempt = {}
    for line in open(f, encoding="utf-8", errors="replace"):
        what, key, kernel, rank, thread, secs, nbytes, status, klen = line.rstrip("\n").split("\t")
        rank, thread, secs, nbytes, status, klen = int(rank), int(thread), float(secs), int(nbytes), int(status), int(klen)
        calls.setdefault(key, {"pre": 0, "post": 0, "ranks": set()})
        calls[key][what] += 1
        calls[key]["ranks"].add(rank)
        if rank != frank:
            bad_rank += 1; why.setdefault("rank", "%s: rank %d in the file of rank %d" % (key[:60], rank, frank))
        if not (0 <= thread < threads.get(rank, 0)):
            bad_thread += 1; why.setdefault("thread", "%s: thread %d of %d on rank %d" % (key[:60], thread, threads.get(rank, 0), rank))
        if klen != len(key.encode()) or klen > 256:
            bad_len += 1; why.setdefault("len", "%s: %d bytes" % (key[:60], klen))
        e = expect.get(key)
        if e and kernel != e["kernel"]:
            bad_kernel += 1; why.setdefault("kernel", "%s: %s (%s)" % (key[:60], kernel, e["kernel"]))
        if what == "pre":
            if key in open_attempt: bad_order += 1
            open_attempt[key] = thread
            if secs != 0 or nbytes != 0 or status != 0:
                bad_pre += 1; why.setdefault("pre", "%s: seconds %g nbytes %d status %d" % (key[:60], secs, nbytes, status))
        else:
            if open_attempt.pop(key, None) != thread:
                bad_order += 1; why.setdefault("order", "%s: posttask without a pretask on thread %d" % (key[:60], thread))
            if e:
                good = (status != 0 and nbytes == 0) if e["fails"] else (status == 0 and nbytes == e["nbytes"])
                if not good:
                    bad_post += 1; why.setdefault("post", "%s: status %d, nbytes %d (%d)" % (key[:60], status, nbytes, e["nbytes"]))
                if secs < e["minsec"] - 1e-6 or secs < 0:
                    bad_secs += 1; why.setdefault("secs", "%s: %.6f s (at least %.6f)" % (key[:60], secs, e["minsec"]))
    if open_attempt:
        bad_order += len(open_attempt); why.setdefault("order", "pretask without posttask: %s" % list(open_attempt)[:3])
missing = [k for k, e in expect.items() if calls.get(k, {}).get("pre") != e["attempts"] or calls.get(k, {}).get("post") != e["attempts"]]
stray = [k for k in calls if k not in expect]
if not missing and not stray:
    ok("worker callbacks: every key has one pretask and one posttask per attempt, over all ranks (%d keys)" % len(expect))
else:
    bad("worker callbacks: every key has one pretask and one posttask per attempt, over all ranks",
        "%d keys wrong, e.g. %r: %r; %d unknown keys, e.g. %r" % (len(missing), missing[:1], [calls.get(k) for k in missing[:1]], len(stray), stray[:2]))
def res(n, name, w):
    (ok if n == 0 else lambda m: bad(m, "%d wrong, e.g. %s" % (n, why.get(w, "?"))))("worker callbacks: " + name)
res(bad_rank, "info.rank is the rank running the callback", "rank")
res(bad_thread, "info.thread is an executor thread of that rank", "thread")
res(bad_order, "pretask then posttask on the same thread for each attempt", "order")
res(bad_kernel, "kernel names", "kernel")
res(bad_pre, "pretask has seconds 0, nbytes 0, status DAGR_OK", "pre")
res(bad_post, "posttask status and nbytes (the output's size)", "post")
res(bad_secs, "posttask seconds >= the kernel's sleep", "secs")
res(bad_len, "keys are NUL-terminated prefixes of at most 256 bytes", "len")
longk = [k for k in expect if k.startswith("long-")]
if longk and len(longk[0]) == 256 and calls.get(longk[0], {}).get("post") == 1:
    ok("worker callbacks: a 300-byte key arrives as its first 256 bytes")
else:
    bad("worker callbacks: a 300-byte key arrives as its first 256 bytes", "%r" % [(len(k), calls.get(k)) for k in longk])
wrong = [k for k, r in driver.items() if k in calls and calls[k]["ranks"] != {int(r)}]
pinned = [k for k, e in expect.items() if e["worker"] > 0 and k in calls and calls[k]["ranks"] != {e["worker"]}]
if not wrong and not pinned and all(k in calls for k in driver):
    ok("worker callbacks: each task ran on the rank the driver's posttask names, pinned ones on their worker")
else:
    bad("worker callbacks: each task ran on the rank the driver's posttask names, pinned ones on their worker",
        "%d differ from the driver, %d pinned elsewhere: %r" % (len(wrong), len(pinned), (wrong + pinned)[:2]))
EOF

cat >"$tmp/check_trace.py" <<'EOF'
# A Chrome trace from observe_mpi's trace mode: DIR/tasks.txt and DIR/facts.txt say what ran.
import json, os, sys
from collections import defaultdict
path, d = sys.argv[1], sys.argv[2]
def ok(m): print("ok " + m)
def bad(m, why): print("FAIL %s: %s" % (m, why))
facts = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(d, "facts.txt")))
nranks, nw, mpi = int(facts["nranks"]), int(facts["nworkers"]), facts["mpi"] == "1"
workers = list(range(1, nranks)) if mpi else [0]
tasks = {}
for line in open(os.path.join(d, "tasks.txt")):
    run, key, kernel, inb, outb, worker, ms = line.rstrip("\n").split("\t")
    tasks[key] = dict(run=int(run), kernel=kernel, inb=int(inb), outb=int(outb), worker=int(worker), ms=int(ms))
try:
    raw = open(path, "rb").read()
    doc = json.loads(raw.decode("utf-8"))
    ok("trace is valid JSON (%d bytes)" % len(raw))
except Exception as e:
    bad("trace is valid JSON", repr(e)[:300])
    sys.exit(0)
ev = doc.get("traceEvents") if isinstance(doc, dict) else None
if not isinstance(ev, list):
    bad("trace has a traceEvents list", type(doc).__name__)
    sys.exit(0)
ok("trace has a traceEvents list (%d events)" % len(ev))
other = doc.get("otherData", {})
meta = [e for e in ev if e.get("ph") == "M"]
xs = [e for e in ev if e.get("ph") == "X"]
runs = sorted((e for e in xs if e.get("cat") == "run" and e.get("pid") == 0 and e.get("tid") == 20000),
              key=lambda e: e["ts"])
slices = [e for e in xs if e.get("cat") not in ("run", "transfer", "spill", "restore")]
xfers = [e for e in xs if e.get("cat") == "transfer"]
counters = [e for e in ev if e.get("ph") == "C" and e.get("name") == "store"]
# Runs: "dagr_get 1" and "dagr_get 2" on pid 0, tid 20000.
names = [e.get("name") for e in runs]
if names == ["dagr_get 1", "dagr_get 2"] and all(e["args"].get("status") == 0 for e in runs):
    ok("two run slices, dagr_get 1 and dagr_get 2, on pid 0 tid 20000, status 0")
else:
    bad("two run slices, dagr_get 1 and dagr_get 2, on pid 0 tid 20000, status 0", "%r" % [(e.get("name"), e.get("args")) for e in runs])
# Task slices: one per task, kernel, rank, byte counts.
by_key = defaultdict(list)
for e in slices:
    by_key[e.get("name")].append(e)
missing = [k for k in tasks if len(by_key.get(k, [])) != 1]
stray = [k for k in by_key if k not in tasks]
if not missing and not stray:
    ok("exactly one task slice per task (%d)" % len(tasks))
else:
    bad("exactly one task slice per task", "%d wrong, e.g. %r (%r); %d unknown, e.g. %r" %
        (len(missing), missing[:2], [len(by_key.get(k, [])) for k in missing[:2]], len(stray), stray[:2]))
probs = defaultdict(list)
for k, t in tasks.items():
    for e in by_key.get(k, [])[:1]:
        a = e.get("args", {})
        if e.get("cat") != t["kernel"] or a.get("kernel") != t["kernel"] or a.get("key") != k:
            probs["cat"].append("%s: cat %r kernel %r key %r" % (k[:60], e.get("cat"), a.get("kernel"), a.get("key", "")[:60]))
        if e.get("pid") not in workers or (t["worker"] > 0 and e.get("pid") != t["worker"]):
            probs["pid"].append("%s: pid %r (pinned %d)" % (k[:60], e.get("pid"), t["worker"]))
        if a.get("output_bytes") != t["outb"]:
            probs["out"].append("%s: output_bytes %r (%d)" % (k[:60], a.get("output_bytes"), t["outb"]))
        if a.get("input_bytes") != t["inb"]:
            probs["in"].append("%s: input_bytes %r (%d)" % (k[:60], a.get("input_bytes"), t["inb"]))
        if a.get("run") != t["run"]:
            probs["run"].append("%s: run %r (%d)" % (k[:60], a.get("run"), t["run"]))
        if not (e.get("dur", -1) >= t["ms"] * 1000 - 1) or not (e.get("ts", -1) >= 0):
            probs["dur"].append("%s: ts %r dur %r for %d ms" % (k[:60], e.get("ts"), e.get("dur"), t["ms"]))
        if e.get("tid") is None or not (0 <= e["tid"] < 10000):
            probs["tid"].append("%s: tid %r" % (k[:60], e.get("tid")))
def res(w, name):
    if probs[w]:
        bad(name, "%d wrong, e.g. %s" % (len(probs[w]), probs[w][0]))
    else:
        ok(name)
res("cat", "task slices: name = key, cat = args.kernel = the task's kernel")
res("pid", "task slices: pid is a worker rank (pinned tasks: their worker)")
res("tid", "task slices: tid is an executor thread")
res("out", "task slices: output_bytes as known")
res("in", "task slices: input_bytes as known")
res("run", "task slices: args.run is the dagr_get's index")
res("dur", "task slices: ts >= 0, dur covers the kernel's sleep")
# No overlap on one (pid, tid) track (1 us of rounding allowed).
tracks = defaultdict(list)
for e in xs:
    tracks[(e.get("pid"), e.get("tid"))].append((e["ts"], e["ts"] + e["dur"], e.get("name")))
overlaps = []
for tr, v in tracks.items():
    v.sort()
    for a, b in zip(v, v[1:]):
        if b[0] < a[1] - 1.0:
            overlaps.append("%r: %r [%.3f, %.3f] and %r [%.3f, %.3f]" % (tr, a[2][:40], a[0], a[1], b[2][:40], b[0], b[1]))
if overlaps:
    bad("slices on one (pid, tid) track do not overlap", "%d overlaps, e.g. %s" % (len(overlaps), overlaps[0]))
else:
    ok("slices on one (pid, tid) track do not overlap (%d tracks)" % len(tracks))
# Task and transfer slices lie within their run's slice (1 ms allowed for clock offsets).
outside = []
for e in slices + xfers:
    r = e.get("args", {}).get("run")
    if not isinstance(r, int) or not 0 <= r < len(runs):
        outside.append("%s: run %r" % (e.get("name", "")[:40], r))
        continue
    R = runs[r]
    if e["ts"] < R["ts"] - 1000 or e["ts"] + e["dur"] > R["ts"] + R["dur"] + 1000:
        outside.append("%s [%.1f, %.1f] outside %s [%.1f, %.1f]" % (e.get("name", "")[:40], e["ts"], e["ts"] + e["dur"],
                       R["name"], R["ts"], R["ts"] + R["dur"]))
if outside:
    bad("task and transfer slices lie within their dagr_get's slice", "%d outside, e.g. %s" % (len(outside), outside[0]))
else:
    ok("task and transfer slices lie within their dagr_get's slice")
# Run facts: tasks per run, bytes moved.
rt = [sum(1 for t in tasks.values() if t["run"] == i) for i in range(2)]
got = [e["args"].get("tasks") for e in runs]
moved = [e["args"].get("bytes_moved") for e in runs]
want_moved = [int(facts["run0_bytes_fetched"]), int(facts["run1_bytes_fetched"])]
if got == rt and moved == want_moved:
    ok("run slices: tasks and bytes_moved as dagr_last_stats")
else:
    bad("run slices: tasks and bytes_moved as dagr_last_stats", "tasks %r (%r), bytes_moved %r (%r)" % (got, rt, moved, want_moved))
if other.get("ranks") == nranks and other.get("workers") == nw and other.get("runs") == 2 and other.get("tasks") == len(slices):
    ok("otherData: ranks, workers, runs, tasks")
else:
    bad("otherData: ranks, workers, runs, tasks", "%r" % other)
# Metadata: a process name for every rank, a thread name for every track used.
pnames = {e.get("pid"): e.get("args", {}).get("name", "") for e in meta if e.get("name") == "process_name"}
if set(pnames) == set(range(nranks)) and all(pnames[r].startswith("rank %d " % r) for r in pnames):
    ok("process_name metadata for every rank")
else:
    bad("process_name metadata for every rank", "%r" % pnames)
tnames = {(e.get("pid"), e.get("tid")) for e in meta if e.get("name") == "thread_name"}
unnamed = [tr for tr in tracks if tr not in tnames]
if unnamed:
    bad("thread_name metadata for every track with slices", "unnamed %r" % unnamed[:4])
else:
    ok("thread_name metadata for every track with slices")
# Store counters: on worker ranks, every worker that ran a task has some.
cpids = {e.get("pid") for e in counters}
spids = {e.get("pid") for e in slices}
okc = counters and cpids <= set(workers) and spids <= cpids and all(
    isinstance(e.get("args", {}).get("used_bytes"), int) and e["args"]["used_bytes"] >= 0 for e in counters)
if okc:
    ok("store counters (ph C, used_bytes) for every worker rank that ran tasks")
else:
    bad("store counters (ph C, used_bytes) for every worker rank that ran tasks", "%d counters on pids %r; slices on %r" % (len(counters), sorted(cpids), sorted(spids)))
# Transfers: on the receiving rank's tid 10000, between two worker ranks, of a known object.
badx = []
for e in xfers:
    a = e.get("args", {})
    t = tasks.get(a.get("key"))
    if not (e.get("tid") == 10000 and e.get("pid") == a.get("to_rank") and a.get("from_rank") in workers and
            a.get("to_rank") in workers and a.get("from_rank") != a.get("to_rank") and t and a.get("bytes") == t["outb"] and
            e.get("name") == a.get("key")):
        badx.append(e)
if badx:
    bad("transfer slices: tid 10000 of the receiving rank, from another worker, the object's bytes", "%d wrong, e.g. %r" % (len(badx), badx[0]))
else:
    ok("transfer slices: tid 10000 of the receiving rank, from another worker, the object's bytes (%d)" % len(xfers))
if nw >= 2:
    big = [e for e in xfers if e.get("args", {}).get("key") == "big"]
    if len(big) == 1 and big[0]["pid"] == 2 and big[0]["args"]["from_rank"] == 1 and big[0]["args"]["to_rank"] == 2 and big[0]["args"]["bytes"] == 1 << 20:
        ok("the 1 MiB fill made on worker 1 shows as one transfer into worker 2")
    else:
        bad("the 1 MiB fill made on worker 1 shows as one transfer into worker 2", "%r" % big)
    total = sum(e["args"]["bytes"] for e in xfers if e.get("args", {}).get("run") == 0)
    if total == want_moved[0]:
        ok("transfer bytes add up to dagr_get 1's bytes moved")
    else:
        bad("transfer bytes add up to dagr_get 1's bytes moved", "%d (%d)" % (total, want_moved[0]))
else:
    if xfers:
        bad("no transfers with a single worker", "%d transfers" % len(xfers))
    else:
        ok("no transfers with a single worker")
EOF

cat >"$tmp/check_spill.py" <<'EOF'
# Spill and restore events in spill_mpi's trace: on the workers' tid 10001, bytes > 0, and the
# spill bytes of each run add up to its bytes_spilled.
import json, sys
path, want_restore, nranks = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
def ok(m): print("ok " + m)
def bad(m, why): print("FAIL %s: %s" % (m, why))
try:
    ev = json.load(open(path, encoding="utf-8"))["traceEvents"]
except Exception as e:
    bad("trace of the spilling run is valid JSON", repr(e)[:300])
    sys.exit(0)
workers = set(range(1, nranks)) if nranks > 1 else {0}
runs = sorted((e for e in ev if e.get("cat") == "run"), key=lambda e: e["ts"])
for kind in ("spill", "restore"):
    es = [e for e in ev if e.get("cat") == kind and e.get("ph") == "X"]
    wrong = [e for e in es if e.get("name") != kind or e.get("tid") != 10001 or e.get("pid") not in workers
             or not e.get("args", {}).get("bytes", 0) > 0 or not e.get("args", {}).get("key")]
    if kind == "restore" and not want_restore:
        continue
    if es and not wrong:
        ok("%s events on worker ranks' tid 10001 with bytes > 0 (%d)" % (kind, len(es)))
    else:
        bad("%s events on worker ranks' tid 10001 with bytes > 0" % kind, "%d events, %d wrong: %r" % (len(es), len(wrong), wrong[:1]))
sums = []
for i, r in enumerate(runs):
    s = sum(e["args"]["bytes"] for e in ev if e.get("cat") == "spill" and e.get("args", {}).get("run") == i)
    sums.append((r["args"].get("bytes_spilled"), s))
if runs and all(a == b for a, b in sums) and sums[0][0] > 0:
    ok("each run's bytes_spilled equals the bytes of its spill events")
else:
    bad("each run's bytes_spilled equals the bytes of its spill events", "(bytes_spilled, sum of spill events) per run: %r" % sums)
EOF

cat >"$tmp/check_progress.py" <<'EOF'
# Progress lines on stderr (not a terminal). argv: file, least lines, total tasks, interval (or 0).
import math, re, sys
path, least, total, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
label, start = sys.argv[5], len(sys.argv) > 6 and sys.argv[6] == "start"
def ok(m): print("ok %s (%s)" % (m, label))
def bad(m, why): print("FAIL %s (%s): %s" % (m, label, why))
text = open(path, encoding="utf-8", errors="replace", newline="").read()
# dagr [####....]  NN% done/total tasks | Xs elapsed | Ys left | Z moved[ | W spilled]
T = r"(?:\?|\d+\.\d+s|\d+s|\d+m\d\ds|\d+h\d\dm)"
BY = r"\d+(?:\.\d)? (?:B|KiB|MiB|GiB|TiB|PiB)"
pat = re.compile(r"^dagr \[([#.]{20})\] +(\d+)%% (\d+)/(\d+) tasks \| (%s) elapsed \| (%s) left \| (%s) moved(?: \| (%s) spilled)?$" % (T, T, BY, BY))
lines = [l for l in text.split("\n") if l.startswith("dagr [")]
parsed = [pat.match(l) for l in lines]
if "\r" in text:
    bad("no carriage returns when stderr is not a terminal", "found one")
if any(p is None for p in parsed):
    bad("progress lines have the documented format", "%r" % [l for l, p in zip(lines, parsed) if p is None][:2])
    sys.exit(0)
if len(lines) < least:
    bad("at least %d progress lines" % least, "%d lines: %r" % (len(lines), lines))
    sys.exit(0)
ok("%d progress lines in the documented format (at least %d)" % (len(lines), least))
pct = [int(p.group(2)) for p in parsed]
# As progress.c computes them, in doubles: the bar's '#' and the floored percentage.
def frac(d):
    f = d / total if total else 1.0
    return min(f, 1.0)
done = [int(p.group(3)) for p in parsed]
tot = {int(p.group(4)) for p in parsed}
def secs(s):
    m = re.match(r"^(\d+(?:\.\d+)?)s$", s)
    return float(m.group(1)) if m else None
el = [secs(p.group(5)) for p in parsed]
bars = [p.group(1).count("#") for p in parsed]
if pct == sorted(pct) and done == sorted(done) and tot == {total} and all(b == int(frac(d) * 20) for b, d in zip(bars, done)) \
        and all(q == math.floor(frac(d) * 100) for q, d in zip(pct, done)):
    ok("percentages and done counts never decrease; bar and percent match done/%d" % total)
else:
    bad("percentages and done counts never decrease; bar and percent match done/total", "%r" % lines)
last = parsed[-1]
if int(last.group(2)) == 100 and int(last.group(3)) == total and last.group(6) == "0s" and text.endswith("\n") \
        and pct.count(100) == 1:
    ok("the last line, and only it, is 100%% %d/%d with 0s left" % (total, total))
else:
    bad("the last line, and only it, is 100% N/N with 0s left", repr(lines[-2:]))
if start:
    # Before the 0.5 s an automatic bar waits (0.3 s: slack for a loaded machine).
    if el[0] is not None and el[0] <= 0.3 and len(lines) >= 2:
        ok("a line at the start of the run (%s elapsed) and the final one" % parsed[0].group(5))
    else:
        bad("a line at the start of the run and the final one", repr(lines[:2]))
if interval > 0 and len(el) >= 3 and None not in el:
    gaps = [b - a for a, b in zip(el[:-1], el[1:-1])]
    # Automatic mode: nothing before 0.5 s (or the interval when longer), then one line per interval.
    first_ok = el[0] >= max(0.5, interval) - 0.15
    if first_ok and all(g >= interval - 0.15 for g in gaps):
        ok("lines come an interval apart, the first after max(0.5 s, the interval)")
    else:
        bad("lines come an interval apart, the first after max(0.5 s, the interval)", "elapsed %r" % el)
EOF

# --- 1. callbacks, summary, trace from a program ------------------------------------------------
for np in alone 2 3; do
  L=$(label_of $np)
  d="$tmp/cb-$np"
  mkdir -p "$d"
  launch $np "$limit" "$prog" callbacks "$d" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  tally "callbacks, $L" "$tmp/out"
  summary_of "callbacks, $L" "$tmp/out" $rc
  if [ -s "$d/expect_wcb.txt" ]; then
    nr=$([ $np = alone ] && echo 1 || echo $np)
    "$PY" "$tmp/check_wcb.py" "$d" "$([ $np = alone ] && echo 0 || echo 1)" "$nr" >"$tmp/chk" 2>&1
    tally "callbacks, $L" "$tmp/chk"
  fi
  if [ -e "$d/probe-trace.json" ] || [ -e "$d/probe-report.html" ]; then
    bad "no trace or report from dagr_set_trace/dagr_set_report refused inside a callback ($L)" "$(ls "$d")"
  fi

  launch $np "$limit" "$prog" summary "$tmp" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  tally "summary, $L" "$tmp/out"
  summary_of "summary, $L" "$tmp/out" $rc

  d="$tmp/tr-$np"
  mkdir -p "$d"
  if [ $np = 2 ]; then
    # The trace named by DAGR_TRACE instead of dagr_set_trace.
    DAGR_TRACE="$d/trace.json" launch $np "$limit" "$prog" trace "$d" - \
      >"$tmp/out" 2>"$tmp/err"
  else
    launch $np "$limit" "$prog" trace "$d" "$d/trace.json" \
      >"$tmp/out" 2>"$tmp/err"
  fi
  rc=$?
  tally "trace, $L" "$tmp/out"
  summary_of "trace, $L" "$tmp/out" $rc
  if [ -s "$d/tasks.txt" ] && [ -f "$d/trace.json" ]; then
    "$PY" "$tmp/check_trace.py" "$d/trace.json" "$d" >"$tmp/chk" 2>&1
    tally "trace, $L" "$tmp/chk"
  else
    bad "trace file written ($L)" "no $d/trace.json or tasks.txt; stderr: $(head -c 400 "$tmp/err")"
  fi
done

# dagr_info_print inside a driver callback must be refused and the run must go on (its own run,
# with a short bound: before it was refused it could stall the run under -np 3).
for np in alone 3; do
  L=$(label_of $np)
  launch $np 20 "$prog" info "$tmp" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  tally "info, $L" "$tmp/out"
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    bad "dagr_info_print inside a callback: the run completes ($L)" "killed after 20 s: $(tail -c 300 "$tmp/err")"
  else
    summary_of "info, $L" "$tmp/out" $rc
  fi
done

# --- 2. spill and restore events ----------------------------------------------------------------
mkdir -p "$tmp/spill"
DAGR_TRACE="$tmp/spill.json" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=32M DAGR_PROGRESS=1 \
  timeout --kill-after=10 "$limit" $MPIRUN -np 3 "$spill" spill >"$tmp/out" 2>"$tmp/err"
rc=$?
# Its progress bar (DAGR_PROGRESS=1): the final line of the 128-task run shows bytes moved and
# spilled.
fin=$(grep -E '^dagr \[#{20}\] 100% 128/128 tasks \| ' "$tmp/err" | tail -1)
if echo "$fin" | grep -Eq ' \| [0-9.]+ (KiB|MiB|GiB) moved \| [0-9.]+ (KiB|MiB|GiB) spilled$'; then
  ok "progress: the final line of a spilling run shows bytes moved and spilled (-np 3)"
else
  bad "progress: the final line of a spilling run shows bytes moved and spilled (-np 3)" "'$fin': $(grep 'dagr \[' "$tmp/err" | tail -2)"
fi
if [ $rc -eq 0 ] && grep -q '^ok the run spilled' "$tmp/out"; then
  ok "spill_mpi spills with 32 MiB stores and DAGR_TRACE set (-np 3)"
  "$PY" "$tmp/check_spill.py" "$tmp/spill.json" 1 3 >"$tmp/chk" 2>&1
  tally "spill, -np 3" "$tmp/chk"
else
  bad "spill_mpi spills with 32 MiB stores and DAGR_TRACE set (-np 3)" "exit $rc: $(grep -E '^FAIL' "$tmp/out" | head -3) $(head -c 300 "$tmp/err")"
fi
# An object larger than a whole store goes straight to a spill file: counted in bytes_spilled, so
# the trace must show it too (the kernel wrote it to its spill file: one spill event).
DAGR_TRACE="$tmp/huge.json" DAGR_SPILL_DIR="$tmp/spill" DAGR_STORE_BYTES=16M \
  timeout --kill-after=10 "$limit" $MPIRUN -np 3 "$spill" huge >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/huge.json" ]; then
  "$PY" "$tmp/check_spill.py" "$tmp/huge.json" 0 3 >"$tmp/chk" 2>&1
  tally "object larger than the store, -np 3" "$tmp/chk"
else
  bad "spill_mpi huge with DAGR_TRACE set (-np 3)" "exit $rc: $(grep -E '^FAIL' "$tmp/out" | head -3) $(head -c 300 "$tmp/err")"
fi

# --- 3. progress bar ----------------------------------------------------------------------------
# slow.json: a chain of 15 sleeps of 100 ms (1.5 s whatever the workers); quick.json: 4 tasks.
"$PY" - "$tmp" <<'EOF'
import json, sys
d = sys.argv[1]
g, prev = {}, None
for i in range(15):
    k = "('sleep', %d)" % i
    g[k] = {"kernel": "sleep", "params": {"ms": 100}, "args": [prev] if prev else []}
    prev = k
json.dump({"graph": g, "outputs": [prev]}, open(d + "/slow.json", "w"))
q = {"a": {"kernel": "const", "params": {"value": 5}},
     "buf": {"kernel": "fill", "params": {"bytes": 1000, "seed": 3}},
     "s": {"kernel": "sleep", "params": {"ms": 5}, "args": ["a"]},
     "sum": {"kernel": "checksum", "args": ["buf", "s"]}}
json.dump({"graph": q, "outputs": ["sum"]}, open(d + "/quick.json", "w"))
EOF
# prun LAUNCH ENV... -- COMMAND...: stdout in $tmp/pout, stderr in $tmp/perr.
prun() {
  local np="$1"
  shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  (
    [ ${#envs[@]} -eq 0 ] || export "${envs[@]}"
    launch "$np" "$limit" "$@"
  ) >"$tmp/pout" 2>"$tmp/perr"
}
for np in alone 3; do
  L=$(label_of $np)
  prun $np DAGR_PROGRESS_INTERVAL=0.2 -- "$dagr" run "$tmp/slow.json"
  rc=$?
  if [ $rc -eq 0 ] && [ "$(cat "$tmp/pout")" = "{\"('sleep', 14)\": 0}" ]; then
    ok "slow run with DAGR_PROGRESS_INTERVAL=0.2 succeeds, stdout only the result ($L)"
  else
    bad "slow run with DAGR_PROGRESS_INTERVAL=0.2 succeeds, stdout only the result ($L)" "exit $rc: $(head -c 300 "$tmp/pout") $(head -c 300 "$tmp/perr")"
  fi
  "$PY" "$tmp/check_progress.py" "$tmp/perr" 3 15 0.2 "slow run, interval 0.2, $L" >"$tmp/chk" 2>&1
  tally "progress" "$tmp/chk"

  if [ $np = alone ]; then
    # An interval above 0.5 s: the first line only after it.
    prun $np DAGR_PROGRESS_INTERVAL=0.6 -- "$dagr" run "$tmp/slow.json"
    rc=$?
    [ $rc -eq 0 ] || bad "slow run with DAGR_PROGRESS_INTERVAL=0.6 succeeds ($L)" "exit $rc: $(head -c 300 "$tmp/perr")"
    "$PY" "$tmp/check_progress.py" "$tmp/perr" 2 15 0.6 "slow run, interval 0.6, $L" >"$tmp/chk" 2>&1
    tally "progress" "$tmp/chk"
  fi

  prun $np DAGR_PROGRESS=0 DAGR_PROGRESS_INTERVAL=0.2 -- "$dagr" run "$tmp/slow.json"
  rc=$?
  if [ $rc -eq 0 ] && ! grep -q 'dagr \[' "$tmp/perr"; then
    ok "DAGR_PROGRESS=0: no progress line on a slow run ($L)"
  else
    bad "DAGR_PROGRESS=0: no progress line on a slow run ($L)" "exit $rc: $(head -c 300 "$tmp/perr")"
  fi

  prun $np DAGR_PROGRESS_INTERVAL=0.2 -- "$dagr" run "$tmp/quick.json"
  rc=$?
  if [ $rc -eq 0 ] && ! grep -q 'dagr \[' "$tmp/perr" && [ -s "$tmp/pout" ]; then
    ok "a short run prints no progress line ($L)"
  else
    bad "a short run prints no progress line ($L)" "exit $rc: $(head -c 300 "$tmp/perr")"
  fi

  prun $np DAGR_PROGRESS=1 -- "$dagr" run "$tmp/quick.json"
  rc=$?
  [ $rc -eq 0 ] || bad "DAGR_PROGRESS=1 short run succeeds ($L)" "exit $rc: $(head -c 300 "$tmp/perr")"
  "$PY" "$tmp/check_progress.py" "$tmp/perr" 1 4 0 "DAGR_PROGRESS=1, short run, $L" start >"$tmp/chk" 2>&1
  tally "progress" "$tmp/chk"
done

# A terminal: redrawn in place with carriage returns (at most 10 a second), a newline after 100%.
if command -v script >/dev/null 2>&1; then
  for pv in "" 0; do
    cmd="$(printf '%q ' env ${pv:+DAGR_PROGRESS=$pv} timeout --kill-after=10 "$limit" "$dagr" run "$tmp/slow.json")"
    t0=$(date +%s.%N)
    timeout --kill-after=10 "$limit" script -qec "$cmd" /dev/null </dev/null >"$tmp/tty" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    "$PY" - "$tmp/tty" "$rc" "$pv" "$t0" "$t1" >"$tmp/chk" 2>&1 <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace", newline="").read()
rc, pv, secs = int(sys.argv[2]), sys.argv[3], float(sys.argv[5]) - float(sys.argv[4])
def ok(m): print("ok " + m)
def bad(m, why): print("FAIL %s: %s" % (m, why))
if pv == "0":
    if rc == 0 and "dagr [" not in text and "('sleep', 14)" in text:
        ok("DAGR_PROGRESS=0 on a terminal: no progress bar")
    else:
        bad("DAGR_PROGRESS=0 on a terminal: no progress bar", "exit %d: %r" % (rc, text[:300]))
    sys.exit(0)
draws = re.findall(r"\rdagr \[", text)
inplace = re.findall(r"[^\n]\rdagr \[", text)
if rc == 0 and len(draws) >= 3 and len(inplace) >= 2:
    ok("terminal: the bar is redrawn in place with carriage returns (%d draws)" % len(draws))
else:
    bad("terminal: the bar is redrawn in place with carriage returns", "exit %d, %d draws, %d in place: %r" % (rc, len(draws), len(inplace), text[:400]))
# Nothing in the first 0.5 s, then at most one draw per 0.1 s, and the final one.
if len(draws) <= 10 * (secs - 0.5) + 2:
    ok("terminal: at most 10 redraws a second (%d in %.1f s)" % (len(draws), secs))
else:
    bad("terminal: at most 10 redraws a second", "%d in %.1f s" % (len(draws), secs))
m = re.search(r"\rdagr \[#{20}\] 100% 15/15 tasks \| [^\r\n]* left \| [^\r\n]* moved *\r?\n", text)
if m and "\r" not in m.group(0)[1:].rstrip("\r\n"):
    ok("terminal: the final 100% 15/15 draw ends with a newline")
else:
    bad("terminal: the final 100% 15/15 draw ends with a newline", repr(text[-300:]))
if re.search(r"\n\{\"\('sleep', 14\)\": 0\}", text):
    ok("terminal: the result comes on its own line after the bar")
else:
    bad("terminal: the result comes on its own line after the bar", repr(text[-200:]))
EOF
    tally "progress, terminal, alone" "$tmp/chk"
  done
else
  bad "terminal progress" "script(1) from util-linux is not installed"
fi

# --- 4. DAGR_SUMMARY=1 --------------------------------------------------------------------------
for np in alone 3; do
  L=$(label_of $np)
  prun $np DAGR_SUMMARY=1 -- "$dagr" run "$tmp/quick.json"
  rc=$?
  ws=$([ $np = alone ] && echo 0 || echo "1 2")
  miss=""
  grep -q '^dagr summary: 4 tasks in ' "$tmp/perr" || miss="$miss 'dagr summary: 4 tasks'"
  for k in const fill sleep checksum; do
    grep -Eq "^  $k +1 " "$tmp/perr" || miss="$miss kernel:$k"
  done
  for w in $ws; do
    grep -q "^  worker rank $w: " "$tmp/perr" || miss="$miss 'worker rank $w'"
  done
  grep -q 'summary' "$tmp/pout" && miss="$miss (summary on stdout)"
  if [ $rc -eq 0 ] && [ -z "$miss" ]; then
    ok "DAGR_SUMMARY=1: 'dagr summary:', each kernel, each worker rank on stderr ($L)"
  else
    bad "DAGR_SUMMARY=1: 'dagr summary:', each kernel, each worker rank on stderr ($L)" "exit $rc, missing$miss: $(head -c 500 "$tmp/perr")"
  fi
done
prun alone -- "$dagr" run "$tmp/quick.json"
if ! grep -q 'dagr summary' "$tmp/perr"; then
  ok "no summary without DAGR_SUMMARY"
else
  bad "no summary without DAGR_SUMMARY" "$(head -c 300 "$tmp/perr")"
fi

# --- 5. trace names: %j and %% ------------------------------------------------------------------
prun alone SLURM_JOB_ID=4242 "DAGR_TRACE=$tmp/t-%j.json" -- "$dagr" run "$tmp/quick.json"
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/t-4242.json" ] && "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/t-4242.json" 2>/dev/null; then
  ok "DAGR_TRACE=t-%j.json with SLURM_JOB_ID=4242 writes t-4242.json, valid JSON"
else
  bad "DAGR_TRACE=t-%j.json with SLURM_JOB_ID=4242 writes t-4242.json, valid JSON" "exit $rc: $(cd "$tmp" && echo t-*) $(head -c 300 "$tmp/perr")"
fi
prun alone SLURM_JOB_ID=4242 -- "$dagr" run --trace "$tmp/p%%-%j.json" "$tmp/quick.json"
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/p%-4242.json" ]; then
  ok "--trace p%%-%j.json writes p%-4242.json"
else
  bad "--trace p%%-%j.json writes p%-4242.json" "exit $rc: $(cd "$tmp" && echo p*) $(head -c 300 "$tmp/perr")"
fi
# dagr eval takes --trace and --report too: a sum over an HDF5 dataset, alone and under mpirun.
"$PY" -c 'import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f: f["x"] = np.arange(40000.0).reshape(200, 200)' "$tmp/x.h5"
for np in alone 3; do
  L=$(label_of $np)
  rm -f "$tmp/ev.json" "$tmp/ev.html"
  prun $np -- "$dagr" eval 'x.sum()' "x=$tmp/x.h5:/x" --chunks 50,50 --trace "$tmp/ev.json" \
    --report "$tmp/ev.html"
  rc=$?
  why=$("$PY" - "$tmp/ev.json" "$tmp/ev.html" "$tmp/pout" <<'PYEOF'
import json, sys
tr, rep, out = sys.argv[1:4]
try:
    got = float(open(out).read().strip())
    if got != 40000 * 39999 / 2:
        print("printed", got); sys.exit()
    ev = json.load(open(tr))["traceEvents"]
    reads = [e for e in ev if e.get("ph") == "X" and e.get("cat") == "array.h5read"]
    if len(reads) != 16:
        print(len(reads), "array.h5read slices, expected 16 (4 x 4 chunks)"); sys.exit()
    if any(e["args"]["output_bytes"] != 50 * 50 * 8 for e in reads):
        print("a chunk read's output_bytes is not 20000"); sys.exit()
    html = open(rep).read()
    if 'id="task-stream"' not in html or "array.h5read" not in html:
        print("the report lacks the task stream or the kernel"); sys.exit()
except Exception as e:
    print(type(e).__name__, e)
PYEOF
)
  if [ $rc -eq 0 ] && [ -z "$why" ]; then
    ok "dagr eval --trace --report: the sum, 16 chunk reads in the trace, the report ($L)"
  else
    bad "dagr eval --trace --report ($L)" "exit $rc: $why $(head -c 300 "$tmp/perr")"
  fi
done

# A directory as the name: a file named after the job in it (existing directory, or a name
# ending in '/').
mkdir -p "$tmp/jobdir"
prun alone SLURM_JOB_ID=4243 "DAGR_REPORT=$tmp/jobdir/" -- "$dagr" run --trace "$tmp/jobdir" "$tmp/quick.json"
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/jobdir/dagr-trace-4243.json" ] && [ -s "$tmp/jobdir/dagr-report-4243.html" ]; then
  ok "a directory as trace/report name: dagr-trace-4243.json and dagr-report-4243.html in it"
else
  bad "a directory as trace/report name: dagr-trace-4243.json and dagr-report-4243.html in it" \
    "exit $rc: $(ls "$tmp/jobdir") $(head -c 300 "$tmp/perr")"
fi

# --- 6. bad settings ----------------------------------------------------------------------------
for v in DAGR_PROGRESS=2 DAGR_PROGRESS=-1 DAGR_PROGRESS=yes DAGR_PROGRESS_INTERVAL=0 \
  DAGR_PROGRESS_INTERVAL=abc DAGR_PROGRESS_INTERVAL=-1 DAGR_SUMMARY=x DAGR_SUMMARY=2 DAGR_TRACE=; do
  prun alone "$v" -- "$dagr" run "$tmp/quick.json"
  rc=$?
  if [ $rc -ne 0 ] && grep -q "${v%%=*}" "$tmp/perr" && [ ! -s "$tmp/pout" ]; then
    ok "bad $v is an error naming it, nothing run"
  else
    bad "bad $v is an error naming it, nothing run" "exit $rc: $(head -c 300 "$tmp/perr") / $(head -c 100 "$tmp/pout")"
  fi
done
prun 3 DAGR_PROGRESS=2 -- "$dagr" run "$tmp/quick.json"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] && grep -q DAGR_PROGRESS "$tmp/perr"; then
  ok "bad DAGR_PROGRESS=2 under -np 3: every rank stops, naming it"
else
  bad "bad DAGR_PROGRESS=2 under -np 3: every rank stops, naming it" "exit $rc: $(head -c 300 "$tmp/perr")"
fi
for order in before after; do
  if [ $order = before ]; then
    prun alone -- "$dagr" run --trace /nonexistent-dagr/dir/t.json "$tmp/slow.json"
  else
    prun alone -- "$dagr" run "$tmp/slow.json" --trace=/nonexistent-dagr/dir/t.json
  fi
  rc=$?
  if [ $rc -ne 0 ] && grep -q /nonexistent-dagr/dir/t.json "$tmp/perr" && [ ! -s "$tmp/pout" ]; then
    ok "dagr run --trace into a missing directory ($order the graph) fails naming it, before running"
  else
    bad "dagr run --trace into a missing directory ($order the graph) fails naming it, before running" "exit $rc: $(head -c 300 "$tmp/perr") / $(head -c 100 "$tmp/pout")"
  fi
done
for np in alone 3; do
  L=$(label_of $np)
  prun $np DAGR_TRACE=/nonexistent-dagr/x.json -- "$dagr" run "$tmp/quick.json"
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] && grep -q /nonexistent-dagr/x.json "$tmp/perr" &&
    grep -q DAGR_EIO "$tmp/perr"; then
    ok "DAGR_TRACE=/nonexistent-dagr/x.json: non-zero exit, the path named, DAGR_EIO at finalize ($L)"
  else
    bad "DAGR_TRACE=/nonexistent-dagr/x.json: non-zero exit, the path named, DAGR_EIO at finalize ($L)" "exit $rc: $(head -c 400 "$tmp/perr")"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
