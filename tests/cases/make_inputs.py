#!/usr/bin/env python3
"""Writes the byte-exact inputs of tests/cases/segmentation/ (CRLF, BOM,
Windows-1252, binary and DOCX fixtures cannot be typed in an editor safely).
The expected outputs beside them are reviewed by hand, not generated."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from make_docx import make_docx  # noqa: E402

D = os.path.join(os.path.dirname(__file__), "segmentation")


def w(name, data):
    with open(os.path.join(D, name), "wb") as f:
        f.write(data)


w("interview_crlf_emoji.txt", (
    "Intervju med Åse – «test»\r\nDato: 2022-03-14\r\nSted: Flisa\r\n\r\n"
    "I: Hvordan gikk overgangen til videregående? 🙂\r\n\r\n"
    "Informant: Den var tøff, altså. Æ, ø og å – og 👍🏽 emoji.\r\nDet andre året gikk bedre.\r\n\r\n"
    "I: Og ungdomsrådet?\r\n"
    "Informant: Der fikk jeg være med «inn i maskinrommet».\r\n"
).encode("utf-8"))

w("first_names_cp1252.txt", (
    "Kari: Vi må snakke om samarbeidet med barneverntjenesten.\n\n"
    "Mona: Ja, «tidlig innsats» er viktig – særlig på ungdomsskolen.\n\n"
    "Kari: Hva med PPT?\n\n"
    "Mona: Det går seint. Søknadene blir liggende.\n"
).encode("cp1252"))

w("bom_paragraphs.txt", b"\xef\xbb\xbf" + (
    "Første avsnitt om kontingentkassa.\nFortsatt første avsnitt.\n\n"
    "Andre avsnitt: lavterskeltilbudet i Grue.\n\n\n"
    "Tredje avsnitt.\n"
).encode("utf-8"))

w("timestamps.txt", (
    "[00:01:02] Intervjuer: Fortell om sommerjobben.\n"
    "[00:01:09] Jonas: Den fikk jeg gjennom NAV.\n"
    "[00:01:30] Intervjuer: Og etterpå?\n"
    "[00:01:41] Jonas: Fast jobb.\n"
).encode("utf-8"))

w("minutes.md", (
    "# Referat fra ressursgruppemøte\n\n"
    "**Møte:** Ressursgruppa, møte nr. 3/2022\n\n"
    "## Sak 12/22: Prøvehandlinger\n\n"
    "Gruppa diskuterte fast kontaktperson.\n"
    "Det ble enighet.\n\n"
    "- Oppfølging: SLT-koordinator\n"
    "- Frist: 1. juni\n\n"
    "Vedtak: Vi prøver ut ordningen.\n"
).encode("utf-8"))

w("speakers_bold.md", (
    "# Intervju med ungdomskontakt\n\n"
    "**Intervjuer:** Hva betyr lavterskel for deg?\n\n"
    "**Ahmed:** At døra er åpen.\n\n"
    "At ingen spør om henvisning.\n\n"
    "**Intervjuer:** Og ungdomsrådet?\n\n"
    "**Ahmed:** De sitter i maskinrommet nå.\n"
).encode("utf-8"))

w("teams.vtt", (
    "WEBVTT\n\n"
    "3f2a1c9e-7b1d-4c55-9e0a-1d2b3c4d5e6f/12-0\n00:00:03.120 --> 00:00:09.480\n"
    "<v Ingrid Solberg (HINN)>Hvordan var møtet med NAV-veilederen?</v>\n\n"
    "3f2a1c9e-7b1d-4c55-9e0a-1d2b3c4d5e6f/13-0\n00:00:10.000 --> 00:00:14.200\n"
    "<v Jonas Bakken>Det var bra. Hun hørte på meg.</v>\n\n"
    "3f2a1c9e-7b1d-4c55-9e0a-1d2b3c4d5e6f/13-1\n00:00:14.200 --> 00:00:18.900\n"
    "<v Jonas Bakken>Og så fikk jeg sommerjobb &amp; en plass i rockeklubben.</v>\n\n"
    "NOTE this is a comment\n\n"
    "3f2a1c9e-7b1d-4c55-9e0a-1d2b3c4d5e6f/14-0\n00:00:19.000 --> 00:00:21.000\n"
    "<v Ingrid Solberg (HINN)>Flott.</v>\n"
).encode("utf-8"))

w("auto.srt", (
    "1\n00:00:01,000 --> 00:00:04,200\nIntervjuer: hvordan har du det\n\n"
    "2\n00:00:04,500 --> 00:00:08,000\nSara: det går bra med Lea\n\n"
    "3\n00:00:08,100 --> 00:00:12,000\nhun er i barnehagen\n\n"
    "4\n00:00:12,500 --> 00:00:14,000\nIntervjuer: og barnevernet\n"
).encode("utf-8"))

w("broken_timestamp.vtt", (
    "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\n<v A>hei</v>\n\n"
    "2\n00:00:99.000 --> 00:00:03.000\n<v B>hallo</v>\n"
).encode("utf-8"))

w("bad_cue_number.srt", (
    "1\n00:00:01,000 --> 00:00:02,000\nhei\n\n"
    "to\n00:00:02,000 --> 00:00:03,000\nhallo\n"
).encode("utf-8"))

w("binary.txt", bytes(range(256)) * 4)

w("mixed_encoding.txt", "blåbær\nlinje to\n".encode("utf-8") + b"linje tre med \xe6\xf8\xe5\n")

w("utf16_no_bom.txt", "Hei på deg, dette er UTF-16 uten BOM.\n".encode("utf-16-le"))

w("utf16_bom.txt", "\ufeffHei på deg.\n\nAndre avsnitt.\n".encode("utf-16"))

w("garbage.docx", b"PK\x03\x04 this is not really a zip file at all")

make_docx(
    "# Referat\n\nTil stede: NAV og skolen.\n\nI: Hva skjedde?\nMed linjeskift.\n\nTrond: Vi fikk til et samarbeid.\n\n"
    "I: Og så?\n\nTrond: Fast kontaktperson & trygghet <3.",
    os.path.join(D, "simple.docx"),
)
print("inputs written to", D)
