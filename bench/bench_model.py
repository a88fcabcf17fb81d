"""Builds the bench model (Nucleotide-Transformer-v2-50M-like, random
weights) and times the PyTorch reference on the same batch.

usage: bench_model.py DIR THREADS REPEATS BATCH NT
Writes DIR (config.json, model.safetensors, vocab.txt) and DIR/ids.txt (one
tokenized window a line), then prints key=value lines for torch.
"""

import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import hfref  # noqa: E402


def main():
    d, threads, repeats, batch, nt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
        int(sys.argv[5])
    torch.set_num_threads(threads)
    vocab = hfref.nt_vocab(6)
    c = hfref.make_config("esm", "mlm", vocab, hidden_size=512, num_hidden_layers=12, num_attention_heads=16,
                          intermediate_size=2048, max_position_embeddings=2050, gated_ffn=True,
                          add_bias_fnn=False, tie_word_embeddings=False, name="bench-ntv2-50m-random")
    model = hfref.randomize(hfref.build(c), seed=7).eval()
    hfref.save_hf(d, model, c, vocab)
    rng = random.Random(7)
    seqs = ["".join(rng.choice("ACGT") for _ in range(nt)) for _ in range(batch)]
    ids = [hfref.tokenize_ref(s, vocab, "kmer", 6) for s in seqs]
    with open(os.path.join(d, "ids.txt"), "w") as f:
        for s in ids:
            f.write(" ".join(map(str, s)) + "\n")
    x, mask = hfref.pad_batch(ids, c.pad_token_id)
    best_full = best_hidden = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x, mask)
            best_full = min(best_full, time.perf_counter() - t0)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.esm(x, mask)
            best_hidden = min(best_hidden, time.perf_counter() - t0)
    tokens = sum(len(s) for s in ids)
    print("torch_version=%s" % torch.__version__)
    print("torch_threads=%d" % torch.get_num_threads())
    print("tokens=%d" % tokens)
    print("torch_seconds_logits=%.4f" % best_full)
    print("torch_seconds_hidden=%.4f" % best_hidden)


if __name__ == "__main__":
    main()
