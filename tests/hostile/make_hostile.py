#!/usr/bin/env python3
"""Writes a folder of hostile input files for the ingest pipeline (and two hostile
codebooks), each with the outcome expected: `error` (a clear error naming the file)
or `ok` (strange but readable). The manifest is written as manifest.json.

    python3 tests/hostile/make_hostile.py OUT_DIR [--big]   # --big adds the 200 MB one-line file
"""
import io
import json
import os
import random
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from make_docx import make_docx  # noqa: E402


def main(out: str, big: bool) -> None:
    os.makedirs(out, exist_ok=True)
    rng = random.Random(42)
    manifest = {}

    def put(name, data, expect):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        manifest[name] = expect

    # A valid DOCX to damage.
    good = os.path.join(out, "_good.docx")
    make_docx("# Tittel\n\nI: Hei.\n\nKari: Hallo, ungdomsrådet.", good)
    docx = open(good, "rb").read()
    os.remove(good)
    for i, cut in enumerate([10, 100, len(docx) // 3, len(docx) // 2, len(docx) - 20]):
        put(f"truncated-{i}.docx", docx[:cut], "error")
    for i in range(3):
        put(f"garbage-{i}.docx", bytes(rng.randrange(256) for _ in range(2000 + i * 1000)), "error")
    put("text-named.docx", "Dette er ikke en docx.\n", "error")
    put("empty.docx", b"", "error")

    def zipped(files):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for n, d in files.items():
                z.writestr(n, d)
        return buf.getvalue()

    put("zip-bomb.docx", zipped({"word/document.xml": b"<w:document>" + b"\0" * (300 * 1024 * 1024)}), "error")
    put("no-document-xml.docx", zipped({"word/other.xml": "<x/>"}), "error")
    put("broken-xml.docx", zipped({"word/document.xml": "<w:document><w:body><w:p><w:r><w:t>hei</w:p></w:body>"}), "error")
    nested = "<w:document><w:body><w:p>" + "<w:r>" * 50000 + "<w:t>dypt</w:t>" + "</w:r>" * 50000 + "</w:p></w:body></w:document>"
    put("deeply-nested.docx", zipped({"word/document.xml": nested}), "ok")
    put("no-text.docx", zipped({"word/document.xml": "<w:document><w:body></w:body></w:document>"}), "error")

    # Encodings.
    put("invalid-utf8-0.txt", "Første linje.\n".encode() + b"\xff\xfe\xfd andre linje\n", "error")
    put("invalid-utf8-1.md", "# Tittel\n\nblåbær ".encode() + b"\xc3\x28 og mer\n", "error")
    put("invalid-utf8-2.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhei på ".encode() + b"\xe6\n", "error")
    put("utf16-no-bom-0.txt", "Hei på deg, ungdom.\n".encode("utf-16-le"), "error")
    put("utf16-no-bom-1.md", "# Overskrift\n\nTekst.\n".encode("utf-16-be"), "error")
    put("cp1252-undefined-byte.txt", b"Bl\xe5b\xe6r \x81 og \x8d.\n", "error")
    put("nul-in-middle.md", b"# Tittel\n\nTekst\x00 med NUL.\n", "error")
    for i, ext in enumerate(["txt", "md", "vtt", "srt"]):
        put(f"binary-{i}.{ext}", bytes(rng.randrange(256) for _ in range(5000)), "error")
    put("control-chars.txt", bytes(rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16]) for _ in range(3000)), "error")

    # Empty and blank.
    for ext in ["txt", "md", "vtt", "srt"]:
        put(f"empty.{ext}", b"", "error")
    put("whitespace.txt", "   \n\n\t\n   \n", "error")
    put("header-only.vtt", "WEBVTT\n\n", "error")

    # Timed transcripts.
    put("no-header.vtt", "00:00:01.000 --> 00:00:02.000\nhei\n", "error")
    put("bad-minutes.vtt", "WEBVTT\n\n00:61:01.000 --> 00:61:02.000\nhei\n", "error")
    put("end-before-start.vtt", "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nhei\n", "error")
    put("garbage-timing.vtt", "WEBVTT\n\n1\nklokka tolv --> litt seinare\nhei\n", "error")
    put("cue-without-timing.vtt", "WEBVTT\n\n1\nbare tekst uten tid\n", "error")
    put("huge-hours.vtt", "WEBVTT\n\n999:00:01.000 --> 999:00:02.000\nhei\n", "ok")
    put("bad-number-0.srt", "en\n00:00:01,000 --> 00:00:02,000\nhei\n", "error")
    put("bad-number-1.srt", "1\n00:00:01,000 --> 00:00:02,000\nhei\n\n-2\n00:00:02,000 --> 00:00:03,000\nhallo\n", "error")
    put("bad-number-2.srt", "99999999999999999999999\n00:00:01,000 --> 00:00:02,000\nhei\n", "ok")
    put("missing-timing.srt", "1\n\n2\n00:00:02,000 --> 00:00:03,000\nhallo\n", "error")
    put("garbage-timing-0.srt", "1\n00:00:xx,000 --> 00:00:02,000\nhei\n", "error")
    put("garbage-timing-1.srt", "1\n--> --> -->\nhei\n", "error")
    put("timing-only.srt", "1\n00:00:01,000 --> 00:00:02,000\n", "error")

    # Strange but readable text.
    put("speaker-label-100k.txt", "A" * 100_000 + ": hei\n\nI: Og så?\n", "ok")
    put("many-colons.txt", ":" * 50_000 + "\n", "ok")
    nested_md = "\n".join(("  " * i) + "- punkt" for i in range(2000)) + "\n" + ">" * 5000 + " sitat\n"
    put("deeply-nested.md", nested_md, "ok")
    put("long-line-cr-only.txt", ("Ungdom og samarbeid. " * 2000 + "\r") * 5, "ok")
    put("many-tiny-paragraphs.md", "\n\n".join(f"Avsnitt {i}." for i in range(20000)), "ok")
    put("emoji-and-rtl.txt", "🙂👍🏽 \u202eunder\u202c ungdom ‮ تجربة\n", "ok")
    put("one-long-paragraph.txt", ("ord " * 300_000) + "\n", "error")
    if big:
        put("one-line-200mb.txt", b"a" * (200 * 1024 * 1024), "error")

    # A well-formed control file that must be ingested whatever else fails.
    put("control-good.txt", "I: Hvordan gikk det?\n\nInformant: Ungdomsrådet hjalp meg.\n", "ok")

    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)

    # Hostile codebooks beside the folder (not ingested).
    cb_dir = out + "-codebooks"
    os.makedirs(cb_dir, exist_ok=True)
    with open(os.path.join(cb_dir, "catastrophic-regex.toml"), "w", encoding="utf-8") as f:
        f.write('format = 1\n[codebook]\nid = "x"\nversion = "1"\n[[code]]\nid = "a"\nname = "A"\n'
                "  [[code.rule]]\n  regex = '(a+)+$'\n  [[code.rule]]\n  regex = '(x|x|x|xx)*y'\n")
    with open(os.path.join(cb_dir, "huge.toml"), "w", encoding="utf-8") as f:
        f.write('format = 1\n[codebook]\nid = "x"\nversion = "1"\n')
        for i in range(25_000):
            f.write(f'[[code]]\nid = "c{i}"\nname = "C{i}"\n  [[code.rule]]\n  query = "ungdom{i}"\n')
    with open(os.path.join(cb_dir, "big-but-allowed.toml"), "w", encoding="utf-8") as f:
        f.write('format = 1\n[codebook]\nid = "x"\nversion = "1"\n')
        for i in range(5_000):
            f.write(f'[[code]]\nid = "c{i}"\nname = "C{i}"\n  [[code.rule]]\n  query = "ungdom{i} OR skole{i}"\n')
    print(f"{len(manifest)} files in {out}, codebooks in {cb_dir}")


if __name__ == "__main__":
    main(sys.argv[1], "--big" in sys.argv)
