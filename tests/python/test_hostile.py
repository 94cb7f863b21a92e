"""Hostile input: a folder of malformed and strange files (made by
tests/hostile/make_hostile.py, including a 200 MB one-line file and a DOCX zip
bomb) is ingested in one batch. Every malformed file gets a clear error naming it,
the strange-but-readable ones and the control file are ingested, nothing panics,
and time and memory stay bounded. Hostile codebooks load or fail clearly."""
import json
import pathlib
import subprocess
import sys
import time

import pytest

import innsikt

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, sys, time, innsikt
p = innsikt.Project.create(sys.argv[2])
t = time.perf_counter()
rep = p.ingest([sys.argv[1]], progress=False)
print(json.dumps({"errors": rep.errors, "documents": sorted(p.documents().to_pandas()["document"]),
                  "seconds": time.perf_counter() - t,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "files"
    subprocess.run([sys.executable, str(ROOT / "tests" / "hostile" / "make_hostile.py"), str(out), "--big"], check=True)
    return out


def test_hostile_folder(hostile, tmp_path):
    manifest = json.loads((hostile / "manifest.json").read_text())
    assert len(manifest) >= 50
    done = subprocess.run([sys.executable, "-c", CHILD, str(hostile), str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    errors = {pathlib.Path(path).name: msg for path, msg in out["errors"]}
    for name, expect in manifest.items():
        if expect == "error":
            assert name in errors, f"{name}: no error"
            msg = errors[name]
            assert msg and msg[0].islower() and not msg.endswith("."), msg
            if (name.endswith((".vtt", ".srt")) or "utf" in name) and not name.startswith(("empty", "timing-only", "header-only")):
                assert msg.startswith("line "), f"{name}: {msg}"
        else:
            assert name in out["documents"], f"{name}: not ingested ({errors.get(name)})"
    assert set(errors) <= set(manifest)
    assert out["seconds"] < 120, out["seconds"]
    assert out["max_rss_mb"] < 1500, out["max_rss_mb"]
    print(f"{len(manifest)} files: {len(errors)} errors, {len(out['documents'])} ingested, "
          f"{out['seconds']:.1f} s, peak RSS {out['max_rss_mb']:.0f} MB")


def test_hostile_codebooks(hostile):
    cbs = pathlib.Path(str(hostile) + "-codebooks")
    cb = innsikt.Codebook.load(cbs / "catastrophic-regex.toml")
    t = time.perf_counter()
    assert cb.apply(["a" * 200_000 + "b", "x" * 100_000]) == [[], []]
    assert time.perf_counter() - t < 10, "regexes are linear; very long words are not analysed"
    with pytest.raises(innsikt.CodebookError, match="the limits are 20000 codes"):
        innsikt.Codebook.load(cbs / "huge.toml")
    big = innsikt.Codebook.load(cbs / "big-but-allowed.toml")
    assert big.apply(["ungdom4999 og skole17"]) == [["c17", "c4999"]]
