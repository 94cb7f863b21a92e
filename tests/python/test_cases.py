"""The shared data cases, run through the Python binding: the same files and
expected outputs as the Rust test runner, so the two can never disagree."""
import json
import pathlib

import pytest

import innsikt
from innsikt import _innsikt

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = sorted(
    p for p in (ROOT / "tests" / "cases" / "segmentation").iterdir()
    if not p.name.endswith(".expected.json") and p.suffix != ".py"
)


def test_there_are_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_segmentation_case(case):
    got = json.loads(_innsikt.parse_file(str(case)))
    expected = json.loads((case.parent / f"{case.name}.expected.json").read_text(encoding="utf-8"))
    assert got == expected


def test_offsets_are_code_points_into_the_document(tmp_path):
    src = ROOT / "tests" / "cases" / "segmentation" / "interview_crlf_emoji.txt"
    p = innsikt.Project.create(tmp_path / "a")
    p.ingest([src], progress=False)
    doc_id = p.documents().to_pandas()["document_id"][0]
    text = p.document_text(doc_id)
    for row in p.passages().to_pandas().itertuples():
        assert text[row.start:row.end] == row.text
    assert "👍🏽" in text and "\r" not in text
