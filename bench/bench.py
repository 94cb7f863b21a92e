#!/usr/bin/env python3
"""Innsikt benchmark: ingest, re-open, search, KWIC, autocoding and DataFrame hand-over,
with tantivy-py, SQLite FTS5 and pure-Python autocoding as peers on the same data.

Usually started through ``bash bench/run.sh [--quick]``, which builds and installs the
wheel first. Results go to ``bench/results/<date>-<quick|full>.json`` and ``.md``.
See bench/README.md for what is measured and how.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import corpora  # noqa: E402

T_START = time.perf_counter()

# The fixed query mix: (type, innsikt query, tantivy-py query, (FTS5 MATCH, extra WHERE, params)).
# FTS5 has no Norwegian stemmer, so its words are prefix queries (barnehage*), the nearest
# it gets to matching inflected forms. tantivy-py's NEAR is two sloppy phrases (its slop is
# in order only); its exclusion is "-word", since "a AND NOT b" parses as a must clause
# that matches nothing. Field filters are raw (exact) fields in tantivy and WHERE clauses in SQLite.
QUERY_MIX = [
    ("term", "regjeringen", "regjeringen", ("regjeringen*", "", [])),
    ("term", "barnehage", "barnehage", ("barnehage*", "", [])),
    ("term", "sykehus", "sykehus", ("sykehus*", "", [])),
    ("term", "arbeidsledighet", "arbeidsledighet", ("arbeidsledighet*", "", [])),
    ("phrase", '"psykisk helse"', '"psykisk helse"', ('"psykisk helse"', "", [])),
    ("phrase", '"offentlig sektor"', '"offentlig sektor"', ('"offentlig sektor"', "", [])),
    ("and", "skole AND lærer", "skole AND lærer", ("skole* AND lærer*", "", [])),
    ("or", "barnehage OR skole", "barnehage OR skole", ("barnehage* OR skole*", "", [])),
    ("not", "politiet AND NOT fengsel", "politiet -fengsel", ("politiet* NOT fengsel*", "", [])),
    ("boolean", "(klima OR miljø) AND olje", "(klima OR miljø) AND olje", ("(klima* OR miljø*) AND olje*", "", [])),
    ("near", "klima NEAR/5 utslipp", '("klima utslipp"~5 OR "utslipp klima"~5)', ("NEAR(klima* utslipp*, 5)", "", [])),
    ("near", "sykehus NEAR/5 ventetid", '("sykehus ventetid"~5 OR "ventetid sykehus"~5)', ("NEAR(sykehus* ventetid*, 5)", "", [])),
    ("filter", "helse AND municipality:Hamar", "helse AND municipality:Hamar", ("helse*", "AND municipality = ?", ["Hamar"])),
    (
        "filter",
        "skole AND document_type:møtereferat",
        "skole AND document_type:møtereferat",
        ("skole*", "AND document_type = ?", ["møtereferat"]),
    ),
    (
        "filter",
        "regjeringen AND date:[2021-01-01 TO 2021-06-30]",
        "regjeringen AND date:[2021-01-01 TO 2021-06-30]",
        ("regjeringen*", "AND date BETWEEN ? AND ?", ["2021-01-01", "2021-06-30"]),
    ),
    (
        "filter",
        "forskning AND municipality:Elverum AND date:[2022-01-01 TO 2022-12-31]",
        "forskning AND municipality:Elverum AND date:[2022-01-01 TO 2022-12-31]",
        ("forskning*", "AND municipality = ? AND date BETWEEN ? AND ?", ["Elverum", "2022-01-01", "2022-12-31"]),
    ),
]
KWIC_QUERIES = ["barnehage", "ventetid", '"psykisk helse"']
RULE_COUNTS = [10, 100, 1000]
# The codebook the repository ships (positive deviance, 111 rules: phrases, NEAR,
# exact forms, prefixes, regexes), coded alongside the generated ones: what a
# researcher's own codebook looks like.
PD_CODEBOOK = REPO / "corpus-sample" / "codebooks" / "pd.toml"


def book_label(n: Any) -> str:
    return "the PD codebook" if n == "pd" else f"{n} rules"


def books(codebook_paths: Dict[Any, str]) -> List[Any]:
    """The generated rule counts, then the PD codebook when it is there."""
    return [*RULE_COUNTS, *(["pd"] if "pd" in codebook_paths else [])]
TARGETS_TEXT = {
    "autocode_per_core": "Project.autocode with 1000 rules ≥ 100 MB/s per core",
    "matching_per_core": "Codebook.apply_table with 1000 rules, 1 core ≥ 100 MB/s",
    "vs_pandas": "autocoding (apply_table, 1 core, 1000 rules) ≥ 50× the pandas loop",
    "rule_scaling": "1000 rules ≤ 1.5× slower than 10 rules (apply_table, 1 core)",
    "ingest_vs_tantivy": "ingest ≥ 1.5× tantivy-py (passage text MB/s)",
    "ingest_rss_1gb": "peak RSS ≤ 1 GB while ingesting 1 GB",
    "search_p99_1gb": "search p99 ≤ 20 ms on 1 GB",
    "codings_polars": "1M codings to polars ≤ 0.2 s",
}


def log(msg: str) -> None:
    el = time.perf_counter() - T_START
    print(f"[bench {el:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --- running workers ----------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


def run_worker(task: str, args: Dict[str, Any], cpus: Optional[int] = None, timeout: float = 4 * 3600) -> Dict[str, Any]:
    """Run one task in a fresh process; add its wall time and peak RSS (from wait4)."""
    import tempfile

    cmd = [sys.executable, str(HERE / "workers.py"), task, json.dumps(args, ensure_ascii=False)]
    # Write back what the previous measurement left dirty (an autocoding run leaves
    # hundreds of MB), so that the kernel's writeback does not run during this one.
    os.sync()

    def pin():
        if cpus:
            os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cpus]))

    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=sys.stderr, preexec_fn=pin)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise WorkerError(f"{task} exited with {proc.returncode}" + (" (timeout)" if wall >= timeout else ""))
    lines = [l for l in text.strip().splitlines() if l.strip()]
    if not lines:
        raise WorkerError(f"{task} printed no result")
    res = json.loads(lines[-1])
    res["process_wall_s"] = wall
    # VmHWM is the child's own high-water mark (it starts afresh at exec); ru_maxrss from
    # wait4 also counts what the forked child inherited from this process before exec.
    res["ru_maxrss_mb"] = ru.ru_maxrss / 1024.0
    hwm = res.get("vmhwm_kb") or -1
    res["peak_rss_mb"] = hwm / 1024.0 if hwm > 0 else res["ru_maxrss_mb"]
    return res


ERRORS: List[Dict[str, str]] = []


def measure(where: str, fn: Callable[[], Any]) -> Any:
    """Run one measurement; a failure is logged and recorded instead of stopping the run."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {e}"
        log(f"FAILED {where}: {msg}")
        ERRORS.append({"where": where, "error": msg, "traceback": traceback.format_exc(limit=3)})
        return {"error": msg}


# --- statistics -------------------------------------------------------------------


