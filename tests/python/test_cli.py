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
    for cmd in ["init", "ingest", "reindex", "search", "kwic", "documents", "passages", "demo"]:
        out = run(cmd, "--help")
        assert "--json" in out.stdout
