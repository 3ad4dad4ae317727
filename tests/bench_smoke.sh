#!/bin/sh
# bench_smoke.sh — `kvq bench --quick --json`: completes, prints one JSON object whose
# "ratios" hold every ratio of the [bench] issue as a positive number, and those of the [perf]
# issue (memory-bound set, OpenBLAS peer when configure found it). No speed assertions
# (speed lives in bench/); skipped when there is no OpenCL device (see tests/device.sh).
kvq="${top_builddir:-.}/kvq"
. "${top_srcdir:-.}/tests/device.sh"
device_pick
[ -n "$dev" ] || device_skip_all "$dev_why"
export KVQ_DEVICE="$dev"
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
echo "1..6"
out=out.bench_smoke.$$
"$kvq" bench --quick --json --repeats 2 --quiet > "$out" 2> "$out.err"; rc=$?
t $rc "kvq bench --quick --json exits 0"
sed 's/^/# stderr: /' "$out.err" | head -5
[ "$(wc -l < "$out")" -eq 1 ]; t $? "JSON is one line on stdout"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$out" <<'PY'
import json, math, sys
d = json.load(open(sys.argv[1]))
r = d["ratios"]
keys = ["wht_vs_copy", "quantize_vs_copy", "decode4_vs_sgemv", "qjl_vs_sgemv", "opencl_vs_host"]
for k in keys:
    v = r[k]
    assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, (k, v)
    print("# %s = %.3g" % (k, v))
for e in d["results"]:
    if e["peer"] is None:
        assert e["event_s"]["min"] <= e["event_s"]["median"], e["name"]
    else:
        assert e["event_s"] is None and e["peer"] == "openblas", e["name"]
    assert e["wall_s"]["min"] <= e["wall_s"]["median"], e["name"]
    assert e["wall_s"]["min"] > 0, e["name"]
assert d["device"]["name"] and d["clblast"]["version"]
# The [perf] additions: a memory-bound set beside the cache-resident one, and the
# OpenBLAS ratios, positive when configure found OpenBLAS and null when not.
sizes = d["ratio_sizes"]
assert sizes["memory_bound"]["keys"] > sizes["cache_resident"]["keys"], sizes
assert any(e["memory_bound"] for e in d["results"])
for k in keys[:4] + ["prefill4_vs_sgemm"]:
    v = d["ratios_membound"][k]
    assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, (k, v)
found = d["openblas"]["found"]
for k in ["decode4_vs_openblas_sgemv", "qjl_vs_openblas_sgemv", "prefill4_vs_openblas_sgemm"]:
    v = r[k]
    assert (v > 0) if found else (v is None), (k, v, found)
    print("# %s = %s (openblas found: %s)" % (k, v, found))
PY
  t $? "every ratio key is a positive number (OpenBLAS ones null without it); min <= median; device and CLBlast named"
  PYTHONDONTWRITEBYTECODE=1 python3 "${top_srcdir:-.}/bench/roofline.py" "$out" > "$out.roof"
  rc=$?
  [ $rc = 0 ] && grep -q '^| `copy float4 @mem` |' "$out.roof" && grep -q '^| `logits b=4 M=1` |' "$out.roof"
  t $? "bench/roofline.py turns the JSON into the roofline table"
else
  for k in wht_vs_copy quantize_vs_copy decode4_vs_sgemv qjl_vs_sgemv opencl_vs_host; do
    grep -q "\"$k\":[0-9]*\.*[0-9]*[1-9]" "$out" || false
  done
  t $? "every ratio key present with a nonzero value (grep)"
  n=$((n+1)); echo "ok $n # SKIP no python3 for bench/roofline.py"
fi
"$kvq" bench --repeats 0 >/dev/null 2>"$out.err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < "$out.err")" -eq 1 ]; t $? "--repeats 0 is a usage error (exit 2, one line)"
"$kvq" bench --membound-keys 5000 >/dev/null 2>"$out.err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < "$out.err")" -eq 1 ] && grep -q 'multiple of 4096' "$out.err"
t $? "--membound-keys 5000 is a usage error naming the rule (exit 2, one line)"
rm -f "$out" "$out.err" "$out.roof"
exit $fail