def pct(values: List[float], p: float) -> Optional[float]:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats(values: List[float]) -> Dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "p99": pct(values, 99),
        "mean": sum(values) / len(values) if values else None,
        "max": max(values) if values else None,
    }


def mb(nbytes: float) -> float:
    return nbytes / 1e6


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


# --- environment ------------------------------------------------------------------


def machine_info() -> Dict[str, Any]:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    thp = None
    try:
        # The mode in brackets: always, madvise or never.
        thp = open("/sys/kernel/mm/transparent_hugepage/enabled").read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        pass
    # A virtio balloon offering free page reporting (feature bit 5): the host takes
    # back free 2 MiB blocks, which makes a fresh huge page dear (src/memory.rs).
    reporting = False
    balloon = Path("/sys/bus/virtio/drivers/virtio_balloon")
    if balloon.is_dir():
        for d in balloon.iterdir():
            try:
                reporting |= open(d / "features").read().strip()[5:6] == "1"
            except OSError:
                pass
    return {
        "cpu": cpu,
        "transparent_hugepage": thp,
        "free_page_reporting": reporting,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
    }


def git_info(src: Path) -> Dict[str, Any]:
    def git(*a):
        return subprocess.run(["git", "-C", str(src), *a], capture_output=True, text=True).stdout.strip()

    return {
        "source": str(src),
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def versions() -> Dict[str, Any]:
    import importlib.metadata as md
    import sqlite3

    out: Dict[str, Any] = {"sqlite": sqlite3.sqlite_version}
    for pkg in ["innsikt", "tantivy", "pandas", "polars", "pyarrow", "maturin"]:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


# --- the run ------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few minutes: 10 MB corpora, fewer repetitions")
    ap.add_argument("--sizes", help="comma-separated corpus sizes in MB (quick: 10, full: 100,1000)")
    ap.add_argument("--corpora", default="stortinget,transcripts", help="which corpora (default both)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder (default bench/results)")
    ap.add_argument("--work", default=str(HERE / "work"), help="scratch folder for corpora and archives")
    ap.add_argument("--source", default=os.environ.get("INNSIKT_BENCH_CORPUS", str(REPO.parent / "shared/corpora/stortinget")))
    ap.add_argument("--sample-mb", type=float, help="sub-sample for the pure-Python autocoding peers (quick 0.25, full 2)")
    ap.add_argument("--reps", type=int, help="timed repetitions of the search mix (quick 5, full 30)")
    ap.add_argument("--autocode-max-mb", type=float, help="autocode and apply_table only on corpora up to this size (quick: all, full: 100)")
    ap.add_argument("--apply-procs", type=int, help="fresh processes per apply_table and Project.autocode measurement, the median reported (quick 1, full 3)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: tantivy,sqlite,peers,autocode,search,kwic")
    ap.add_argument("--keep-archives", action="store_true", help="keep the archives and peer indexes in the work folder")
    ap.add_argument("--render", metavar="JSON", help="only re-render the Markdown summary of an earlier JSON result")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        res = json.loads(Path(args.render).read_text())
        Path(args.render).with_suffix(".md").write_text(render_markdown(res), encoding="utf-8")
        return 0
    mode = "quick" if args.quick else "full"
    sizes = [int(s) for s in (args.sizes or ("10" if args.quick else "100,1000")).split(",") if s]
    which = [c for c in args.corpora.split(",") if c]
    sample_mb = args.sample_mb or (0.25 if args.quick else 2.0)
    reps = args.reps or (5 if args.quick else 30)
    autocode_max = args.autocode_max_mb or (max(sizes) if args.quick else 100)
    apply_procs = max(1, args.apply_procs or (1 if args.quick else 3))
    skip = set(x for x in args.skip.split(",") if x)
    work = Path(args.work).resolve()
    out_dir = Path(args.out).resolve()
    source = Path(args.source).resolve()
    src = Path(os.environ.get("INNSIKT_BENCH_SRC", REPO)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)

    stamp = dt.datetime.now()
    res: Dict[str, Any] = {
        "schema": 1,
        "mode": mode,
        "date": stamp.isoformat(timespec="seconds"),
        "command": os.environ.get("INNSIKT_BENCH_CMDLINE") or " ".join([sys.executable] + sys.argv),
        "argv": sys.argv,
        "machine": machine_info(),
        "git": git_info(src),
        "versions": versions(),
        "config": {
            "sizes_mb": sizes,
            "corpora": which,
            "sample_mb": sample_mb,
            "search_reps": reps,
            "apply_procs": apply_procs,
            "search_warmup": 1,
            "search_limit": 20,
            "rule_counts": RULE_COUNTS,
            "autocode_max_mb": autocode_max,
            "skip": sorted(skip),
            "source": str(source),
            "tantivy_heap_bytes": 512_000_000,
        },
        "query_mix": [{"type": t, "innsikt": a, "tantivy": b, "fts5": c} for t, a, b, c in QUERY_MIX],
        "corpora": {},
        "codebooks": {},
        "ingest": {},
        "reopen": {},
        "search": {},
        "kwic": {},
        "autocode": {},
        "autocode_sample": {},
        "codings_handover": {},
        "errors": ERRORS,
    }
    log(f"mode={mode} sizes={sizes} corpora={which} work={work}")
    log(f"innsikt {res['versions'].get('innsikt')} from {src} ({res['git']['commit']}{' dirty' if res['git']['dirty'] else ''})")

    res["api"] = measure("api", api_info)

    # 1. codebooks --------------------------------------------------------------------
    cb_dir = work / "codebooks"
    cb_dir.mkdir(exist_ok=True)
    res["codebooks"] = measure("codebooks", lambda: make_codebooks(source, cb_dir))
    codebook_paths: Dict[Any, str] = {n: str(cb_dir / f"rules-{n}.toml") for n in RULE_COUNTS}
    if PD_CODEBOOK.is_file():
        codebook_paths["pd"] = str(PD_CODEBOOK)
    rules_json = str(cb_dir / "rules.json")

    # 2. per corpus and size ----------------------------------------------------------------
    for size in sizes:
        for kind in which:
            name = f"{kind}-{size}MB"
            log(f"== {name}")
            cdir = work / "corpora" / name
            man = measure(f"corpus {name}", lambda: generate(kind, source, cdir, size))
            if "error" in man:
                continue
            res["corpora"][name] = man
            adir = work / "archives" / name
            if adir.exists():
                shutil.rmtree(adir)
            adir.mkdir(parents=True)
            arch = str(adir / "innsikt")
            parquet = str(adir / "passages.parquet")
            ing: Dict[str, Any] = {}
            res["ingest"][name] = ing

            log(f"{name}: innsikt ingest")
            r = measure(
                f"ingest innsikt {name}",
                lambda: run_worker("innsikt_ingest", {"archive": arch, "corpus": str(cdir), "metadata": str(cdir / "metadata.csv")}),
            )
            ing["innsikt"] = r
            if "error" in r:
                continue
            ex = measure(f"export passages {name}", lambda: run_worker("innsikt_export", {"archive": arch, "out": parquet}))
            ing["passages_export"] = ex
            if "error" in ex:
                continue
            man["passages"] = ex["passages"]
            man["passage_text_bytes"] = ex["text_bytes"]
            # Each engine is re-opened right after its own ingest, so that each
            # finds its files as recently written as the others find theirs:
            # re-opened after all three ingests, innsikt's files, written first,
            # were partly out of the page cache at 1 GB.
            ro: Dict[str, Any] = {}
            res["reopen"][name] = ro
            log(f"{name}: innsikt re-open")
            ro["innsikt"] = measure(f"reopen innsikt {name}", lambda: run_worker("innsikt_reopen", {"archive": arch, "query": "barnehage"}))
            r["wall_s"] = r["ingest_s"]
            r["file_mb_s"] = mb(man["bytes"]) / r["ingest_s"]
            r["passage_text_mb_s"] = mb(ex["text_bytes"]) / r["ingest_s"]
            r["passages_s"] = ex["passages"] / r["ingest_s"]
            log(f"{name}: innsikt {r['ingest_s']:.1f} s, {r['file_mb_s']:.1f} MB/s, {ex['passages']} passages, peak {r['peak_rss_mb']:.0f} MB")

            tv_dir = str(adir / "tantivy")
            db = str(adir / "fts5.sqlite")
            if "tantivy" not in skip:
                log(f"{name}: tantivy-py ingest")
                t = measure(
                    f"ingest tantivy {name}",
                    lambda: run_worker("tantivy_ingest", {"index": tv_dir, "parquet": parquet, "heap": res["config"]["tantivy_heap_bytes"]}),
                )
                if "error" not in t:
                    t["passage_text_mb_s"] = mb(ex["text_bytes"]) / t["index_s"]
                    t["passages_s"] = t["docs"] / t["index_s"]
                    log(f"{name}: tantivy {t['index_s']:.1f} s, {t['passage_text_mb_s']:.1f} MB/s, peak {t['peak_rss_mb']:.0f} MB")
                ing["tantivy"] = t
                if "error" not in t:
                    ro["tantivy"] = measure(f"reopen tantivy {name}", lambda: run_worker("tantivy_reopen", {"index": tv_dir, "query": "barnehage"}))
            if "sqlite" not in skip:
                log(f"{name}: SQLite FTS5 ingest")
                s = measure(f"ingest sqlite {name}", lambda: run_worker("sqlite_ingest", {"db": db, "parquet": parquet}))
                if "error" not in s:
                    s["passage_text_mb_s"] = mb(ex["text_bytes"]) / s["index_s"]
                    s["passages_s"] = s["docs"] / s["index_s"]
                    log(f"{name}: FTS5 {s['index_s']:.1f} s, {s['passage_text_mb_s']:.1f} MB/s, peak {s['peak_rss_mb']:.0f} MB")
                ing["sqlite_fts5"] = s
                if "error" not in s:
                    ro["sqlite_fts5"] = measure(
                        f"reopen sqlite {name}", lambda: run_worker("sqlite_reopen", {"db": db, "query": ["barnehage*", "", []]})
                    )
            ing["sizes_on_disk_mb"] = {
                "innsikt": dir_mb(arch),
                "tantivy": dir_mb(tv_dir),
                "sqlite_fts5": dir_mb(db),
            }


            # search
            if "search" not in skip:
                log(f"{name}: search ({len(QUERY_MIX)} queries × {reps} repetitions, warm)")
                res["search"][name] = measure(f"search {name}", lambda: run_search(arch, tv_dir, db, ing, reps, skip))

            if "kwic" not in skip:
                log(f"{name}: KWIC")
                res["kwic"][name] = measure(
                    f"kwic {name}", lambda: run_worker("innsikt_kwic", {"archive": arch, "queries": KWIC_QUERIES, "reps": 3})
                )

            # autocoding on the whole corpus
            if "autocode" not in skip and size <= autocode_max and "error" not in res["codebooks"]:
                res["autocode"][name] = measure(
                    f"autocode {name}", lambda: run_autocode(name, arch, parquet, ex["text_bytes"], codebook_paths, apply_procs)
                )
                if kind == which[0]:
                    log(f"{name}: codings hand-over")
                    res["codings_handover"][name] = measure(
                        f"codings {name}", lambda: run_worker("innsikt_codings", {"archive": arch, "reps": 7, "spaced_reps": 3, "pause_s": 3})
                    )
            # Free the disk: the passages of the smallest size stay for the sub-sample.
            if not args.keep_archives:
                res["ingest"][name]["removed_after_run"] = True
                for p in (tv_dir, db, arch) + (() if size == min(sizes) else (parquet,)):
                    if os.path.isdir(p):
                        shutil.rmtree(p, ignore_errors=True)
                    elif os.path.exists(p):
                        os.remove(p)

    # 3. autocoding on a fixed sub-sample, with the pure-Python peers ------------------------
    if "autocode" not in skip and "error" not in res["codebooks"]:
        smallest = [f"{k}-{min(sizes)}MB" for k in which if f"{k}-{min(sizes)}MB" in res["corpora"]]
        res["autocode_sample"] = measure(
            "autocode sample", lambda: run_sample(work, smallest, sample_mb, codebook_paths, rules_json, skip)
        )

    res["machine"]["loadavg_end"] = os.getloadavg()
    res["elapsed_s"] = time.perf_counter() - T_START
    res["ratios"] = measure("ratios", lambda: compute_ratios(res))
    res["targets"] = measure("targets", lambda: compute_targets(res))
    day = stamp.strftime("%Y-%m-%d")
    base = out_dir / f"{day}-{mode}"
    base.with_suffix(".json").write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")
    base.with_suffix(".md").write_text(render_markdown(res), encoding="utf-8")
    log(f"wrote {base}.json and {base}.md ({len(ERRORS)} errors recorded)")
    return 0


def dir_mb(path: str) -> Optional[float]:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size / 1e6
    if not p.is_dir():
        return None
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6


def generate(kind: str, source: Path, cdir: Path, size: int) -> Dict[str, Any]:
    t0 = time.perf_counter()
    log(f"generating {cdir.name} (reused when already there)")
    if kind == "stortinget":
        m = corpora.make_stortinget(source, cdir, size * 1_000_000)
    elif kind == "transcripts":
        m = corpora.make_transcripts(source, cdir, size * 1_000_000)
    else:
        raise ValueError(f"unknown corpus {kind}")
    m = dict(m)
    m["generate_s"] = time.perf_counter() - t0
    return m


def api_info() -> Dict[str, Any]:
    """What the installed innsikt API offers for the knobs the benchmark would like to turn."""
    import inspect

    import innsikt

    def params(fn):
        try:
            return list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            return None

    return {
        "Project.autocode": params(innsikt.Project.autocode),
        "Codebook.apply_table": params(innsikt.Codebook.apply_table),
        "Project.search": params(innsikt.Project.search),
        "Project.ingest": params(innsikt.Project.ingest),
        "threads_parameter": any("threads" in (params(f) or []) for f in (innsikt.Project.autocode, innsikt.Codebook.apply_table)),
    }


def make_codebooks(source: Path, cb_dir: Path) -> Dict[str, Any]:
    import innsikt

    t0 = time.perf_counter()
    cached = cb_dir / "rules.json"
    rules = None
    if cached.exists():
        try:
            c = json.loads(cached.read_text(encoding="utf-8"))
            if isinstance(c, dict) and c.get("generator") == corpora.GENERATOR_VERSION and c.get("source") == str(source) and len(c["rules"]) >= max(RULE_COUNTS):
                rules = c["rules"]
        except (ValueError, KeyError, TypeError):
            rules = None
    if rules is None:
        vocab = corpora.vocabulary(source)
        rules = corpora.rules_for(vocab, max(RULE_COUNTS))
        cached.write_text(
            json.dumps({"generator": corpora.GENERATOR_VERSION, "source": str(source), "rules": rules}, ensure_ascii=False, indent=0),
            encoding="utf-8",
        )
    out: Dict[str, Any] = {"vocabulary_s": time.perf_counter() - t0, "pattern": corpora.RULE_PATTERN}
    for n in RULE_COUNTS:
        path = cb_dir / f"rules-{n}.toml"
        corpora.write_codebook(path, rules[:n], n)
        t1 = time.perf_counter()
        cb = innsikt.Codebook.load(path)
        mix: Dict[str, int] = {}
        for r in rules[:n]:
            mix[r["kind"]] = mix.get(r["kind"], 0) + 1
        out[str(n)] = {"path": str(path), "rules": cb._raw.rule_count, "load_s": time.perf_counter() - t1, "mix": mix}
    out["examples"] = [r["query"] for r in rules[:10]]
    log(f"codebooks: {', '.join(f'{n} rules' for n in RULE_COUNTS)} written and loaded")
    return out


def run_search(arch: str, tv_dir: str, db: str, ing: Dict[str, Any], reps: int, skip) -> Dict[str, Any]:
    common = {"warmup": 1, "reps": reps, "limit": 20}
    engines: Dict[str, Any] = {}
    r = run_worker("innsikt_search", dict(common, archive=arch, queries=[q[1] for q in QUERY_MIX]))
    engines["innsikt"] = [r["queries"][q[1]] for q in QUERY_MIX]
    if "tantivy" not in skip and "error" not in ing.get("tantivy", {"error": 1}):
        r = measure("search tantivy", lambda: run_worker("tantivy_search", dict(common, index=tv_dir, queries=[q[2] for q in QUERY_MIX])))
        if "error" not in r:
            engines["tantivy"] = [r["queries"][q[2]] for q in QUERY_MIX]
    if "sqlite" not in skip and "error" not in ing.get("sqlite_fts5", {"error": 1}):
        r = measure("search sqlite", lambda: run_worker("sqlite_search", dict(common, db=db, queries=[list(q[3]) for q in QUERY_MIX])))
        if "error" not in r:
            engines["sqlite_fts5"] = [r["queries"][json.dumps(list(q[3]), ensure_ascii=False)] for q in QUERY_MIX]
    out: Dict[str, Any] = {}
    for eng, per_query in engines.items():
        by_type: Dict[str, List[float]] = {}
        allms: List[float] = []
        rows = []
        for (typ, *_), q in zip(QUERY_MIX, per_query):
            by_type.setdefault(typ, []).extend(q["ms"])
            allms.extend(q["ms"])
            rows.append({"type": typ, "total": q.get("total"), "error": q.get("error"), **{k: v for k, v in stats(q["ms"]).items() if k in ("p50", "p99")}})
        out[eng] = {"overall": stats(allms), "by_type": {t: stats(v) for t, v in by_type.items()}, "per_query": rows}
        o = out[eng]["overall"]
        if o["n"]:
            log(f"  search {eng}: p50 {o['p50']:.2f} ms, p95 {o['p95']:.2f} ms, p99 {o['p99']:.2f} ms")
    return out


def run_median(task: str, args: Dict[str, Any], cpus: int, key: str, procs: int) -> Dict[str, Any]:
    """Run a worker in `procs` fresh processes, one after the other; the result of the
    one with the median `key`, with every process's value in `<key>_runs`. A first call
    in a fresh process is the noisiest figure of a run, and ratios divide two of them."""
    runs = [run_worker(task, args, cpus=cpus) for _ in range(procs)]
    runs.sort(key=lambda r: r[key])
    res = dict(runs[len(runs) // 2])
    res[f"{key}_runs"] = [r[key] for r in runs]
    return res


def run_autocode(name: str, arch: str, parquet: str, text_bytes: int, codebook_paths: Dict[int, str], procs: int = 1) -> Dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    core_counts = [1] + ([cores] if cores > 1 else [])
    out: Dict[str, Any] = {"text_bytes": text_bytes}
    for n in books(codebook_paths):
        row: Dict[str, Any] = {}
        # Every run codes the archive as it was before this codebook's first run, so
        # that each is a first run (a rerun would also delete the codings of the run
        # before): `procs` runs per core count, each in a fresh process, all but the
        # last one-core run on copies made (and flushed to disk) before any of them.
        # The last one-core run codes the archive itself, which the hand-over of
        # codings to DataFrames reads afterwards.
        plan = [(c, k) for c in core_counts for k in range(procs)]
        on_archive = (1, procs - 1)
        copies: Dict[Tuple[int, int], str] = {}
        for c, k in plan:
            if (c, k) != on_archive:
                copies[(c, k)] = f"{arch}.fresh-{c}-{k}"
                shutil.rmtree(copies[(c, k)], ignore_errors=True)
                shutil.copytree(arch, copies[(c, k)])
        if copies:
            os.sync()
        for c in core_counts:
            log(f"{name}: Project.autocode, {book_label(n)}, {c} core(s)")

            def first_runs(c: int = c) -> Dict[str, Any]:
                runs = []
                # The run on the archive itself last, so that the copies' runs
                # cannot see its codings.
                for k in sorted(range(procs), key=lambda k: (c, k) == on_archive):
                    target = copies.get((c, k), arch)
                    try:
                        runs.append(run_worker("innsikt_autocode", {"archive": target, "codebook": codebook_paths[n], "threads": c}, cpus=c))
                    finally:
                        if target != arch:
                            shutil.rmtree(target, ignore_errors=True)
                runs.sort(key=lambda r: r["autocode_s"])
                res = dict(runs[len(runs) // 2])
                res["autocode_s_runs"] = [r["autocode_s"] for r in runs]
                return res

            r = measure(f"autocode {name} {book_label(n)} {c} cores", first_runs)
            if "error" not in r:
                r["mb_s"] = mb(text_bytes) / r["autocode_s"]
                log(f"    {r['autocode_s']:.2f} s, {r['mb_s']:.1f} MB/s, {r['codings']} codings")
            row[f"autocode_{c}core"] = r
            log(f"{name}: Codebook.apply_table, {book_label(n)}, {c} core(s)")
            r = measure(
                f"apply_table {name} {book_label(n)} {c} cores",
                lambda: run_median("innsikt_apply", {"texts": parquet, "codebook": codebook_paths[n], "threads": c}, c, "apply_s", procs),
            )
            if "error" not in r:
                r["mb_s"] = mb(r["text_bytes"]) / r["apply_s"]
                log(f"    {r['apply_s']:.2f} s, {r['mb_s']:.1f} MB/s, {r['text_code_pairs']} text×code hits")
            row[f"apply_{c}core"] = r
        # Copies a failed run left behind.
        for path in copies.values():
            shutil.rmtree(path, ignore_errors=True)
        # The same call on the texts as an Arrow column (a DataFrame's column, read
        # in place) and as a pandas Series (`df["text"]` of `pd.read_parquet`, what a
        # notebook hands over) instead of a list of str; one core.
        for kind, what in (("arrow", "an Arrow column"), ("pandas", "a pandas Series")):
            log(f"{name}: Codebook.apply_table on {what}, {book_label(n)}, 1 core")
            args = {"texts": parquet, "codebook": codebook_paths[n], "threads": 1, "input": kind}
            r = measure(
                f"apply_table {kind} {name} {book_label(n)} 1 core",
                lambda args=args: run_median("innsikt_apply", args, 1, "apply_s", procs),
            )
            if "error" not in r:
                r["mb_s"] = mb(r["text_bytes"]) / r["apply_s"]
                log(f"    {r['apply_s']:.2f} s, {r['mb_s']:.1f} MB/s ({r.get('input_type')})")
            row[f"apply-{kind}_1core"] = r
        out[str(n)] = row
    if 10 in codebook_paths and 1000 in codebook_paths:
        log(f"{name}: Codebook.apply_table, 10 against 1000 rules in alternation, 1 core")
        out["paired_1000_vs_10"] = measure(
            f"apply_table pairs {name}", lambda: run_rule_pairs(parquet, codebook_paths[10], codebook_paths[1000], max(2, procs))
        )
    return out


def run_rule_pairs(parquet: str, book10: str, book1000: str, pairs: int) -> Dict[str, Any]:
    """The slowdown from 10 to 1000 rules as `apply_table` on a list of str, one core,
    read from pairs of fresh processes run back to back: each pair's ratio divides two
    first calls made within seconds of each other, where the figures above divide
    medians taken minutes apart. The order alternates (10 then 1000, then 1000 then
    10), so that a host growing slower or faster within a pair favours neither."""
    books = {10: book10, 1000: book1000}
    runs = []
    for k in range(pairs):
        times = {}
        for n in ((10, 1000) if k % 2 == 0 else (1000, 10)):
            r = run_worker("innsikt_apply", {"texts": parquet, "codebook": books[n], "threads": 1}, cpus=1)
            times[n] = r["apply_s"]
        runs.append({"first": 10 if k % 2 == 0 else 1000, "apply_s_10": times[10], "apply_s_1000": times[1000], "ratio": times[1000] / times[10]})
    ratios = sorted(r["ratio"] for r in runs)
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    log(f"    ratios {' / '.join(f'{x:.2f}' for x in (r['ratio'] for r in runs))}, median {median:.2f}")
    return {"input": "list", "cores": 1, "ratio": median, "pairs": runs}


def run_sample(work: Path, names: List[str], sample_mb: float, codebook_paths, rules_json: str, skip) -> Dict[str, Any]:
    """A fixed, seeded sub-sample of passages (half from each corpus) for the slow peers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts: List[str] = []
    per = sample_mb * 1e6 / max(1, len(names))
    for name in names:
        t = pq.read_table(work / "archives" / name / "passages.parquet", columns=["text"]).column("text").to_pylist()
        order = list(range(len(t)))
        random.Random(4242).shuffle(order)
        got = 0
        for i in order:
            if got >= per:
                break
            texts.append(t[i])
            got += len(t[i].encode("utf-8"))
    path = work / "sample.parquet"
    pq.write_table(pa.table({"text": texts}), path)
    nbytes = sum(len(x.encode("utf-8")) for x in texts)
    out: Dict[str, Any] = {"from": names, "texts": len(texts), "text_bytes": nbytes, "results": {}}
    log(f"sub-sample: {len(texts)} passages, {mb(nbytes):.2f} MB from {', '.join(names)}")
    cores = len(os.sched_getaffinity(0))
    for n in RULE_COUNTS:
        row: Dict[str, Any] = {}
        for c in sorted({1, cores}):
            r = measure(
                f"sample apply {n} rules {c} cores",
                lambda: run_worker("innsikt_apply", {"texts": str(path), "codebook": codebook_paths[n], "threads": c, "reps": 3}, cpus=c),
            )
            if "error" not in r:
                r["mb_s"] = mb(nbytes) / r["apply_s"]
            row[f"innsikt_apply_{c}core"] = r
        if "peers" not in skip:
            for eng in ("pandas", "re", "polars"):
                log(f"sub-sample: {eng}, {n} rules")
                r = measure(
                    f"sample {eng} {n} rules",
                    lambda: run_worker("peer_autocode", {"texts": str(path), "rules": rules_json, "n": n, "engine": eng}),
                )
                if "error" not in r:
                    r["mb_s"] = mb(nbytes) / r["s"]
                    log(f"    {r['s']:.2f} s, {r['mb_s']:.2f} MB/s, {r['text_code_pairs']} text×code hits")
                row[eng] = r
        out["results"][str(n)] = row
    return out


# --- ratios and targets ---------------------------------------------------------------


def _get(d: Any, *path) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _size_of(name: str) -> int:
    return int(name.rsplit("-", 1)[1][:-2])


def compute_ratios(res: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "note": "innsikt / peer. Throughput (ingest, autocode): above 1 means innsikt is faster. "
        "Latency (search p50/p99) and rule_scaling (time at 1000 rules / time at 10): above 1 means innsikt is slower.",
        "ingest": {},
        "search": {},
        "autocode_sample": {},
        "rule_scaling": {},
    }
    for name, ing in res["ingest"].items():
        ours = _get(ing, "innsikt", "passage_text_mb_s")
        out["ingest"][name] = {
            "vs_tantivy": ratio(ours, _get(ing, "tantivy", "passage_text_mb_s")),
            "vs_sqlite_fts5": ratio(ours, _get(ing, "sqlite_fts5", "passage_text_mb_s")),
        }
    for name, s in res["search"].items():
        row = {}
        for peer in ("tantivy", "sqlite_fts5"):
            for p in ("p50", "p99"):
                # below 1 means innsikt is faster
                row[f"{p}_vs_{peer}"] = ratio(_get(s, "innsikt", "overall", p), _get(s, peer, "overall", p))
        out["search"][name] = row
    for n, row in (_get(res, "autocode_sample", "results") or {}).items():
        ours1 = _get(row, "innsikt_apply_1core", "mb_s")
        oursn = max([v.get("mb_s") or 0 for k, v in row.items() if k.startswith("innsikt_apply")] or [0]) or None
        out["autocode_sample"][n] = {
            "vs_pandas_1core": ratio(ours1, _get(row, "pandas", "mb_s")),
            "vs_re_1core": ratio(ours1, _get(row, "re", "mb_s")),
            "vs_polars_1core": ratio(ours1, _get(row, "polars", "mb_s")),
            "vs_pandas_all_cores": ratio(oursn, _get(row, "pandas", "mb_s")),
            "vs_re_all_cores": ratio(oursn, _get(row, "re", "mb_s")),
        }
    for name, a in res["autocode"].items():
        if not isinstance(a, dict) or "error" in a:
            continue
        row = {}
        for key in ("apply_1core", "apply-arrow_1core", "apply-pandas_1core", "autocode_1core", "apply_2core", "autocode_2core"):
            t10 = _get(a, "10", key, "apply_s") or _get(a, "10", key, "autocode_s")
            t1000 = _get(a, "1000", key, "apply_s") or _get(a, "1000", key, "autocode_s")
            row[f"{key}_1000_vs_10"] = ratio(t1000, t10)
        row["apply_1core_1000_vs_10_paired"] = _get(a, "paired_1000_vs_10", "ratio")
        out["rule_scaling"][name] = row
    return out


def compute_targets(res: Dict[str, Any]) -> List[Dict[str, Any]]:
    targets = []

    def add(key, value, limit, higher_better, basis, unit=""):
        met = None if value is None else (value >= limit if higher_better else value <= limit)
        targets.append({"key": key, "target": TARGETS_TEXT[key], "value": value, "limit": limit, "unit": unit, "met": met, "basis": basis})

    auto = {k: v for k, v in res["autocode"].items() if isinstance(v, dict) and "error" not in v}
    largest_auto = max(auto, key=_size_of) if auto else None
    if largest_auto:
        add("autocode_per_core", _get(auto[largest_auto], "1000", "autocode_1core", "mb_s"), 100, True, f"{largest_auto}, 1 core", "MB/s")
        add("matching_per_core", _get(auto[largest_auto], "1000", "apply_1core", "mb_s"), 100, True, f"{largest_auto}, 1 core", "MB/s")
        paired = _get(res, "ratios", "rule_scaling", largest_auto, "apply_1core_1000_vs_10_paired")
        if paired is not None:
            n = len(_get(auto[largest_auto], "paired_1000_vs_10", "pairs") or [])
            add("rule_scaling", paired, 1.5, False, f"{largest_auto}, median of {n} pairs of processes run back to back", "×")
        else:
            add("rule_scaling", _get(res, "ratios", "rule_scaling", largest_auto, "apply_1core_1000_vs_10"), 1.5, False, largest_auto, "×")
    else:
        for k in ("autocode_per_core", "matching_per_core", "rule_scaling"):
            add(k, None, 0, True, "not measured")
    add(
        "vs_pandas",
        _get(res, "ratios", "autocode_sample", "1000", "vs_pandas_1core"),
        50,
        True,
        f"sub-sample of {mb(_get(res, 'autocode_sample', 'text_bytes') or 0):.2f} MB",
        "×",
    )
    ing = {k: v for k, v in res["ingest"].items() if _get(v, "innsikt", "passage_text_mb_s")}
    st = [k for k in ing if k.startswith("stortinget")] or list(ing)
    if st:
        big = max(st, key=_size_of)
        add("ingest_vs_tantivy", _get(res, "ratios", "ingest", big, "vs_tantivy"), 1.5, True, big, "×")
    else:
        add("ingest_vs_tantivy", None, 1.5, True, "not measured")
    gb = [k for k in ing if _size_of(k) >= 1000]
    if gb:
        worst = max(gb, key=lambda k: ing[k]["innsikt"]["peak_rss_mb"])
        add("ingest_rss_1gb", ing[worst]["innsikt"]["peak_rss_mb"] / 1024, 1.0, False, worst, "GiB")
    else:
        big = max(ing, key=_size_of) if ing else None
        add("ingest_rss_1gb", None, 1.0, False, f"no 1 GB corpus in this run (largest: {big}, {ing[big]['innsikt']['peak_rss_mb']:.0f} MB)" if big else "not measured", "GiB")
    srch = {k: v for k, v in res["search"].items() if _get(v, "innsikt", "overall", "p99") is not None}
    gb = [k for k in srch if _size_of(k) >= 1000]
    if gb:
        worst = max(gb, key=lambda k: srch[k]["innsikt"]["overall"]["p99"])
        add("search_p99_1gb", srch[worst]["innsikt"]["overall"]["p99"], 20, False, worst, "ms")
    else:
        big = max(srch, key=_size_of) if srch else None
        add("search_p99_1gb", None, 20, False, f"no 1 GB corpus in this run (largest: {big}, p99 {srch[big]['innsikt']['overall']['p99']:.1f} ms)" if big else "not measured", "ms")
    ch = {k: v for k, v in res["codings_handover"].items() if isinstance(v, dict) and v.get("rows")}
    if ch:
        enough = [k for k in ch if ch[k]["rows"] >= 1_000_000]
        k = min(enough, key=lambda k: ch[k]["rows"]) if enough else max(ch, key=lambda k: ch[k]["rows"])
        rows, t = ch[k]["rows"], ch[k]["to_polars_s"]
        scaled = t * 1_000_000 / rows
        basis = f"{k}: {rows:,} codings in {t:.3f} s" + ("" if rows >= 1_000_000 else ", scaled linearly to 1M")
        add("codings_polars", scaled, 0.2, False, basis, "s")
    else:
        add("codings_polars", None, 0.2, False, "not measured", "s")
    return targets


# --- Markdown ------------------------------------------------------------------------


def f(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(head: List[str], rows: List[List[Any]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def render_markdown(res: Dict[str, Any]) -> str:
    m = res["machine"]
    g = res["git"]
    v = res["versions"]
    L: List[str] = []
    L.append(f"# Innsikt benchmark — {res['mode']} run, {res['date']}")
    L.append("")
    L.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; Python {m['python']}. "
        f"Load average at start {', '.join(f'{x:.1f}' for x in m['loadavg_start'])}"
        + (f", at end {', '.join(f'{x:.1f}' for x in m['loadavg_end'])}" if m.get("loadavg_end") else "")
        + "."
    )
    L.append(
        f"innsikt {v.get('innsikt')} built from commit {g['commit']}{' (with uncommitted changes)' if g['dirty'] else ''}; "
        f"tantivy-py {v.get('tantivy')}, SQLite {v.get('sqlite')}, pandas {v.get('pandas')}, polars {v.get('polars')}, pyarrow {v.get('pyarrow')}."
    )
    L.append(f"Command: `{res['command']}`. Total time {f(res.get('elapsed_s'), 0)} s.")
    L.append("")

    L.append("## Targets")
    L.append("")
    rows = []
    for t in res.get("targets") or []:
        if not isinstance(t, dict):
            continue
        met = {True: "met", False: "**not met**", None: "not measured"}[t["met"]]
        rows.append([t["target"], f"{f(t['value'], 2)} {t['unit']}".strip(), met, t["basis"]])
    L.append(table(["target", "value", "result", "basis"], rows))
    L.append("")

    L.append("## Corpora")
    L.append("")
    rows = []
    for name, c in res["corpora"].items():
        rows.append([name, f(c.get("files")), f(mb(c.get("bytes", 0))), f(c.get("passages")), f(mb(c.get("passage_text_bytes") or 0))])
    L.append(table(["corpus", "files", "file MB", "passages", "passage text MB"], rows))
    L.append("")

    L.append("## Ingest and index")
    L.append("")
    L.append("Each ingest runs in a fresh process; peak RSS is that process's maximum resident set. "
             "innsikt reads, parses and stores the files and builds its index; the peers index the passages "
             "innsikt produced (time to read them from Parquet excluded), one commit.")
    L.append("")
    rows = []
    for name, ing in res["ingest"].items():
        for eng in ("innsikt", "tantivy", "sqlite_fts5"):
            r = ing.get(eng)
            if not isinstance(r, dict):
                continue
            if "error" in r:
                rows.append([name, eng, "error: " + r["error"], "", "", "", "", ""])
                continue
            secs = r.get("ingest_s") or r.get("index_s")
            rows.append([
                name, eng, f(secs, 2), f(r.get("file_mb_s")) if eng == "innsikt" else "–", f(r.get("passage_text_mb_s")),
                f(r.get("passages_s"), 0), f(r.get("peak_rss_mb"), 0), f(_get(ing, "sizes_on_disk_mb", eng), 0),
            ])
    L.append(table(["corpus", "engine", "s", "file MB/s", "passage text MB/s", "passages/s", "peak RSS MB", "on disk MB"], rows))
    L.append("")

    L.append("## Re-open")
    L.append("")
    L.append("Each engine in a new process right after its own ingest (innsikt's after the export of its passages): "
             "opening the archive or index, then one search. Import time is reported apart.")
    L.append("")
    rows = []
    for name, ro in res["reopen"].items():
        for eng, r in ro.items():
            if isinstance(r, dict) and "error" not in r:
                rows.append([name, eng, f(r["open_s"] * 1000, 1), f(r["first_search_s"] * 1000, 1), f(r["import_s"] * 1000, 0)])
            else:
                rows.append([name, eng, "error", "", ""])
    L.append(table(["corpus", "engine", "open ms", "first search ms", "import ms"], rows))
    L.append("")

    L.append("## Autocoding")
    L.append("")
    L.append("MB/s over the passage text (UTF-8 bytes). `Project.autocode` codes every passage of the archive "
             "and stores the codings; `Codebook.apply_table` only matches. Core counts are set with CPU affinity, "
             "and `threads=` is passed where the installed API accepts it (`threads_param` in the JSON). "
             "Each `apply_table` figure is the median of a first call in each of "
             f"{_get(res, 'config', 'apply_procs') or 1} fresh process(es), run one after the other; "
             "so is each `Project.autocode` figure whose row lists its processes (each a first run of the "
             "codebook, on a copy of the archive made before any of them). *Closed after* is the time from "
             "`Project.autocode` returning to the project being closed in that process: the copy of the log into "
             "the database file (its checkpoint), which the run's commit leaves to a helper thread and closing "
             "waits for.")
    L.append("")
    rows = []
    for name, a in res["autocode"].items():
        if not isinstance(a, dict) or "error" in a:
            rows.append([name, "error", "", "", "", ""])
            continue
        for n in [*RULE_COUNTS, "pd"]:
            row = a.get(str(n), {})
            for key in sorted(row):
                r = row[key]
                method, cores = key.rsplit("_", 1)
                method = {"autocode": "Project.autocode", "apply": "Codebook.apply_table (list of str)",
                          "apply-arrow": "Codebook.apply_table (Arrow column)",
                          "apply-pandas": "Codebook.apply_table (pandas Series)"}.get(method, method)
                if "error" in r:
                    rows.append([name, "PD codebook" if n == "pd" else n, method, cores.replace("core", ""), "error: " + r["error"], ""])
                else:
                    secs = r.get("autocode_s") or r.get("apply_s")
                    hits = r.get("codings") if "codings" in r else r.get("text_code_pairs")
                    runs = " / ".join(f(x, 2) for x in r.get("apply_s_runs") or r.get("autocode_s_runs") or [])
                    rows.append([name, "PD codebook" if n == "pd" else n, method, cores.replace("core", ""), f(secs, 2), f(r.get("mb_s")), f(hits), runs,
                                 f(r["close_s"], 3) if "close_s" in r else ""])
    L.append(table(["corpus", "rules", "method", "cores", "s", "MB/s", "codings / hits", "each process (s)", "closed after (s)"], rows))
    L.append("")
    rs = _get(res, "ratios", "rule_scaling") or {}
    if rs:
        rows = [[n, f(r.get("apply_1core_1000_vs_10"), 2), f(r.get("apply_1core_1000_vs_10_paired"), 2), f(r.get("apply-arrow_1core_1000_vs_10"), 2),
                 f(r.get("apply-pandas_1core_1000_vs_10"), 2), f(r.get("autocode_1core_1000_vs_10"), 2)] for n, r in rs.items()]
        L.append("Slowdown from 10 to 1000 rules (time ratio, 1 core). The paired column is the median of "
                 "the ratios of pairs of fresh processes run back to back, 10 and 1000 rules in alternating order "
                 "(each pair below); the others divide the medians of the rows above, taken minutes apart:")
        L.append("")
        L.append(table(["corpus", "apply_table (list of str)", "list of str, paired", "apply_table (Arrow column)", "apply_table (pandas Series)", "Project.autocode"], rows))
        L.append("")
        prs = []
        for name, a in res["autocode"].items():
            for k, p in enumerate(_get(a, "paired_1000_vs_10", "pairs") or []):
                prs.append([name, k + 1, f"{p['first']} rules", f(p["apply_s_10"], 2), f(p["apply_s_1000"], 2), f(p["ratio"], 2)])
        if prs:
            L.append(table(["corpus", "pair", "first", "10 rules (s)", "1000 rules (s)", "ratio"], prs))
            L.append("")

    s = res.get("autocode_sample") or {}
    if s.get("results"):
        L.append("### Against pandas and plain `re` on a fixed sub-sample")
        L.append("")
        L.append(f"{f(s['texts'])} passages, {mb(s['text_bytes']):.2f} MB, drawn with a fixed seed from {', '.join(s['from'])}. "
                 "Each rule becomes a case-insensitive regex (words as word prefixes); polars `str.contains` is shown for reference.")
        L.append("")
        rows = []
        for n, row in s["results"].items():
            for key in ("innsikt_apply_1core", "innsikt_apply_2core", "pandas", "re", "polars"):
                r = row.get(key)
                if not isinstance(r, dict):
                    continue
                if "error" in r:
                    rows.append([n, key, "error: " + r["error"], "", ""])
                    continue
                secs = r.get("apply_s") or r.get("s")
                rows.append([n, key.replace("innsikt_apply_", "innsikt apply_table, ").replace("core", " core"), f(secs, 3), f(r.get("mb_s"), 2), f(r.get("text_code_pairs"))])
        L.append(table(["rules", "engine", "s", "MB/s", "text×code hits"], rows))
        L.append("")
        ra = _get(res, "ratios", "autocode_sample") or {}
        rows = [[n, f(r.get("vs_pandas_1core"), 0), f(r.get("vs_re_1core"), 0), f(r.get("vs_polars_1core"), 1), f(r.get("vs_pandas_all_cores"), 0)] for n, r in ra.items()]
        L.append(table(["rules", "× pandas (1 core)", "× re (1 core)", "× polars (1 core)", "× pandas (all cores)"], rows))
        L.append("")

    L.append("## Search")
    L.append("")
    L.append(f"Latency per call in ms, warm (the mix run once first), {res['config']['search_reps']} timed repetitions of "
             f"{len(res['query_mix'])} queries, top 20 hits plus facet counts (municipality, document_type, speaker_role) over all hits.")
    L.append("")
    rows = []
    for name, sr in res["search"].items():
        if not isinstance(sr, dict) or "error" in sr:
            rows.append([name, "error", "", "", "", ""])
            continue
        types = list(dict.fromkeys(q["type"] for q in res["query_mix"])) + ["all"]
        for typ in types:
            cells = [name, typ]
            for eng in ("innsikt", "tantivy", "sqlite_fts5"):
                st = _get(sr, eng, "overall") if typ == "all" else _get(sr, eng, "by_type", typ)
                cells.append("–" if not st or not st.get("n") else f"{st['p50']:.2f} / {st['p95']:.2f} / {st['p99']:.2f}")
            rows.append(cells)
    L.append(table(["corpus", "query type", "innsikt p50/p95/p99", "tantivy-py p50/p95/p99", "SQLite FTS5 p50/p95/p99"], rows))
    L.append("")
    rows = []
    for name, sr in res["search"].items():
        if not isinstance(sr, dict) or "error" in sr:
            continue
        for i, q in enumerate(res["query_mix"]):
            cells = [name, f"`{q['innsikt']}`"]
            for eng in ("innsikt", "tantivy", "sqlite_fts5"):
                pq_ = _get(sr, eng, "per_query")
                if not pq_:
                    cells.append("–")
                    continue
                r = pq_[i]
                cells.append("error" if r.get("error") else f"{f(r.get('total'))} ({f(r.get('p50'), 2)} ms)")
            rows.append(cells)
    if rows:
        L.append("Hits per query (total, p50). The engines analyse words differently, so totals differ:")
        L.append("")
        L.append(table(["corpus", "query", "innsikt", "tantivy-py", "SQLite FTS5"], rows))
        L.append("")

    L.append("## KWIC")
    L.append("")
    rows = []
    for name, kw in res["kwic"].items():
        for q, r in (kw.get("queries") or {}).items() if isinstance(kw, dict) else []:
            if "error" in r:
                rows.append([name, f"`{q}`", "error", ""])
            else:
                rows.append([name, f"`{q}`", f(r["lines"]), f(pct(r["ms"], 50), 1)])
    L.append(table(["corpus", "query", "lines", "median ms (width 40, all lines)"], rows))
    L.append("")

    L.append("## Codings to DataFrames")
    L.append("")
    rows = []
    for name, r in res["codings_handover"].items():
        if not isinstance(r, dict) or "error" in r:
            rows.append([name, "error", "", "", "", ""])
            continue
        rows.append([
            name, f(r["rows"]), f(r["codings_s"], 3), f(r["to_polars_s"], 3), f(r["to_pandas_s"], 3),
            f(r["to_polars_s"] * 1e6 / max(1, r["rows"]), 3), f(r.get("peak_rss_mb"), 0),
        ])
    reps = max((len(v.get("codings_s_all") or []) for v in (res.get("codings_handover") or {}).values()
                if isinstance(v, dict)), default=0)
    L.append(f"Median of {reps} calls each, after one warm-up call.")
    L.append("")
    L.append(table(["archive", "codings", "codings() s", "codings().to_polars() s", "codings().to_pandas() s", "to_polars per 1M s", "peak RSS MB"], rows))
    L.append("")
    spaced = [(n, r) for n, r in res["codings_handover"].items() if isinstance(r, dict) and r.get("to_polars_spaced_s") is not None]
    if spaced:
        pause = spaced[0][1].get("pause_s")
        L.append(
            f"As a notebook calls them: the first `codings()` of the process, and `codings().to_polars()` "
            f"{len(spaced[0][1].get('to_polars_spaced_s_all') or [])} times with {pause} s between the calls (median). "
            "Calls in a row reuse the memory the call before freed; calls seconds apart may not "
            f"(transparent huge pages: {m.get('transparent_hugepage')}, free page reporting to a hypervisor: "
            f"{'yes' if m.get('free_page_reporting') else 'no'})."
        )
        L.append("")
        L.append(table(
            ["archive", "first codings() s", "to_polars spaced s", "spaced per 1M s"],
            [[n, f(r.get("first_codings_s"), 3), f(r["to_polars_spaced_s"], 3), f(r["to_polars_spaced_s"] * 1e6 / max(1, r["rows"]), 3)] for n, r in spaced],
        ))
        L.append("")

    sizes = sorted(set(_size_of(n) for n in res["ingest"]))
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        L.append(f"## Scaling {a} MB → {b} MB")
        L.append("")
        rows = []
        for kind in res["config"]["corpora"]:
            na, nb = f"{kind}-{a}MB", f"{kind}-{b}MB"

            def pair(label, x, y, digits=1):
                rows.append([kind, label, f(x, digits), f(y, digits), f(ratio(y, x), 2)])

            pair("ingest MB/s", _get(res, "ingest", na, "innsikt", "file_mb_s"), _get(res, "ingest", nb, "innsikt", "file_mb_s"))
            pair("ingest peak RSS MB", _get(res, "ingest", na, "innsikt", "peak_rss_mb"), _get(res, "ingest", nb, "innsikt", "peak_rss_mb"), 0)
            pair("re-open ms", (_get(res, "reopen", na, "innsikt", "open_s") or 0) * 1000 or None, (_get(res, "reopen", nb, "innsikt", "open_s") or 0) * 1000 or None)
            pair("search p50 ms", _get(res, "search", na, "innsikt", "overall", "p50"), _get(res, "search", nb, "innsikt", "overall", "p50"), 2)
            pair("search p99 ms", _get(res, "search", na, "innsikt", "overall", "p99"), _get(res, "search", nb, "innsikt", "overall", "p99"), 2)
            pair("autocode 1000 rules MB/s (1 core)", _get(res, "autocode", na, "1000", "autocode_1core", "mb_s"), _get(res, "autocode", nb, "1000", "autocode_1core", "mb_s"))
        L.append(table(["corpus", "figure", f"{a} MB", f"{b} MB", "ratio"], rows))
        L.append("")

    api = res.get("api") or {}
    if api and "error" not in api:
        L.append("## API notes")
        L.append("")
        L.append(f"- `Project.autocode{tuple(api.get('Project.autocode') or [])}`, `Codebook.apply_table{tuple(api.get('Codebook.apply_table') or [])}`: "
                 + ("a `threads` parameter is passed." if api.get("threads_parameter") else
                    "no `threads` parameter; core counts are set with CPU affinity, which `available_parallelism` in the core follows."))
        L.append("")

    if res.get("errors"):
        L.append("## Errors")
        L.append("")
        for e in res["errors"]:
            L.append(f"- {e['where']}: `{e['error']}`")
        L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
