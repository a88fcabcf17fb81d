"""Parity: the C engine (varvault-admin model ...) against PyTorch reference
models built in this run (tests/lib/hfref.py), on random weights.

For each case: build a small random model, save it in Hugging Face layout
(F32, F16 or BF16), tokenize DNA with the reference tokenizer and compare with
`model tokenize`, run `model logits --ids` (head) and `--hidden` on a batch of
mixed lengths, run the torch model on the padded batch with its attention
mask, and require max |C - torch| <= TOL at every real position and exact
zeros at padded ones.  Prints one line per case; exits 1 on any failure.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import hfref  # noqa: E402

TOL = 1e-4
ADMIN = os.path.join(os.environ.get("VV_BIN", os.path.join(HERE, "..", "..", "build")), "varvault-admin")

CASES = [
    # name, arch, head, vocab, tokenizer kind, k, dtype, config overrides
    ("bert-mlm-dnabert3", "bert", "mlm", hfref.dnabert_vocab(3), "kmer_overlap", 3, "F32", {}),
    ("bert-cls-f16", "bert", "cls", hfref.dnabert_vocab(4), "kmer_overlap", 4, "F16",
     dict(num_labels=3, hidden_act="gelu_new")),
    ("esm2-rotary-mlm-tokendrop", "esm", "mlm", hfref.char_vocab(), "char", 1, "F32",
     dict(token_dropout=True, layer_norm_eps=1e-5)),
    ("ntv2-gated-mlm-bf16", "esm", "mlm", hfref.nt_vocab(6), "kmer", 6, "BF16",
     dict(gated_ffn=True, add_bias_fnn=False, tie_word_embeddings=False)),
    ("ntv1-absolute-mlm", "esm", "mlm", hfref.nt_vocab(6), "kmer", 6, "F32",
     dict(position_embedding_type="absolute", token_dropout=True, tie_word_embeddings=False,
          max_position_embeddings=80)),
    ("esm-cls-embln-f16", "esm", "cls", hfref.char_vocab(), "char", 1, "F16",
     dict(emb_layer_norm_before=True, num_labels=4)),
    ("esm-bare-hidden", "esm", None, hfref.char_vocab(), "char", 1, "F32", dict(num_hidden_layers=1)),
]


def random_dna(rng, n):
    s = [rng.choice("ACGT") for _ in range(n)]
    # Lower-case runs, N and other IUPAC letters, as a reference FASTA has them.
    for _ in range(n // 25):
        i = rng.randrange(n)
        s[i] = rng.choice("NNRYacgtn")
    return "".join(s)


def run(args, stdin):
    p = subprocess.run([ADMIN, "model"] + args, input=stdin.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("varvault-admin model %s failed (%d): %s" %
                           (" ".join(args), p.returncode, p.stderr.decode()))
    return p.stdout.decode()


def check_case(tmp, case, seed):
    name, arch, head, vocab, kind, k, dtype, over = case
    rng = random.Random(seed)
    torch.manual_seed(seed)
    c = hfref.make_config(arch, head, vocab, **over)
    model = hfref.randomize(hfref.build(c), seed=seed)
    if dtype != "F32":
        hfref.round_weights(model, {"F16": torch.float16, "BF16": torch.bfloat16}[dtype])
    model.eval()
    extra = None
    if arch == "esm":
        # Tensors real checkpoints carry that the forward ignores.
        extra = {"esm.embeddings.position_ids": torch.arange(c.max_position_embeddings)[None, :],
                 "esm.contact_head.regression.weight": torch.randn(1, c.num_hidden_layers * c.num_attention_heads),
                 "esm.contact_head.regression.bias": torch.randn(1)}
        if head is None:
            extra = {"embeddings.position_ids": torch.arange(c.max_position_embeddings)[None, :]}
        if c.position_embedding_type == "rotary" and head is not None:
            extra["esm.embeddings.position_embeddings.weight"] = torch.randn(8, c.hidden_size)
    d = os.path.join(tmp, name)
    hfref.save_hf(d, model, c, vocab, dtype=dtype, extra=extra)

    # Tokenizer parity on DNA of mixed lengths (not multiples of k, with N,
    # IUPAC letters and lower case).
    max_nt = {"char": 40, "kmer": 6 * 9, "kmer_overlap": 40}[kind]
    dna = [random_dna(rng, rng.randint(k, max_nt)) for _ in range(5)] + ["ACGTN"[: max(1, k - 1)]]
    ref_ids = [hfref.tokenize_ref(s, vocab, kind, k) for s in dna]
    got = run(["tokenize", d], "\n".join(dna) + "\n").splitlines()
    got_ids = [[int(x) for x in line.split()] for line in got]
    if got_ids != ref_ids:
        raise AssertionError("%s: tokenize differs: %s vs %s" % (name, got_ids, ref_ids))

    # model info: parameters the forward uses, weights hash; model check.
    info = dict(line.split(": ", 1) for line in run(["info", d], "").splitlines())
    nparams = sum(p.numel() for p in model.parameters())
    if int(info["parameters"]) != nparams:
        raise AssertionError("%s: info says %s parameters, torch has %d" % (name, info["parameters"], nparams))
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        if info["weights_sha256"] != hashlib.sha256(f.read()).hexdigest():
            raise AssertionError("%s: weights_sha256 differs from hashlib's" % name)
    if info["architecture"] != arch or not run(["check", d], "").startswith("ok:"):
        raise AssertionError("%s: info/check disagree: %s" % (name, info))
    # info --json: the same facts for scripts.
    js = json.loads(run(["info", d, "--json"], ""))
    if (js["parameters"] != nparams or js["weights_sha256"] != info["weights_sha256"] or
            js["architecture"] != arch or js["vocab_size"] != len(vocab) or
            js["hidden_size"] != c.hidden_size or js["memory"]["run_state_mib"] <= 0):
        raise AssertionError("%s: info --json disagrees: %s" % (name, js))
    # DNA on stdin gives what its token ids give.
    if head:
        a, b = os.path.join(tmp, name + "-dna.npy"), os.path.join(tmp, name + "-dnaids.npy")
        run(["logits", d, "-o", a], "\n".join(dna) + "\n")
        run(["logits", d, "--ids", "-o", b], "\n".join(" ".join(map(str, x)) for x in ref_ids) + "\n")
        if not np.array_equal(np.load(a), np.load(b)):
            raise AssertionError("%s: logits from DNA and from its ids differ" % name)

    # Forward parity on id lines (masks mixed in for token_dropout).
    seqs = [s for s in ref_ids if len(s) >= 2]
    mask_id = vocab.index("<mask>") if "<mask>" in vocab else vocab.index("[MASK]")
    seqs[0] = list(seqs[0])
    seqs[0][1] = mask_id
    seqs[1] = list(seqs[1])
    seqs[1][-2] = mask_id
    pad = c.pad_token_id
    ids, amask = hfref.pad_batch(seqs, pad)
    with torch.no_grad():
        ref = model(ids, amask)
    stdin = "\n".join(" ".join(str(t) for t in s) for s in seqs) + "\n"
    results = {}
    for what in (["head"] if head else []) + ["hidden"]:
        out = os.path.join(tmp, name + "-" + what + ".npy")
        args = ["logits", d, "--ids", "--batch", "2", "-o", out] + (["--hidden"] if what == "hidden" else [])
        run(args, stdin)
        cval = np.load(out)
        tval = (ref["hidden"] if what == "hidden" else ref["logits"]).numpy()
        if cval.shape != tval.shape:
            raise AssertionError("%s %s: shape %s, torch %s" % (name, what, cval.shape, tval.shape))
        if cval.ndim == 3:
            real = amask.numpy().astype(bool)
            diff = float(np.max(np.abs(cval[real] - tval[real])))
            if np.any(cval[~real] != 0):
                raise AssertionError("%s %s: padded positions are not zero" % (name, what))
        else:
            diff = float(np.max(np.abs(cval - tval)))
        scale = float(np.max(np.abs(tval)))
        results[what] = (diff, scale)
        if not diff <= TOL:
            raise AssertionError("%s %s: max abs diff %.3g > %g" % (name, what, diff, TOL))
    return results, [len(s) for s in seqs]


def main():
    failed = 0
    with tempfile.TemporaryDirectory(prefix="vv-parity-") as tmp:
        for i, case in enumerate(CASES):
            try:
                res, lens = check_case(tmp, case, seed=1000 + i)
                figures = ", ".join("%s max|diff| %.2e (max|val| %.2g)" % (k, v[0], v[1]) for k, v in res.items())
                print("PASS %-28s %s  %s  lengths %s" % (case[0], case[6], figures, lens))
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL %-28s %s" % (case[0], e))
    print("%d passed, %d failed" % (len(CASES) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
