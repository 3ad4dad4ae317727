#!/usr/bin/env python3
"""export_kv.py - dump a local Hugging Face model's per-layer Q, K, V to .safetensors for kvq.

  python3 tools/export_kv.py --model ./Llama-3.2-1B --text "The quick brown fox..." \\
      --layers 0,8,15 --out kv.safetensors
  kvq run --kv kv.safetensors --k-name layer8.k --v-name layer8.v --q-name layer8.q ...

What is captured: exactly the tensors the model's attention kernel receives,
i.e. the inputs of the softmax's logits q.k and of the value average, after the
q/k/v projections, after any per-head q/k normalisation (Qwen3, Gemma 3) and
after rotary position embeddings where the model has them. This is done by
registering a transformers "attention interface" (transformers >= 4.48) that
records its query/key/value arguments and then runs the ordinary SDPA
attention, so the model's own code applies RoPE; nothing is recomputed here.
Models without the interface (older GPT-2 style code, which has no RoPE) fall
back to a hook on the fused c_attn projection.

Which model class: decoders (a causal-LM architecture in config.json, or
is_decoder) are loaded with AutoModelForCausalLM; everything else, e.g. BERT,
MiniLM or DistilBERT encoders, with AutoModel, without a head, so no head
weights are reported missing. Encoder-decoder models are refused (their layers
hold two attention calls each). The text is cut to the model's position limit
(max_position_embeddings), and stderr says so.

Layout written (batch 1, N tokens of the text), for every exported layer L:
  layer{L}.k, layer{L}.v: [H_kv, N, d]   layer{L}.q: [H_q, M, d]
(float32 unless --dtype; M = N, or the last M with --last-queries M).
With grouped-query attention H_q = g * H_kv, query heads g*j ... g*j+g-1 share
K/V head j (transformers' repeat_kv convention); kvq folds them into the
queries of head j.

Metadata (strings): model (--model-name, else the hub name from the cache
path or config.json, else the directory's name) and model_source (which),
tokens, layers, rope ("applied" when the model rotates q and k, else "none"),
causal ("1" for decoders: query j of M sits at position N - M + j and sees
keys 0 .. N - M + j; "0" for encoders, which see all N keys), and per layer
layer{L}.scaling (the model's logit scale) and layer{L}.sharpness, the matching
kvq --sharpness = scale * sqrt(d), printed to 12 significant digits.

No network access: HF_HUB_OFFLINE=1 and local_files_only=True.
"""
import argparse
import json
import math
import os
import re
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def die(msg):
    """Bad input or an unusable model: one line, exit 2."""
    print("export_kv: " + msg, file=sys.stderr)
    sys.exit(2)


def note(msg):
    print("export_kv: " + msg, file=sys.stderr)


def num(x):
    """A float as metadata: 12 significant digits, so 1/sqrt(d) * sqrt(d) reads 1."""
    return "%.12g" % x


def parse_layers(spec, n_layers):
    """'all', 'L', 'A,B,C' or 'A-B' (inclusive); negative L counts from the end."""
    if spec == "all":
        return list(range(n_layers))
    out = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", part)
        if not m:
            die("bad --layers item '%s'" % part)
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) is not None else a
        a, b = (x + n_layers if x < 0 else x for x in (a, b))
        out.extend(range(a, b + 1))
    for l in out:
        if not 0 <= l < n_layers:
            die("layer %d out of range (the model has %d)" % (l, n_layers))
    if not out:
        die("--layers selects no layer")
    return sorted(set(out))


class Recorder:
    """Collects (query, key, value, scaling) per attention call of one forward pass."""

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


def is_decoder(config):
    """True for models that attend causally: a causal-LM architecture recorded
    in config.json, or is_decoder. A BERT config has a causal-LM class in
    transformers too (BertLMHeadModel), so the mapping alone does not decide."""
    if getattr(config, "is_decoder", False):
        return True
    archs = getattr(config, "architectures", None) or []
    if archs:
        return any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in archs)
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    mt = getattr(config, "model_type", None)
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def position_limit(config, tok):
    """The most tokens the model can embed, or None when it does not say."""
    limits = [getattr(config, a, None) for a in ("max_position_embeddings", "n_positions")]
    limits.append(getattr(tok, "model_max_length", None))
    limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 10 ** 9]
    return min(limits) if limits else None


