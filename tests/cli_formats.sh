#!/bin/sh
# cli_formats.sh — the deployed formats from the command line (doc/schemes.md §6):
# `kvq run --scheme q4_0 --json` on real-shaped .npy heads reports effective
# bits {k: 4.5, v: 4.5} and per-head metrics, host and OpenCL agree, and the
# bad inputs of the formats exit 2 with one line naming the flag and the rule.
name=fmt
. "${top_srcdir:-.}/tests/common.sh"
echo "1..10"

# 1-6: usage errors: exit 2, one line naming the flag and the rule
usage "kvq: --bits: scheme q4_0 uses a fixed format" run --scheme q4_0 --bits 4 --device host
t $? "--bits with a fixed format"
usage "kvq: --scheme: unknown scheme 'q5_0'.*q8_0, q4_0" run --scheme q5_0 --device host
t $? "unknown format name"
usage "kvq: --dim: d = 16 cannot run scheme q8_0: .*multiple of 32" run --scheme q8_0 --dim 16 \
  --device host
t $? "block format at d = 16"
usage "kvq: --scheme: scheme 'kivi9': KIVI bits must be kivi1..kivi8" run --scheme kivi9 --device host
t $? "KIVI bits out of range"
usage "the KIVI group must be g1..g1024" sweep --schemes KV,kivi2g0 --bits 2 --device host
t $? "KIVI group out of range in a sweep"
usage "is the whole codec" run --scheme 'k=wht:q4_0,v=fp16' --device host
t $? "a format beside a rotation"

# 7-10: real-shaped heads [4, 512, 128] (K with 4 outlier channels), host and device
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp" <<'PY'
import random, struct, sys
def write(path, shape, data):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack("<%df" % len(data), *data))
random.seed(12)
def heads(n, outliers):
    return [random.gauss(0, 1) * (8 if outliers and c in (3, 17, 64, 99) else 1)
            for h in range(4) for i in range(n) for c in range(128)]
d = sys.argv[1]
write(d + "/k.npy", (4, 512, 128), heads(512, True))
write(d + "/v.npy", (4, 512, 128), heads(512, False))
write(d + "/q.npy", (4, 32, 128), heads(32, False))
PY
  files="--keys-file $tmp/k.npy --values-file $tmp/v.npy --queries-file $tmp/q.npy"
  "$kvq" run $files --scheme q4_0 --json --device host >"$tmp/host.json"; t $? "run q4_0 on real heads (host)"
  python3 - "$tmp/host.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c, m = d["config"], d["metrics"]
assert c["scheme"] == "q4_0" and c["effective_bits"] == {"k": 4.5, "v": 4.5}, c
assert c["trials"] == 4 and len(m["kl"]["per_trial"]) == 4 and m["kl"]["mean"] > 0, m["kl"]
print("# q4_0 on 4 heads: kl %.4g, top1 %.3f, k_rel_mse %.4g" %
      (m["kl"]["mean"], m["top1"]["mean"], m["k_rel_mse"]["mean"]))
PY
  t $? "effective_bits {k: 4.5, v: 4.5} and per-head metrics"
  if [ -n "$gpu" ]; then
    "$kvq" run $files --scheme q4_0 --json --device "$gpu" >"$tmp/dev.json"
    t $? "run q4_0 on real heads (OpenCL $gpu)"
    python3 - "$tmp/host.json" "$tmp/dev.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["metrics"] for p in sys.argv[1:])
for k in ("kl", "js", "tv", "out_rel_err", "k_rel_mse", "v_rel_mse"):
    for x, y in zip(a[k]["per_trial"], b[k]["per_trial"]):
        assert abs(x - y) <= max(1e-3 * abs(x), 1e-7), (k, x, y)
PY
    t $? "host and OpenCL agree per head (relative 1e-3)"
  else
    skip "no OpenCL device"; skip "no OpenCL device"
  fi
else
  skip "no python3"; skip "no python3"; skip "no python3"; skip "no python3"
fi
