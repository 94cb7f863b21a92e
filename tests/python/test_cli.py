"""The command line, run as a user would: a subprocess per command, --json parsed."""
import json
import subprocess
import sys


def run(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "innsikt", *args], capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_cli_end_to_end(tmp_path, root):
    a = str(tmp_path / "arkiv")
    assert json.loads(run("init", "-a", a, "--json").stdout)["created"]
    rep = json.loads(run("ingest", "-a", a, str(root / "corpus-sample"), "-m",
                         str(root / "corpus-sample" / "metadata.csv"), "--json").stdout)
    assert rep["added"] >= 16 and rep["errors"] == []
    s = json.loads(run("search", "-a", a, "ungdom AND municipality:Grue", "-n", "0", "--json").stdout)
    assert s["total"] == len(s["hits"]) > 5
    assert {h["municipality"] for h in s["hits"]} == {"Grue"}
    k = json.loads(run("kwic", "-a", a, "kontingentkasse", "--json").stdout)
    assert k["lines"] and all("keyword" in line for line in k["lines"])
    docs = json.loads(run("documents", "-a", a, "--json").stdout)
    assert len(docs) == rep["added"]
    assert json.loads(run("reindex", "-a", a, "--json").stdout)["passages"] > 1000
    text = run("search", "-a", a, '"fast kontaktperson"').stdout
    assert "hits for" in text and "[" in text


def test_cli_errors_are_clear(tmp_path):
    out = run("search", "-a", str(tmp_path / "none"), "x", "--json", check=False)
    assert out.returncode == 2
    err = json.loads(out.stdout)
    assert err["error"] == "ArchiveNotFoundError" and "no archive" in err["message"]
    run("init", "-a", str(tmp_path / "a"))
    out = run("search", "-a", str(tmp_path / "a"), "(ungdom", check=False)
    assert out.returncode == 2 and "bad query" in out.stderr


def test_every_command_has_help_and_json():
    from innsikt.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = sorted(sub.choices)
    assert {"init", "ingest", "reindex", "search", "kwic", "code", "codings", "crosstab", "autocode"} <= set(commands)
    for cmd in commands:
        out = run(cmd, "--help")
        assert "--json" in out.stdout, cmd


def test_cli_coding_commands(tmp_path, root):
    a = str(tmp_path / "arkiv")
    run("init", "-a", a)
    run("ingest", "-a", a, str(root / "corpus-sample"), "-m", str(root / "corpus-sample" / "metadata.csv"), "-q")
    cb = str(root / "corpus-sample" / "codebooks" / "pd.toml")
    codes = json.loads(run("codes", "-a", a, cb, "--json").stdout)
    assert codes["id"] == "pd" and len(codes["codes"]) > 40
    rep = json.loads(run("autocode", "-a", a, cb, "--json").stdout)
    assert rep["codings"] > 1000
    passage = json.loads(run("search", "-a", a, '"fast kontaktperson"', "-n", "1", "--json").stdout)["hits"][0]
    coding = json.loads(run("code", "-a", a, passage["passage_id"], "tema.samhandling", "--coder", "kari",
                            "--memo", "Los over overgangen.", "--json").stdout)["coding_id"]
    human = json.loads(run("codings", "-a", a, "--coder", "human", "--json").stdout)
    assert [c["coding_id"] for c in human] == [coding]
    ct = json.loads(run("crosstab", "-a", a, "--by", "document_type", "--json").stdout)
    assert any(r["code_id"] == "tema.samhandling" and r["intervju"] > 0 for r in ct)
    co = json.loads(run("cooccurrence", "-a", a, "--coder", "machine", "--json").stdout)
    assert co and "code_id" in co[0]
    seg = json.loads(run("segments", "-a", a, "tema.tid", "--json").stdout)
    assert seg and all(s["code_id"] == "tema.tid" for s in seg)
    imp = json.loads(run("import-codings", "-a", a, str(root / "corpus-sample" / "codings" / "gold-marte.csv"), "--json").stdout)
    assert imp["added"] >= 300
    ag = json.loads(run("agreement", "-a", a, "marte", "auto:pd", "--json").stdout)
    assert {r["code_id"] for r in ag} >= {"tema.forebygging", "tema.samhandling", "tema.tid", "tema.ledelse"}
    assert json.loads(run("uncode", "-a", a, str(coding), "--json").stdout)["removed"]
    bad = run("autocode", "-a", a, str(root / "tests" / "cases" / "codebooks-bad" / "bad_query.toml"), check=False)
    assert bad.returncode == 2 and "bad_query.toml:11:11: code a, rule r" in bad.stderr
