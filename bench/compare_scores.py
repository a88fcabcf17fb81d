"""Compares two annotate TSV outputs of the same VCF (fp32 and bf16):
max and mean |delta score| per method, Spearman rank correlation and how
many evidence classes change.

usage: compare_scores.py A.tsv B.tsv
"""

import sys


def read(path):
    rows = {}
    with open(path) as f:
        head = None
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if head is None:
                head = cols
                continue
            r = dict(zip(head, cols))
            rows[(r["chrom"], r["pos"], r["ref"], r["alt"], r["alt_index"])] = r
    return rows


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else float("nan")


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    by = {}
    changed = 0
    for k, ra in a.items():
        rb = b.get(k)
        if rb is None:
            continue
        if ra["evidence"] != rb["evidence"]:
            changed += 1
        if ra["status"] != "scored" or rb["status"] != "scored":
            continue
        by.setdefault(ra["method"], []).append((float(ra["score"]), float(rb["score"])))
    for method, pairs in sorted(by.items()):
        d = [abs(x - y) for x, y in pairs]
        print("%s: n=%d max|d|=%.4f mean|d|=%.5f spearman=%.6f" % (
            method, len(pairs), max(d), sum(d) / len(d),
            spearman([x for x, _ in pairs], [y for _, y in pairs])))
    print("evidence classes changed: %d of %d" % (changed, len(a)))


if __name__ == "__main__":
    main()
