#!/usr/bin/env python3
"""export_kv.py - dump a local Hugging Face model's per-layer Q, K, V to .safetensors for kvq.

  python3 tools/export_kv.py --model ./Llama-3.2-1B --text "The quick brown fox..." \\
      --layers 0,8,15 --out kv.safetensors
  kvq run --kv kv.safetensors --k-name layer8.k --v-name layer8.v --q-name layer8.q ...

What is captured: exactly the tensors the model's attention kernel receives,
i.e. the inputs of the softmax's logits q.k and of the value average, after the
q/k/v projections, after any per-head q/k normalisation (Qwen3, Gemma 3) and
after rotary position embeddings (RoPE). This is done by registering a
transformers "attention interface" (transformers >= 4.48) that records its
query/key/value arguments and then runs the ordinary SDPA attention, so the
model's own code applies RoPE; nothing is recomputed here. Models without the
interface (older GPT-2 style code, which has no RoPE) fall back to a hook on
the fused c_attn projection.

Layout written (batch 1, N tokens of the text):
  k, v: [H_kv, N, d]   q: [H_q, N, d]  (float32 unless --dtype)
  one layer: names k, v, q; several: layer{L}.k, layer{L}.v, layer{L}.q
With grouped-query attention H_q = g * H_kv, query heads g*j ... g*j+g-1 share
K/V head j (transformers' repeat_kv convention); kvq folds them into the
queries of head j. Metadata (strings): model, tokens, layers, and per layer
the model's logit scale and the matching kvq --sharpness = scale * sqrt(d).

kvq attends every query to all N keys (no causal mask): with --last-queries M
only the last M queries are written, which for M = 1 is exactly the decode
step of the last token over the full cache.

No network access: HF_HUB_OFFLINE=1 and local_files_only=True.
"""
import argparse
import math
import os
import re
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def parse_layers(spec, n_layers):
    """'all', 'L', 'A,B,C' or 'A-B' (inclusive); negative L counts from the end."""
    if spec == "all":
        return list(range(n_layers))
    out = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", part)
        if not m:
            sys.exit("export_kv: bad --layers item '%s'" % part)
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        a, b = (x + n_layers if x < 0 else x for x in (a, b))
        out.extend(range(a, b + 1))
    for l in out:
        if not 0 <= l < n_layers:
            sys.exit("export_kv: layer %d out of range (the model has %d)" % (l, n_layers))
    if not out:
        sys.exit("export_kv: --layers selects no layer")
    return sorted(set(out))


class Recorder:
    """Collects (query, key, value) per attention call of one forward pass."""

    def __init__(self):
        self.calls = []

    def attention(self, module, query, key, value, attention_mask, **kwargs):
        scaling = kwargs.get("scaling")
        if scaling is None:
            scaling = getattr(module, "scaling", None)
        self.calls.append((query.detach().float().cpu(), key.detach().float().cpu(),
                           value.detach().float().cpu(), scaling))
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def load_model(path, rec):
    """Loads the model with the recording attention, or returns (model, False)
    when this transformers has no attention interface."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    try:
        from transformers import AttentionInterface
        AttentionInterface.register("kvq_capture", rec.attention)
        model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, attn_implementation="kvq_capture", torch_dtype="float32")
        return tok, model, True
    except (ImportError, ValueError):
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                     attn_implementation="eager")
        return tok, model, False


def gpt2_hooks(model, rec):
    """Fallback for GPT-2 style blocks: split the fused c_attn output (no RoPE)."""
    blocks = getattr(getattr(model, "transformer", None), "h", None)
    if blocks is None:
        sys.exit("export_kv: this transformers has no AttentionInterface and the model is not "
                 "GPT-2 style; upgrade transformers to >= 4.48")
    handles = []
    for blk in blocks:
        attn = blk.attn
        def hook(mod, inp, out, attn=attn):
            h = attn.num_heads
            q, k, v = out.detach().float().cpu().split(attn.split_size, dim=2)
            shape = lambda t: t.view(t.shape[0], t.shape[1], h, -1).transpose(1, 2)
            rec.calls.append((shape(q), shape(k), shape(v), 1.0 / math.sqrt(attn.head_dim)))
        handles.append(attn.c_attn.register_forward_hook(hook))
    return handles


def main():
    ap = argparse.ArgumentParser(description="Export per-layer Q, K, V of a local model for kvq.")
    ap.add_argument("--model", required=True, help="local model directory (no download)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", help="input text")
    g.add_argument("--text-file", help="file with the input text")
    ap.add_argument("--layers", default="all", help="all | L | A,B,C | A-B (default all)")
    ap.add_argument("--out", required=True, help="output .safetensors file")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--last-queries", type=int, default=0,
                    help="keep only the last M queries (0 = all N)")
    a = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    text = a.text if a.text is not None else open(a.text_file, encoding="utf8").read()
    rec = Recorder()
    tok, model, via_interface = load_model(a.model, rec)
    model.eval()
    handles = [] if via_interface else gpt2_hooks(model, rec)
    ids = tok(text, return_tensors="pt").input_ids[:, : a.max_tokens]
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    for h in handles:
        h.remove()
    n_layers = len(rec.calls)
    if n_layers == 0:
        sys.exit("export_kv: no attention call was recorded")
    layers = parse_layers(a.layers, n_layers)
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    tensors, meta = {}, {"model": os.path.basename(os.path.abspath(a.model)),
                         "tokens": str(ids.shape[1]), "layers": ",".join(map(str, layers)),
                         "rope": "applied by the model" if via_interface else "none (GPT-2 style)"}
    for l in layers:
        q, k, v, scaling = rec.calls[l]
        q, k, v = q[0], k[0], v[0]           # batch 1: [H, N, d]
        if a.last_queries > 0:
            q = q[:, -a.last_queries:, :]
        d = k.shape[-1]
        pre = "" if len(layers) == 1 else "layer%d." % l
        for name, t in (("k", k), ("v", v), ("q", q)):
            tensors[pre + name] = t.to(dt).contiguous()
        if scaling is not None:
            meta[pre + "scaling"] = repr(float(scaling))
            meta[pre + "sharpness"] = repr(float(scaling) * math.sqrt(d))
        if d & (d - 1) or not 16 <= d <= 1024:
            print("export_kv: note: head dimension %d is not a power of two in 16..1024; "
                  "kvq will refuse it" % d, file=sys.stderr)
    out_dir = os.path.dirname(os.path.abspath(a.out))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(a.out) + ".tmp.", dir=out_dir)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, a.out)
    except BaseException:
        os.unlink(tmp)
        raise
    print("export_kv: wrote %d tensors (%d layers, %s tokens) to %s"
          % (len(tensors), len(layers), meta["tokens"], a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
