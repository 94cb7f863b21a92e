#!/usr/bin/env python3
"""Build data/lexicon/nb-attested-nouns.txt: the Ordbank noun lemmas that occur at
least MIN_COUNT times in a corpus of running Norwegian text, with their counts.

The compound splitter uses the list when it splits a word the lexicons hold: the
parts must be nouns common as words of their own (`build.rs` reads the counts), so
that *mennesker* is not read as *menn* + *esker* nor *presidenten* as *pre* +
*identen* (Ordbank holds *eske*, *ident* and *pre* as nouns, but they are rare as
words of their own). Run once by hand when the corpus or the lexicon changes:

    python3 tools/build_attested.py ../shared/corpora/stortinget/proceedings-2010

A noun's count is the count of its forms in the corpus (lower-cased words). Where
a verb is the noun plus a final "e" (*ringe* beside *ring*, *anse* beside *ans*,
and the verbs `tools/build_lexicon.py` folds into their nouns), the verb's forms
would count for the noun, so only the lemma and the noun's masculine definite
forms are counted for those (*ringen*, *ringene*), whether the extract lists them
or not.
"""
import collections
import gzip
import pathlib
import re
import sys

MIN_COUNT = 5
LEXICON = pathlib.Path(__file__).resolve().parent.parent / "data" / "lexicon" / "nb-ordbank.txt.gz"
OUT = LEXICON.parent / "nb-attested-nouns.txt"
WORD = re.compile(r"[^\W\d_]+")


def noun_forms():
    """(lemma, forms to count) for every noun entry of the compact lexicon."""
    with gzip.open(LEXICON, "rt", encoding="utf-8") as f:
        entries = [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]
    verbs = {cols[0] for cols in entries if len(cols) > 1 and cols[1] == "v"}
    for cols in entries:
        if len(cols) < 2 or cols[1] != "n":
            continue
        lemma = cols[0]
        forms = {lemma}
        for item in filter(None, (cols[2] if len(cols) > 2 else "").split(",")):
            drop, suffix = item.split(":", 1)
            forms.add(lemma[: len(lemma) - int(drop)] + suffix)
        # A verb folded into the noun, or one beside it (*anse* beside *ans*):
        # *anser* is far likelier the verb's than the noun's.
        paired = not lemma.endswith("e") and (lemma + "e" in forms or lemma + "e" in verbs)
        if paired:
            # The extract lists the verb's forms but often not the noun's own
            # (*klubben*, *klubbene*); none of these is a verb form.
            forms = {lemma} | {lemma + s for s in ("en", "ene", "ens", "enes")}
        yield lemma, forms


def main(folders):
    counts = collections.Counter()
    files = sorted(p for folder in folders for p in pathlib.Path(folder).rglob("*.txt"))
    for path in files:
        counts.update(WORD.findall(path.read_text(encoding="utf-8", errors="replace").lower()))
    per_lemma = collections.Counter()
    for lemma, forms in noun_forms():
        per_lemma[lemma] += sum(counts[f] for f in forms)
    attested = sorted(l for l, n in per_lemma.items() if n >= MIN_COUNT)
    words = sum(counts.values())
    with open(OUT, "w", encoding="utf-8") as out:
        out.write(
            f"# Ordbank noun lemmas whose forms occur at least {MIN_COUNT} times in {words:,} words of\n"
            "# the Storting's proceedings of 2010 (tools/build_attested.py; see README.md for the\n"
            f"# sources and their licences). {len(attested)} lemmas, one per line: lemma, tab, count.\n"
        )
        for lemma in attested:
            out.write(f"{lemma}\t{per_lemma[lemma]}\n")
    print(f"{len(files)} files, {words} words, {len(attested)} attested nouns -> {OUT}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: build_attested.py CORPUS_FOLDER...")
    main(sys.argv[1:])
