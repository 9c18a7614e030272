#!/usr/bin/python3
"""dask_trace.py: what recording a task stream costs Dask, for comparison with dagr bench tracing.

Runs the anchors' throughput graph (dask_baselines.py's throughput_graph, 100k leaves and a
fan-in-32 tree) on Dask's sync or threaded scheduler with and without dask.diagnostics.Profiler
(Dask's per-task start/end recorder, the closest thing to dagr's trace), alternating each
repetition. Prints: bench=dask_tracing scheduler=S tasks=N reps=R tasks_per_s_off=X
tasks_per_s_on=Y overhead_pct=Z

Usage: dask_trace.py ANCHORS_DIR [--scheduler sync|threads] [--n N] [--reps R]"""
import argparse, statistics, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("anchors")
ap.add_argument("--scheduler", default="sync")
ap.add_argument("--n", type=int, default=100000)
ap.add_argument("--reps", type=int, default=5)
a = ap.parse_args()
sys.path.insert(0, a.anchors)
import dask
from dask.diagnostics import Profiler
from dask_baselines import throughput_graph

get = dask.get if a.scheduler == "sync" else dask.threaded.get
dsk, out, ntasks = throughput_graph(a.n)
off, on = [], []
for r in range(a.reps):
    for k in range(2):
        traced = (r + k) % 2
        t = time.perf_counter()
        if traced:
            with Profiler() as prof:
                get(dsk, out)
            if len(prof.results) != ntasks:
                sys.exit("Profiler recorded %d tasks, expected %d" % (len(prof.results), ntasks))
        else:
            get(dsk, out)
        (on if traced else off).append(time.perf_counter() - t)
m_off, m_on = statistics.median(off), statistics.median(on)
print("bench=dask_tracing scheduler=%s tasks=%d reps=%d tasks_per_s_off=%.0f tasks_per_s_on=%.0f "
      "overhead_pct=%.1f" % (a.scheduler, ntasks, a.reps, ntasks / m_off, ntasks / m_on,
                             100 * (m_on - m_off) / m_off))