def applies_rope(config, model):
    """Whether the model rotates q and k itself: a rotary module, or rotary
    settings in the config (models that apply RoPE functionally)."""
    if any("rotary" in type(m).__name__.lower() for m in model.modules()):
        return True
    if getattr(config, "position_embedding_type", None) == "rotary":
        return True
    return any(getattr(config, a, None) for a in ("rotary_dim", "rotary_pct"))


def model_name(path):
    """(name, where it came from): the hub name of a Hugging Face cache
    directory (models--ORG--NAME), else config.json's _name_or_path when it is
    a hub-style name, else the directory name, skipping generic leaf
    directories such as 'model'. A fine-tuned checkpoint's _name_or_path may
    name the model it was tuned from: --model-name overrides."""
    parts = [p for p in os.path.abspath(path).split(os.sep) if p]
    for p in reversed(parts):
        if p.startswith("models--"):
            return p[len("models--"):].replace("--", "/"), "cache directory"
    try:
        with open(os.path.join(path, "config.json"), encoding="utf8") as f:
            saved = json.load(f).get("_name_or_path", "")
    except (OSError, ValueError):
        saved = ""
    if re.fullmatch(r"[\w.-]+/[\w.-]+", saved or "") and not os.path.exists(saved):
        return saved, "config.json _name_or_path"
    while len(parts) > 1 and parts[-1].lower() in ("model", "models", "weights", "checkpoint"):
        parts.pop()
    return (parts[-1] if parts else path), "directory name"


