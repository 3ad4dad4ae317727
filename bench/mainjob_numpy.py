#!/usr/bin/env python3
"""mainjob_numpy.py -- kvq's main job as a plain numpy + OpenBLAS program, timed
beside `kvq sweep` on the same shape (bench/README.md, "The main job against numpy").

Per trial it draws K, V, Q (N(0,1), N keys and values, M queries, dimension d),
computes the fp32 reference logits, attention and outputs once, then for every
scheme (KV, KQV, QKQV at each budget, as doc/schemes.md section 2 defines them)
quantizes K and V (WHT rotation with random signs, the Lloyd-Max codebook of
`kvq codebook` by searchsorted on its thresholds, dequantization, the QJL
residual sketch with m = d), the quantized logits, attention and outputs, and
all nineteen metrics of doc/metrics.md section 2 per query, aggregated per trial as
section 3 says. Dense matrix products go to OpenBLAS through numpy; the rest is
vectorised numpy, in float32 for the tensors and float64 for the metrics.

It times the whole per-trial work (data, reference, every scheme, metrics),
median over repeats after a warm-up, divided by the schemes of a trial: seconds
per scheme-trial. It times `kvq sweep` on the same grid (warm kernel cache:
one untimed run first) at two trial counts, each repeat right after a numpy
repeat; the difference of the medians divided by the extra scheme-trials is
kvq's marginal cost per scheme-trial (start-up, context creation and the
per-cell reports cancel out). It prints
`mainjob_vs_numpy = numpy per scheme-trial / kvq per scheme-trial`.

The numbers are not kvq's (other random data, no Philox): the script prints the
trial-mean KL of both beside each other as a check that it does the same job.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

# numpy's OpenBLAS picks its kernels when it loads; see retune_openblas().
import numpy as np

METRICS = ["kl", "kl_rev", "js", "tv", "entropy_ref", "entropy_quant", "top1",
           "topk_recall", "logit_mse", "logit_bias", "jensen_ratio", "out_rel_err",
           "out_dir_err", "k_rel_mse", "k_dir_err", "v_rel_mse", "v_dir_err", "dist6",
           "one_hot"]


def openblas_lib():
    """The OpenBLAS numpy loaded (ctypes handle), or None."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line and "/" in line}
    except OSError:
        return None
    for p in sorted(paths):
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def retune_openblas(lib):
    """OpenBLAS 0.3.21 falls back to its generic Prescott kernels on CPUs it does not
    know (Sapphire/Emerald Rapids); run again with OPENBLAS_CORETYPE naming the
    kernels the CPU supports, as kvq bench does (bench/peers.c)."""
    if lib is None or os.environ.get("OPENBLAS_CORETYPE"):
        return
    if lib.openblas_get_corename().decode() != "Prescott":
        return
    flags = cpu_flags()
    core = ("SkylakeX" if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags else
            "Haswell" if {"avx2", "fma"} <= flags else None)
    if core:
        print("mainjob_numpy: OpenBLAS chose its generic Prescott kernels; running again "
              "with OPENBLAS_CORETYPE=%s" % core, file=sys.stderr)
        os.environ["OPENBLAS_CORETYPE"] = core
        os.execv(sys.executable, [sys.executable] + sys.argv)


