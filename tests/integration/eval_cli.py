# eval_cli.py: checks `dagr eval` against NumPy on generated HDF5 files, alone and under mpirun.
"""Usage: eval_cli.py --dagr PATH [--mpirun 'CMD'] [--np N ...] [--keep]

Generates HDF5 files of several dtypes, shapes and layouts in a temporary directory, runs a table
of `dagr eval` cases (each alone, and a representative subset under `CMD -np N` for every --np),
and compares the printed JSON (or the written dataset) with NumPy on the same data, using the
tolerances the `dagr eval` documentation promises.  Prints `ok NAME (launcher)` or
`FAIL NAME (launcher): ...` per run and finally `N passed, N failed`; exits 1 on any failure.
"""
import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

RUN_TIMEOUT = 120  # seconds for one dagr invocation

# Tolerance classes ("exact", "fn", "red") -> relative tolerance per result dtype.
TOL = {
    "exact": {"float64": 0.0, "float32": 0.0},
    "fn": {"float64": 1e-14, "float32": 1e-6},  # elementwise sqrt/exp/log/sin/...: libm ulps
    "red": {"float64": 1e-12, "float32": 1e-5},  # sums, means, var/std (documented)
}


# ------------------------------------------------------------------------------ data
def make_data(d):
    """Writes the test files into directory D; returns {name: (file, dataset, ndarray)}."""
    rng = np.random.default_rng(20240611)
    arrs = {}

    def put(f, name, arr, **kw):
        f.create_dataset(name, data=arr, **kw)
        return arr

    f1 = os.path.join(d, "data.h5")
    with h5py.File(f1, "w") as f:
        # float64 2-D, chunked not dividing the shape, gzip
        a = rng.normal(5.0, 2.0, size=(130, 97))
        a[3, 4] = -0.75  # a few negatives for sqrt/log
        arrs["a"] = (f1, "/a", put(f, "a", a, chunks=(32, 25), compression="gzip"))
        # float32 2-D, contiguous
        b = rng.normal(-3.0, 1.5, size=(130, 97)).astype(np.float32)
        arrs["b"] = (f1, "/b", put(f, "b", b))
        # bool 2-D, chunked
        m = rng.random((130, 97)) < 0.3
        m[:, 5] = True  # an all-true column
        m[:, 6] = False  # an all-false column
        arrs["m"] = (f1, "/m", put(f, "m", m, chunks=(40, 40)))
        # int32 2-D with values near the limits (for wrapping) and INT32_MIN
        dd = rng.integers(-2_000_000_000, 2_000_000_000, size=(130, 97), dtype=np.int64)
        dd = dd.astype(np.int32)
        dd[0, 0] = np.iinfo(np.int32).min
        dd[0, 1] = np.iinfo(np.int32).max
        arrs["d"] = (f1, "/d", put(f, "d", dd, chunks=(50, 30)))
        # int64 1-D, negative values, zeros, ties at the extremes
        c = rng.integers(-1000, 1001, size=1001, dtype=np.int64)
        c[0:30] = rng.integers(2, 9, size=30) * rng.choice([-1, 1], size=30)  # nonzero head
        c[500] = 0
        c[700] = 0
        c[100] = 1000
        c[900] = 1000
        c[200] = -1000
        c[300] = -1000
        arrs["c"] = (f1, "/grp/c", put(f, "grp/c", c, chunks=(128,)))
        # float64 3-D chunked, and uint8 3-D gzip with other chunks (same shape: broadcasting)
        g = rng.normal(0.0, 1.0, size=(10, 12, 14)) + 2.0
        arrs["g"] = (f1, "/g", put(f, "g", g, chunks=(4, 5, 6)))
        u = rng.integers(0, 256, size=(10, 12, 14), dtype=np.uint8)
        u[0, 0, 0] = 0
        u[0, 0, 1] = 255
        arrs["u"] = (f1, "/u", put(f, "u", u, chunks=(3, 5, 4), compression="gzip"))
        # float64 with NaN and +-inf in some columns only
        an = rng.normal(0.0, 3.0, size=(20, 30))
        an[2, 3] = np.nan
        an[7, 3] = np.inf
        an[5, 10] = np.inf
        an[6, 11] = -np.inf
        an[9, 12] = np.inf
        an[11, 12] = -np.inf
        an[15, 20] = np.nan
        an[16, 21] = -np.inf
        arrs["an"] = (f1, "/an", put(f, "an", an, chunks=(7, 8)))
    f2 = os.path.join(d, "big.h5")
    with h5py.File(f2, "w") as f:
        big = rng.uniform(-1.0, 3.0, size=10001)
        arrs["big"] = (f2, "/big", put(f, "big", big, chunks=(1000,)))
        sq = rng.uniform(0.0, 1.0, size=(100, 100))
        arrs["sq"] = (f2, "/sq", put(f, "sq", sq, chunks=(30, 30), compression="gzip"))
        i1 = rng.integers(-50, 50, size=1000, dtype=np.int32)
        arrs["i1"] = (f2, "/i1", put(f, "i1", i1))
        bn = big.copy()
        bn[4321] = np.nan
        arrs["bn"] = (f2, "/bn", put(f, "bn", bn, chunks=(999,)))
    return arrs


