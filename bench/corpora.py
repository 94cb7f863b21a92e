"""Benchmark corpora and codebooks, generated at run time into bench/work/.

Two corpora are made from the Stortinget proceedings corpus
(``../shared/corpora/stortinget/``, Apache-2.0):

* ``stortinget`` — the proceedings files themselves, one paragraph per source
  line group, repeated until the target size is reached. Every repeat gets its
  own file name and its paragraphs in a different (seeded) order, so the
  archive's content-hash check never skips a copy.
* ``transcripts`` — interview transcripts in the style of ``corpus-sample/``:
  a header block, then alternating interviewer/informant turns (``Intervjuer:``,
  ``I:``, first names, ``[hh:mm:ss]`` time stamps), about a third as WebVTT
  with ``<v Name>`` voice tags. Questions and answers are proceedings sentences
  and ASR segments (``asr-transcriptions/*.csv``, bokmål and nynorsk).

Each corpus has a metadata sidecar (``metadata.csv``: file, municipality, date,
document_type) with seeded values from small fixed sets. Everything is
deterministic for a given seed and size, and is reused when already present.
"""
from __future__ import annotations

import collections
import csv
import json
import random
import re
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

GENERATOR_VERSION = 3

MUNICIPALITIES = ["Hamar", "Elverum", "Kongsvinger", "Åsnes", "Grue", "Eidskog", "Nord-Odal", "Sør-Odal"]
DOCUMENT_TYPES = ["intervju", "møtereferat", "fokusgruppe", "saksframlegg", "notat"]

FIRST_NAMES = [
    "Sara", "Jonas", "Emma", "Ola", "Liv", "Hanne", "Mona", "Kari", "Per", "Nora", "Ingrid", "Anders",
    "Sofie", "Magnus", "Ida", "Henrik", "Marte", "Eirik", "Tone", "Lars", "Silje", "Knut", "Astrid", "Jon",
]
LAST_NAMES = ["Solberg", "Aasen", "Lien", "Sveen", "Haugen", "Berg", "Dahl", "Moen", "Bakken", "Nilsen"]
PLACES = ["kommunehuset", "biblioteket", "skolen", "helsestasjonen", "ungdomsklubben", "NAV-kontoret", "Teams"]

STOPWORDS = set(
    """og i det som en er til på av for at med har vi de den ikke et om jeg så men fra være kan dette skal
    også eller vil var seg sin sitt sine han hun man meg deg oss dem der her nå da når hvor hva hvem hvordan
    hvorfor noe noen alle andre mange mer mest mye ble blir bli blitt hadde kunne skulle ville må måtte få
    fått ut opp inn over under etter før mellom mot uten ved gjennom hele bare enn selv samme slik denne disse
    dette ikkje eg ein eit dei ho vere vore berre kva korleis kvifor representanten presidenten statsråden
    stortinget regjeringen""".split()
)

WORD_RE = re.compile(r"[a-zæøå]+")


