"""One measurement per process: ``python bench/workers.py TASK 'JSON ARGS'``.

bench.py starts each task in a fresh process so that peak memory figures do not
mix and a crash in one engine does not stop the run. A task prints progress on
stderr and its result as one JSON object on the last line of stdout. Only the
modules a task needs are imported, so an engine's peak RSS does not include the
others.
"""
from __future__ import annotations

import gc
import inspect
import json
import os
import sys
import time
from typing import Any, Dict, List

now = time.perf_counter


def log(msg: str) -> None:
    print(f"    [{os.getpid()}] {msg}", file=sys.stderr, flush=True)


def vm_hwm_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def with_threads(fn, kwargs: Dict[str, Any], threads) -> Dict[str, Any]:
    """Pass ``threads=`` only where the installed API accepts it."""
    try:
        if threads and "threads" in inspect.signature(fn).parameters:
            return dict(kwargs, threads=threads)
    except (TypeError, ValueError):
        pass
    return kwargs


def accepts_threads(fn) -> bool:
    try:
        return "threads" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def read_texts(path: str) -> List[str]:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["text"]).column("text").to_pylist()


def parquet_batches(path: str, columns: List[str], batch_size: int = 20000):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    for b in f.iter_batches(batch_size=batch_size, columns=columns):
        yield {c: b.column(c).to_pylist() for c in columns}


META_COLUMNS = ["municipality", "document_type", "date", "speaker_role"]
FACETS = ["municipality", "document_type", "speaker_role"]


# --- innsikt ----------------------------------------------------------------------


def innsikt_ingest(a):
    import innsikt

    t0 = now()
    p = innsikt.Project.create(a["archive"])
    t1 = now()
    rep = p.ingest([a["corpus"]], metadata=a["metadata"], progress=False)
    t2 = now()
    return {
        "create_s": t1 - t0,
        "ingest_s": t2 - t1,
        "added": rep.added,
        "unchanged": rep.unchanged,
        "passages": rep.passages,
        "errors": len(rep.errors),
        "error_sample": [list(e) for e in rep.errors[:5]],
        "vmhwm_kb": vm_hwm_kb(),
    }


def innsikt_export(a):
    import innsikt
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    p = innsikt.Project.open(a["archive"])
    t0 = now()
    t = p.passages().to_arrow()
    t1 = now()
    cols = {"passage_id": t.column("passage_id"), "text": t.column("text")}
    for c in META_COLUMNS:
        if c in t.column_names:
            cols[c] = pc.fill_null(t.column(c).cast(pa.string()), "")
        else:
            cols[c] = pa.array([""] * t.num_rows, pa.string())
    out = pa.table(cols)
    pq.write_table(out, a["out"], compression="zstd")
    text_bytes = int(pc.sum(pc.binary_length(t.column("text"))).as_py() or 0)
    return {
        "passages": t.num_rows,
        "text_bytes": text_bytes,
        "passages_table_s": t1 - t0,
        "columns": t.column_names,
    }


def innsikt_reopen(a):
    t0 = now()
    import innsikt

    t1 = now()
    p = innsikt.Project.open(a["archive"])
    t2 = now()
    r = p.search(a["query"], limit=20)
    t3 = now()
    return {"import_s": t1 - t0, "open_s": t2 - t1, "first_search_s": t3 - t2, "first_search_total": r.total}


def innsikt_search(a):
    import innsikt

    p = innsikt.Project.open(a["archive"])
    queries = a["queries"]
    out = {q: {"ms": [], "total": None, "facets": None, "error": None} for q in queries}
    for rep in range(a["warmup"] + a["reps"]):
        for q in queries:
            if out[q]["error"]:
                continue
            try:
                t0 = now()
                r = p.search(q, limit=a["limit"])
                dt = now() - t0
            except Exception as e:  # recorded, the rest goes on
                out[q]["error"] = f"{type(e).__name__}: {e}"
                continue
            if rep >= a["warmup"]:
                out[q]["ms"].append(dt * 1000)
            else:
                out[q]["total"] = r.total
                out[q]["rows"] = len(r)
                out[q]["facets"] = {k: len(v) for k, v in r.facets.items()}
    return {"queries": out}


