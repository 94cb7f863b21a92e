#!/usr/bin/env python3
"""Build data/lexicon/nb-ordbank.txt.gz, the compact bokmål full-form lexicon.

Source: Norsk Ordbank, bokmål 2005 (updated 2018-06-27), Språkbanken /
Nasjonalbiblioteket, CC BY 4.0, as redistributed in the PyPI package
`spacy-lookups-data` (file `nb_lemma_exc.json.gz`). Run once by hand when the
source changes:

    pip download --no-deps spacy-lookups-data==1.0.5 -d /tmp/sld
    python3 tools/build_lexicon.py /tmp/sld/spacy_lookups_data-1.0.5-py2.py3-none-any.whl \
        ../shared/corpora/stortinget/proceedings-2010
    python3 tools/build_attested.py ../shared/corpora/stortinget/proceedings-2010

Output format, one lemma per line: `lemma<TAB>pos<TAB>forms`, where pos is one of
n (noun), v (verb), a (adjective), r (adverb) and forms is a comma-separated list
of `k:suffix` items meaning "drop k characters from the end of the lemma and
append suffix". Three transformations are applied and documented in docs/internals.md:

- forms are lower-cased and forms with spaces are dropped;
- a verb whose lemma is a noun lemma plus a final "e" (samarbeide -> samarbeid,
  hjelpe -> hjelp) is folded into that noun, so that a search for the noun finds
  the verb forms, unless data/lexicon/verb-folds-refused.txt lists it as another
  word than the noun (være/vær, finne/finn, lage/lag);
- where the extract gives the masculine definite and plural forms of a noun only to
  a homograph lemma in "-e" (saken, sakene, saker -> sake; bilen -> bile), the noun
  gets them too, when it has no neuter definite form of its own and the corpus (the
  second argument; only word counts are taken from it) uses the noun's bare form at
  least MIN_COUNT times and more often than the homograph's (sak 2,224 times, sake
  never; but tank once and tanke 102 times, so tanken stays tanke).
"""
import collections
import gzip
import io
import json
import pathlib
import re
import sys
import zipfile

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "lexicon"
MIN_COUNT = 5
# Endings of a masculine noun's definite and plural forms (with genitives).
MASCULINE = ("en", "ens", "ene", "enes", "er", "ers")


def listed(name: str) -> set[str]:
    """The words of a data file, one per line, without comments."""
    text = (DATA / name).read_text(encoding="utf-8")
    return {l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#")}


def word_counts(folder: str) -> collections.Counter:
    """Lower-cased words of every .txt file under `folder`, counted."""
    word = re.compile(r"[^\W\d_]+")
    counts = collections.Counter()
    for path in sorted(pathlib.Path(folder).rglob("*.txt")):
        counts.update(word.findall(path.read_text(encoding="utf-8", errors="replace").lower()))
    return counts

POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


def encode(lemma: str, form: str) -> str:
    common = 0
    for a, b in zip(lemma, form):
        if a != b:
            break
        common += 1
    return f"{len(lemma) - common}:{form[common:]}"


def main(wheel: str, corpus: str, out: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("spacy_lookups_data/data/nb_lemma_exc.json.gz")
    data = json.load(gzip.open(io.BytesIO(raw)))
    noun_lemmas = {l.lower() for ls in data["noun"].values() for l in ls}
    refused = listed("verb-folds-refused.txt")
    entries: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for pos, table in data.items():
        p = POS[pos]
        for form, lemmas in table.items():
            form = form.lower()
            if " " in form or not form:
                continue
            for lemma in lemmas:
                lemma = lemma.lower()
                if " " in lemma:
                    continue
                lp = p
                if p == "v" and lemma.endswith("e") and lemma not in refused and lemma[:-1] in noun_lemmas:
                    lemma, lp = lemma[:-1], "n"
                entries[(lemma, lp)].add(form)
    # Each noun's forms as the extract gives them, before any verb was folded in
    # (a folded verb's participle, saket, is no neuter definite form of sak).
    own: dict[str, set[str]] = collections.defaultdict(set)
    for form, lemmas in data["noun"].items():
        for lemma in lemmas:
            own[lemma.lower()].add(form.lower())
    counts = word_counts(corpus)
    for noun in sorted(noun_lemmas):
        mine, other = own[noun], own.get(noun + "e", set())
        bare = counts[noun]
        if bare < MIN_COUNT or bare <= counts[noun + "e"] or noun + "et" in mine:
            continue
        if noun + "en" in mine or noun + "en" not in other:
            continue
        entries[(noun, "n")] |= {noun + e for e in MASCULINE if noun + e in other}
    lines = []
    for (lemma, p), forms in sorted(entries.items()):
        enc = sorted(encode(lemma, f) for f in forms if f != lemma)
        lines.append(f"{lemma}\t{p}\t{','.join(enc)}\n")
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write("# Norsk Ordbank bokmål 2005 (2018-06-27), Språkbanken, CC BY 4.0; see LICENSE-ordbank.md\n")
        f.writelines(lines)
    print(f"{len(lines)} lemma entries written to {out}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: build_lexicon.py WHEEL CORPUS_FOLDER [OUT]")
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else str(DATA / "nb-ordbank.txt.gz"))
