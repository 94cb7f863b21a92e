#!/usr/bin/env python3
"""Build data/lexicon/nb-ordbank.txt.gz, the compact bokmål full-form lexicon.

Source: Norsk Ordbank, bokmål 2005 (updated 2018-06-27), Språkbanken /
Nasjonalbiblioteket, CC BY 4.0, as redistributed in the PyPI package
`spacy-lookups-data` (file `nb_lemma_exc.json.gz`). Run once by hand when the
source changes:

    pip download --no-deps spacy-lookups-data==1.0.5 -d /tmp/sld
    python3 tools/build_lexicon.py /tmp/sld/spacy_lookups_data-1.0.5-py2.py3-none-any.whl

Output format, one lemma per line: `lemma<TAB>pos<TAB>forms`, where pos is one of
n (noun), v (verb), a (adjective), r (adverb) and forms is a comma-separated list
of `k:suffix` items meaning "drop k characters from the end of the lemma and
append suffix". Two transformations are applied and documented in ARCHITECTURE.md:
forms are lower-cased and forms with spaces are dropped; a verb whose lemma is a
noun lemma plus a final "e" (samarbeide -> samarbeid, hjelpe -> hjelp) is folded
into that noun, so that a search for the noun finds the verb forms.
"""
import collections
import gzip
import io
import json
import sys
import zipfile

POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


def encode(lemma: str, form: str) -> str:
    common = 0
    for a, b in zip(lemma, form):
        if a != b:
            break
        common += 1
    return f"{len(lemma) - common}:{form[common:]}"


def main(wheel: str, out: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("spacy_lookups_data/data/nb_lemma_exc.json.gz")
    data = json.load(gzip.open(io.BytesIO(raw)))
    noun_lemmas = {l.lower() for ls in data["noun"].values() for l in ls}
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
                if p == "v" and lemma.endswith("e") and lemma[:-1] in noun_lemmas:
                    lemma, lp = lemma[:-1], "n"
                entries[(lemma, lp)].add(form)
    lines = []
    for (lemma, p), forms in sorted(entries.items()):
        enc = sorted(encode(lemma, f) for f in forms if f != lemma)
        lines.append(f"{lemma}\t{p}\t{','.join(enc)}\n")
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write("# Norsk Ordbank bokmål 2005 (2018-06-27), Språkbanken, CC BY 4.0; see LICENSE-ordbank.md\n")
        f.writelines(lines)
    print(f"{len(lines)} lemma entries written to {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "data/lexicon/nb-ordbank.txt.gz")
