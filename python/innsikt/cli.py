"""The ``innsikt`` command line: the same operations as the Python API.

Every command takes ``--json`` for machine-readable output.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from typing import Any, Dict, List, Optional

import innsikt

DEFAULT_ARCHIVE = os.environ.get("INNSIKT_ARCHIVE", "arkiv")


def _bold(snippet: str, tty: bool) -> str:
    on, off = ("\033[1m", "\033[0m") if tty else ("[", "]")
    s = snippet.replace("<b>", on).replace("</b>", off)
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _records(table: innsikt.Table, columns: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    rows = table.to_arrow().to_pylist()
    if columns:
        rows = [{c: r.get(c) for c in columns} for r in rows]
    return rows


def _emit_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=1, default=str)
    sys.stdout.write("\n")


def cmd_init(a: argparse.Namespace) -> int:
    p = innsikt.Project.create(a.archive)
    if a.json:
        _emit_json({"archive": p.root, "created": True})
    else:
        print(f"created archive {p.root}")
    return 0


def cmd_ingest(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)

    def log_saved(keys: List[str]) -> None:
        for k in keys:
            print(f"saved\t{k}", flush=True)

    rep = p.ingest(a.paths, metadata=a.metadata, progress=not a.json and not a.quiet,
                   on_saved=log_saved if a.log_saved else None)
    if a.json:
        _emit_json(rep.__dict__)
    else:
        print(f"added {rep.added}, updated {rep.updated}, unchanged {rep.unchanged} documents ({rep.passages} new passages)")
        for path, msg in rep.errors:
            print(f"error: {path}: {msg}", file=sys.stderr)
    return 1 if rep.errors else 0


def cmd_reindex(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    n = p.reindex(progress=not a.json)
    if a.json:
        _emit_json({"passages": n})
    else:
        print(f"reindexed {n} passages")
    return 0


def cmd_search(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    limit = None if a.limit == 0 else a.limit
    res = p.search(a.query, limit=limit)
    if a.json:
        cols = ["passage_id", "document_id", "document", "score", "speaker", "speaker_role", "start", "end",
                "snippet", "municipality", "document_type", "date"]
        _emit_json({"query": a.query, "total": res.total, "facets": res.facets, "hits": _records(res, cols)})
        return 0
    tty = sys.stdout.isatty()
    print(f"{res.total} hits for {a.query!r}" + (f" (showing {len(res)})" if len(res) < res.total else ""))
    for r in _records(res):
        who = f" {r['speaker']}:" if r.get("speaker") else ""
        print(f"\n  {r['score']:.2f}  {r['document']} ({r.get('municipality') or '-'}){who}")
        print(f"        {_bold(r['snippet'], tty)}")
    if res.total:
        for name, counts in res.facets.items():
            shown = ", ".join(f"{v or '(none)'} {n}" for v, n in counts[:8])
            print(f"\n  {name}: {shown}", end="")
        print()
    return 0


def cmd_kwic(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    t = p.kwic(a.query, width=a.width, limit=None if a.limit == 0 else a.limit)
    if a.json:
        _emit_json({"query": a.query, "lines": _records(t)})
        return 0
    for r in _records(t):
        print(f"{r['left']:>{a.width}} {r['keyword']} {r['right']:<{a.width}}  {r['document']}")
    return 0


def cmd_documents(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    t = p.documents()
    if a.json:
        _emit_json(_records(t))
        return 0
    df = t.to_pandas()[["document", "format", "encoding", "passages", "municipality", "document_type", "date"]]
    print(df.to_string(index=False))
    return 0


def cmd_passages(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    df = p.passages().to_pandas()
    if a.document:
        df = df[df["document"] == a.document]
    if a.json:
        _emit_json(df.to_dict(orient="records"))
        return 0
    for _, r in df.iterrows():
        text = r["text"].replace("\n", " ")
        print(f"{r['passage_id']} {r['document']} [{r['start']}:{r['end']}] {r['speaker'] or ''}: {text[:100]}")
    return 0


def _table_out(a: argparse.Namespace, t: innsikt.Table, index: Optional[str] = None) -> int:
    if a.json:
        _emit_json(_records(t))
        return 0
    df = t.to_pandas()
    if index and index in df.columns:
        df = df.set_index(index)
    print(df.to_string())
    return 0


def cmd_codes(a: argparse.Namespace) -> int:
    cb = innsikt.Codebook.load(a.codebook)
    t = cb.codes()
    if a.json:
        _emit_json({"id": cb.id, "version": cb.version, "codes": _records(t)})
        return 0
    print(f"{cb.name} ({cb.id} {cb.version})")
    for r in _records(t):
        rules = f"  [{r['rules']}]" if r["rules"] else ""
        print(f"{'  ' * r['depth']}{r['code_id']}: {r['name']}{rules}")
    return 0


def cmd_autocode(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    rep = p.autocode(a.codebook, progress=not a.json)
    if a.json:
        _emit_json(rep.__dict__)
        return 0
    print(f"coded {rep.passages} passages: {rep.codings} codings ({rep.replaced} earlier machine codings replaced)")
    for code, n in sorted(rep.by_code.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {code}")
    for code, rule in rep.silent_rules:
        print(f"warning: rule {rule} of code {code} matched nothing", file=sys.stderr)
    return 0


def cmd_code(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    cid = p.code(a.passage_id, a.code_id, coder=a.coder, start=a.start, end=a.end)
    if a.memo:
        p.memo("coding", str(cid), a.memo, author=a.coder)
    if a.json:
        _emit_json({"coding_id": cid})
    else:
        print(f"coding {cid}: {a.code_id} on {a.passage_id} by {a.coder}")
    return 0


def cmd_uncode(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    ok = p.uncode(a.coding_id)
    if a.json:
        _emit_json({"removed": ok})
    else:
        print("removed" if ok else f"no coding {a.coding_id}")
    return 0 if ok else 1


def cmd_memo(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    mid = p.memo(a.target_kind, a.target_id, a.text, author=a.author)
    if a.json:
        _emit_json({"memo_id": mid})
    else:
        print(f"memo {mid} on {a.target_kind} {a.target_id}")
    return 0


def cmd_codings(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    t = p.codings(coder=a.coder)
    if a.json:
        _emit_json(_records(t))
        return 0
    df = t.to_pandas()[["coding_id", "passage_id", "code_id", "start", "end", "coder", "rule", "municipality"]]
    print(df.to_string(index=False))
    return 0


def cmd_crosstab(a: argparse.Namespace) -> int:
    return _table_out(a, innsikt.Project.open(a.archive).crosstab(by=a.by, coder=a.coder), "code_id")


def cmd_cooccurrence(a: argparse.Namespace) -> int:
    return _table_out(a, innsikt.Project.open(a.archive).cooccurrence(coder=a.coder), "code_id")


def cmd_segments(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    t = p.segments(a.code_id, coder=a.coder, context=a.context)
    if a.json:
        _emit_json(_records(t))
        return 0
    for r in _records(t):
        print(f"\n{r['code_id']} — {r['document']} ({r.get('municipality') or '-'}), {r['coder']}")
        print(f"  …{r['before']} »{r['text']}« {r['after']}…")
    return 0


def cmd_import_codings(a: argparse.Namespace) -> int:
    p = innsikt.Project.open(a.archive)
    n, errors = p.import_codings(a.csv)
    if a.json:
        _emit_json({"added": n, "errors": errors})
    else:
        print(f"added {n} codings")
        for where, msg in errors:
            print(f"error: {where}: {msg}", file=sys.stderr)
    return 1 if errors else 0


def cmd_agreement(a: argparse.Namespace) -> int:
    return _table_out(a, innsikt.Project.open(a.archive).agreement(a.a, a.b), "code_id")


DEMO_QUERIES = [
    "ungdom AND municipality:Åsnes",
    '"fast kontaktperson"',
    "barnevern AND NOT skole",
    "tjeneste NEAR/3 samarbeid",
    "sommerjobb OR kontingentkasse",
]


def cmd_demo(a: argparse.Namespace) -> int:
    corpus = a.corpus
    meta = os.path.join(corpus, "metadata.csv")
    if os.path.exists(os.path.join(a.archive, "innsikt-archive.json")):
        shutil.rmtree(a.archive)
    p = innsikt.Project.create(a.archive)
    rep = p.ingest([corpus], metadata=meta if os.path.exists(meta) else None, progress=not a.json)
    docs = p.documents().to_pandas()
    passages = p.passages().to_pandas()
    searches = []
    for q in DEMO_QUERIES:
        res = p.search(q, limit=3)
        searches.append({"query": q, "total": res.total, "facets": res.facets,
                         "top": _records(res, ["document", "speaker", "snippet", "municipality"])})
    kwic = _records(p.kwic("samarbeid", width=35, limit=6))
    codebook_path = os.path.join(corpus, "codebooks", "pd.toml")
    coding = None
    if os.path.exists(codebook_path):
        cb = innsikt.Codebook.load(codebook_path)
        run = p.autocode(cb, progress=not a.json)
        ct = p.crosstab(by="municipality", coder=f"auto:{cb.id}").to_pandas().set_index("code_id")
        names = cb.codes().to_pandas().set_index("code_id")["name"]
        themes = [c for c in ["tema.forebygging", "tema.samhandling", "tema.tid", "tema.ledelse"] if c in ct.index]
        per_muni = passages.groupby("municipality")["passage_id"].count()
        share = (ct.loc[themes, [m for m in per_muni.index if m in ct.columns]] / per_muni).round(2)
        share.index = [names[c] for c in share.index]
        coding = {"codebook": f"{cb.id} {cb.version}", "codings": run.codings, "share": share}
    if a.json:
        out = {"ingest": rep.__dict__, "documents": len(docs), "passages": len(passages), "searches": searches,
               "kwic": kwic}
        if coding:
            out["autocode"] = {"codebook": coding["codebook"], "codings": coding["codings"],
                               "theme_share_by_municipality": coding["share"].to_dict()}
        _emit_json(out)
        return 1 if rep.errors else 0
    tty = sys.stdout.isatty()
    print(f"\nInnsikt {innsikt.__version__} — archive {p.root}")
    print(f"ingested {rep.added} documents ({rep.passages} passages), {len(rep.errors)} errors")
    for path, msg in rep.errors:
        print(f"  error: {path}: {msg}")
    print("\nDocuments and passages per municipality and document type:")
    by = passages.groupby(["municipality", "document_type"]).agg(
        documents=("document_id", "nunique"), passages=("passage_id", "count"))
    print(by.to_string())
    print("\nSearches:")
    for s in searches:
        print(f"\n  {s['query']!r}: {s['total']} hits; by municipality: "
              + ", ".join(f"{v} {n}" for v, n in s["facets"]["municipality"][:6]))
        for r in s["top"]:
            who = f" {r['speaker']}:" if r.get("speaker") else ""
            print(f"    · {r['document']}{who} {_bold(r['snippet'], tty)[:220]}")
    print("\nConcordance for 'samarbeid':")
    for r in kwic:
        print(f"  {r['left']:>35} {r['keyword']} {r['right']:<35}")
    if coding:
        print(f"\nAutocoded with the PD codebook ({coding['codebook']}): {coding['codings']} codings.")
        print("Share of each municipality's passages coded with the four final themes:")
        print(coding["share"].to_string())
    return 1 if rep.errors else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="innsikt", description="Innsikt: a Norwegian-aware insight archive.")
    ap.add_argument("--version", action="version", version=f"innsikt {innsikt.__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    def add(name: str, help: str, fn: Any) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("-a", "--archive", default=DEFAULT_ARCHIVE, help="archive directory (default: %(default)s)")
        sp.add_argument("--json", action="store_true", help="print JSON")
        sp.set_defaults(fn=fn)
        return sp

    add("init", "create a new archive", cmd_init)
    sp = add("ingest", "ingest files and folders (.txt .md .docx .vtt .srt)", cmd_ingest)
    sp.add_argument("paths", nargs="+")
    sp.add_argument("-m", "--metadata", help="metadata CSV with a 'file' column")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--log-saved", action="store_true", help="print 'saved<TAB>key' as each document is committed")
    add("reindex", "rebuild the search index from the store", cmd_reindex)
    sp = add("search", "search passages", cmd_search)
    sp.add_argument("query")
    sp.add_argument("-n", "--limit", type=int, default=10, help="hits to show; 0 for all (default: %(default)s)")
    sp = add("kwic", "keyword-in-context concordance", cmd_kwic)
    sp.add_argument("query")
    sp.add_argument("-w", "--width", type=int, default=40)
    sp.add_argument("-n", "--limit", type=int, default=0, help="lines to show; 0 for all")
    add("documents", "list documents with metadata", cmd_documents)
    sp = add("passages", "list passages", cmd_passages)
    sp.add_argument("--document", help="only this document (its key)")
    sp = add("codes", "list a codebook's codes", cmd_codes)
    sp.add_argument("codebook")
    sp = add("autocode", "code every passage with a codebook (machine coder)", cmd_autocode)
    sp.add_argument("codebook")
    sp = add("code", "add a human coding", cmd_code)
    sp.add_argument("passage_id")
    sp.add_argument("code_id")
    sp.add_argument("--coder", required=True)
    sp.add_argument("--start", type=int, help="document offset (code points); with --end")
    sp.add_argument("--end", type=int)
    sp.add_argument("--memo", help="a memo on the new coding")
    sp = add("uncode", "remove a coding", cmd_uncode)
    sp.add_argument("coding_id", type=int)
    sp = add("memo", "attach a memo to a document, passage, code or coding", cmd_memo)
    sp.add_argument("target_kind", choices=["document", "passage", "code", "coding"])
    sp.add_argument("target_id")
    sp.add_argument("text")
    sp.add_argument("--author", required=True)
    sp = add("codings", "list codings", cmd_codings)
    sp.add_argument("--coder", help="a coder's name, or 'machine' / 'human'")
    sp = add("crosstab", "coded passages per code and metadata value", cmd_crosstab)
    sp.add_argument("--by", default="municipality")
    sp.add_argument("--coder")
    sp = add("cooccurrence", "code × code co-occurrence within passages", cmd_cooccurrence)
    sp.add_argument("--coder")
    sp = add("segments", "coded segments with context", cmd_segments)
    sp.add_argument("code_id", nargs="?")
    sp.add_argument("--coder")
    sp.add_argument("--context", type=int, default=120)
    sp = add("import-codings", "import human codings from CSV", cmd_import_codings)
    sp.add_argument("csv")
    sp = add("agreement", "agreement of coder B with coder A per code (precision, recall, kappa)", cmd_agreement)
    sp.add_argument("a")
    sp.add_argument("b")
    sp = add("demo", "build an archive from a corpus folder and print a report", cmd_demo)
    sp.add_argument("corpus", nargs="?", default="corpus-sample")
    sp.set_defaults(archive=os.environ.get("INNSIKT_ARCHIVE", "demo-arkiv"))
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except innsikt.InnsiktError as e:
        if getattr(args, "json", False):
            _emit_json({"error": type(e).__name__, "message": str(e)})
        else:
            print(f"innsikt: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("innsikt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
