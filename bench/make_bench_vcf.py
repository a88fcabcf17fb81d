#!/usr/bin/python3
"""Writes a synthetic VCF of N variants (88% SNVs, 12% indels, or the
given fraction of SNVs) on the unmasked region of the bundled demo
reference, for `make bench`.

Usage: make_bench_vcf.py OUT.vcf N [SNV_FRACTION]
"""
import gzip
import random
import sys

LO, HI = 60_100_001, 60_300_000  # the demo reference's unmasked region


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    snv = float(sys.argv[3]) if len(sys.argv) > 3 else 0.88
    parts = []
    with gzip.open("demo/reference.fa.gz", "rt") as f:
        for line in f:
            if not line.startswith(">"):
                parts.append(line.strip())
    s = "".join(parts)
    rng = random.Random(1)
    recs = set()
    while len(recs) < n:
        # windows reach 64 bases to each side: stay clear of the masked N
        p = rng.randrange(LO + 100, HI - 100)
        ref = s[p - 1]
        if rng.random() < snv:
            recs.add((p, ref, rng.choice([b for b in "ACGT" if b != ref])))
        elif rng.random() < 0.5:
            ins = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 5)))
            recs.add((p, ref, ref + ins))
        else:
            recs.add((p, s[p - 1:p + rng.randint(1, 5)], ref))
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n")
        f.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for p, r, a in sorted(recs):
            f.write("20\t%d\t.\t%s\t%s\t.\tPASS\t.\n" % (p, r, a))


if __name__ == "__main__":
    main()
