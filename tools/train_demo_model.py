#!/usr/bin/python3
"""Trains varvault's bundled demo DNA masked-LM on real reference sequence.

Offline tool (Debian's python3-torch); never needed at run time.

Data: GRCh37 chromosome 20 as shipped by Debian's `vt-examples` package
(/usr/share/doc/vt/examples/ref/20.fa.gz).  A held-out region
(HELDOUT, 1-based inclusive) is never trained on; the masked-token loss on
windows drawn from it is what MODEL_CARD.md reports.

Model: an ESM-style encoder (Hugging Face `EsmForMaskedLM` semantics: rotary
positions, pre-LayerNorm, final LayerNorm, exact GELU, LM head dense + GELU +
LayerNorm + decoder + bias) over single-nucleotide tokens, written in Hugging
Face layout (config.json, model.safetensors, vocab.txt) that varvault's C
engine loads.

Usage: train_demo_model.py --out models/demo-dna-mlm [--steps N] [--threads T]
"""
import argparse
import gzip
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import hfref  # noqa: E402  (safetensors writer, torch reference modules)

FASTA = "/usr/share/doc/vt/examples/ref/20.fa.gz"
CONTIG = "20"
HELDOUT = (60_000_001, 62_000_000)  # 1-based inclusive, never trained on
VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", "<mask>", "A", "C", "G", "T", "N"]
BASES = {"A": 5, "C": 6, "G": 7, "T": 8}


def read_fasta(path):
    seq = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                continue
            seq.append(line.strip())
    return "".join(seq).upper()


def encode(seq):
    table = np.full(256, VOCAB.index("N"), dtype=np.int64)
    for b, i in BASES.items():
        table[ord(b)] = i
    return table[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def window_starts(ids, lo, hi, width, count, rng):
    """Random window starts in [lo, hi) (0-based) whose bases are all ACGT."""
    out = []
    n_id = VOCAB.index("N")
    while len(out) < count:
        s = rng.randrange(lo, hi - width)
        if (ids[s:s + width] == n_id).any():
            continue
        out.append(s)
    return out


def make_batch(ids, starts, width, mask_id, gen, mlm_prob=0.15):
    """Tokens <cls> seq <eos>; 15% of sequence positions chosen, 80/10/10."""
    x = np.stack([ids[s:s + width] for s in starts])
    b = x.shape[0]
    tok = torch.empty((b, width + 2), dtype=torch.long)
    tok[:, 0] = VOCAB.index("<cls>")
    tok[:, -1] = VOCAB.index("<eos>")
    tok[:, 1:-1] = torch.from_numpy(x)
    labels = torch.full_like(tok, -100)
    chosen = torch.rand((b, width), generator=gen) < mlm_prob
    inner = tok[:, 1:-1]
    labels[:, 1:-1][chosen] = inner[chosen]
    r = torch.rand((b, width), generator=gen)
    to_mask = chosen & (r < 0.8)
    to_rand = chosen & (r >= 0.8) & (r < 0.9)
    inner = inner.clone()
    inner[to_mask] = mask_id
    inner[to_rand] = torch.randint(5, 9, (int(to_rand.sum()),), generator=gen)
    tok[:, 1:-1] = inner
    return tok, labels


def evaluate(model, ids, starts, width, mask_id, seed):
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    tot, n, correct = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(starts), 64):
            tok, labels = make_batch(ids, starts[i:i + 64], width, mask_id, gen)
            logits = model(tok, torch.ones_like(tok))["logits"]
            sel = labels != -100
            lp = torch.log_softmax(logits[sel], dim=-1)
            tot += float(-lp.gather(1, labels[sel][:, None]).sum())
            correct += int((lp.argmax(-1) == labels[sel]).sum())
            n += int(sel.sum())
    model.train()
    return tot / n, correct / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--fasta", default=FASTA)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=128, help="nucleotides per window")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    t0 = time.time()
    seq = read_fasta(args.fasta)
    ids = encode(seq)
    del seq
    print(f"read chr{CONTIG}: {len(ids)} bases in {time.time() - t0:.1f}s", flush=True)
    h_lo, h_hi = HELDOUT[0] - 1, HELDOUT[1]
    eval_starts = window_starts(ids, h_lo, h_hi, args.width, 2048, random.Random(1))

    vocab = hfref.char_vocab()
    assert vocab == VOCAB, "hfref.char_vocab() changed: retrain and update VOCAB"
    config = hfref.make_config(
        "esm", "mlm", vocab,
        name="varvault/demo-dna-mlm",
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=args.intermediate,
        max_position_embeddings=args.width + 2,
        position_embedding_type="rotary",
        layer_norm_eps=1e-5,
        tie_word_embeddings=False,
    )
    model = hfref.build(config)
    mask_id = config.mask_token_id
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model: {nparams} parameters", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01,
                            betas=(0.9, 0.98))
    warm = max(1, args.steps // 20)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        frac = (step - warm) / max(1, args.steps - warm)
        return args.lr * 0.5 * (1 + math.cos(math.pi * frac))

    log = []
    t0 = time.time()
    for step in range(args.steps):
        # training windows: anywhere on the contig outside the held-out region
        starts = []
        while len(starts) < args.batch:
            s = window_starts(ids, 0, len(ids), args.width, 1, rng)[0]
            if s + args.width > h_lo and s < h_hi:
                continue
            starts.append(s)
        tok, labels = make_batch(ids, starts, args.width, mask_id, gen)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits = model(tok, torch.ones_like(tok))["logits"]
        loss = torch.nn.functional.cross_entropy(
            logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            el = time.time() - t0
            msg = f"step {step} loss {loss.item():.4f} lr {lr_at(step):.2e} {el:.0f}s"
            if step % 500 == 0 or step == args.steps - 1:
                hl, acc = evaluate(model, ids, eval_starts, args.width, mask_id, 7)
                msg += f" heldout {hl:.4f} nats acc {acc:.3f}"
                log.append((step, loss.item(), hl, acc))
            print(msg, flush=True)

    hl, acc = evaluate(model, ids, eval_starts, args.width, mask_id, 7)
    # unigram baseline on the same held-out positions
    h = ids[h_lo:h_hi]
    freq = np.array([(h == i).sum() for i in range(5, 9)], dtype=np.float64)
    freq /= freq.sum()
    base = float(-(freq * np.log(freq)).sum())

    model.eval()
    hfref.save_hf(args.out, model, config, vocab)
    summary = {
        "parameters": nparams,
        "steps": args.steps,
        "batch": args.batch,
        "width": args.width,
        "train_tokens_seen": args.steps * args.batch * args.width,
        "heldout_region": f"{CONTIG}:{HELDOUT[0]}-{HELDOUT[1]}",
        "heldout_windows": len(eval_starts),
        "heldout_masked_loss_nats": round(hl, 4),
        "heldout_masked_loss_bits": round(hl / math.log(2), 4),
        "heldout_masked_accuracy": round(acc, 4),
        "unigram_baseline_nats": round(base, 4),
        "train_seconds": round(time.time() - t0),
        "torch": torch.__version__,
        "seed": args.seed,
        "log": log,
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}, indent=2))


if __name__ == "__main__":
    main()
