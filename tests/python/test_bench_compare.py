"""bench/compare.py on the committed results of two full runs of the same engine on two hosts."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
OLD = RESULTS / "2026-12-06-full-4.json"
NEW = RESULTS / "2026-12-06-full-5.json"


@pytest.fixture(scope="module")
def compare(bench_script):
    return bench_script("compare")


def load(p):
    return json.loads(p.read_text(encoding="utf-8"))


def test_rows_are_the_figures_both_runs_measured_with_their_ratio(compare):
    old, new = load(OLD), load(NEW)
    rows = compare.compare(old, new)
    by = {(f, e): (a, b, r) for f, e, a, b, r in rows}
    # The pandas loop at 1,000 rules on the sub-sample, as both JSON files hold it.
    a, b, r = by[("sub-sample 1000 rules loop", "pandas")]
    assert a == old["autocode_sample"]["results"]["1000"]["pandas"]["s"]
    assert b == new["autocode_sample"]["results"]["1000"]["pandas"]["s"]
    assert r == pytest.approx(b / a)
    a, b, r = by[("ingest stortinget-1000MB", "tantivy")]
    assert (a, b) == (
        old["ingest"]["stortinget-1000MB"]["tantivy"]["index_s"],
        new["ingest"]["stortinget-1000MB"]["tantivy"]["index_s"],
    )
    a, b, _ = by[("autocode_1core 1000 rules stortinget-100MB", "innsikt")]
    assert b == new["autocode"]["stortinget-100MB"]["1000"]["autocode_1core"]["autocode_s"]
    # Search latencies are read in ms and given in seconds.
    a, b, _ = by[("search p99 transcripts-1000MB", "innsikt")]
    assert b == pytest.approx(new["search"]["transcripts-1000MB"]["innsikt"]["overall"]["p99"] / 1000)
    assert all(r == pytest.approx(b / a) for _, _, a, b, r in rows)
    assert {e for _, e, *_ in rows} == {"innsikt", "tantivy", "sqlite_fts5", "pandas", "re", "polars"}


def test_the_summary_tells_the_host_from_the_engine(compare):
    rows = compare.compare(load(OLD), load(NEW))
    s = compare.summary(rows)
    assert s["peers (all)"]["n"] == sum(1 for r in rows if r[1] != "innsikt")
    assert s["innsikt"]["n"] == sum(1 for r in rows if r[1] == "innsikt")
    # Every engine was slower on the second host, by about the same factor.
    assert 2.0 < s["peers (all)"]["median"] < 3.0
    assert 2.0 < s["innsikt"]["median"] < 3.0
    # A run against itself moves nothing.
    same = compare.summary(compare.compare(load(NEW), load(NEW)))
    assert all(g["median"] == 1.0 for g in same.values())


def test_the_command_writes_markdown_and_names_a_file_it_cannot_read(compare, tmp_path, capsys):
    out = tmp_path / "cmp.md"
    assert compare.main([str(OLD), str(NEW), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "| peers (all) |" in text and "| ingest stortinget-1000MB | tantivy |" in text
    assert "AMD EPYC" in text and "Intel" in text
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    assert compare.main([str(OLD), str(bad)]) == 2
    assert "broken.json: cannot read a benchmark result" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text("{}", encoding="utf-8")
    assert compare.main([str(OLD), str(empty)]) == 1
    assert "no figure in common" in capsys.readouterr().err