def _source_files(source: Path) -> List[Path]:
    files = sorted((source / "proceedings-2010").glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no proceedings files under {source / 'proceedings-2010'}")
    return files


def _lines(path: Path) -> List[str]:
    return [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def _asr_segments(source: Path) -> List[str]:
    out: List[str] = []
    for f in sorted((source / "asr-transcriptions").glob("*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                for col in ("text_bm", "text_nn"):
                    t = re.sub(r"\s+", " ", re.sub(r"\be+\b", " ", row.get(col) or "")).strip()
                    if len(t.split()) >= 6:
                        out.append(t[0].upper() + t[1:] + ".")
    return out


def _manifest_ok(dst: Path, want: Dict) -> bool:
    m = dst / "manifest.json"
    if not m.exists():
        return False
    try:
        have = json.loads(m.read_text())
    except ValueError:
        return False
    return all(have.get(k) == v for k, v in want.items())


def _random_date(rng: random.Random) -> str:
    return f"{rng.randint(2019, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _reset(dst: Path) -> None:
    if dst.exists():
        import shutil

        shutil.rmtree(dst)
    dst.mkdir(parents=True)


def make_stortinget(source: Path, dst: Path, target_bytes: int, seed: int = 2010) -> Dict:
    """Proceedings files repeated to ``target_bytes`` of UTF-8 text."""
    want = {"generator": GENERATOR_VERSION, "kind": "stortinget", "target_bytes": target_bytes, "seed": seed}
    if _manifest_ok(dst, want):
        return json.loads((dst / "manifest.json").read_text())
    _reset(dst)
    files = _source_files(source)
    cache: Dict[Path, List[str]] = {}
    meta_rows = []
    total = 0
    copy = 0
    n_files = 0
    done = False
    while not done:
        for f in files:
            if f not in cache:
                cache[f] = _lines(f)
            lines = cache[f]
            if not lines:
                continue
            rng = random.Random(f"{seed}:{copy}:{f.name}")
            paras: List[str] = []
            i = 0
            while i < len(lines):
                k = rng.randint(1, 4)
                paras.append(" ".join(lines[i : i + k]))
                i += k
            if copy > 0:
                rng.shuffle(paras)
            chunks: List[str] = []
            size = 0
            for p in paras:
                b = len(p.encode("utf-8")) + 2
                if total + size + b > target_bytes and chunks:
                    done = True
                    break
                chunks.append(p)
                size += b
            text = "\n\n".join(chunks) + "\n"
            rel = f"k{copy:03d}/{f.stem}-k{copy}.txt"
            out = dst / rel
            out.parent.mkdir(exist_ok=True)
            out.write_text(text, encoding="utf-8")
            total += len(text.encode("utf-8"))
            n_files += 1
            meta_rows.append((rel, rng.choice(MUNICIPALITIES), _random_date(rng), rng.choice(DOCUMENT_TYPES)))
            if done or total >= target_bytes:
                done = True
                break
        copy += 1
    _write_meta(dst, meta_rows)
    manifest = dict(want, files=n_files, bytes=total, copies=copy)
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _write_meta(dst: Path, rows: Sequence[Tuple[str, str, str, str]]) -> None:
    with (dst / "metadata.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "municipality", "date", "document_type"])
        w.writerows(rows)


def _clock(ms: int, vtt: bool) -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}" if vtt else f"{h:02d}:{m:02d}:{s:02d}"


def make_transcripts(source: Path, dst: Path, target_bytes: int, seed: int = 2022) -> Dict:
    """Interview transcripts (.txt and .vtt) to ``target_bytes`` of UTF-8 text."""
    want = {"generator": GENERATOR_VERSION, "kind": "transcripts", "target_bytes": target_bytes, "seed": seed}
    if _manifest_ok(dst, want):
        return json.loads((dst / "manifest.json").read_text())
    _reset(dst)
    sentences: List[str] = []
    for f in _source_files(source):
        sentences.extend(_lines(f))
    questions = [s for s in sentences if s.endswith("?") and 20 <= len(s) <= 200]
    asr = _asr_segments(source)
    rng = random.Random(seed)
    meta_rows = []
    total = 0
    n = 0
    n_vtt = 0
    while total < target_bytes:
        interviewer = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        informant_first = rng.choice([x for x in FIRST_NAMES if not interviewer.startswith(x)])
        informant = f"{informant_first} {rng.choice(LAST_NAMES)}"
        municipality = rng.choice(MUNICIPALITIES)
        date = _random_date(rng)
        n_turns = rng.randint(80, 300)
        turns: List[Tuple[bool, str]] = []  # (is interviewer, text)
        for t in range(n_turns):
            if t % 2 == 0:
                if asr and rng.random() < 0.25:
                    q = rng.choice(asr)
                else:
                    q = rng.choice(questions)
                turns.append((True, q))
            else:
                if asr and rng.random() < 0.15:
                    a = rng.choice(asr)
                else:
                    k = rng.randint(1, 6)
                    i = rng.randrange(0, len(sentences) - k)
                    a = " ".join(sentences[i : i + k])
                turns.append((False, a))
        as_vtt = rng.random() < 0.3
        if as_vtt:
            text = _render_vtt(rng, interviewer, informant, turns)
            ext = "vtt"
            n_vtt += 1
        else:
            text = _render_txt(rng, interviewer, informant, informant_first, municipality, date, turns)
            ext = "txt"
        rel = f"d{n // 500:03d}/intervju-{n:06d}.{ext}"
        out = dst / rel
        out.parent.mkdir(exist_ok=True)
        out.write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
        doc_type = "intervju" if rng.random() < 0.6 else rng.choice(DOCUMENT_TYPES)
        meta_rows.append((rel, municipality, date, doc_type))
        n += 1
    _write_meta(dst, meta_rows)
    manifest = dict(want, files=n, vtt_files=n_vtt, bytes=total)
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _render_txt(rng, interviewer, informant, informant_first, municipality, date, turns) -> str:
    style = rng.choice(["intervjuer", "short", "names", "timestamps"])
    if style == "intervjuer":
        labels = ("Intervjuer", "Informant")
    elif style == "short":
        labels = ("I", informant_first)
    else:
        labels = (interviewer.split()[0], informant_first)
    head = [
        f"Intervju med {informant}, {municipality}",
        f"Dato: {date}",
        f"Sted: {rng.choice(PLACES)}",
        f"Intervjuer: {interviewer}",
        "",
    ]
    body = []
    ms = rng.randint(1000, 9000)
    for is_i, t in turns:
        label = labels[0] if is_i else labels[1]
        stamp = f"[{_clock(ms, False)}] " if style == "timestamps" else ""
        body.append(f"{stamp}{label}: {t}")
        ms += 400 * len(t.split()) + rng.randint(300, 2500)
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n"


def _render_vtt(rng, interviewer, informant, turns) -> str:
    out = ["WEBVTT", ""]
    ms = rng.randint(1000, 9000)
    for n, (is_i, t) in enumerate(turns):
        who = interviewer if is_i else informant
        parts = re.split(r"(?<=[.!?])\s+", t)
        # Teams splits long turns into several cues of the same voice.
        cues = [" ".join(parts[i : i + 2]) for i in range(0, len(parts), 2)]
        for j, c in enumerate(cues):
            dur = 350 * len(c.split()) + 500
            out.append(f"{rng.getrandbits(32):08x}-{n:04x}/{n}-{j}")
            out.append(f"{_clock(ms, True)} --> {_clock(ms + dur, True)}")
            out.append(f"<v {who}>{c}</v>")
            out.append("")
            ms += dur + rng.randint(50, 900)
    return "\n".join(out)


# --- codebooks --------------------------------------------------------------------

# One slot per rule, repeated: the rule-type mix is the same for every size
# (50 % terms, 20 % phrases, 10 % NEAR/5, 10 % a AND NOT b, 10 % three-word OR).
RULE_PATTERN = ["term", "phrase", "term", "near", "term", "andnot", "term", "phrase", "term", "or"]


def vocabulary(source: Path, seed: int = 7) -> Dict[str, List]:
    """Words, adjacent pairs and near pairs of mid frequency from the proceedings."""
    words: collections.Counter = collections.Counter()
    pairs: collections.Counter = collections.Counter()
    near: collections.Counter = collections.Counter()
    for fi, f in enumerate(_source_files(source)):
        text = f.read_text(encoding="utf-8").lower()
        for li, line in enumerate(text.split("\n")):
            ws = WORD_RE.findall(line)
            words.update(ws)
            for a, b in zip(ws, ws[1:]):
                if len(a) >= 4 and len(b) >= 4 and a not in STOPWORDS and b not in STOPWORDS:
                    pairs[(a, b)] += 1
            if li % 3 == 0:
                content = [(i, w) for i, w in enumerate(ws) if len(w) >= 5 and w not in STOPWORDS]
                for x in range(len(content)):
                    i, a = content[x]
                    for y in range(x + 1, len(content)):
                        j, b = content[y]
                        if j - i > 5:
                            break
                        if j - i >= 2 and a != b:
                            near[tuple(sorted((a, b)))] += 1
    rng = random.Random(seed)
    terms = sorted(w for w, c in words.items() if 30 <= c <= 3000 and len(w) >= 5 and w not in STOPWORDS and w != "near")
    phrase_list = sorted(p for p, c in pairs.items() if 15 <= c <= 600)
    near_list = sorted(p for p, c in near.items() if c >= 8)
    rng.shuffle(terms)
    rng.shuffle(phrase_list)
    rng.shuffle(near_list)
    return {"terms": terms, "phrases": [list(p) for p in phrase_list], "near": [list(p) for p in near_list]}


def rules_for(vocab: Dict[str, List], n: int) -> List[Dict]:
    """``n`` rules; the first k of a bigger book are the k-rule book."""
    terms = iter(vocab["terms"])
    phrases = iter(vocab["phrases"])
    nears = iter(vocab["near"])
    out = []
    for i in range(n):
        kind = RULE_PATTERN[i % len(RULE_PATTERN)]
        if kind == "term":
            words = [next(terms)]
            query = words[0]
        elif kind == "phrase":
            words = list(next(phrases))
            query = f'"{words[0]} {words[1]}"'
        elif kind == "near":
            words = list(next(nears))
            query = f"{words[0]} NEAR/5 {words[1]}"
        elif kind == "andnot":
            words = [next(terms), next(terms)]
            query = f"{words[0]} AND NOT {words[1]}"
        else:
            words = [next(terms), next(terms), next(terms)]
            query = " OR ".join(words)
        out.append({"code": f"bench.c{i + 1:04d}", "kind": kind, "words": words, "query": query})
    return out


def write_codebook(path: Path, rules: List[Dict], n: int) -> None:
    lines = [
        "format = 1",
        "",
        "[codebook]",
        f'id = "bench{n}"',
        f'name = "Benchmark codebook, {n} rules"',
        'version = "1.0.0"',
        'description = "Generated by bench/corpora.py: one rule per code, words drawn from the proceedings corpus."',
        "",
        "[[code]]",
        'id = "bench"',
        'name = "Benchmark"',
        'description = "Grouping code for the generated rules."',
        "",
    ]
    for r in rules:
        lines += [
            "[[code]]",
            f'id = "{r["code"]}"',
            f'name = "{r["kind"]} {r["code"][-4:]}"',
            'parent = "bench"',
            f'description = "Generated {r["kind"]} rule."',
            "",
            "  [[code.rule]]",
            '  id = "r1"',
            f"  query = '{r['query']}'",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


# --- regular expressions for the pure-Python peers ------------------------------------


def _w(word: str) -> str:
    return r"\b" + re.escape(word) + r"\w*"


def peer_conditions(rule: Dict) -> List[Tuple[str, bool]]:
    """The rule as (regex, must match) conditions on raw text, matched case-insensitively.

    Words match as word prefixes (``barnehage`` → ``\\bbarnehage\\w*``), the closest a
    regex gets to the analyser's inflection handling without a lexicon.
    """
    k, w = rule["kind"], rule["words"]
    if k == "term":
        return [(_w(w[0]), True)]
    if k == "phrase":
        return [(_w(w[0]) + r"\W+" + re.escape(w[1]) + r"\w*", True)]
    if k == "near":
        gap = r"\W+(?:\w+\W+){0,4}"
        a, b = re.escape(w[0]), re.escape(w[1])
        return [(rf"\b{a}\w*{gap}{b}\w*|\b{b}\w*{gap}{a}\w*", True)]
    if k == "andnot":
        return [(_w(w[0]), True), (_w(w[1]), False)]
    if k == "or":
        return [(r"\b(?:" + "|".join(re.escape(x) for x in w) + r")\w*", True)]
    raise ValueError(k)
