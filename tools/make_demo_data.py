#!/usr/bin/python3
"""Writes varvault's bundled demo reference and demo VCF (demo/).

Offline tool; the outputs are committed so `make demo` needs nothing else.

- reference.fa.gz (+ .fai, .gzi): GRCh37 chromosome 20 from Debian's
  `vt-examples`, with every base outside REGION replaced by N, so that the
  contig keeps its real name, length and coordinates while the file stays
  small.  REGION lies inside the demo model's held-out region, so the demo
  scores sequence the model never trained on.
- sample.vcf: a synthetic single-sample VCF (no patient data) on REGION with
  every kind of record the pipeline handles: SNVs, insertions and deletions
  (some needing left-alignment), a multi-allelic site, a symbolic allele, a
  breakend, a spanning deletion `*`, a gVCF reference block, and a REF that
  does not match the reference.

Usage: make_demo_data.py [--out demo] [--seed 42]
"""
import argparse
import gzip
import os
import random
import subprocess

FASTA = "/usr/share/doc/vt/examples/ref/20.fa.gz"
REGION = (60_100_001, 60_300_000)  # 1-based inclusive
CONTIG = "20"


def read_contig(path):
    parts = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if not line.startswith(">"):
                parts.append(line.strip())
    return "".join(parts).upper()


def write_reference(seq, out):
    lo, hi = REGION[0] - 1, REGION[1]
    masked = "N" * lo + seq[lo:hi] + "N" * (len(seq) - hi)
    fa = os.path.join(out, "reference.fa")
    with open(fa, "w") as f:
        f.write(f">{CONTIG} GRCh37 chromosome 20 masked to N outside "
                f"{REGION[0]}-{REGION[1]} (varvault demo)\n")
        for i in range(0, len(masked), 60):
            f.write(masked[i:i + 60] + "\n")
    subprocess.run(["bgzip", "-f", "-i", fa], check=True)
    subprocess.run(["samtools", "faidx", fa + ".gz"], check=True)


def homopolymer_sites(seq, lo, hi, rng, count):
    """Positions (0-based) inside runs of >= 4 identical bases."""
    sites = []
    for _ in range(20000):
        p = rng.randrange(lo + 10, hi - 10)
        b = seq[p]
        if seq[p:p + 4] == b * 4 and b != "N":
            sites.append(p)
            if len(sites) == count:
                break
    return sites


def make_records(seq, rng):
    lo, hi = REGION[0] - 1, REGION[1]
    recs = []  # (pos1, ref, alt, info, gt)

    def gt():
        return rng.choice(["0/1", "0/1", "1/1", "0|1", "1|0"])

    for p in sorted(rng.sample(range(lo + 100, hi - 100), 240)):
        ref = seq[p]
        alt = rng.choice([b for b in "ACGT" if b != ref])
        recs.append((p + 1, ref, alt, "DP=%d" % rng.randint(10, 60), gt()))
    # insertions and deletions, written right-shifted inside homopolymers so
    # that normalization has to left-align them
    for p in homopolymer_sites(seq, lo, hi, rng, 12):
        q = p
        while seq[q + 1] == seq[p]:
            q += 1
        if rng.random() < 0.5:
            recs.append((q + 1, seq[q], seq[q] + seq[p], "DP=30", gt()))
        else:
            recs.append((q, seq[q - 1:q + 1], seq[q - 1], "DP=30", gt()))
    for p in sorted(rng.sample(range(lo + 100, hi - 100), 12)):
        ins = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.5:
            recs.append((p + 1, seq[p], seq[p] + ins, "DP=25", gt()))
        else:
            n = rng.randint(1, 8)
            recs.append((p + 1, seq[p:p + n + 1], seq[p], "DP=25", gt()))
    # one multi-allelic SNV site and one multi-allelic indel site
    p = lo + 5000
    others = [b for b in "ACGT" if b != seq[p]]
    recs.append((p + 1, seq[p], others[0] + "," + others[1], "DP=40", "1/2"))
    p = lo + 7000
    recs.append((p + 1, seq[p:p + 3], seq[p] + "," + seq[p:p + 3] + "T", "DP=40", "1/2"))
    # records kept with a reason instead of a score
    p = lo + 9000
    recs.append((p + 1, seq[p], "<DEL>", "SVTYPE=DEL;END=%d;DP=20" % (p + 500), "0/1"))
    p = lo + 11000
    recs.append((p + 1, seq[p], seq[p] + "[20:%d[" % (lo + 150000), "SVTYPE=BND;DP=20", "0/1"))
    p = lo + 13000
    recs.append((p + 1, seq[p], "*," + [b for b in "ACGT" if b != seq[p]][0], "DP=20", "1/2"))
    p = lo + 15000
    recs.append((p + 1, seq[p], "<NON_REF>", "END=%d;DP=18" % (p + 50), "0/0"))
    p = lo + 17000
    wrong = [b for b in "ACGT" if b != seq[p]][0]
    recs.append((p + 1, wrong, seq[p], "DP=33", "0/1"))
    recs.sort(key=lambda r: r[0])
    return recs


def write_vcf(recs, out):
    with open(os.path.join(out, "sample.vcf"), "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        f.write("##source=varvault tools/make_demo_data.py (synthetic, not patient data)\n")
        f.write("##reference=GRCh37\n")
        f.write(f"##contig=<ID={CONTIG},length=63025520,assembly=GRCh37>\n")
        f.write('##INFO=<ID=DP,Number=1,Type=Integer,Description="Read depth">\n')
        f.write('##INFO=<ID=END,Number=1,Type=Integer,Description="End position">\n')
        f.write('##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Structural variant type">\n')
        f.write('##ALT=<ID=DEL,Description="Deletion">\n')
        f.write('##ALT=<ID=NON_REF,Description="Any other allele">\n')
        f.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tDEMO1\n")
        for i, (pos, ref, alt, info, gt) in enumerate(recs):
            f.write(f"{CONTIG}\t{pos}\tdemo{i + 1}\t{ref}\t{alt}\t50\tPASS\t{info}\tGT\t{gt}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="demo")
    ap.add_argument("--fasta", default=FASTA)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    seq = read_contig(args.fasta)
    write_reference(seq, args.out)
    write_vcf(make_records(seq, random.Random(args.seed)), args.out)


if __name__ == "__main__":
    main()
