"""Writes the seed corpus of tests/fuzz/fuzz_model_loader.c: tiny random
models of each supported kind in the harness's input format (three u16
lengths, config.json, vocab.txt, tokenizer_config.json, model.safetensors).

usage: make_model_loader_seeds.py OUTDIR
"""

import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hfref  # noqa: E402

SMALL = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
             max_position_embeddings=24)


def nt_small(k=2):
    return ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"] + hfref.kmers(k, "ATCG") + \
        ["A", "T", "C", "G", "N"]


CASES = [
    ("esm_char_rotary_mlm", "esm", "mlm", hfref.char_vocab(), "F32", dict(token_dropout=True), None),
    ("esm_ntv2_gated_bf16", "esm", "mlm", nt_small(), "BF16",
     dict(gated_ffn=True, add_bias_fnn=False, tie_word_embeddings=False), None),
    ("esm_ntv1_absolute_f16", "esm", "mlm", nt_small(), "F16",
     dict(position_embedding_type="absolute", tie_word_embeddings=False), None),
    ("esm_cls", "esm", "cls", hfref.char_vocab(), "F32", dict(emb_layer_norm_before=True, num_labels=2),
     {"tokenizer_class": "EsmTokenizer", "eos_token": None}),
    ("bert_mlm_kmer2", "bert", "mlm", hfref.dnabert_vocab(2), "F32", {}, None),
    ("bert_cls_f16", "bert", "cls", hfref.dnabert_vocab(2), "F16", dict(num_labels=3), None),
    ("esm_bare", "esm", None, hfref.char_vocab(), "F32", {}, {"varvault_tokenizer": "char"}),
]


def seed(arch, head, vocab, dtype, over, tcfg):
    c = hfref.make_config(arch, head, vocab, **dict(SMALL, **over))
    m = hfref.randomize(hfref.build(c), seed=3)
    tdt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    st = hfref.st_encode({k: v.to(tdt) for k, v in hfref.state_tensors(m).items()})
    cfg = json.dumps(hfref.hf_config(c), separators=(",", ":")).encode()
    voc = ("\n".join(vocab) + "\n").encode()
    tc = json.dumps(tcfg).encode() if tcfg is not None else b""
    return struct.pack("<HHH", len(cfg), len(voc), len(tc)) + cfg + voc + tc + st


def named_twice(s):
    """The seed s with its first tensor named a second time (same entry) at
    the end of the safetensors header: the loader must refuse it."""
    lc, lv, lt = struct.unpack("<HHH", s[:6])
    pre, st = s[:6 + lc + lv + lt], s[6 + lc + lv + lt:]
    hl = struct.unpack("<Q", st[:8])[0]
    hdr, data = st[8:8 + hl].decode().rstrip(), st[8 + hl:]
    obj = json.loads(hdr)
    name = sorted(k for k in obj if k != "__metadata__")[0]
    hdr = hdr[:-1] + "," + json.dumps(name) + ":" + json.dumps(obj[name], separators=(",", ":")) + "}"
    hdr += " " * (-len(hdr) % 8)
    return pre + struct.pack("<Q", len(hdr)) + hdr.encode() + data


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, arch, head, vocab, dtype, over, tcfg in CASES:
        s = seed(arch, head, vocab, dtype, over, tcfg)
        with open(os.path.join(out, name), "wb") as f:
            f.write(s)
        if name == "esm_bare":
            with open(os.path.join(out, name + "_tensor_named_twice"), "wb") as f:
                f.write(named_twice(s))


if __name__ == "__main__":
    main()
