"""Several processes on one archive: a second writer gets a clear lock error naming
the writer's process id, readers keep working during a write and see consistent
snapshots, and a writer killed with SIGKILL leaves no lock behind."""
import os
import signal
import subprocess
import sys
import time
from contextlib import closing

import pytest

import innsikt


def corpus(tmp_path, n=300):
    d = tmp_path / "files"
    d.mkdir()
    for i in range(n):
        turns = "\n\n".join(
            f"{'I' if t % 2 == 0 else 'Informant'}: Ungdommene i kommune {i} snakket om samarbeid og skulen, tur {t}."
            for t in range(12)
        )
        (d / f"f{i:04d}.txt").write_text(turns + "\n", encoding="utf-8")
    return d


def start_writer(archive, files):
    env = dict(os.environ, INNSIKT_BATCH_DOCUMENTS="3")
    child = subprocess.Popen(
        [sys.executable, "-m", "innsikt", "ingest", "-a", str(archive), str(files), "-q", "--log-saved"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    line = child.stdout.readline()  # the first committed batch: the writer holds the lock
    assert line.startswith("saved\t"), line + child.stderr.read()
    return child


def test_second_writer_gets_locked_error_with_pid(tmp_path):
    files = corpus(tmp_path)
    archive = tmp_path / "a"
    innsikt.Project.create(archive)
    child = start_writer(archive, files)
    try:
        p = innsikt.Project.open(archive)
        with pytest.raises(innsikt.ArchiveLockedError, match=f"locked by process {child.pid}"):
            p.ingest([files], progress=False)
    finally:
        child.wait(timeout=120)
    assert child.returncode == 0


def test_readers_see_consistent_snapshots_during_a_write(tmp_path):
    files = corpus(tmp_path)
    archive = tmp_path / "a"
    innsikt.Project.create(archive)
    child = start_writer(archive, files)
    reader = innsikt.Project.open(archive)
    seen = []
    try:
        while child.poll() is None:
            total = reader.search("ungdom", limit=0).total
            docs = len(reader.documents())
            seen.append((total, docs))
            assert total % 6 == 0, "each document has six informant and six interviewer turns with 'ungdom'"
            time.sleep(0.02)
    finally:
        child.wait(timeout=120)
    assert child.returncode == 0
    totals = [t for t, _ in seen]
    assert totals == sorted(totals), "a reader never sees the archive go backwards"
    assert len(set(totals)) > 1, "the reader saw the write progress"
    assert reader.search("ungdom", limit=0).total == 300 * 12


def test_a_killed_writer_leaves_no_lock(tmp_path):
    files = corpus(tmp_path, n=200)
    archive = tmp_path / "a"
    innsikt.Project.create(archive)
    child = start_writer(archive, files)
    child.send_signal(signal.SIGKILL)
    child.wait()
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = innsikt.Project.open(archive)
    # Killed between the store's commit and the index's, the index is rebuilt on open;
    # killed during a large ingest, the passage id index of the store is rebuilt too.
    assert all("rebuilt" in str(w.message) for w in caught)
    import sqlite3

    with closing(sqlite3.connect(archive / "store.sqlite")) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "passages_by_id" in names
    rep = p.ingest([files], progress=False)
    assert rep.added + rep.unchanged == 200
    assert p.search("ungdom", limit=0).total == 200 * 12
