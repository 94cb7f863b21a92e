"""bench/bench.py reads the 10- to 1,000-rule slowdown from its pairs of processes, on the
committed results of a full run that has them and of one that does not."""
import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
PAIRED = RESULTS / "2026-12-06-full-11.json"
UNPAIRED = RESULTS / "2026-12-06-full-10.json"


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("bench")


def load(p):
    return json.loads(p.read_text(encoding="utf-8"))


def rule_scaling(bench, res):
    res["ratios"] = bench.compute_ratios(res)
    (target,) = [t for t in bench.compute_targets(res) if t["key"] == "rule_scaling"]
    return target


def test_the_target_reads_the_median_of_the_pairs(bench):
    res = load(PAIRED)
    pairs = res["autocode"]["stortinget-100MB"]["paired_1000_vs_10"]["pairs"]
    assert len(pairs) == 3
    # Each pair is a ratio of its own two calls, in alternating order.
    assert [p["first"] for p in pairs] == [10, 1000, 10]
    assert all(p["ratio"] == pytest.approx(p["apply_s_1000"] / p["apply_s_10"]) for p in pairs)
    target = rule_scaling(bench, res)
    assert target["value"] == pytest.approx(statistics.median(p["ratio"] for p in pairs))
    assert "3 pairs" in target["basis"]
    assert target["met"] is False
    # The ratio of the medians stays beside it, and is a different figure.
    row = res["ratios"]["rule_scaling"]["stortinget-100MB"]
    assert row["apply_1core_1000_vs_10"] != pytest.approx(target["value"])


def test_a_run_without_pairs_reads_the_ratio_of_the_medians(bench):
    res = load(UNPAIRED)
    target = rule_scaling(bench, res)
    a = res["autocode"]["stortinget-100MB"]
    assert target["value"] == pytest.approx(a["1000"]["apply_1core"]["apply_s"] / a["10"]["apply_1core"]["apply_s"])
    assert "pairs" not in target["basis"]


def test_the_summary_lists_every_pair(bench):
    res = load(PAIRED)
    md = bench.render_markdown(res)
    for name in ("stortinget-100MB", "transcripts-100MB"):
        for k, p in enumerate(res["autocode"][name]["paired_1000_vs_10"]["pairs"], 1):
            assert f"| {name} | {k} | {p['first']} rules | {p['apply_s_10']:.2f} | {p['apply_s_1000']:.2f} | {p['ratio']:.2f} |" in md
