"""Compare two benchmark results figure by figure.

    python3 bench/compare.py OLD.json NEW.json [--out FILE.md]

Every timing that both runs measured on the same workload (corpus, codebook, engine,
cores) becomes one row with both values and NEW / OLD. A summary gives the median
ratio of innsikt's figures and of the peers' (tantivy-py, SQLite FTS5, pandas, `re`,
polars): when the two medians are close, what moved between the runs was the machine;
when innsikt's moved apart from the peers', it was innsikt. Standard library only.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

# (figure, engine, seconds) triples; every figure is a time, lower is better.
Figure = Tuple[str, str, float]

PEERS = ("tantivy", "sqlite_fts5", "pandas", "re", "polars")


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None


def figures(res: Dict[str, Any]) -> Iterator[Figure]:
    """The timings of one result, in seconds, each named by what it measured."""
    ingest_keys = {"innsikt": "ingest_s", "tantivy": "index_s", "sqlite_fts5": "index_s"}
    for corpus, by_engine in sorted((res.get("ingest") or {}).items()):
        for engine, key in ingest_keys.items():
            v = _num((by_engine.get(engine) or {}).get(key))
            if v:
                yield (f"ingest {corpus}", engine, v)
    for corpus, by_engine in sorted((res.get("reopen") or {}).items()):
        for engine, r in sorted(by_engine.items()):
            if isinstance(r, dict):
                v = _num(r.get("open_s"))
                if v:
                    yield (f"re-open {corpus}", engine, v)
    for corpus, by_engine in sorted((res.get("search") or {}).items()):
        for engine, r in sorted(by_engine.items()):
            overall = (r or {}).get("overall") or {} if isinstance(r, dict) else {}
            for q in ("p50", "p99"):
                v = _num(overall.get(q))
                if v:
                    yield (f"search {q} {corpus}", engine, v / 1000)
    for corpus, by_book in sorted((res.get("autocode") or {}).items()):
        if not isinstance(by_book, dict):
            continue
        for book, methods in sorted(by_book.items()):
            if not isinstance(methods, dict):
                continue
            for method, r in sorted(methods.items()):
                if isinstance(r, dict):
                    v = _num(r.get("autocode_s", r.get("apply_s")))
                    if v:
                        yield (f"{method} {book} rules {corpus}", "innsikt", v)
    sample = (res.get("autocode_sample") or {}).get("results") or {}
    for rules, by_engine in sorted(sample.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0):
        for engine, r in sorted(by_engine.items()):
            if not isinstance(r, dict):
                continue
            v = _num(r.get("apply_s", r.get("s")))
            name = "innsikt" if engine.startswith("innsikt") else engine
            what = engine[len("innsikt_"):] if engine.startswith("innsikt_") else "loop"
            if v:
                yield (f"sub-sample {rules} rules {what}", name, v)
    for corpus, r in sorted((res.get("codings_handover") or {}).items()):
        rows = _num((r or {}).get("rows"))
        for key in ("codings_s", "to_polars_s", "to_pandas_s"):
            v = _num((r or {}).get(key))
            if v and rows:
                yield (f"{key[:-2]} per million {corpus}", "innsikt", v * 1e6 / rows)


def compare(old: Dict[str, Any], new: Dict[str, Any]) -> List[Tuple[str, str, float, float, float]]:
    """Rows (figure, engine, old s, new s, new / old) for the figures both runs have."""
    before = {(f, e): v for f, e, v in figures(old)}
    return [(f, e, before[(f, e)], v, v / before[(f, e)]) for f, e, v in figures(new) if (f, e) in before]


def summary(rows: List[Tuple[str, str, float, float, float]]) -> Dict[str, Dict[str, float]]:
    """Median, lowest and highest ratio per engine, and for the peers as one group."""
    groups: Dict[str, List[float]] = {}
    for _, engine, _, _, ratio in rows:
        groups.setdefault(engine, []).append(ratio)
        if engine in PEERS:
            groups.setdefault("peers (all)", []).append(ratio)
    return {
        g: {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v)}
        for g, v in sorted(groups.items())
    }


def _label(res: Dict[str, Any]) -> str:
    git = res.get("git") or {}
    machine = res.get("machine") or {}
    return f"{res.get('date', '?')}, {machine.get('cpu', '?')}, commit {str(git.get('commit', '?'))[:7]}"


def render(old: Dict[str, Any], new: Dict[str, Any], old_name: str, new_name: str) -> str:
    rows = compare(old, new)
    out = [
        f"# {new_name} against {old_name}",
        "",
        f"Old: `{old_name}` ({_label(old)}). New: `{new_name}` ({_label(new)}).",
        "Every figure is a time (lower is better); the ratio is new / old.",
        "",
        "| group or engine | figures | median new / old | lowest | highest |",
        "|---|---|---|---|---|",
    ]
    for g, s in summary(rows).items():
        out.append(f"| {g} | {s['n']} | {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} |")
    out += ["", "| figure | engine | old s | new s | new / old |", "|---|---|---|---|---|"]
    for f, e, a, b, r in rows:
        out.append(f"| {f} | {e} | {a:.4g} | {b:.4g} | {r:.2f} |")
    return "\n".join(out) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--out", type=Path, help="write the Markdown here instead of to stdout")
    args = ap.parse_args(argv)
    loaded = []
    for p in (args.old, args.new):
        try:
            loaded.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            print(f"{p}: cannot read a benchmark result: {e}", file=sys.stderr)
            return 2
    text = render(loaded[0], loaded[1], args.old.name, args.new.name)
    if not compare(loaded[0], loaded[1]):
        print(f"{args.old} and {args.new} have no figure in common", file=sys.stderr)
        return 1
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