def innsikt_kwic(a):
    import innsikt

    p = innsikt.Project.open(a["archive"])
    out = {}
    for q in a["queries"]:
        try:
            ms = []
            rows = 0
            for rep in range(1 + a["reps"]):
                t0 = now()
                t = p.kwic(q, width=40)
                dt = now() - t0
                rows = len(t)
                if rep:
                    ms.append(dt * 1000)
            out[q] = {"ms": ms, "lines": rows}
        except Exception as e:
            out[q] = {"error": f"{type(e).__name__}: {e}"}
    return {"queries": out}


def innsikt_autocode(a):
    import innsikt

    p = innsikt.Project.open(a["archive"])
    t0 = now()
    cb = innsikt.Codebook.load(a["codebook"])
    t1 = now()
    kwargs = with_threads(p.autocode, {"progress": False}, a.get("threads"))
    threads_param = accepts_threads(p.autocode)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = p.autocode(cb, **kwargs)
    t2 = now()
    # The run's commit leaves the copy of the log into the database file (its
    # checkpoint) to a helper thread; closing the project waits for it (a
    # build without `close` closes it when it is collected).
    if hasattr(p, "close"):
        p.close()
    else:
        del p
        gc.collect()
    t3 = now()
    return {
        "load_s": t1 - t0,
        "autocode_s": t2 - t1,
        "close_s": t3 - t2,
        "passages": rep.passages,
        "codings": rep.codings,
        "replaced": rep.replaced,
        "silent_rules": len(rep.silent_rules),
        "threads_param": threads_param,
        "cpus": len(os.sched_getaffinity(0)),
        "vmhwm_kb": vm_hwm_kb(),
    }


def innsikt_apply(a):
    import innsikt

    input_type = "list"
    if a.get("input") == "pandas":
        import pandas as pd

        texts = pd.read_parquet(a["texts"], columns=["text"])["text"]
        input_type = f"pandas {pd.__version__} Series of {texts.dtype}"
        import pyarrow as pa
        import pyarrow.compute as pc

        nbytes = pc.sum(pc.binary_length(pa.array(texts))).as_py() or 0
    elif a.get("input") == "arrow":
        input_type = "Arrow column"
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        texts = pq.read_table(a["texts"], columns=["text"]).column("text")
        nbytes = pc.sum(pc.binary_length(texts)).as_py() or 0
    else:
        texts = read_texts(a["texts"])
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
    cb = innsikt.Codebook.load(a["codebook"])
    kwargs = with_threads(cb.apply_table, {}, a.get("threads"))
    best = None
    rows = pairs = 0
    for _ in range(a.get("reps", 1)):
        t0 = now()
        tab = cb.apply_table(texts, **kwargs)
        dt = now() - t0
        best = dt if best is None else min(best, dt)
    arr = tab.to_arrow()
    rows = arr.num_rows
    if rows:
        pairs = arr.group_by(["text_index", "code_id"]).aggregate([]).num_rows
    return {
        "apply_s": best,
        "texts": len(texts),
        "text_bytes": nbytes,
        "hit_rows": rows,
        "text_code_pairs": pairs,
        "input_type": input_type,
        "threads_param": accepts_threads(cb.apply_table),
        "cpus": len(os.sched_getaffinity(0)),
    }


def innsikt_codings(a):
    import innsikt

    p = innsikt.Project.open(a["archive"])
    t0 = now()
    n = len(p.codings())  # warm-up; also the row count
    res = {"rows": n, "first_codings_s": now() - t0}
    for name, fn in [
        ("codings_s", lambda: p.codings()),
        ("to_polars_s", lambda: p.codings().to_polars()),
        ("to_pandas_s", lambda: p.codings().to_pandas()),
    ]:
        ts = []
        for _ in range(a["reps"]):
            t0 = now()
            x = fn()
            ts.append(now() - t0)
            del x
        ts.sort()
        res[name] = ts[len(ts) // 2]
        res[name + "_all"] = ts
    # As a notebook calls it: seconds apart, so that the memory the call before
    # freed has gone back to the kernel (and, on a host with free page reporting,
    # to the hypervisor) when the next call asks for it.
    ts = []
    for _ in range(a.get("spaced_reps", 0)):
        time.sleep(a.get("pause_s", 3))
        t0 = now()
        x = p.codings().to_polars()
        ts.append(now() - t0)
        del x
    if ts:
        res["pause_s"] = a.get("pause_s", 3)
        res["to_polars_spaced_s_all"] = ts
        res["to_polars_spaced_s"] = sorted(ts)[len(ts) // 2]
    res["columns"] = p.codings().columns
    return res


# --- tantivy-py -------------------------------------------------------------------


def _tantivy_schema():
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="no_stem")
    sb.add_text_field("passage_id", stored=True, tokenizer_name="raw")
    for c in META_COLUMNS:
        sb.add_text_field(c, stored=False, tokenizer_name="raw", fast=True)
    return sb.build()


def _tantivy_analyzer():
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("norwegian"))
        .build()
    )


