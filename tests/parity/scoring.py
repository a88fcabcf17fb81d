"""Parity of variant scores: `varvault-admin annotate` against scores
recomputed here in PyTorch (tests/lib/hfref.py) from the documented methods.

For each tokenizer family (single nucleotide, Nucleotide Transformer 6-mers,
DNABERT overlapping 3-mers) a small random masked-LM is built, a synthetic
reference and VCF are written, annotate runs with --format json, and every
scored variant is recomputed independently: the window policy of docs/vcf.md,
the reference tokenizer rules, the masking rules and formulas of
docs/interpret.md.  Scores must agree within TOL; unscored variants must
carry the expected status.  Exits 1 on any disagreement.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import hfref  # noqa: E402

TOL = 2e-4  # the JSON prints 6 decimals; float32 logits
BIN = os.environ.get("VV_BIN", os.path.join(HERE, "..", "..", "build"))
SRC = os.path.join(HERE, "..", "..")
FLANK = 5

CASES = [
    # name, vocab, kind, k, window
    ("char", hfref.char_vocab(), "char", 1, 64),
    ("nt6", hfref.nt_vocab(6), "kmer", 6, 60),
    ("dnabert3", hfref.dnabert_vocab(3), "kmer_overlap", 3, 40),
]


def tokens_with_spans(seq, vocab, kind, k):
    """(ids, spans) under the published rules (tests/lib/hfref.py)."""
    return hfref.tokenize_spans(seq, vocab, kind, k)


def window(contigs, chrom, pos, span, width):
    """docs/vcf.md: width bases centred on the REF span (odd remainder to the
    right), shifted inside the contig, N-padded on the right only when the
    contig is shorter than width.  Returns (seq, offset)."""
    seq = contigs[chrom]
    start = pos - (width - span) // 2
    if start + width - 1 > len(seq):
        start = len(seq) - width + 1
    if start < 1:
        start = 1
    w = seq[start - 1:start - 1 + width]
    w += "N" * (width - len(w))
    return w, pos - start


class Scorer:
    def __init__(self, model, vocab, kind, k):
        self.model, self.vocab, self.kind, self.k = model, vocab, kind, k
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.mask = self.ids["[MASK]"] if "[MASK]" in self.ids else self.ids["<mask>"]

    def logprobs(self, ids, masked):
        x = torch.tensor([ids])
        x[0, masked] = self.mask
        with torch.no_grad():
            logits = self.model(x, torch.ones_like(x))["logits"][0].double()
        return torch.log_softmax(logits, dim=-1)

    def snv(self, seq, off, alt):
        ids, spans = tokens_with_spans(seq, self.vocab, self.kind, self.k)
        hold = [t for t, s in enumerate(spans) if s and s[0] <= off < s[0] + s[1]]
        lp = self.logprobs(ids, hold)
        score = 0.0
        for t in hold:
            s0, n = spans[t]
            ref_tok = seq[s0:s0 + n]
            alt_tok = ref_tok[:off - s0] + alt + ref_tok[off - s0 + 1:]
            score += float(lp[t, self.ids[alt_tok]] - lp[t, ids[t]])
        return score

    def pll(self, seq, lo, hi):
        """Mean log-probability per covered base of the tokens overlapping
        [lo, hi), each masked in turn; overlapping k-mers mask their k-1
        neighbours on each side too (docs/interpret.md)."""
        ids, spans = tokens_with_spans(seq, self.vocab, self.kind, self.k)
        seq_toks = [t for t, s in enumerate(spans) if s]
        reach = self.k - 1 if self.kind == "kmer_overlap" else 0
        total, first, last = 0.0, None, None
        for t, s in enumerate(spans):
            if s and s[0] < hi and s[0] + s[1] > lo:
                masked = [u for u in seq_toks if abs(u - t) <= reach]
                total += float(self.logprobs(ids, masked)[t, ids[t]])
                first = s[0] if first is None else min(first, s[0])
                last = s[0] + s[1] if last is None else max(last, s[0] + s[1])
        return total / (last - first)

    def other(self, seq, off, ref, alt):
        pre = 0
        while pre < len(ref) and pre < len(alt) and ref[pre] == alt[pre]:
            pre += 1
        suf = 0
        while suf < len(ref) - pre and suf < len(alt) - pre and ref[-1 - suf] == alt[-1 - suf]:
            suf += 1
        aseq = seq[:off] + alt + seq[off + len(ref):]
        lo = max(0, off + pre - FLANK)
        rhi = min(len(seq), off + len(ref) - suf + FLANK)
        ahi = min(len(aseq), off + len(alt) - suf + FLANK)
        return self.pll(aseq, lo, ahi) - self.pll(seq, lo, rhi)


def make_reference(d, rng):
    body = [rng.choice("ACGT") for _ in range(2500)]
    for i in range(1200, 1230):  # an N run
        body[i] = "N"
    contigs = {"chrS": "".join(body), "chrT": "".join(rng.choice("ACGT") for _ in range(30))}
    fa = os.path.join(d, "ref.fa")
    with open(fa, "w") as f:
        for name, s in contigs.items():
            f.write(">%s\n" % name)
            for i in range(0, len(s), 60):
                f.write(s[i:i + 60] + "\n")
    subprocess.run(["samtools", "faidx", fa], check=True)
    return fa, contigs


def make_vcf(d, contigs, rng):
    s = contigs["chrS"]
    recs = []
    for p in sorted(rng.sample(range(1, len(s) + 1), 40)) + [1, 2, len(s) - 1, len(s), 1195]:
        if s[p - 1] == "N":
            continue
        recs.append(("chrS", p, s[p - 1], rng.choice([b for b in "ACGT" if b != s[p - 1]])))
    for p in rng.sample(range(20, len(s) - 20), 12):
        if "N" in s[p - 1:p + 4]:
            continue
        if rng.random() < 0.5:
            recs.append(("chrS", p, s[p - 1], s[p - 1] + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 4)))))
        else:
            recs.append(("chrS", p, s[p - 1:p + 3], s[p - 1]))
    p = 700  # an MNV and a delins
    recs.append(("chrS", p, s[p - 1:p + 1], "".join("A" if b != "A" else "C" for b in s[p - 1:p + 1])))
    recs.append(("chrS", p + 40, s[p + 39:p + 42], "GT" if s[p + 39] != "G" else "CT"))
    t = contigs["chrT"]  # a contig shorter than every window: N padding
    recs.append(("chrT", 10, t[9], "A" if t[9] != "A" else "C"))
    recs.append(("chrS", 1300, s[1299], "N"))  # kept: N in ALT
    recs.sort(key=lambda r: (r[0] != "chrS", r[1]))
    path = os.path.join(d, "in.vcf")
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        for name, seq in contigs.items():
            f.write("##contig=<ID=%s,length=%d>\n" % (name, len(seq)))
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, p, r, a in recs:
            f.write("%s\t%d\t.\t%s\t%s\t.\tPASS\t.\n" % (c, p, r, a))
    return path


def run_case(d, name, vocab, kind, k, width, fa, contigs, vcf):
    cfg = hfref.make_config("esm" if "<cls>" in vocab else "bert", "mlm", vocab, hidden_size=32,
                            num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                            max_position_embeddings=160, tie_word_embeddings=False,
                            name="parity-" + name)
    model = hfref.randomize(hfref.build(cfg), seed=len(name)).eval()
    mdir = os.path.join(d, name)
    hfref.save_hf(mdir, model, cfg, vocab)
    out = os.path.join(d, name + ".json")
    subprocess.run([os.path.join(BIN, "varvault-admin"), "annotate", "-q", "--model", mdir,
                    "--reference", fa, "--vcf", vcf, "--format", "json", "--window", str(width),
                    "--policy", os.path.join(SRC, "policy", "evidence.conf"), "-o", out], check=True)
    with open(out) as f:
        res = json.load(f)
    sc = Scorer(model, vocab, kind, k)
    worst, n, bad, nwin = 0.0, 0, 0, 0
    for v in res["variants"]:
        ref, alt = v["ref"], v["alt"]
        if "N" in alt:
            if v["status"] == "scored":
                print("  %s %d: N allele was scored" % (v["chrom"], v["pos"]))
                bad += 1
            continue
        if len(ref) == 1 and len(alt) == 1:
            seq, off = window(contigs, v["chrom"], v["pos"], 1, width)
        else:
            w = width - max(0, len(alt) - len(ref))
            seq, off = window(contigs, v["chrom"], v["pos"], len(ref), w)
        if "N" in seq:  # a reference gap or padding in the window: not scored
            nwin += 1
            if v["status"] != "n_in_window":
                print("  %s %d %s>%s: window has N, status %s" % (v["chrom"], v["pos"], ref, alt, v["status"]))
                bad += 1
            continue
        if v["status"] != "scored":
            print("  %s %d %s>%s: not scored (%s)" % (v["chrom"], v["pos"], ref, alt, v["status"]))
            bad += 1
            continue
        if len(ref) == 1 and len(alt) == 1:
            want = sc.snv(seq, off, alt)
        else:
            want = sc.other(seq, off, ref, alt)
        diff = abs(want - v["score"])
        worst = max(worst, diff)
        n += 1
        if diff > TOL:
            print("  %s %d %s>%s: C %.6f, torch %.6f" % (v["chrom"], v["pos"], ref, alt, v["score"], want))
            bad += 1
    print("%-9s %3d scores, max |C - torch| = %.2e; %d windows with N not scored %s"
          % (name, n, worst, nwin, "ok" if not bad else "FAIL"))
    return bad == 0 and n > 40 and nwin > 0


def main():
    torch.set_num_threads(2)
    rng = random.Random(7)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        fa, contigs = make_reference(d, rng)
        vcf = make_vcf(d, contigs, rng)
        for case in CASES:
            ok &= run_case(d, *case, fa, contigs, vcf)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
