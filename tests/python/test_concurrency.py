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


@pytest.mark.filterwarnings("ignore:.*rules matched nothing")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_drops_its_copy_of_a_project_whose_checkpoint_thread_runs(tmp_path, monkeypatch, root):
    # A few pages start the store's checkpoint thread at the first commits. A
    # child forked from this process has a copy of the project but not the
    # thread: dropping the copy must neither wait for that thread (a hang) nor
    # panic over it (which Python would report from the child's collector).
    monkeypatch.setenv("INNSIKT_CHECKPOINT_PAGES", "4")
    p = innsikt.Project.create(tmp_path / "a")
    rep = p.ingest([root / "corpus-sample"], progress=False)
    assert rep.errors == []
    err = tmp_path / "child-stderr.txt"
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code and the file only
        code = 1
        try:
            fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            import gc

            del p
            gc.collect()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung dropping its copy of the project")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    assert err.read_text() == ""
    # The parent's project, and its thread, go on.
    assert p.search("ungdom", limit=5).total > 0
    cb = innsikt.Codebook.load(root / "corpus-sample" / "codebooks" / "pd.toml")
    assert p.autocode(cb, progress=False).codings > 0
    del p
    assert innsikt.Project.open(tmp_path / "a").autocode(cb, progress=False).replaced > 0
