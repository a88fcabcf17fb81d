#!/usr/bin/env python3
"""Writes a synthetic VCF on a stretch of reference sequence, for the
comparison with bcftools norm (test_vcf_norm.sh).

usage: vcf_synth.py SEQFILE CONTIG START SEED N > out.vcf

SEQFILE holds one line of upper-case bases: the reference from 1-based
position START of CONTIG.  The records mix SNVs, MNPs, deletions and
insertions in repeats (so that they move when left-aligned), complex
changes, multi-allelic records with Number=A/R/G INFO and FORMAT values,
symbolic, '*' and <NON_REF> alleles, a few REF mismatches and ALT=REF."""
import random
import sys


def main():
    seq = open(sys.argv[1]).read().strip()
    contig, start, seed, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rnd = random.Random(seed)
    out = sys.stdout
    out.write("##fileformat=VCFv4.2\n")
    out.write("##contig=<ID=%s>\n" % contig)
    out.write('##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n')
    out.write('##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n')
    out.write('##INFO=<ID=RC,Number=R,Type=Integer,Description="Per-allele counts">\n')
    out.write('##INFO=<ID=GS,Number=G,Type=String,Description="Per-genotype labels">\n')
    out.write('##INFO=<ID=TAG,Number=1,Type=String,Description="A label">\n')
    out.write('##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n')
    out.write('##INFO=<ID=FL,Number=0,Type=Flag,Description="A flag">\n')
    out.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    out.write('##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depths">\n')
    out.write('##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Likelihoods">\n')
    out.write('##FORMAT=<ID=XS,Number=A,Type=String,Description="Per-ALT strings">\n')
    out.write('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n')
    out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n")
    bases = "ACGT"
    positions = sorted(rnd.sample(range(150, len(seq) - 200), n))
    for i, p in enumerate(positions):
        rlen = rnd.choice([1, 1, 1, 2, 3, 4, 6])
        ref = seq[p:p + rlen]
        if "N" in ref:
            continue
        nalt = rnd.choice([1, 1, 1, 2, 2, 3])
        alts = []
        for _ in range(nalt):
            kind = rnd.random()
            if kind < 0.25:      # substitution of the first base
                a = rnd.choice([b for b in bases if b != ref[0]]) + ref[1:]
            elif kind < 0.40:    # MNP / complex of the same length
                a = "".join(rnd.choice(bases) for _ in ref)
            elif kind < 0.60:    # deletion after the first base
                k = rnd.randint(1, 8)
                a = ref[0]
                ref_long = seq[p:p + 1 + k]
                if len(ref_long) > len(ref):
                    # widen REF for this record: the other ALTs get padded
                    pad = ref_long[len(ref):]
                    ref = ref_long
                    alts = [x + pad if x[0] in bases else x for x in alts]
                else:
                    a = ref[0]
            elif kind < 0.85:    # insertion of a copy of what follows (a repeat)
                k = rnd.randint(1, 6)
                a = ref + seq[p + len(ref):p + len(ref) + k]
            elif kind < 0.92:    # insertion of random bases
                a = ref + "".join(rnd.choice(bases) for _ in range(rnd.randint(1, 5)))
            elif kind < 0.95:
                a = rnd.choice(["<DEL>", "<NON_REF>", "*", "<INS>"])
            else:                # complex: replace with a shorter random string
                a = "".join(rnd.choice(bases) for _ in range(max(1, len(ref) - 1)))
            if a != ref and a not in alts:
                alts.append(a)
        if not alts:
            continue
        if rnd.random() < 0.02:  # a REF that disagrees with the reference
            ref = rnd.choice([b for b in bases if b != ref[0]]) + ref[1:]
        if rnd.random() < 0.01:  # ALT equal to REF (bcftools -c w keeps it)
            alts.append(ref)
        na = len(alts)
        ng = (na + 1) * (na + 2) // 2
        info = "AC=%s;AF=%s;RC=%s;GS=%s;TAG=t%d" % (
            ",".join(str(rnd.randint(0, 9)) for _ in alts),
            ",".join("%.3g" % rnd.random() for _ in alts),
            ",".join(str(rnd.randint(0, 50)) for _ in range(na + 1)),
            ",".join("g%d" % j for j in range(ng)), i)
        if rnd.random() < 0.2:
            info += ";FL"
        if rnd.random() < 0.1:
            info += ";END=%d" % (start + p + len(ref) - 1)
        samples = []
        xs = ",".join("x%d" % j for j in range(na))
        for _ in range(2):
            if rnd.random() < 0.1:
                # missing values, but XS given: bcftools 1.16 drops a split
                # String Number=A field when a sample lacks it (docs/vcf.md)
                samples.append("./.:.:.:%s:." % xs)
                continue
            haploid = rnd.random() < 0.15
            g = [rnd.randint(0, na) for _ in range(1 if haploid else 2)]
            sep = "|" if rnd.random() < 0.5 else "/"
            gt = sep.join(str(x) for x in g)
            ad = ",".join(str(rnd.randint(0, 30)) for _ in range(na + 1))
            npl = na + 1 if haploid else ng
            pl = ",".join(str(rnd.randint(0, 99)) for _ in range(npl))
            samples.append("%s:%s:%s:%s:%d" % (gt, ad, pl, xs, rnd.randint(0, 60)))
        out.write("%s\t%d\t.\t%s\t%s\t%d\tPASS\t%s\tGT:AD:PL:XS:DP\t%s\n" % (
            contig, start + p, ref, ",".join(alts), rnd.randint(1, 99), info, "\t".join(samples)))


if __name__ == "__main__":
    main()
