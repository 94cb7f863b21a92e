#!/usr/bin/env python3
"""Figures of the Norwegian analysis over a corpus, from the dump that
`examples/profile_analysis.rs` writes (form, count, full terms, part terms;
tab-separated):

    cargo run --release --example profile_analysis -- bench/work/corpora/stortinget-100MB forms.tsv
    python3 tools/analysis_stats.py forms.tsv [before.tsv]

Prints, per dump: distinct forms, words of the text, index terms per word of
the text (lemmas and compound parts; the exact-form field adds one more), forms
split into parts, and forms with a part of one or two letters (rarely a word of
its own: the sign of a false split), with the commonest such parts. Given a
second dump of the same corpus, also lists the forms whose terms changed,
commonest first.
"""
import collections
import sys


def load(path):
    forms = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            form, count, full, parts = line.rstrip("\n").split("\t")
            forms[form] = (int(count), full.split(), parts.split())
    return forms


def figures(path, forms):
    words = sum(n for n, _, _ in forms.values())
    terms = sum(n * (len(full) + len(parts)) for n, full, parts in forms.values())
    split = sum(1 for _, _, parts in forms.values() if parts)
    short = collections.Counter()
    short_forms = 0
    for _, _, parts in forms.values():
        tiny = [p for p in parts if len(p) <= 2]
        short.update(tiny)
        short_forms += bool(tiny)
    print(f"{path}: {len(forms):,} forms, {words:,} words, {terms / words:.3f} terms per word, "
          f"{split:,} forms split, {short_forms:,} with a part of one or two letters")
    print("  commonest short parts:", ", ".join(f"{p} {n}" for p, n in short.most_common(10)))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    after = load(sys.argv[1])
    figures(sys.argv[1], after)
    if len(sys.argv) == 3:
        before = load(sys.argv[2])
        figures(sys.argv[2], before)
        changed = sorted(
            ((after[f][0], f, before[f][1:], after[f][1:]) for f in after
             if f in before and before[f][1:] != after[f][1:]),
            reverse=True,
        )
        print(f"{len(changed):,} forms changed ({sum(c[0] for c in changed):,} words); commonest:")
        for n, form, (bf, bp), (af, ap) in changed[:25]:
            print(f"  {n:>7} {form}: {' '.join(bf)} [{' '.join(bp)}] -> {' '.join(af)} [{' '.join(ap)}]")


if __name__ == "__main__":
    main()
