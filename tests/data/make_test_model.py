#!/usr/bin/python3
"""Writes a small random masked-LM (or classifier) in Hugging Face layout for
the C unit tests, through tests/lib/hfref.py.

Usage: make_test_model.py DIR [char|nt6|dnabert3] [mlm|cls] [seed]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hfref  # noqa: E402


def main():
    out = sys.argv[1]
    kind = sys.argv[2] if len(sys.argv) > 2 else "char"
    head = sys.argv[3] if len(sys.argv) > 3 else "mlm"
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    vocab = {"char": hfref.char_vocab(), "nt6": hfref.nt_vocab(6),
             "dnabert3": hfref.dnabert_vocab(3)}[kind]
    arch = "bert" if kind == "dnabert3" else "esm"
    c = hfref.make_config(arch, head, vocab, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=4, intermediate_size=48,
                          max_position_embeddings=160, tie_word_embeddings=False,
                          name="unit-" + kind)
    hfref.save_hf(out, hfref.randomize(hfref.build(c), seed=seed), c, vocab)


if __name__ == "__main__":
    main()