def budgets(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


# ---- the codecs (doc/quantization.md sections 3 to 5) ----

def hadamard(d):
    h = np.ones((1, 1), dtype=np.float32)
    while h.shape[0] < d:
        h = np.block([[h, h], [h, -h]])
    return h


class Codebooks:
    """Lloyd-Max codebooks of the unit-vector coordinate from `kvq codebook` (set-up,
    not timed: kvq computes and caches them once per process too)."""

    def __init__(self, kvq, d):
        self.kvq, self.d, self.cache = kvq, d, {}

    def get(self, bits):
        if bits not in self.cache:
            out = subprocess.run([self.kvq, "codebook", "--dim", str(self.d), "--bits",
                                  str(bits), "--json"], check=True, capture_output=True,
                                 text=True).stdout
            cb = json.loads(out)
            self.cache[bits] = (np.array(cb["centroids"], dtype=np.float32),
                                np.array(cb["thresholds"], dtype=np.float32))
        return self.cache[bits]


def codecs(scheme, n):
    """(rotate, mse bits, qjl) of K and of V for a preset at budget n (doc/schemes.md section 2)."""
    if scheme == "KV":
        return (False, n, False), (False, n, False)
    if scheme == "KQV":
        return (True, n, False), (True, n - 1, True)
    if scheme == "QKQV":
        return (True, n - 1, True), (True, n - 1, True)
    raise ValueError("unknown scheme " + scheme)


def dequantized(x, codec, signs, h, s, books):
    """x quantized and dequantized by codec: rotate, normalise, nearest centroid
    (searchsorted on the thresholds), reconstruct, then the QJL residual sketch."""
    rotate, bits, qjl = codec
    d = x.shape[1]
    nu = np.linalg.norm(x, axis=1, keepdims=True)
    xhat = np.zeros_like(x)
    if bits:
        y = (x * signs) @ h / math.sqrt(d) if rotate else x
        c, t = books.get(bits)
        idx = np.searchsorted(t, y / np.where(nu > 0, nu, 1), side="left")
        yhat = c[idx] * nu
        xhat = (yhat @ h / math.sqrt(d)) * signs if rotate else yhat
    if qjl:
        r = x - xhat
        gamma = np.linalg.norm(r, axis=1, keepdims=True)
        z = np.where(r @ s.T >= 0, 1.0, -1.0).astype(np.float32)
        xhat = xhat + math.sqrt(math.pi / 2) / s.shape[0] * gamma * (z @ s)
    return xhat


# ---- the metrics (doc/metrics.md section 2) ----

def log_softmax(l):
    m = l.max(axis=1, keepdims=True)
    return l - (m + np.log(np.exp(l - m).sum(axis=1, keepdims=True)))


def dir_err(a, b):
    """1 - cos(a, b) row by row as half the squared distance of the unit vectors."""
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 0.5 * ((ua - ub) ** 2).sum(axis=1)


def vector_errors(x, xhat):
    xn2 = (x.astype(np.float64) ** 2).sum(axis=1)
    keep = xn2 > 0
    rel = ((x - xhat).astype(np.float64) ** 2).sum(axis=1)[keep] / xn2[keep]
    return rel.mean(), dir_err(x[keep].astype(np.float64), xhat[keep].astype(np.float64)).mean()


class Reference:
    """What a trial computes once for all its schemes: fp32 logits, log p, p, o."""

    def __init__(self, k, v, q, topk):
        self.logits = (q @ k.T) * np.float32(1 / math.sqrt(k.shape[1]))
        self.a = self.logits.astype(np.float64)
        self.la = log_softmax(self.a)
        self.p = np.exp(self.la)
        self.o = self.p @ v.astype(np.float64)
        self.top = np.argpartition(-self.a, topk - 1, axis=1)[:, :topk]
        self.arg = self.a.argmax(axis=1)


def trial_metrics(ref, k, v, q, khat, vhat, topk):
    """The nineteen metrics of one scheme-trial (trial means, section 3)."""
    b = ((q @ khat.T) * np.float32(1 / math.sqrt(k.shape[1]))).astype(np.float64)
    lb = log_softmax(b)
    pq = np.exp(lb)
    p, la = ref.p, ref.la
    m = {}
    kl = (p * (la - lb)).sum(axis=1)
    m["kl"] = kl.mean()
    m["kl_rev"] = (pq * (lb - la)).sum(axis=1).mean()
    lmu = np.log(0.5 * (p + pq))
    m["js"] = (0.5 * (p * (la - lmu)).sum(axis=1) + 0.5 * (pq * (lb - lmu)).sum(axis=1)).mean()
    m["tv"] = (0.5 * np.abs(p - pq).sum(axis=1)).mean()
    m["entropy_ref"] = (-(p * la).sum(axis=1)).mean()
    m["entropy_quant"] = (-(pq * lb).sum(axis=1)).mean()
    m["top1"] = (b.argmax(axis=1) == ref.arg).mean()
    topq = np.argpartition(-b, topk - 1, axis=1)[:, :topk]
    m["topk_recall"] = np.mean([len(np.intersect1d(x, y)) / topk
                                for x, y in zip(ref.top, topq)])
    eps = b - ref.a
    m["logit_mse"] = (eps ** 2).mean()
    m["logit_bias"] = eps.mean()
    centred = eps - (p * eps).sum(axis=1, keepdims=True)
    var_p = (p * centred ** 2).sum(axis=1)
    m["jensen_ratio"] = kl.sum() / (0.5 * var_p.sum()) if var_p.sum() > 0 else float("nan")
    oq = pq @ vhat.astype(np.float64)
    m["out_rel_err"] = (np.linalg.norm(oq - ref.o, axis=1) / np.linalg.norm(ref.o, axis=1)).mean()
    m["out_dir_err"] = dir_err(oq, ref.o).mean()
    m["k_rel_mse"], m["k_dir_err"] = vector_errors(k, khat)
    m["v_rel_mse"], m["v_dir_err"] = vector_errors(v, vhat)
    m["dist6"] = math.sqrt(m["k_rel_mse"] ** 2 + m["k_dir_err"] ** 2 + m["v_rel_mse"] ** 2 +
                           m["v_dir_err"] ** 2 + (m["js"] / math.log(2)) ** 2 +
                           m["out_rel_err"] ** 2)
    m["one_hot"] = int((p.max(axis=1) > 0.99).sum())
    return m


def run_trial(rng, grid, a, books, h):
    """One trial: data, reference, every scheme of the grid. Returns {(scheme, n): metrics}."""
    d = a.dim
    k = rng.standard_normal((a.keys, d), dtype=np.float32)
    v = rng.standard_normal((a.keys, d), dtype=np.float32)
    q = rng.standard_normal((a.queries, d), dtype=np.float32)
    # One rotation and one S per tensor and trial, shared by the schemes (as in kvq).
    sign = {t: np.where(rng.random(d) < 0.5, -1.0, 1.0).astype(np.float32) for t in "kv"}
    s = {t: rng.standard_normal((d, d), dtype=np.float32) for t in "kv"}
    ref = Reference(k, v, q, a.topk)
    out = {}
    for scheme, n in grid:
        ck, cv = codecs(scheme, n)
        khat = dequantized(k, ck, sign["k"], h, s["k"], books)
        vhat = dequantized(v, cv, sign["v"], h, s["v"], books)
        out[(scheme, n)] = trial_metrics(ref, k, v, q, khat, vhat, a.topk)
    return out


class NumpySide:
    """The numpy job: one timed repeat is a.trials whole trials."""

    def __init__(self, a, grid, books):
        self.a, self.grid, self.books = a, grid, books
        self.h = hadamard(a.dim)
        self.rng = np.random.default_rng(a.seed)
        self.times, self.sums, self.last = [], {}, None
        run_trial(self.rng, grid, a, books, self.h)        # warm-up

    def repeat(self):
        t0 = time.perf_counter()
        for _ in range(self.a.trials):
            self.last = run_trial(self.rng, self.grid, self.a, self.books, self.h)
            for key, m in self.last.items():
                self.sums.setdefault(key, []).append(m["kl"])
        self.times.append(time.perf_counter() - t0)

    def result(self):
        per = float(np.median(self.times)) / (self.a.trials * len(self.grid))
        return per, {key: float(np.mean(x)) for key, x in self.sums.items()}, self.last


class KvqSide:
    """`kvq sweep` on the grid: wall seconds per run at the two trial counts
    (one untimed run first fills the kernel cache) and its KL means."""

    def __init__(self, a, grid):
        self.a, self.grid = a, grid
        schemes = ",".join(sorted({g[0] for g in grid}))
        self.base = [a.kvq, "sweep", "--keys", str(a.keys), "--queries", str(a.queries),
                     "--dim", str(a.dim), "--schemes", schemes, "--bits", a.bits, "--topk",
                     str(a.topk), "--json"]
        self.times = {t: [] for t in a.kvq_trials}
        self.out = None
        self.run(2)

    def run(self, trials):
        t0 = time.perf_counter()
        self.out = subprocess.run(self.base + ["--trials", str(trials)], check=True,
                                  capture_output=True, text=True).stdout
        if trials in self.times:
            self.times[trials].append(time.perf_counter() - t0)

    def result(self):
        t1, t2 = self.a.kvq_trials
        med = {t: float(np.median(x)) for t, x in self.times.items()}
        kl = {(c["config"]["scheme"], c["config"]["bits"]): c["metrics"]["kl"]["mean"]
              for c in json.loads(self.out)}
        marginal = (med[t2] - med[t1]) / ((t2 - t1) * len(self.grid))
        whole = med[t2] / (t2 * len(self.grid))
        return marginal, whole, med, kl


def measure(a, grid, books):
    """The numpy repeats and the kvq runs at both trial counts, interleaved
    (numpy, kvq at t1, kvq at t2, then again), so that a drift of the
    machine's speed during the benchmark — this VM's moves by ±10 % over
    minutes — weighs on both sides alike instead of on whichever ran later."""
    np_side = NumpySide(a, grid, books)
    kvq_side = None if a.no_kvq else KvqSide(a, grid)
    for _ in range(a.repeats):
        np_side.repeat()
        for trials in ([] if kvq_side is None else a.kvq_trials):
            kvq_side.run(trials)
    return np_side.result(), None if kvq_side is None else kvq_side.result()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kvq", default="./kvq", help="the kvq program (codebooks, and the kvq side)")
    ap.add_argument("--keys", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--schemes", default="KV,KQV,QKQV")
    ap.add_argument("--bits", default="2-6", help="budgets, e.g. 2-6 or 4 (default 2-6)")
    ap.add_argument("--topk", type=int, default=8)
    ap.add_argument("--trials", type=int, default=4, help="numpy trials per timed repeat")
    ap.add_argument("--kvq-trials", default="8,64",
                    help="the two trial counts of the kvq runs (default 8,64: a sweep's "
                         "wall time varies by a tenth of a second or more between runs, and "
                         "the marginal cost divides that by the extra scheme-trials)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-kvq", action="store_true", help="time numpy only")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: KQV at 4 bits, 1 trial, 1 repeat, kvq at 2 and 4 trials")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args()
    if a.quick:
        a.schemes, a.bits, a.trials, a.repeats, a.kvq_trials = "KQV", "4", 1, 1, "2,4"
    a.kvq_trials = [int(x) for x in a.kvq_trials.split(",")]
    if len(a.kvq_trials) != 2 or not 0 < a.kvq_trials[0] < a.kvq_trials[1]:
        ap.error("--kvq-trials: two increasing positive counts, e.g. 8,32")
    if a.dim & (a.dim - 1) or a.repeats < 1 or a.trials < 1:
        ap.error("--dim must be a power of two; --repeats and --trials at least 1")
    lib = openblas_lib()
    retune_openblas(lib)
    threads = os.cpu_count() or 1
    if lib is not None:
        lib.openblas_set_num_threads(threads)
    blas = ("%s, core %s, %d threads (the online cores)" %
            (lib.openblas_get_config().decode(), lib.openblas_get_corename().decode(), threads)
            if lib is not None else "not OpenBLAS (numpy's BLAS could not be identified)")
    grid = [(sch.upper(), n) for sch in a.schemes.split(",") for n in budgets(a.bits)]
    books = Codebooks(a.kvq, a.dim)
    for _, n in grid:
        for b in {n, n - 1} - {0}:
            books.get(b)
    (np_per, np_kl, last), kvq_res = measure(a, grid, books)
    res = {"shape": {"keys": a.keys, "queries": a.queries, "dim": a.dim, "topk": a.topk},
           "grid": ["%s@%d" % g for g in grid], "numpy": {"version": np.__version__,
           "blas": blas, "trials_per_repeat": a.trials, "repeats": a.repeats,
           "s_per_scheme_trial": np_per, "metrics_per_scheme": len(METRICS)}}
    assert all(set(m) == set(METRICS) for m in last.values())
    if not a.no_kvq:
        marginal, whole, med, kvq_kl = kvq_res
        res["kvq"] = {"s_per_scheme_trial": marginal, "s_per_scheme_trial_whole_run": whole,
                      "sweep_wall_s": {str(t): med[t] for t in a.kvq_trials},
                      "repeats": a.repeats}
        res["mainjob_vs_numpy"] = np_per / marginal if marginal > 0 else None
        res["mainjob_vs_numpy_whole_run"] = np_per / whole
        res["kl_check"] = {"%s@%d" % g: {"numpy": np_kl[g], "kvq": kvq_kl.get(g)} for g in grid}
    if a.json:
        print(json.dumps(res))
        return
    print("main job per scheme-trial: N = %d keys, M = %d queries, d = %d, %d schemes x "
          "budgets (%s), all %d metrics" % (a.keys, a.queries, a.dim, len(grid),
                                            ",".join(res["grid"]), len(METRICS)))
    print("numpy %s, BLAS: %s" % (np.__version__, blas))
    print("numpy: %.3f ms per scheme-trial (median of %d repeats of %d trials, after a "
          "warm-up)" % (1e3 * np_per, a.repeats, a.trials))
    if a.no_kvq:
        return
    t1, t2 = a.kvq_trials
    print("kvq sweep: %.3f s at %d trials, %.3f s at %d trials (median of %d, warm kernel "
          "cache)" % (med[t1], t1, med[t2], t2, a.repeats))
    print("kvq: %.3f ms per scheme-trial (marginal: the difference over %d extra "
          "scheme-trials), %.3f ms over the whole %d-trial run" %
          (1e3 * marginal, (t2 - t1) * len(grid), 1e3 * whole, t2))
    print("KL check (trial means, different random data): " +
          ", ".join("%s numpy %.3g kvq %.3g" % (k, v["numpy"], v["kvq"] or float("nan"))
                    for k, v in list(res["kl_check"].items())[:: max(1, len(grid) // 5)]))
    if res["mainjob_vs_numpy"] is None:
        print("mainjob_vs_numpy = n/a (the longer kvq run was not slower: timing noise; more "
              "--kvq-trials or --repeats)  (whole run: %.2f)" % res["mainjob_vs_numpy_whole_run"])
    else:
        print("mainjob_vs_numpy = %.2f  (whole run: %.2f; target >= 10)" %
              (res["mainjob_vs_numpy"], res["mainjob_vs_numpy_whole_run"]))


if __name__ == "__main__":
    main()