def float32_arg():
    """from_pretrained's dtype keyword: 'dtype' since transformers 4.56, the
    older 'torch_dtype' is deprecated there."""
    import transformers
    major, minor = (int(x) for x in re.findall(r"\d+", transformers.__version__)[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": "float32"}


def load_weights(cls, path, config, **kw):
    """cls.from_pretrained with transformers' own load report silenced and
    replaced by export_kv's: weights the checkpoint lacks would leave the
    attention random (fatal); a head the base model does not use is normal
    (one note)."""
    from transformers.utils import logging as hf_logging
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = cls.from_pretrained(path, config=config, local_files_only=True,
                                          output_loading_info=True, **kw)
    except (OSError, ValueError) as e:
        die("cannot load %s: %s" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    finally:
        hf_logging.set_verbosity(level)
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        die("%s lacks %d weights of %s (e.g. %s); its attention would be random"
            % (path, len(missing), type(model).__name__, missing[0]))
    unused = info.get("unexpected_keys") or []
    if unused:
        note("ignored %d weights that %s does not use (a task head, e.g. %s)"
             % (len(unused), type(model).__name__, sorted(unused)[0]))
    return model


def load_model(path, rec):
    """(tokenizer, config, model, decoder, via_interface): the model with the
    recording attention, or eager attention when this transformers has no
    attention interface."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()   # stderr is for export_kv's own notes
    if not os.path.isdir(path):
        die("%s is not a directory (export_kv reads local models only)" % path)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        die("cannot load %s: %s" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if getattr(config, "is_encoder_decoder", False):
        die("%s is an encoder-decoder model; only encoders and decoders are supported" % path)
    decoder = is_decoder(config)
    cls = AutoModelForCausalLM if decoder else AutoModel
    try:
        from transformers import AttentionInterface
    except ImportError:
        AttentionInterface = None
    if AttentionInterface is not None:
        AttentionInterface.register("kvq_capture", rec.attention)
        model = load_weights(cls, path, config, attn_implementation="kvq_capture",
                             **float32_arg())
    else:
        model = load_weights(cls, path, config, attn_implementation="eager")
    return tok, config, model, decoder, AttentionInterface is not None


def gpt2_hooks(model, rec):
    """Fallback for GPT-2 style blocks: split the fused c_attn output (no RoPE)."""
    base = getattr(model, "transformer", model)
    blocks = getattr(base, "h", None)
    if blocks is None:
        die("this transformers has no AttentionInterface and the model is not GPT-2 style; "
            "upgrade transformers to >= 4.48")
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


def tokenize(tok, text, max_tokens, limit):
    """input_ids [1, N] with N at most max_tokens and the model's limit; says
    on stderr when the text was cut."""
    full = len(tok(text, verbose=False).input_ids)
    cap, why = max_tokens, "--max-tokens"
    if limit is not None and limit < cap:
        cap, why = limit, "the model's position limit (max_position_embeddings)"
    if full > cap:
        note("the text has %d tokens; keeping the first %d, %s" % (full, cap, why))
        return tok(text, truncation=True, max_length=cap, return_tensors="pt").input_ids
    return tok(text, return_tensors="pt").input_ids


def layer_tensors(call, last_queries, dt):
    """k, v, q of one recorded call as [H, N, d] (batch 1), and d."""
    q, k, v, _ = call
    q, k, v = q[0], k[0], v[0]
    if last_queries > 0:
        q = q[:, -last_queries:, :]
    return [t.to(dt).contiguous() for t in (k, v, q)], k.shape[-1]


def write_atomic(tensors, meta, out):
    """Writes next to out and renames, so a failed run leaves no partial file."""
    from safetensors.torch import save_file
    out_dir = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(out) + ".tmp.", dir=out_dir)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp made it private
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def parse_args():
    ap = argparse.ArgumentParser(description="Export per-layer Q, K, V of a local model for kvq.")
    ap.add_argument("--model", required=True, help="local model directory (no download)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", help="input text")
    g.add_argument("--text-file", help="file with the input text")
    ap.add_argument("--layers", default="all", help="all | L | A,B,C | A-B (default all)")
    ap.add_argument("--out", required=True, help="output .safetensors file")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--max-tokens", type=int, default=4096,
                    help="at most this many tokens (also capped at the model's positions)")
    ap.add_argument("--last-queries", type=int, default=0,
                    help="keep only the last M queries (0 = all N)")
    ap.add_argument("--model-name", help="name recorded in the metadata (default: from config)")
    a = ap.parse_args()
    if a.max_tokens < 1 or a.last_queries < 0:
        die("--max-tokens must be >= 1 and --last-queries >= 0")
    return a


def main():
    a = parse_args()
    import torch

    if a.text is not None:
        text = a.text
    else:
        try:
            with open(a.text_file, encoding="utf8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            die("%s: %s" % (a.text_file, e))
    rec = Recorder()
    tok, config, model, decoder, via_interface = load_model(a.model, rec)
    model.eval()
    handles = [] if via_interface else gpt2_hooks(model, rec)
    ids = tokenize(tok, text, a.max_tokens, position_limit(config, tok))
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    for h in handles:
        h.remove()
    if not rec.calls:
        die("no attention call was recorded")
    layers = parse_layers(a.layers, len(rec.calls))
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    name, source = (a.model_name, "--model-name") if a.model_name else model_name(a.model)
    meta = {"model": name, "model_source": source,
            "tokens": str(ids.shape[1]), "layers": ",".join(map(str, layers)),
            "rope": "applied" if applies_rope(config, model) else "none",
            "causal": "1" if decoder else "0"}
    tensors = {}
    for l in layers:
        (k, v, q), d = layer_tensors(rec.calls[l], a.last_queries, dt)
        tensors.update({"layer%d.k" % l: k, "layer%d.v" % l: v, "layer%d.q" % l: q})
        scaling = rec.calls[l][3]
        if scaling is not None:
            meta["layer%d.scaling" % l] = num(float(scaling))
            meta["layer%d.sharpness" % l] = num(float(scaling) * math.sqrt(d))
        if not 16 <= d <= 1024:
            note("head dimension %d is outside 16..1024; kvq will refuse it" % d)
    write_atomic(tensors, meta, a.out)
    note("wrote %d tensors (%d layers, %s tokens, causal %s, rope %s) to %s"
         % (len(tensors), len(layers), meta["tokens"], meta["causal"], meta["rope"], a.out))


if __name__ == "__main__":
    main()
