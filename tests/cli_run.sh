#!/bin/sh
# cli_run.sh — kvq run / sweep / findings / compare from the command line:
# help, usage errors (exit 2, one line naming the input), host vs OpenCL
# agreement (doc/conformance.md §1), determinism on host and device, real tensors, atomic
# outputs, runtime failures (exit 1) and a real interrupt.
kvq="${top_builddir:-.}/kvq"
data="${top_srcdir:-.}/tests/data"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvq-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
have_py=0; command -v python3 >/dev/null 2>&1 && have_py=1
. "${top_srcdir:-.}/tests/device.sh"
device_pick; gpu=$dev   # an OpenCL device, if any
echo "1..49"
echo "# OpenCL device for agreement checks: ${gpu:-none}"

# 1-7: help of every subcommand
for c in devices codebook run sweep findings compare bench; do
  "$kvq" $c --help >"$tmp/h" 2>&1 && grep -q "usage: kvq $c" "$tmp/h"; t $? "kvq $c --help"
done

# 8-15: usage errors: exit 2 and one line "kvq: <input>: ..."
usage() { # expected-input-substring args...
  want=$1; shift
  "$kvq" "$@" >/dev/null 2>"$tmp/e"; rc=$?
  [ $rc = 2 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "^kvq: .*$want" "$tmp/e"
}
usage "--bits" run --bits 9; t $? "bits out of range"
usage "--keys" run --keys 12x; t $? "bad number"
usage "--scheme" run --scheme KQQV; t $? "unknown scheme"
usage "--dist" run --dist cauchy; t $? "unknown source"
usage "--device" run --device nosuch; t $? "bad device"
usage "--dim" run --dim 1025; t $? "dim out of range"
usage "--schemes" sweep --schemes 'k=wht:mse9,v=wht:mse3'; t $? "bad custom spec in a sweep"
usage "--frobnicate" findings --frobnicate; t $? "unknown option"

# 16-17: host and OpenCL agree on every metric of the same run (doc/conformance.md §1)
args="--scheme QKQV --bits 3 --dim 64 --keys 300 --queries 8 --trials 4 --seed 7 --json"
"$kvq" run $args --device host >"$tmp/host.json"; rc=$?
t $rc "run on host"
if [ -n "$gpu" ] && [ $have_py = 1 ]; then
  "$kvq" run $args --device "$gpu" >"$tmp/dev.json" &&
    python3 "${top_srcdir:-.}/tests/agree.py" "$tmp/host.json" "$tmp/dev.json"
  t $? "host and OpenCL runs agree within doc/conformance.md §1 tolerances"
else
  if [ -z "$gpu" ]; then device_skip $((n=n+1)) "$dev_why"; else echo "ok $((n=n+1)) - # SKIP python3 missing"; fi
fi

# 18-19: determinism: same seed identical (but for timing), other seed differs
"$kvq" run $args --device host >"$tmp/host2.json"
strip() { sed 's/"timing":{[^}]*}//' "$1"; }
[ "$(strip "$tmp/host.json")" = "$(strip "$tmp/host2.json")" ]; t $? "same seed: identical JSON (timing aside)"
"$kvq" run $(echo "$args" | sed 's/--seed 7/--seed 8/') --device host >"$tmp/host3.json"
[ "$(strip "$tmp/host.json")" != "$(strip "$tmp/host3.json")" ]; t $? "another seed: different numbers"

# 20-23: real tensors (safetensors F32 with q, BF16 without, F16 with names; npy)
"$kvq" run --kv "$data/good/kvq_f32.safetensors" --json --device host >"$tmp/r.json" 2>/dev/null \
  && grep -q '"dist":"kvq_f32.safetensors"' "$tmp/r.json"; t $? "run on F32 safetensors [H,N,d] with queries"
"$kvq" run --kv "$data/good/kvq_bf16.safetensors" --queries 4 --json >"$tmp/r.json" 2>"$tmp/e" \
  && grep -q "drawn at random" "$tmp/e"; t $? "BF16 without queries: says queries are drawn from keys"
"$kvq" run --kv "$data/good/kvq_f16.safetensors" --k-name layer0.k --v-name layer0.v --queries 4 \
  --json >/dev/null 2>&1; t $? "F16 [N,d] with --k-name/--v-name"
if [ $have_py = 1 ]; then
  python3 - "$tmp" <<'PY'
import struct, sys, random
def npy(path, shape, vals):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    hdr = hdr.ljust(((10 + len(hdr) + 1 + 63) // 64) * 64 - 10 - 1) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack("<%df" % len(vals), *vals))
random.seed(3)
for name in "kv":
    npy(sys.argv[1] + "/%s.npy" % name, (2, 40, 32), [random.gauss(0, 1) for _ in range(2 * 40 * 32)])
    npy(sys.argv[1] + "/%s96.npy" % name, (2, 60, 96), [random.gauss(0, 1) for _ in range(2 * 60 * 96)])
npy(sys.argv[1] + "/nan.npy", (40, 32), [float("nan")] + [0.5] * (40 * 32 - 1))
PY
  "$kvq" run --keys-file "$tmp/k.npy" --values-file "$tmp/v.npy" --queries 5 --json >"$tmp/r.json" 2>/dev/null \
    && grep -q '"trials":2' "$tmp/r.json"; t $? "npy [H,N,d]: one trial per head"
else
  echo "ok $((n=n+1)) - # SKIP python3 missing"
fi

# 24-26: bad tensors: exit 2 naming the file
"$kvq" run --kv "$data/bad/st_1d.safetensors" 2>"$tmp/e" >/dev/null; rc=$?
[ $rc = 2 ] && grep -q "st_1d.safetensors" "$tmp/e"; t $? "malformed safetensors: exit 2 naming the file"
if [ $have_py = 1 ]; then
  "$kvq" run --keys-file "$tmp/nan.npy" --values-file "$tmp/nan.npy" 2>"$tmp/e" >/dev/null; rc=$?
  [ $rc = 2 ] && grep -q "nan.npy" "$tmp/e" && grep -qi "nan" "$tmp/e"; t $? "NaN input: exit 2 naming the file"
else
  echo "ok $((n=n+1)) - # SKIP python3 missing"
fi
"$kvq" run --keys-file /nonexistent.npy --values-file /nonexistent.npy 2>"$tmp/e" >/dev/null; rc=$?
[ $rc = 2 ] && grep -q "/nonexistent.npy" "$tmp/e"; t $? "missing file: exit 2 naming it"

# 27-30: sweep --out on a tiny grid writes parseable CSV, JSON, Markdown
"$kvq" sweep --bits 2,4 --dist gauss,t5 --keys 64 --queries 4 --trials 3 --dim 32 --device host \
  --out "$tmp/out" >/dev/null 2>&1; t $? "sweep --out on a tiny grid"
if [ $have_py = 1 ]; then
  python3 - "$tmp/out" <<'PY'
import csv, json, sys
d = sys.argv[1]
rows = list(csv.reader(open(d + "/results.csv")))
assert len(rows) == 1 + 12 and all(len(r) == len(rows[0]) for r in rows), len(rows)
cells = json.load(open(d + "/results.json"))
assert len(cells) == 12 and all(len(c["metrics"]) == 19 for c in cells)
PY
  t $? "results.csv and results.json parse: 12 cells, consistent columns"
else
  grep -q '"metrics"' "$tmp/out/results.json"; t $? "results.json written"
fi
grep -q "^# kvq findings" "$tmp/out/findings.md" && grep -q "F3" "$tmp/out/findings.md"; t $? "findings.md written"
ls "$tmp/out" | grep -q '\.tmp'; [ $? != 0 ]; t $? "no temporary files left behind"

# 31-32: SIGINT to a sweep that has started (its plan line is out and it is
# still running a second later) kills it by the signal, and its output
# directory holds nothing: reports are written only at the end, atomically.
# (sh starts background jobs with SIGINT ignored: python restores the default.)
if [ $have_py = 1 ]; then
  python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    "$kvq" sweep --trials 50 --keys 2048 --device host --out "$tmp/int" >/dev/null 2>"$tmp/int.err" &
  pid=$!; i=0
  while [ $i -lt 300 ] && ! grep -q "trials on" "$tmp/int.err" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
  sleep 1; kill -0 $pid 2>/dev/null; alive=$?
  kill -INT $pid 2>/dev/null; wait $pid; rc=$?
  [ $alive = 0 ] && grep -q "trials on" "$tmp/int.err" && [ $rc = 130 ]
  t $? "SIGINT to a running sweep (started, alive 1 s later: $alive = 0): killed by SIGINT (status $rc)"
  [ -d "$tmp/int" ] && [ -z "$(ls -A "$tmp/int")" ]; t $? "interrupted sweep: its output directory is empty"
else
  echo "ok $((n=n+1)) - # SKIP python3 missing"; echo "ok $((n=n+1)) - # SKIP python3 missing"
fi

# 32-34: d = 96 (not a power of two) and the causal mask
usage "--queries" run --causal --keys 10 --queries 20; t $? "--causal with more queries than keys"
if [ $have_py = 1 ] && [ -f "$tmp/k96.npy" ]; then
  "$kvq" run --keys-file "$tmp/k96.npy" --values-file "$tmp/v96.npy" --queries 20 --causal \
    --device "${gpu:-host}" --json >"$tmp/r96.json" 2>/dev/null \
    && grep -q '"causal":true,"rotation":{"k":"dense","v":"dense"}' "$tmp/r96.json"
  t $? "npy heads at d=96 on ${gpu:-host}: causal, KQV rotates densely and says so"
  "$kvq" run --scheme KV --dim 96 --keys 64 --queries 8 --trials 2 --device host --json \
    >"$tmp/kv96.json" && grep -q '"causal":false,"rotation":{"k":"none","v":"none"}' "$tmp/kv96.json"
  t $? "KV at d=96: no rotation, not causal"
else
  echo "ok $((n=n+1)) - # SKIP python3 missing"; echo "ok $((n=n+1)) - # SKIP python3 missing"
fi

# compare on host and the OpenCL device reports agreement
if [ -n "$gpu" ]; then
  "$kvq" compare --devices "$gpu" --json --quiet >"$tmp/c.json"; rc=$?
  t $rc "compare host and $gpu: exit 0"
  grep -q '"conformant":true' "$tmp/c.json" && ! grep -q '"verdicts_agree":false' "$tmp/c.json"
  t $? "compare: conformant and the verdicts agree"
else
  device_skip $((n=n+1)) "$dev_why"; device_skip $((n=n+1)) "$dev_why"
fi

# 35: exit 1 is a runtime failure: stdout that cannot be written
if [ -w /dev/full ]; then
  "$kvq" run --device host --keys 64 --queries 2 --trials 1 --dim 32 --json >/dev/full 2>"$tmp/e"; rc=$?
  [ $rc = 1 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "^kvq: stdout:" "$tmp/e"
  t $? "stdout unwritable (/dev/full): exit 1, one line (status $rc)"
else
  echo "ok $((n=n+1)) - # SKIP no /dev/full"
fi
# 36-37: on the OpenCL device: a buffer pool too small is a runtime failure
# (exit 1); the same seed twice gives identical JSON (timing aside)
if [ -n "$gpu" ]; then
  KVQ_POOL_LIMIT=4k "$kvq" run --device "$gpu" --keys 64 --queries 2 --trials 1 --dim 32 >/dev/null 2>"$tmp/e"; rc=$?
  [ $rc = 1 ] && [ "$(wc -l <"$tmp/e")" = 1 ] && grep -q "KVQ_POOL_LIMIT" "$tmp/e"
  t $? "KVQ_POOL_LIMIT=4k on $gpu: exit 1 naming the limit (status $rc)"
  "$kvq" run $args --device "$gpu" >"$tmp/d1.json" && "$kvq" run $args --device "$gpu" >"$tmp/d2.json" &&
    [ "$(strip "$tmp/d1.json")" = "$(strip "$tmp/d2.json")" ] && grep -q '"kl"' "$tmp/d1.json"
  t $? "same seed on $gpu twice: identical JSON (timing aside)"
else
  device_skip $((n=n+1)) "$dev_why"; device_skip $((n=n+1)) "$dev_why"
fi

# 34-42: a tools/export_kv.py file: layers, recorded sharpness and causal,
# heads as trials, per-head outputs. Written here: 2 layers (0 and 3), 2 heads,
# 6 tokens, d = 16, F32, metadata as the exporter records it.
if [ $have_py = 1 ]; then
  python3 - "$tmp/lay.safetensors" "$tmp/badmeta.safetensors" <<'PY'
import json, random, struct, sys
random.seed(3)
def write(path, meta):
    hdr, blobs, off = {"__metadata__": meta}, [], 0
    for l in (0, 3):
        for t in "kvq":
            vals = [random.gauss(0, 1) for _ in range(2 * 6 * 16)]
            b = struct.pack("<%df" % len(vals), *vals)
            hdr["layer%d.%s" % (l, t)] = {"dtype": "F32", "shape": [2, 6, 16],
                                         "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
    h = json.dumps(hdr).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
write(sys.argv[1], {"causal": "1", "layers": "0,3", "layer0.sharpness": "1.5",
                    "layer3.sharpness": "0.75"})
write(sys.argv[2], {"causal": "yes"})
PY
  lay="$tmp/lay.safetensors"
  "$kvq" run --kv "$lay" --device host >/dev/null 2>"$tmp/e"; rc=$?
  [ $rc = 2 ] && grep -q "layers 0,3; choose one with --layer" "$tmp/e"; t $? "run on a layered file without --layer: exit 2 listing the layers"
  "$kvq" run --kv "$lay" --layer 3 --json --device host >"$tmp/l.json" 2>/dev/null &&
    grep -q '"file":"lay.safetensors","layer":3,"trials_are":"heads","sharpness":0.75,' "$tmp/l.json" &&
    grep -q '"causal":true' "$tmp/l.json"
  t $? "run --layer 3: JSON names file and layer; recorded causal and sharpness used"
  "$kvq" run --kv "$lay" --layer 0 --no-causal --sharpness 2 --json --device host 2>/dev/null |
    grep '"causal":false' | grep -q '"layer":0,"trials_are":"heads","sharpness":2,'; t $? "--no-causal and --sharpness override the file"
  usage "--trials" run --kv "$lay" --layer 0 --trials 3 --device host; t $? "--trials above the heads: exit 2"
  usage "--layer" run --kv "$lay" --layer 1 --device host; t $? "--layer the file lacks: exit 2"
  usage "badmeta.safetensors" run --kv "$tmp/badmeta.safetensors" --layer 0 --device host; t $? "metadata causal 'yes': exit 2 naming the file"
  "$kvq" sweep --kv "$lay" --layers all --schemes KV,KQV --bits 2,4 --device host --out "$tmp/lo" \
    >"$tmp/lo.txt" 2>/dev/null; t $? "sweep --layers all --out"
  python3 - "$tmp/lo" <<'PY'
import csv, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/results.csv")))
assert sorted(set(r["layer"] for r in rows)) == ["0", "3"] and len(rows) == 8, rows
heads = list(csv.DictReader(open(d + "/per_head.csv")))
assert len(heads) == 2 * 2 * 2 * 2 and set(r["head"] for r in heads) == {"0", "1"}
assert all(r["file"] == "lay.safetensors" and r["kl"] != "" for r in heads)
one = [r for r in heads if r["layer"] == "3" and r["scheme"] == "KV" and r["bits"] == "4"]
cell = [r for r in rows if r["layer"] == "3" and r["scheme"] == "KV" and r["bits"] == "4"][0]
assert abs(sum(float(r["kl"]) for r in one) / 2 - float(cell["kl_mean"])) <= 1e-12 * float(cell["kl_mean"])
PY
  t $? "results.csv has a layer column; per_head.csv: a row per layer, head, scheme, budget; its mean is the cell's"
  grep -q "## Worst heads" "$tmp/lo/findings.md" && grep -q "Worst heads by kl" "$tmp/lo.txt" &&
    grep -q "## Per-head comparisons" "$tmp/lo/findings.md" && grep -q "L3:h" "$tmp/lo.txt"
  t $? "worst heads named in findings.md and on the terminal"
else
  for i in 1 2 3 4 5 6 7 8 9; do echo "ok $((n=n+1)) - # SKIP python3 missing"; done
fi
