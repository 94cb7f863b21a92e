#!/usr/bin/env python3
"""Crash-safety harness: kill `innsikt ingest` and `innsikt autocode` with SIGKILL at
random moments, many times, and check the archive after every kill.

    python3 tests/crash/crash_harness.py --kills 200          # the long run
    python3 tests/crash/crash_harness.py --kills 20 --files 80  # what the test suite runs

After every kill it checks that:
  - the archive opens (a stale index is rebuilt, with a note);
  - every document the killed process reported as saved is there, exactly once,
    with the content it was saved with;
  - no document is half-written: each stored document's passages are exactly the
    passages of one version of its file that was written;
  - the index agrees with the store (every passage found, per document too);
  - machine codings come from one complete autocoding run (never a mix or a part);
and at the end that re-running both commands completes and leaves the latest files,
and that the index's vocabulary, written and cut off by all those kills, changes no
coding: an autocoding run without it writes the same codings.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import innsikt
from innsikt import _innsikt

ROOT = Path(__file__).resolve().parents[2]
CODEBOOK = ROOT / "corpus-sample" / "codebooks" / "pd.toml"
MUNICIPALITIES = ["Kongsvinger", "Eidskog", "Grue", "Åsnes", "Nord-Odal", "Sør-Odal"]
WORDS = ("ungdommene samarbeid barnevernet skolen NAV-veilederen fast kontaktperson overgangen "
         "videregående sommerjobb kontingentkassa taushetsplikt samtykke ungdomsrådet lavterskel "
         "helsesykepleier tida ressursgruppa prøvehandling forebygging kommunen tenestene ungdomar "
         "skulen korleis ikkje vi lykkes ikke med å nå de unge tidlig nok").split()


def make_text(rng: random.Random, i: int, version: int) -> str:
    turns = []
    for t in range(rng.randint(3, 12)):
        label = "I" if t % 2 == 0 else "Informant"
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
        turns.append(f"{label}: {sentence.capitalize()}. (fil {i}, versjon {version})")
    return "\n\n".join(turns) + "\n"


def passages_digest(texts) -> str:
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()


def expected_digest(path: Path) -> str:
    parsed = json.loads(_innsikt.parse_file(str(path)))
    return passages_digest([p["text"] for p in parsed["passages"]])


class Harness:
    def __init__(self, work: Path, files: int, seed: int, verbose: bool) -> None:
        self.rng = random.Random(seed)
        self.work = work
        self.files_dir = work / "files"
        self.files_dir.mkdir(parents=True)
        self.archive = work / "arkiv"
        self.verbose = verbose
        self.versions: dict[str, int] = {}
        self.known: dict[str, set[str]] = {}  # key -> digests of every version written
        self.current: dict[str, str] = {}  # key -> digest of the file on disk now
        rows = ["file,municipality,date,document_type"]
        for i in range(files):
            key = f"f{i:04d}.txt"
            rows.append(f"{key},{self.rng.choice(MUNICIPALITIES)},2022-0{1 + i % 9}-1{i % 10},intervju")
            self.write_file(key)
        (self.files_dir / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        innsikt.Project.create(self.archive)
        self.stats = {"kills": 0, "kills_mid_write": 0, "ingest": 0, "autocode": 0, "saved_reported": 0,
                      "rebuilt_index": 0, "checks": 0}
        # Runs that finished before their kill are checked too, and do not count as kills.

    def write_file(self, key: str) -> None:
        v = self.versions.get(key, 0) + 1
        self.versions[key] = v
        path = self.files_dir / key
        path.write_text(make_text(self.rng, int(key[1:5]), v), encoding="utf-8")
        d = expected_digest(path)
        self.known.setdefault(key, set()).add(d)
        self.current[key] = d

    def command(self, op: str) -> list[str]:
        base = [sys.executable, "-m", "innsikt"]
        if op == "ingest":
            return base + ["ingest", "-a", str(self.archive), str(self.files_dir), "-m",
                           str(self.files_dir / "metadata.csv"), "-q", "--log-saved"]
        return base + ["autocode", "-a", str(self.archive), str(CODEBOOK), "--json"]

    def run_and_kill(self, op: str, delay: float) -> list[str]:
        # Small batches, so that kills land between commits; and every commit
        # after which the log holds four pages or more hands the copy of the log
        # into the database file (its checkpoint) to a helper thread, so that
        # kills land during one.
        env = dict(os.environ, INNSIKT_BATCH_DOCUMENTS="7", INNSIKT_CHECKPOINT_PAGES="4")
        child = subprocess.Popen(self.command(op), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delay)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            self.stats["kills"] += 1
        out, _ = child.communicate()
        lines = out.decode("utf-8", "replace").splitlines()
        saved = [l.split("\t", 1)[1] for l in lines if l.startswith("saved\t")]
        if child.returncode == -signal.SIGKILL and (op == "autocode" or saved):
            self.stats["kills_mid_write"] += 1
        return saved

    def check(self, saved_now: dict[str, str]) -> None:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = innsikt.Project.open(self.archive)
        if any("rebuilt" in str(w.message) for w in caught):
            self.stats["rebuilt_index"] += 1
        docs = p.documents().to_pandas()
        assert docs["document"].is_unique, "a document is stored twice"
        passages = p.passages().to_pandas()
        by_doc = passages.sort_values(["document", "ordinal"]).groupby("document")["text"].apply(list)
        for key, texts in by_doc.items():
            digest = passages_digest(texts)
            assert digest in self.known[key], f"{key}: stored passages match no version that was written"
        for key, digest in saved_now.items():
            assert key in by_doc.index, f"{key} was reported saved but is missing"
            got = passages_digest(by_doc[key])
            assert got == digest, f"{key}: saved content lost"
        total = p.search("", limit=0).total
        assert total == len(passages), f"index has {total} passages, store {len(passages)}"
        if len(docs):
            doc = docs.sample(1, random_state=self.rng.randint(0, 10**6)).iloc[0]
            n = p.search(f'document_id:{doc["document_id"]}', limit=0).total
            assert n == doc["passages"], f"index and store disagree on {doc['document']}"
        codings = p.codings("machine").to_pandas()
        assert codings["created_at"].nunique() <= 1, "machine codings from more than one run"
        self.stats["checks"] += 1

    def duration(self, op: str) -> float:
        start = time.perf_counter()
        done = subprocess.run(self.command(op), capture_output=True,
                              env=dict(os.environ, INNSIKT_BATCH_DOCUMENTS="7"))
        assert done.returncode == 0, done.stderr.decode()
        return time.perf_counter() - start

    def run(self, kills: int, max_delay: float) -> dict:
        # How long each command takes here, so that kills land while it works.
        # (The ingest timed is the first, full one; later ingests rewrite a quarter.)
        self.duration("ingest")
        durations = {"autocode": self.duration("autocode")}
        for key in self.rng.sample(sorted(self.current), k=len(self.current) // 4):
            self.write_file(key)
        durations["ingest"] = self.duration("ingest")
        self.stats["durations"] = {k: round(v, 2) for k, v in durations.items()}
        runs = 0
        while self.stats["kills"] < kills and runs < 4 * kills:
            runs += 1
            op = "autocode" if self.rng.random() < 0.3 else "ingest"
            if op == "ingest":
                for key in self.rng.sample(sorted(self.current), k=max(1, len(self.current) // 4)):
                    self.write_file(key)
            saved = self.run_and_kill(op, self.rng.uniform(0.05, min(max_delay, 0.9 * durations[op])))
            self.stats[op] += 1
            self.stats["saved_reported"] += len(saved)
            self.check({key: self.current[key] for key in saved})
            if self.verbose:
                print(f"run {runs} (kills so far {self.stats['kills']}): {op}, {len(saved)} documents reported saved",
                      flush=True)
        # The same commands complete afterwards and leave the latest content.
        for op in ("ingest", "autocode"):
            done = subprocess.run(self.command(op), capture_output=True)
            assert done.returncode == 0, done.stderr.decode()
        self.check({})
        self.stats["runs"] = runs
        p = innsikt.Project.open(self.archive)
        passages = p.passages().to_pandas()
        by_doc = passages.sort_values(["document", "ordinal"]).groupby("document")["text"].apply(list)
        for key, digest in self.current.items():
            assert passages_digest(by_doc[key]) == digest, f"{key}: not the latest version after re-run"
        vocabulary = self.archive / "index" / "vocabulary"
        assert vocabulary.is_file(), "no index vocabulary after ingest and autocode"
        self.stats["vocabulary_bytes"] = vocabulary.stat().st_size
        columns = ["coding_id", "passage_id", "code_id", "start", "end", "spans", "rule"]
        with_it = p.codings("machine").to_pandas()[columns]
        del p
        vocabulary.unlink()
        done = subprocess.run(self.command("autocode"), capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        without = innsikt.Project.open(self.archive).codings("machine").to_pandas()[columns]
        # The rerun's ids are new; everything else is the same, in the same order.
        assert len(with_it) > 0, "no machine codings"
        assert with_it.drop(columns="coding_id").reset_index(drop=True).equals(
            without.drop(columns="coding_id").reset_index(drop=True)
        ), "the vocabulary changed the machine codings"
        return self.stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-delay", type=float, default=2.0, help="latest kill, seconds after start")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        start = time.time()
        stats = Harness(Path(d), a.files, a.seed, a.verbose).run(a.kills, a.max_delay)
    stats["seconds"] = round(time.time() - start, 1)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