def _tantivy_open(path):
    import tantivy

    ix = tantivy.Index(_tantivy_schema(), path=path)
    ix.register_tokenizer("no_stem", _tantivy_analyzer())
    return ix


def tantivy_ingest(a):
    import tantivy

    os.makedirs(a["index"], exist_ok=True)
    t0 = now()
    ix = _tantivy_open(a["index"])
    w = ix.writer(heap_size=a["heap"], num_threads=0)
    read_s = 0.0
    n = 0
    cols = ["passage_id", "text"] + META_COLUMNS
    it = parquet_batches(a["parquet"], cols)
    while True:
        r0 = now()
        b = next(it, None)
        read_s += now() - r0
        if b is None:
            break
        texts, pids = b["text"], b["passage_id"]
        metas = [b[c] for c in META_COLUMNS]
        for i in range(len(texts)):
            d = tantivy.Document()
            d.add_text("text", texts[i])
            d.add_text("passage_id", pids[i])
            for c, col in zip(META_COLUMNS, metas):
                d.add_text(c, col[i])
            w.add_document(d)
        n += len(texts)
    w.commit()
    w.wait_merging_threads()
    wall = now() - t0
    return {"wall_s": wall, "read_s": read_s, "index_s": wall - read_s, "docs": n, "vmhwm_kb": vm_hwm_kb()}


def tantivy_reopen(a):
    t0 = now()
    import tantivy  # noqa: F401

    t1 = now()
    ix = _tantivy_open(a["index"])
    s = ix.searcher()
    t2 = now()
    q = ix.parse_query(a["query"], ["text"], conjunction_by_default=True)
    r = s.search(q, 20)
    t3 = now()
    return {"import_s": t1 - t0, "open_s": t2 - t1, "first_search_s": t3 - t2, "first_search_total": r.count, "docs": s.num_docs}


def tantivy_search(a):
    ix = _tantivy_open(a["index"])
    s = ix.searcher()
    agg = {f: {"terms": {"field": f, "size": 100}} for f in FACETS}
    queries = a["queries"]
    out = {q: {"ms": [], "total": None, "error": None} for q in queries}
    for rep in range(a["warmup"] + a["reps"]):
        for q in queries:
            if out[q]["error"]:
                continue
            try:
                t0 = now()
                pq_ = ix.parse_query(q, ["text"], conjunction_by_default=True)
                r = s.search(pq_, a["limit"], count=True)
                ids = [s.doc(addr)["passage_id"][0] for _, addr in r.hits]
                facets = s.aggregate(pq_, agg)
                dt = now() - t0
            except Exception as e:
                out[q]["error"] = f"{type(e).__name__}: {e}"
                continue
            if rep >= a["warmup"]:
                out[q]["ms"].append(dt * 1000)
            else:
                out[q]["total"] = r.count
                out[q]["rows"] = len(ids)
                out[q]["facets"] = {k: len(v.get("buckets", [])) for k, v in facets.items()}
    return {"queries": out}


# --- SQLite FTS5 --------------------------------------------------------------------


def sqlite_ingest(a):
    import sqlite3

    if os.path.exists(a["db"]):
        os.remove(a["db"])
    t0 = now()
    con = sqlite3.connect(a["db"])
    con.execute(
        "CREATE VIRTUAL TABLE passages USING fts5(text, passage_id UNINDEXED, municipality UNINDEXED, "
        "document_type UNINDEXED, date UNINDEXED, speaker_role UNINDEXED, "
        "tokenize = 'unicode61 remove_diacritics 0')"
    )
    read_s = 0.0
    n = 0
    cols = ["text", "passage_id"] + META_COLUMNS
    con.execute("BEGIN")
    it = parquet_batches(a["parquet"], cols)
    while True:
        r0 = now()
        b = next(it, None)
        if b is not None:
            rows = list(zip(*(b[c] for c in cols)))
        read_s += now() - r0
        if b is None:
            break
        con.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)", rows)
        n += len(rows)
    con.execute("COMMIT")
    con.close()
    wall = now() - t0
    return {
        "wall_s": wall,
        "read_s": read_s,
        "index_s": wall - read_s,
        "docs": n,
        "sqlite": sqlite3.sqlite_version,
        "vmhwm_kb": vm_hwm_kb(),
    }


