#!/bin/sh
# conf_gpu_limits.sh — the device conformance tests with GPU-like limits forced
# on the OpenCL device at hand (KVQ_DEVICE_LIMITS=wg=256,local=32K, the limits
# of Apple and Intel GPUs): the work-group kernels, group sizes and local-memory
# tiles such a GPU gets must meet the same tolerances. This is our stand-in for
# GPUs we cannot test here. Also checked: the kernels need no fp64, and limits
# too tight for a kernel's local buffers make it pick a smaller group or the
# variant without local memory instead of failing.
b="${top_builddir:-.}"
src="${top_srcdir:-.}"
kvq="$b/kvq"
limits="wg=256,local=32K"
. "$src/tests/device.sh"
device_pick
[ -n "$dev" ] || device_skip_all "$dev_why"
n=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
tmp=conf_gpu_limits.$$
trap 'rm -f "$tmp" "$tmp".*' EXIT
echo "1..6"

# 1: fp64 is optional in OpenCL (Apple GPUs lack it): no double, and no
# unsuffixed floating constant, which is a double where fp64 exists
if command -v python3 >/dev/null 2>&1; then
  python3 - "$src"/src/device/layout.h "$src"/cl/*.cl > "$tmp" <<'PY'
import re, sys
bad = 0
for path in sys.argv[1:]:
    text = re.sub(r'/\*.*?\*/', ' ', open(path, encoding='utf-8').read(), flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    for m in re.finditer(r'\bdouble\w*\b|(?<![\w.])(\d+\.\d*|\.\d+)([eE][-+]?\d+)?(?![\w.])', text):
        print('# %s: %s' % (path, m.group(0)))
        bad = 1
sys.exit(bad)
PY
  rc=$?
  cat "$tmp"
  t $rc "kernels use no double and no unsuffixed floating constant"
else
  echo "ok 1 # SKIP python3 not found"; n=1
fi

# 2-4: the three conformance tests under the limits; their worst deviations go to the log
for c in wht quantize attention; do
  KVQ_DEVICE_LIMITS=$limits "$b/tests/test_conf_$c" > "$tmp.$c" 2>&1; rc=$?
  grep '^# \(device limits\|worst\)' "$tmp.$c" | sort -u
  grep '^not ok' "$tmp.$c" | head -5 | sed 's/^/# /'
  [ $rc = 0 ] && ! grep -q '^not ok' "$tmp.$c" && grep -q '^1\.\.[1-9]' "$tmp.$c" &&
    grep -q "^# device limits forced: $limits" "$tmp.$c"
  t $? "test_conf_$c passes with KVQ_DEVICE_LIMITS=$limits"
done

# 5: limits below what kvq_rotate and kvq_quantize need at d = 1024 (4 KiB and
# more): those fall back to the vector kernels, the softmax passes shrink
# their groups, and the metrics agree with the unlimited run (relative 1e-3)
run="$kvq run --dim 1024 --keys 300 --queries 8 --trials 2 --json"
$run > "$tmp.free" 2> "$tmp.err0"; rc0=$?
KVQ_DEVICE_LIMITS=wg=32,local=1K $run > "$tmp.tight" 2> "$tmp.err1"; rc1=$?
sed 's/^/# /' "$tmp.err1" | head -3
if [ $rc0 = 0 ] && [ $rc1 = 0 ] && command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp.free" "$tmp.tight" <<'PY'
import json, sys
a, b = (json.load(open(p))["metrics"] for p in sys.argv[1:])
worst = 0.0
for k in ("kl", "kl_rev", "js", "tv", "entropy_quant", "out_rel_err"):
    x, y = a[k]["mean"], b[k]["mean"]
    worst = max(worst, abs(x - y) / max(abs(x), 1e-12))
print("# worst relative difference of the means: %.3g" % worst)
sys.exit(worst > 1e-3)
PY
  rc1=$?
fi
[ $rc0 = 0 ] && [ $rc1 = 0 ]; t $? "d=1024 with KVQ_DEVICE_LIMITS=wg=32,local=1K runs and agrees"

# 6: a malformed limit is one clear line naming the variable, exit 2
KVQ_DEVICE_LIMITS=wg=lots "$kvq" run --trials 1 > /dev/null 2> "$tmp.err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l < "$tmp.err")" = 1 ] && grep -q 'KVQ_DEVICE_LIMITS' "$tmp.err"
t $? "malformed KVQ_DEVICE_LIMITS: exit 2, one line naming it"
exit 0
