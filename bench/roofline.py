#!/usr/bin/env python3
"""roofline.py -- the roofline table of bench/README.md from one `kvq bench --json` run.

For each kernel: bytes moved and flops per run (as kvq bench counts them), the
arithmetic intensity, the measured GB/s and GFLOP/s (median event time; host wall
time for the OpenBLAS peer), the fraction of the copy bandwidth measured in the
same run at the same size set (memory-bound copy for "@mem" rows, cache-resident
copy otherwise), and with --peak-gflops the fraction of that peak.

usage: kvq bench --json > run.json; python3 bench/roofline.py run.json [--peak-gflops P]
"""
import argparse
import json
import sys

# The kernels of the table, in order; "{m}" is the prefill query count of the run.
ROWS = ["copy float4 @mem", "wht d=128 @mem", "quantize b=4 @mem", "logits b=4 M=1 @mem",
        "logits qjl M=1 @mem", "clblast sgemv M=1 @mem", "openblas sgemv M=1 @mem",
        "logits b=4 M={m} @mem", "logits qjl M={m} @mem", "clblast sgemm M={m} @mem",
        "openblas sgemm M={m} @mem", "copy float4", "wht d=128", "quantize b=4",
        "logits b=4 M=1", "logits qjl M=1", "logits b=4 M={m}", "softmax+kl M={m}"]


def seconds(e):
    return e["wall_s"]["median"] if e["peer"] else e["event_s"]["median"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", help="output of kvq bench --json ('-' for stdin)")
    ap.add_argument("--peak-gflops", type=float, help="the device's fp32 peak, for a fraction")
    a = ap.parse_args()
    d = json.load(sys.stdin if a.json == "-" else open(a.json))
    by = {e["name"]: e for e in d["results"]}
    m = max(e["queries"] for e in d["results"] if e["kernel"] == "logits")
    copy = {mem: by.get("copy float4" + (" @mem" if mem else "")) for mem in (0, 1)}
    print("| kernel | bytes / run | flops / run | flop/byte | GB/s | GFLOP/s | of copy GB/s |"
          " of peak |")
    print("|---|---|---|---|---|---|---|---|")
    for row in ROWS:
        e = by.get(row.format(m=m))
        if e is None:
            continue
        t = seconds(e)
        c = copy[1 if e["memory_bound"] else 0]
        gbps, gflops = e["bytes"] / t * 1e-9, e["flops"] / t * 1e-9
        frac = gbps / (c["bytes"] / seconds(c) * 1e-9) if c else float("nan")
        peak = "%.1f%%" % (100 * gflops / a.peak_gflops) if a.peak_gflops and e["flops"] else "-"
        mb = e["bytes"] / 1e6
        print("| `%s` | %s MB | %s | %s | %.2f | %s | %.2f | %s |" % (
            e["name"], "%.0f" % mb if mb >= 100 else "%.3g" % mb, "%.3g G" % (e["flops"] / 1e9) if e["flops"] else "-",
            "%.2f" % (e["flops"] / e["bytes"]) if e["flops"] else "-", gbps,
            "%.1f" % gflops if e["flops"] else "-", frac, peak))
    mb = d["ratio_sizes"]["memory_bound"]
    print("\nmemory-bound rows: N = %d keys (%.0f MiB fp32 keys, %.2f x the %.0f MiB LLC); "
          "openblas: %s" % (mb["keys"], mb["key_bytes"] / 2 ** 20, mb["llc_multiple"] or 0,
                            mb["llc_bytes"] / 2 ** 20, d["openblas"].get("config", "not found")))


if __name__ == "__main__":
    main()
