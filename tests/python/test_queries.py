"""The Norwegian development query set through the Python binding: the same data
file and the same measure as the Rust test, so both report the same figures."""
import pathlib
import sys

import innsikt

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def terms(word):
    _, full, parts = innsikt._innsikt.analyze(word)[0]
    return set(full) | set(parts)


def full_terms(word):
    """A query word matches through its own terms only, never its parts."""
    return set(innsikt._innsikt.analyze(word)[0][1])


def test_query_set_recall_and_precision():
    data = tomllib.loads((ROOT / "tests" / "data" / "norwegian-queries.toml").read_text(encoding="utf-8"))
    queries = data["query"]
    assert len(queries) >= 30
    recalls, precisions = [], []
    for q in queries:
        qt = full_terms(q["query"])
        hit = lambda w: bool(qt & terms(w))  # noqa: E731
        tp = sum(hit(w) for w in q["must_match"])
        fp = sum(hit(w) for w in q.get("must_not_match", []))
        r = tp / len(q["must_match"])
        p = 1.0 if tp + fp == 0 else tp / (tp + fp)
        assert r >= 0.5 and p >= 0.5, (q["query"], r, p)
        recalls.append(r)
        precisions.append(p)
    mean_r = sum(recalls) / len(recalls)
    mean_p = sum(precisions) / len(precisions)
    print(f"mean recall {mean_r:.3f} precision {mean_p:.3f} over {len(queries)} queries")
    assert mean_r >= 0.85 and mean_p >= 0.90