def sqlite_reopen(a):
    t0 = now()
    import sqlite3

    t1 = now()
    con = sqlite3.connect(a["db"])
    con.execute("SELECT count(*) FROM passages WHERE passages MATCH 'x' LIMIT 1").fetchone()
    t2 = now()
    match, where, params = a["query"]
    n = con.execute(f"SELECT count(*) FROM passages WHERE passages MATCH ? {where}", [match] + params).fetchone()[0]
    t3 = now()
    return {"import_s": t1 - t0, "open_s": t2 - t1, "first_search_s": t3 - t2, "first_search_total": n}


def sqlite_search(a):
    import sqlite3

    con = sqlite3.connect(a["db"])
    queries = [tuple(q) for q in a["queries"]]
    out = {}
    for match, where, params in queries:
        out[json.dumps([match, where, params], ensure_ascii=False)] = {"ms": [], "total": None, "error": None}
    for rep in range(a["warmup"] + a["reps"]):
        for match, where, params in queries:
            key = json.dumps([match, where, params], ensure_ascii=False)
            if out[key]["error"]:
                continue
            try:
                t0 = now()
                top = con.execute(
                    f"SELECT passage_id FROM passages WHERE passages MATCH ? {where} ORDER BY rank LIMIT ?",
                    [match] + params + [a["limit"]],
                ).fetchall()
                groups = con.execute(
                    f"SELECT municipality, document_type, speaker_role, count(*) FROM passages "
                    f"WHERE passages MATCH ? {where} GROUP BY 1, 2, 3",
                    [match] + params,
                ).fetchall()
                facets = [{}, {}, {}]
                total = 0
                for row in groups:
                    c = row[3]
                    total += c
                    for i in range(3):
                        facets[i][row[i]] = facets[i].get(row[i], 0) + c
                dt = now() - t0
            except Exception as e:
                out[key]["error"] = f"{type(e).__name__}: {e}"
                continue
            if rep >= a["warmup"]:
                out[key]["ms"].append(dt * 1000)
            else:
                out[key]["total"] = total
                out[key]["rows"] = len(top)
                out[key]["facets"] = {f: len(facets[i]) for i, f in enumerate(FACETS)}
    return {"queries": out}


# --- pure-Python autocoding peers ---------------------------------------------------


def peer_autocode(a):
    import re

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from corpora import peer_conditions

    texts = read_texts(a["texts"])
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    with open(a["rules"], encoding="utf-8") as fh:
        rules = json.load(fh)["rules"][: a["n"]]
    codes = [(r["code"], peer_conditions(r)) for r in rules]
    engine = a["engine"]
    hits = 0
    if engine == "pandas":
        import pandas as pd

        s = pd.Series(texts, dtype=object)
        t0 = now()
        for _, conds in codes:
            mask = None
            for pat, pos in conds:
                m = s.str.contains(pat, case=False, regex=True)
                if not pos:
                    m = ~m
                mask = m if mask is None else (mask & m)
            hits += int(mask.sum())
        dt = now() - t0
    elif engine == "polars":
        import polars as pl

        s = pl.Series("text", texts)
        t0 = now()
        for _, conds in codes:
            mask = None
            for pat, pos in conds:
                m = s.str.contains("(?i)" + pat)
                if not pos:
                    m = ~m
                mask = m if mask is None else (mask & m)
            hits += int(mask.sum())
        dt = now() - t0
    elif engine == "re":
        compiled = [[(re.compile(p, re.IGNORECASE), pos) for p, pos in conds] for _, conds in codes]
        t0 = now()
        for t in texts:
            for conds in compiled:
                ok = True
                for rx, pos in conds:
                    if (rx.search(t) is not None) != pos:
                        ok = False
                        break
                if ok:
                    hits += 1
        dt = now() - t0
    else:
        raise ValueError(engine)
    return {"engine": engine, "rules": len(codes), "s": dt, "texts": len(texts), "text_bytes": nbytes, "text_code_pairs": hits}


TASKS = {name: fn for name, fn in globals().items() if callable(fn) and name.split("_")[0] in ("innsikt", "tantivy", "sqlite", "peer")}


def main():
    task, args = sys.argv[1], json.loads(sys.argv[2])
    result = TASKS[task](args)
    result["vmhwm_kb"] = vm_hwm_kb()
    sys.stdout.write("\n" + json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
