#!/usr/bin/env python3
"""Parity of the engine against the real transformers library.

Debian 12 packages no transformers, so `make check` compares the engine with
tests/lib/hfref.py, our own transcription of transformers' BERT and ESM
code.  This tool closes the loop where transformers is installed (the
project's accelerator machine has the current release): it builds random
models with transformers' own classes, saves them with transformers' own
save_pretrained (its config.json, its safetensors), runs
`varvault-admin model logits DIR --ids` on the same token batches, and
compares the logits at every real (non-pad) position.

usage: transformers_parity.py VARVAULT_ADMIN WORKDIR
Prints one line per case and exits 1 if any case is over the tolerance
(the engine's documented 1e-4, relative to the largest logit).
"""

import json
import os
import random
import subprocess
import sys

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import hfref  # noqa: E402

TOL = 1e-4


def spread(model, seed):
    """transformers initialises with std 0.02, which leaves every logit near
    zero; wider weights make the comparison mean something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))
    return model


def cases():
    nt = hfref.nt_vocab(6)
    dnab = hfref.dnabert_vocab(6)
    common = dict(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, intermediate_size=512,
                  max_position_embeddings=130, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    yield ("bert-mlm (DNABERT-like)", dnab, transformers.BertForMaskedLM,
           transformers.BertConfig(vocab_size=len(dnab), pad_token_id=0, **common))
    yield ("bert-cls", dnab, transformers.BertForSequenceClassification,
           transformers.BertConfig(vocab_size=len(dnab), pad_token_id=0, num_labels=3, **common))
    esm = dict(common, max_position_embeddings=130)
    yield ("esm-absolute-mlm (NT-v1-like)", nt, transformers.EsmForMaskedLM,
           transformers.EsmConfig(vocab_size=len(nt), pad_token_id=nt.index("<pad>"),
                                  mask_token_id=nt.index("<mask>"), position_embedding_type="absolute",
                                  emb_layer_norm_before=False, token_dropout=False, **esm))
    yield ("esm-rotary-mlm (ESM-2-like, token dropout)", nt, transformers.EsmForMaskedLM,
           transformers.EsmConfig(vocab_size=len(nt), pad_token_id=nt.index("<pad>"),
                                  mask_token_id=nt.index("<mask>"), position_embedding_type="rotary",
                                  emb_layer_norm_before=False, token_dropout=True, **esm))


def batch(vocab, seed):
    """Token-id lines of different lengths: a start token, k-mers, masks."""
    rng = random.Random(seed)
    special = {t for t in vocab if t.startswith("<") or t.startswith("[")}
    words = [i for i, t in enumerate(vocab) if t not in special]
    start = vocab.index("<cls>") if "<cls>" in vocab else vocab.index("[CLS]")
    mask = vocab.index("<mask>") if "<mask>" in vocab else vocab.index("[MASK]")
    lines = []
    for n in (120, 64, 17, 101):
        ids = [start] + [rng.choice(words) for _ in range(n)]
        ids[rng.randrange(1, len(ids))] = mask
        lines.append(ids)
    return lines


def engine_logits(admin, d, lines):
    out = os.path.join(d, "out.npy")
    subprocess.run([admin, "model", "logits", d, "--ids", "--threads", "4", "-o", out],
                   input="\n".join(" ".join(map(str, x)) for x in lines) + "\n", text=True, check=True)
    return np.load(out)


def main():
    admin, work = sys.argv[1], sys.argv[2]
    worst = 0.0
    print("transformers %s, torch %s" % (transformers.__version__, torch.__version__))
    for k, (name, vocab, cls, cfg) in enumerate(cases()):
        d = os.path.join(work, "case%d" % k)
        torch.manual_seed(k)
        cfg._attn_implementation = "eager"
        model = spread(cls(cfg), 100 + k).eval()
        model.save_pretrained(d, safe_serialization=True)
        with open(os.path.join(d, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab) + "\n")
        lines = batch(vocab, k)
        ids, am = hfref.pad_batch(lines, cfg.pad_token_id)
        with torch.no_grad():
            ref = model(input_ids=ids, attention_mask=am).logits.float().numpy()
        got = engine_logits(admin, d, lines)
        scale = float(np.abs(ref).max())
        diff = 0.0
        for i, x in enumerate(lines):
            if ref.ndim == 2:  # sequence classification: one row a line
                diff = max(diff, float(np.abs(got[i] - ref[i]).max()))
            else:
                diff = max(diff, float(np.abs(got[i, :len(x)] - ref[i, :len(x)]).max()))
        rel = diff / max(scale, 1e-30)
        worst = max(worst, rel)
        with open(os.path.join(d, "config.json")) as f:
            keys = len(json.load(f))
        print("%-45s max|logit| %8.3f  max|diff| %.3g  relative %.3g  %s  (config.json from transformers: %d keys)"
              % (name, scale, diff, rel, "ok" if rel <= TOL else "OVER", keys))
    print("worst relative difference %.3g (tolerance %g)" % (worst, TOL))
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