# ------------------------------------------------------------------------------ comparison
def kind_of(dt):
    dt = np.dtype(dt)
    if dt == np.bool_:
        return bool
    if np.issubdtype(dt, np.integer):
        return int
    return float


def flat(x, out):
    if isinstance(x, list):
        for y in x:
            flat(y, out)
    else:
        out.append(x)


def nested_shape(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        if not x:
            break
        x = x[0]
    return tuple(s)


def short(x, n=200):
    s = json.dumps(x) if not isinstance(x, str) else x
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def close(g, e, rtol, floor):
    """Compares Python numbers G (from JSON) and E (NumPy scalar as Python)."""
    if isinstance(e, float) and math.isnan(e):
        return isinstance(g, float) and math.isnan(g)
    if isinstance(e, float) and math.isinf(e):
        return g == e
    if rtol == 0.0:
        return g == e
    if isinstance(g, float) and (math.isnan(g) or math.isinf(g)):
        return False
    return abs(g - e) <= rtol * max(abs(e), floor)


def compare_values(got, exp, tol="exact", floor=0.0):
    """GOT: parsed JSON; EXP: NumPy array or scalar.  Returns None or a message."""
    exp = np.asarray(exp)
    want_kind = kind_of(exp.dtype)
    rtol = TOL[tol].get(exp.dtype.name, 0.0) if want_kind is float else 0.0
    gshape = nested_shape(got)
    if exp.size == 0:
        if got == [] or gshape[:1] == (0,):
            return None
        return "expected an empty list, got %s" % short(got)
    if gshape != exp.shape:
        return "expected shape %s, got shape %s: %s" % (exp.shape, gshape, short(got))
    gflat = []
    flat(got, gflat)
    eflat = exp.reshape(-1).tolist()
    f32 = exp.dtype == np.float32
    for i, (g, e) in enumerate(zip(gflat, eflat)):
        if type(g) is not want_kind:
            return "element %d: expected a JSON %s (dtype %s), got %s" % (
                i, want_kind.__name__, exp.dtype.name, json.dumps(g))
        if f32:
            g = float(np.float32(g))  # printed with 9 digits: round-trips a float32
        if not close(g, e, rtol, floor):
            idx = np.unravel_index(i, exp.shape) if exp.shape else ()
            return "element %s: expected %r, got %r (tolerance %s)" % (
                tuple(int(k) for k in idx), e, g, tol)
    return None


def compare_summary(got, exp, floor=0.0, minmax_tol="exact"):
    """A result with more than 10,000 elements: {"shape","dtype","min","max","mean"}."""
    exp = np.asarray(exp)
    if not isinstance(got, dict):
        return "expected a summary object, got %s" % short(got)
    keys = {"shape", "dtype", "min", "max", "mean"}
    if set(got) != keys:
        return "expected keys %s, got %s" % (sorted(keys), sorted(got))
    if got["shape"] != list(exp.shape):
        return "shape: expected %s, got %s" % (list(exp.shape), got["shape"])
    if got["dtype"] != exp.dtype.name:
        return "dtype: expected %s, got %s" % (exp.dtype.name, got["dtype"])
    with np.errstate(all="ignore"):
        for key, val, t in (("min", exp.min(), minmax_tol), ("max", exp.max(), minmax_tol),
                            ("mean", exp.mean(), "red")):
            msg = compare_values(got[key], val, t, floor)
            if msg:
                return "%s: %s" % (key, msg)
    return None


# ------------------------------------------------------------------------------ cases
class Case:
    def __init__(self, name, expr, names, expect=None, tol="exact", floor=0.0, chunks=None,
                 mpi=False, summary=False, error=None, argv=None, out=None, gzip=False,
                 minmax_tol="exact", check=None, no_file=None):
        self.name, self.expr, self.names = name, expr, names
        self.expect, self.tol, self.floor = expect, tol, floor
        self.chunks, self.mpi, self.summary = chunks, mpi, summary
        self.error = error  # substrings the stderr must all contain (case-insensitive)
        self.argv = argv  # explicit argument list instead of EXPR + bindings (+ chunks)
        self.out, self.gzip = out, gzip  # --out "FILE:/dset" (FILE relative to the temp dir)
        self.minmax_tol = minmax_tol
        self.check = check  # extra check after a successful --out run: fn(tmpdir) -> msg|None
        self.no_file = no_file  # a path (relative) that must not exist after an error case


def build_cases(A):
    """A: {name: ndarray}.  Returns the list of Cases."""
    a, b, m, d, c = A["a"], A["b"], A["m"], A["d"], A["c"]
    g, u, an, big, sq, i1, bn = A["g"], A["u"], A["an"], A["big"], A["sq"], A["i1"], A["bn"]
    C = []

    def case(*args, **kw):
        C.append(Case(*args, **kw))

    with np.errstate(all="ignore"):
        # -- numbers, arithmetic, precedence
        case("number arithmetic", "1 + 2 * 3", [], np.int64(7))
        case("parentheses", "(1 + 2) * 3", [], np.int64(9))
        case("power right-assoc", "2 ** 3 ** 2", [], np.int64(512))
        case("unary minus vs power", "-2 ** 2", [], np.int64(-4))
        case("left-assoc minus", "10 - 2 - 3", [], np.int64(5))
        case("int/int true division scalar", "7 / 2", [], np.float64(3.5))
        case("float literal", "1.5e1 * 2", [], np.float64(30.0))
        case("scalar comparison", "1 < 2", [], np.bool_(True))
        case("precedence mixed dtypes", "a[0:50] + b[0:50] * 2 - d[0:50] / 4", ["a", "b", "d"],
             a[0:50] + b[0:50] * 2 - d[0:50] / 4)
        case("unary plus", "+c[0:3]", ["c"], +c[0:3])
        case("nan literal", "c[0:3] + nan", ["c"], c[0:3] + np.nan)
        case("int float comparison", "c > 0.5", ["c"], c > 0.5)
        case("unary minus array", "-a[0:40, 0:30] + 1", ["a"], -a[0:40, 0:30] + 1)
        case("minus power precedence", "-c ** 2", ["c"], -c ** 2)
        case("power float", "sq ** 0.5", ["sq"], sq ** 0.5, tol="fn")
        case("power int", "i1 ** 3", ["i1"], i1 ** 3)
        case("scalar minus array", "1 - c * 3", ["c"], 1 - c * 3)
        case("float32 times float scalar", "b[0:60] * 2.5", ["b"], b[0:60] * 2.5)
        case("float32 plus float64", "b[0:60] + a[0:60]", ["a", "b"], b[0:60] + a[0:60])
        case("int32 times float", "d[0:60] * 1.5", ["d"], d[0:60] * 1.5)
        case("int/int true division", "c / 7", ["c"], c / 7)
        case("int/int division by zero", "c / c", ["c"], c / c)
        case("float division by zero", "an / 0", ["an"], an / 0)
        case("int32 overflow wraps", "d[0:70] + d[0:70]", ["d"], d[0:70] + d[0:70], mpi=True)
        case("int32 times scalar wraps", "d[0:70] * 3", ["d"], d[0:70] * 3)
        case("int32 negate INT_MIN", "-d[0:2]", ["d"], -d[0:2])
        case("int32 abs INT_MIN", "abs(d[0:2])", ["d"], np.abs(d[0:2]))
        case("uint8 add wraps", "u + u", ["u"], u + u)
        case("uint8 minus 1 wraps", "u - 1", ["u"], u - 1)
        case("uint8 times 2 wraps", "u * 2", ["u"], u * 2)
        case("uint8 plus int32", "u[0, 0:10, 0:10] + i1[0:10]", ["u", "i1"],
             u[0, 0:10, 0:10] + i1[0:10])
        case("uint8 times float", "u * 1.5", ["u"], u * 1.5)
        case("bool plus bool", "m[0:50] + m[0:50]", ["m"], m[0:50] + m[0:50])
        case("bool times int", "m[0:50] * 2", ["m"], m[0:50] * 2)
        case("broadcast 3-D with 2-D", "g * u[0] - u", ["g", "u"], g * u[0] - u, mpi=True)
        case("broadcast row", "a[0:100] * c[0:97]", ["a", "c"], a[0:100] * c[0:97])
        case("inf nan arithmetic", "an - an + an * 0", ["an"], an - an + an * 0)
        # -- comparisons
        case("comparison gt", "a[0:100] > 5", ["a"], a[0:100] > 5)
        case("comparison le mixed", "b[0:100] <= a[0:100] - 8", ["a", "b"],
             b[0:100] <= a[0:100] - 8)
        case("comparison eq int", "c == 1000", ["c"], c == 1000)
        case("comparison ne nan", "an != an", ["an"], an != an)
        case("comparison ge lt nan inf", "(an >= 0) == (an < 1)", ["an"], (an >= 0) == (an < 1))
        # -- functions
        case("where", "where(a[0:100] > 5, a[0:100], -1)", ["a"],
             np.where(a[0:100] > 5, a[0:100], -1), mpi=True)
        case("where int float", "where(c > 0, c, 0.5)", ["c"], np.where(c > 0, c, 0.5))
        case("where nan", "where(an > 0, an, 0)", ["an"], np.where(an > 0, an, 0))
        case("minimum", "minimum(a[0:90], b[0:90])", ["a", "b"], np.minimum(a[0:90], b[0:90]))
        case("maximum scalar int", "maximum(c, 0)", ["c"], np.maximum(c, 0))
        case("minimum nan propagates", "minimum(an, 1)", ["an"], np.minimum(an, 1))
        case("maximum nan propagates", "maximum(an, -inf)", ["an"], np.maximum(an, -np.inf))
        case("sqrt with negative", "sqrt(a[0:100])", ["a"], np.sqrt(a[0:100]), tol="fn")
        case("sqrt float32", "sqrt(abs(b[0:100]))", ["b"], np.sqrt(np.abs(b[0:100])), tol="fn")
        case("exp", "exp(g)", ["g"], np.exp(g), tol="fn")
        case("log int zero negative", "log(c)", ["c"], np.log(c), tol="fn")
        case("log float", "log(sq)", ["sq"], np.log(sq), tol="fn")
        case("matmul", "(sq @ sq.T).sum(axis=0)", ["sq"], (sq @ sq.T).sum(axis=0), tol="red")
        case("abs", "abs(an)", ["an"], np.abs(an))
        case("abs int64", "abs(c)", ["c"], np.abs(c))
        case("sin", "sin(g)", ["g"], np.sin(g), tol="fn")
        case("cos", "cos(an)", ["an"], np.cos(an), tol="fn")
        case("tanh", "tanh(b[0:100] / 2)", ["b"], np.tanh(b[0:100] / 2), tol="fn")
        case("exp uint8", "exp(u[0] / 64)", ["u"], np.exp(u[0] / 64), tol="fn")
        # -- transpose, slicing
        case("x.T", "sq.T", ["sq"], sq.T)
        case("transpose(x) 3-D", "transpose(g)", ["g"], np.transpose(g), mpi=True)
        case("x.transpose()", "a[0:40].transpose()", ["a"], a[0:40].T)
        case("T plus self", "sq + sq.T", ["sq"], sq + sq.T)
        case("slice step", "a[0:100, ::2]", ["a"], a[0:100, ::2], mpi=True)
        case("integer index", "a[3]", ["a"], a[3])
        case("negative index row", "a[-1, :]", ["a"], a[-1, :])
        case("reverse", "c[::-1]", ["c"], c[::-1], mpi=True)
        case("negative step 2-D", "a[::-3, 90:10:-7]", ["a"], a[::-3, 90:10:-7])
        case("mixed index 3-D", "g[2, ::-2, 1:5]", ["g"], g[2, ::-2, 1:5])
        case("index last axis", "u[:, 3]", ["u"], u[:, 3])
        case("negative bounds", "c[-10:-2]", ["c"], c[-10:-2])
        case("slice clipped", "c[990:5000]", ["c"], c[990:5000])
        case("slice empty", "c[5:5]", ["c"], c[5:5])
        case("scalar element", "a[3, 4]", ["a"], a[3, 4])
        case("slice of expression", "(a + 1)[10:20, 3]", ["a"], (a + 1)[10:20, 3])
        case("slice of transpose", "a.T[0:3, -5:]", ["a"], a.T[0:3, -5:])
        # -- reductions
        case("sum all", "a.sum()", ["a"], a.sum(), tol="red")
        case("sum function", "sum(a)", ["a"], np.sum(a), tol="red")
        case("sum axis 0", "a.sum(axis=0)", ["a"], a.sum(axis=0), tol="red", mpi=True)
        case("sum axis 1 function", "sum(a, axis=1)", ["a"], np.sum(a, axis=1), tol="red")
        case("sum positional axis", "sum(a, 1)", ["a"], np.sum(a, 1), tol="red")
        case("sum axis -1", "a.sum(axis=-1)", ["a"], a.sum(axis=-1), tol="red")
        case("sum axis None", "a.sum(axis=None)", ["a"], a.sum(axis=None), tol="red")
        case("sum axis tuple 3-D", "g.sum(axis=(0, 2))", ["g"], g.sum(axis=(0, 2)), tol="red",
             mpi=True)
        case("mean negative tuple", "g.mean(axis=(-1, 0))", ["g"], g.mean(axis=(-1, 0)),
             tol="red")
        case("mean axis 0", "mean(a, axis=0)", ["a"], np.mean(a, axis=0), tol="red")
        case("mean all", "a.mean()", ["a"], a.mean(), tol="red")
        case("var ddof=1", "a.var(ddof=1)", ["a"], a.var(ddof=1), tol="red", mpi=True)
        case("var axis 1", "var(a, axis=1)", ["a"], np.var(a, axis=1), tol="red")
        case("std axis 0 ddof=1", "std(a, axis=0, ddof=1)", ["a"], np.std(a, axis=0, ddof=1),
             tol="red", mpi=True)
        case("std float32 axis 1", "b.std(axis=1)", ["b"], b.std(axis=1), tol="red")
        case("var large offset", "(a + 1e6).var()", ["a"], (a + 1e6).var(), tol="red")
        case("sum float32", "b.sum()", ["b"], b.sum(), tol="red")
        case("mean float32 axis 0", "b.mean(axis=0)", ["b"], b.mean(axis=0), tol="red")
        case("var tuple ddof=2", "g.var(axis=(0, 2), ddof=2)", ["g"],
             g.var(axis=(0, 2), ddof=2), tol="red")
        case("var float32 ddof=1", "b.var(axis=0, ddof=1)", ["b"], b.var(axis=0, ddof=1),
             tol="red")
        case("std int64", "c.std()", ["c"], c.std(), tol="red")
        case("mean uint8 axis -1", "u.mean(axis=-1)", ["u"], u.mean(axis=-1), tol="red")
        case("max bool axis 1", "m.max(axis=1)", ["m"], m.max(axis=1))
        case("min bool", "m.min()", ["m"], m.min())
        case("argmax bool axis 0", "m.argmax(axis=0)", ["m"], m.argmax(axis=0))
        case("argmin uint8 axis 0", "u.argmin(axis=0)", ["u"], u.argmin(axis=0))
        case("min int32 axis 1", "d.min(axis=1)", ["d"], d.min(axis=1))
        case("integer index 3-D", "g[3]", ["g"], g[3])
        case("max axis 1 3-D", "g.max(axis=1)", ["g"], g.max(axis=1))
        case("min uint8 tuple", "u.min(axis=(1, 2))", ["u"], u.min(axis=(1, 2)))
        case("max float32", "max(b)", ["b"], np.max(b))
        case("sum uint8", "u.sum()", ["u"], u.sum())
        case("sum uint8 axis", "u.sum(axis=0)", ["u"], u.sum(axis=0))
        case("sum int32 no overflow", "d.sum()", ["d"], d.sum(), mpi=True)
        case("sum int32 axis 0", "d.sum(axis=0)", ["d"], d.sum(axis=0))
        case("mean int32", "d.mean()", ["d"], d.mean(), tol="red")
        case("min max int32", "d.min() - d.max()", ["d"], d.min() - d.max())
        case("prod int64 wraps", "c[0:30].prod()", ["c"], c[0:30].prod())
        case("prod float axis", "prod(a[0:6, 0:20], axis=0)", ["a"],
             np.prod(a[0:6, 0:20], axis=0), tol="red")
        case("argmin all", "a.argmin()", ["a"], a.argmin(), mpi=True)
        case("argmax axis 0", "a.argmax(axis=0)", ["a"], a.argmax(axis=0))
        case("argmin axis -1 3-D", "argmin(g, axis=-1)", ["g"], np.argmin(g, axis=-1))
        case("argmax ties first", "c.argmax()", ["c"], c.argmax(), mpi=True)
        case("argmin ties first", "argmin(c)", ["c"], np.argmin(c))
        case("argmax nan first", "an.argmax()", ["an"], an.argmax())
        case("argmin nan axis 0", "an.argmin(axis=0)", ["an"], an.argmin(axis=0))
        case("any", "any(a > 14)", ["a"], np.any(a > 14))
        case("all axis 0", "(a > -100).all(axis=0)", ["a"], (a > -100).all(axis=0))
        case("any bool axis 0", "m.any(axis=0)", ["m"], m.any(axis=0), mpi=True)
        case("all bool axis 0", "all(m, axis=0)", ["m"], np.all(m, axis=0))
        case("any int zero", "any(c[500:501])", ["c"], np.any(c[500:501]))
        case("any float64", "any(a[0:2, 0:3])", ["a"], np.any(a[0:2, 0:3]))
        case("all float64 3-D", "all(g)", ["g"], np.all(g), mpi=True)
        case("any float32 axis 0", "b.any(axis=0)", ["b"], b.any(axis=0))
        case("all int64 with zero", "all(c)", ["c"], np.all(c))
        case("all nan truthy", "an.all(axis=1)", ["an"], an.all(axis=1))
        case("bool sum", "m.sum()", ["m"], m.sum())
        case("bool sum axis 1", "m.sum(axis=1)", ["m"], m.sum(axis=1))
        case("bool mean", "m.mean(axis=0)", ["m"], m.mean(axis=0), tol="red")
        case("comparison sum", "(c > 0).sum()", ["c"], (c > 0).sum())
        case("nan sum propagates", "an.sum(axis=0)", ["an"], an.sum(axis=0), tol="red")
        case("nan max propagates", "an.max(axis=0)", ["an"], an.max(axis=0))
        case("nan min all", "an.min()", ["an"], an.min())
        case("nan mean all", "an.mean()", ["an"], an.mean(), tol="red")
        case("inf std", "an[:, 10:13].std(axis=0)", ["an"], an[:, 10:13].std(axis=0), tol="red")
        case("centered", "a - a.mean(axis=0)", ["a"], a - a.mean(axis=0), floor=1.0,
             summary=True, minmax_tol="red")
        case("reduction of slice", "a[::2, 1:-1].sum(axis=0)", ["a"],
             a[::2, 1:-1].sum(axis=0), tol="red")
        case("reduction of transpose", "(sq + sq.T).mean(axis=0)", ["sq"],
             (sq + sq.T).mean(axis=0), tol="red", mpi=True)
        case("reduction chain", "a.sum(axis=0).max()", ["a"], a.sum(axis=0).max(), tol="red")
        # -- summaries and the 10,000-element limit
        case("normalize summary", "(a - a.mean(axis=0)) / a.std(axis=0)", ["a"],
             (a - a.mean(axis=0)) / a.std(axis=0), summary=True, tol="red", floor=1.0,
             minmax_tol="red", mpi=True)
        case("summary float64", "a", ["a"], a, summary=True)
        case("summary float32", "b", ["b"], b, summary=True)
        case("summary int32", "d", ["d"], d, summary=True)
        case("summary bool", "a > 5", ["a"], a > 5, summary=True)
        case("summary nan", "bn", ["bn"], bn, summary=True)
        case("10000 printed", "big[0:10000]", ["big"], big[0:10000], mpi=True)
        case("10001 summary", "big", ["big"], big, summary=True, mpi=True)
        case("10000 2-D printed", "sq * 2", ["sq"], sq * 2)
        case("10001 expression summary", "big * 2 + 1", ["big"], big * 2 + 1, summary=True)
        # -- --chunks
        case("chunks explicit", "a.sum(axis=0)", ["a"], a.sum(axis=0), tol="red",
             chunks="17,23", mpi=True)
        case("chunks explicit slicing", "a[1:120:3, ::-2] * 2", ["a"], a[1:120:3, ::-2] * 2,
             chunks="13,7")
        case("chunks whole axis", "a.var(axis=1)", ["a"], a.var(axis=1), tol="red",
             chunks="-1,10")
        case("chunks auto", "a.argmax(axis=1)", ["a"], a.argmax(axis=1), chunks="auto")
        case("chunks 1-D", "c[::-1].prod()", ["c"], c[::-1].prod(), chunks="7")
        case("chunks 3-D", "g.std(axis=(0, 1))", ["g"], g.std(axis=(0, 1)), tol="red",
             chunks="3,5,7", mpi=True)

    # -- errors: exit status, message on stderr, no output file
    E = [
        ("error unknown function", ["foo(a)", "a=%T/data.h5:/a"], ["foo"], False),
        ("error unknown method", ["a.foo()", "a=%T/data.h5:/a"], ["foo"], False),
        ("error unknown name in call", ["sqrt(a, 2)", "a=%T/data.h5:/a"], ["sqrt"], False),
        ("error unbound name", ["a + y", "a=%T/data.h5:/a"], ["'y'"], False),
        ("error syntax", ["a + * 2", "a=%T/data.h5:/a"], ["column 5"], False),
        ("error syntax unclosed", ["(a + 1", "a=%T/data.h5:/a"], ["column"], False),
        ("error missing file", ["a + 1", "a=%T/nosuch.h5:/a"], ["nosuch.h5", "'a'"], True),
        ("error missing dataset", ["a + 1", "a=%T/data.h5:/nosuch"], ["nosuch", "'a'"], True),
        ("error shape mismatch", ["a + c", "a=%T/data.h5:/a", "c=%T/data.h5:/grp/c"],
         ["(130, 97)", "(1001,)"], True),
        ("error shape mismatch 3-D", ["g + sq", "g=%T/data.h5:/g", "sq=%T/big.h5:/sq"],
         ["(10, 12, 14)", "(100, 100)"], False),
        ("error axis out of range", ["a.sum(axis=2)", "a=%T/data.h5:/a"], ["axis 2"], False),
        ("error negative axis out of range", ["mean(c, axis=-2)", "c=%T/data.h5:/grp/c"],
         ["axis -2"], False),
        ("error duplicate axis", ["g.sum(axis=(1, -2))", "g=%T/data.h5:/g"], ["axis"], False),
        ("error argmin tuple axis", ["g.argmin(axis=(0, 1))", "g=%T/data.h5:/g"], ["argmin"],
         False),
        ("error index out of range", ["a[130]", "a=%T/data.h5:/a"], ["130"], False),
        ("error negative index out of range", ["c[-1002]", "c=%T/data.h5:/grp/c"], ["-1002"],
         False),
        ("error too many indices", ["c[1, 2]", "c=%T/data.h5:/grp/c"], ["too many"], False),
        ("error slice step zero", ["c[::0]", "c=%T/data.h5:/grp/c"], ["step"], False),
        ("error matmul shapes", ["a @ a", "a=%T/data.h5:/a"], ["(130, 97)"], False),
        ("error bad chunks zero", ["a + 1", "a=%T/data.h5:/a", "--chunks", "0,5"], ["--chunks"],
         False),
        ("error bad chunks text", ["a + 1", "a=%T/data.h5:/a", "--chunks", "ten"], ["--chunks"],
         False),
        ("error chunks rank mismatch", ["a + 1", "a=%T/data.h5:/a", "--chunks", "10"],
         ["--chunks"], False),
        ("error binding no dataset", ["a + 1", "a=%T/data.h5"], ["NAME=FILE"], False),
        ("error binding no name", ["a + 1", "=%T/data.h5:/a"], ["NAME=FILE"], False),
        ("error binding no equals", ["a + 1", "%T/data.h5:/a"], ["NAME=FILE"], False),
        ("error no expression", [], ["usage"], False),
        ("error bad --out", ["a + 1", "a=%T/data.h5:/a", "--out", "%T/x.h5"], ["--out"], False),
        ("error unknown option", ["a + 1", "a=%T/data.h5:/a", "--bogus"], ["--bogus"], False),
    ]
    for name, argv, needles, mpi in E:
        C.append(Case(name, None, None, error=needles, argv=argv, mpi=mpi,
                      out="err_%d.h5:/r" % len(C), no_file="err_%d.h5" % len(C)))
    # errors with --out into an existing file: the file must not gain the dataset
    C.append(Case("error keeps existing file", None, None, error=["'y'"],
                  argv=["a + y", "a=%T/data.h5:/a"], out="data.h5:/should_not_exist",
                  check=lambda t: no_dataset(os.path.join(t, "data.h5"), "should_not_exist")
                  or (os.path.exists(os.path.join(t, "data.h5.parts")) and
                      "a failed run left data.h5.parts/ behind") or None,
                  mpi=True))
    return C


def no_dataset(path, name):
    with h5py.File(path, "r") as h:
        if name in h:
            return "the failed run added /%s to %s" % (name, path)
    return None


def compressions(path, dset):
    """The set of compression filters of DSET, or of its sources when it is virtual."""
    if not dset.is_virtual:
        return {dset.compression}
    res = set()
    for src in dset.virtual_sources():
        sp = os.path.join(os.path.dirname(path), src.file_name)
        with h5py.File(sp, "r") as h:
            res.add(h[src.dset_name].compression)
    return res


OUT_FILES = {"o%d.h5" % i for i in range(1, 9)}


def out_cases(A):
    """Cases with --out: (Case, NumPy expected array)."""
    a, d, g, u, b, c = A["a"], A["d"], A["g"], A["u"], A["b"], A["c"]
    L = []
    with np.errstate(all="ignore"):
        L.append(Case("out float64", "a * 2 + 1", ["a"], a * 2 + 1, out="o1.h5:/x", mpi=True))
        L.append(Case("out float64 gzip", "a * 2 + 1", ["a"], a * 2 + 1, out="o2.h5:/x",
                      gzip=True, mpi=True))
        L.append(Case("out second dataset", "d + d", ["d"], d + d, out="o1.h5:/y", mpi=True))
        L.append(Case("out int32 gzip chunks", "d[::-1] * 3", ["d"], d[::-1] * 3,
                      out="o3.h5:/w", gzip=True, chunks="31,17"))
        L.append(Case("out bool", "a > 5", ["a"], a > 5, out="o4.h5:/mask"))
        L.append(Case("out uint8 3-D", "u - 1", ["u"], u - 1, out="o4.h5:/u", gzip=True))
        L.append(Case("out float32 transpose", "b.T * 2", ["b"], b.T * 2, out="o5.h5:/bt"))
        L.append(Case("out reduction", "a.sum(axis=0)", ["a"], a.sum(axis=0), tol="red",
                      out="o5.h5:/s"))
        L.append(Case("out normalized", "(a - a.mean(axis=0)) / a.std(axis=0)", ["a"],
                      (a - a.mean(axis=0)) / a.std(axis=0), tol="red", floor=1.0,
                      out="o6.h5:/z", gzip=True, mpi=True))
        L.append(Case("out 3-D slice", "g[1:9, ::2, ::-3] + 0.5", ["g"],
                      g[1:9, ::2, ::-3] + 0.5, out="o7.h5:/g"))
        # 0-d results become scalar datasets (shape (), as h5py writes a 0-d array).
        L.append(Case("out scalar sum", "a.sum()", ["a"], np.asarray(a.sum()), tol="red",
                      out="o8.h5:/sum", mpi=True))
        L.append(Case("out scalar int sum", "c.sum()", ["c"], np.asarray(c.sum()),
                      out="o8.h5:/isum"))
        L.append(Case("out scalar bool", "(a > 5).any()", ["a"], np.asarray((a > 5).any()),
                      out="o8.h5:/g/any"))
        L.append(Case("out scalar int", "d.max()", ["d"], np.asarray(d.max()), out="o8.h5:/max"))
    return L


# ------------------------------------------------------------------------------ running
class Runner:
    def __init__(self, dagr, tmp, files):
        self.dagr, self.tmp, self.files = dagr, tmp, files
        self.passed = self.failed = 0
        self.nruns = 0

    def report(self, name, label, msg):
        if msg is None:
            self.passed += 1
            print("ok %s (%s)" % (name, label))
        else:
            self.failed += 1
            print("FAIL %s (%s): %s" % (name, label, msg))
        sys.stdout.flush()

    def argv_for(self, case, tag):
        """The dagr arguments (after `dagr eval`) for CASE; TAG makes --out paths per launcher."""
        if case.argv is not None:
            args = [x.replace("%T/", self.tmp + os.sep) for x in case.argv]
        else:
            args = [case.expr]
            for n in case.names:
                f, ds, _ = self.files[n]
                args.append("%s=%s:%s" % (n, f, ds))
            if case.chunks:
                args += ["--chunks", case.chunks]
        if case.out and "--out" not in args:
            args += ["--out", self.outpath(case, tag)]
        if case.gzip:
            args.append("--gzip")
        return args

    def outpath(self, case, tag):
        f, ds = case.out.split(":", 1)
        if case.error is not None and case.check is not None:
            return os.path.join(self.tmp, f) + ":" + ds  # an existing input file
        return os.path.join(self.tmp, tag, f) + ":" + ds

    def run(self, launcher, args):
        cmd = launcher + [self.dagr, "eval"] + args
        self.nruns += 1
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=RUN_TIMEOUT, universal_newlines=True)
        except subprocess.TimeoutExpired:
            return cmd, None, "", "timed out after %d s" % RUN_TIMEOUT
        return cmd, p.returncode, p.stdout, p.stderr

    def one(self, case, launcher, label, tag):
        os.makedirs(os.path.join(self.tmp, tag), exist_ok=True)
        args = self.argv_for(case, tag)
        cmd, rc, out, err = self.run(launcher, args)
        where = "\n    command: %s" % " ".join(shlex.quote(x) for x in cmd)
        if rc is None:
            return self.report(case.name, label, err + where)
        if case.error is not None:
            msg = None
            if rc == 0:
                msg = "expected a non-zero exit, got 0 (stdout %s)" % short(out.strip())
            elif not err.strip():
                msg = "exit %d with nothing on stderr" % rc
            else:
                low = err.lower()
                if not all(n.lower() in low for n in case.error):
                    msg = "stderr does not mention %s: %s" % (
                        " and ".join(repr(n) for n in case.error), short(err.strip(), 400))
            if msg is None and out.strip():
                msg = "error run printed to stdout: %s" % short(out.strip())
            if msg is None and case.no_file:
                path = os.path.join(self.tmp, tag, case.no_file)
                if os.path.exists(path):
                    msg = "output file %s was created by a failed run" % path
            if msg is None:
                msg = self.leftovers(tag)
            if msg is None and case.check:
                msg = case.check(self.tmp)
            return self.report(case.name, label, msg and msg + where)
        if rc != 0:
            return self.report(case.name, label, "exit %d: %s%s" % (
                rc, short(err.strip(), 600), where))
        try:
            got = json.loads(out)
        except ValueError:
            return self.report(case.name, label, "stdout is not one JSON value: %s%s" % (
                short(out, 300), where))
        if case.out:
            msg = self.check_out(case, tag, got) or self.leftovers(tag)
        elif case.summary:
            msg = compare_summary(got, case.expect, case.floor, case.minmax_tol)
        else:
            if np.asarray(case.expect).size > 10000:
                msg = "bad test: expected result has more than 10,000 elements"
            else:
                msg = compare_values(got, case.expect, case.tol, case.floor)
        self.report(case.name, label, msg and msg + where)

    def leftovers(self, tag):
        """Files in the launcher's output directory other than the --out targets."""
        allowed = OUT_FILES | {f + ".parts" for f in OUT_FILES}  # VDS part files (README)
        left = sorted(set(os.listdir(os.path.join(self.tmp, tag))) - allowed)
        return "files left behind: %s" % left if left else None

    def check_out(self, case, tag, got):
        exp = np.asarray(case.expect)
        target = self.outpath(case, tag)
        want = {"out": target, "shape": list(exp.shape), "dtype": exp.dtype.name}
        if got != want:
            return "stdout: expected %s, got %s" % (json.dumps(want), short(got, 300))
        f, ds = target.split(":", 1)
        try:
            with h5py.File(f, "r") as h:
                if ds not in h:
                    return "%s has no dataset %s (has %s)" % (f, ds, list(h))
                dset = h[ds]
                if dset.dtype != exp.dtype:
                    return "written dtype %s, expected %s" % (dset.dtype, exp.dtype)
                comp = compressions(f, dset)
                if case.gzip and comp != {"gzip"}:
                    return "--gzip given but the data's compression is %s" % sorted(comp, key=str)
                if not case.gzip and comp != {None}:
                    return "no --gzip but the data's compression is %s" % sorted(comp, key=str)
                data = dset[()]
                names = sorted(h)
        except OSError as ex:
            return "cannot read %s: %s" % (f, ex)
        if np.asarray(data).shape != exp.shape:
            return "written shape %s, expected %s" % (np.asarray(data).shape, exp.shape)
        if case.tol == "exact":
            same = np.array_equal(data, exp, equal_nan=exp.dtype.kind == "f")
            if not same:
                bad = np.argwhere(data != exp)[0]
                return "written data differs at %s: expected %r, got %r" % (
                    tuple(bad), exp[tuple(bad)], data[tuple(bad)])
        else:
            rtol = TOL[case.tol][exp.dtype.name]
            err = np.abs(data - exp) > rtol * np.maximum(np.abs(exp), case.floor)
            if err.any():
                bad = tuple(np.argwhere(err)[0])
                return "written data differs at %s: expected %r, got %r" % (
                    bad, exp[bad], data[bad])
        if case.name == "out second dataset" and "x" not in names:
            return "the first dataset /x is gone after adding /y: %s has %s" % (f, names)
        if case.name == "out second dataset":
            with h5py.File(f, "r") as h:  # /x still holds a * 2 + 1
                first = h["x"][()]
            a = self.files["a"][2]
            if not np.array_equal(first, a * 2 + 1):
                return "the first dataset /x changed after adding /y"
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dagr", required=True)
    ap.add_argument("--mpirun", default="")
    ap.add_argument("--np", type=int, action="append", default=[])
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opt = ap.parse_args()
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="dagr-eval-cli-")
    try:
        files = make_data(tmp)
        A = {k: v[2] for k, v in files.items()}
        cases = build_cases(A) + out_cases(A)
        r = Runner(os.path.abspath(opt.dagr), tmp, files)
        launchers = [([], "alone", "alone")]
        if opt.mpirun:
            for n in opt.np:
                launchers.append((shlex.split(opt.mpirun) + ["-np", str(n)],
                                  "mpirun -np %d" % n, "np%d" % n))
        for launcher, label, tag in launchers:
            for case in cases:
                if launcher and not case.mpi:
                    continue
                try:
                    r.one(case, launcher, label, tag)
                except Exception as ex:  # a broken check must not hide the summary line
                    r.report(case.name, label, "checker raised %s: %s" % (type(ex).__name__, ex))
        print("# %d dagr runs in %.1f s" % (r.nruns, time.time() - t0))
        print("%d passed, %d failed" % (r.passed, r.failed))
        return 1 if r.failed else 0
    finally:
        if opt.keep:
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
