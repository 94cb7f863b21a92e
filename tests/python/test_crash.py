"""A short run of the crash harness (20 SIGKILLs during ingest and autocoding)."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_archive_survives_sigkill(tmp_path):
    spec = importlib.util.spec_from_file_location("crash_harness", ROOT / "tests" / "crash" / "crash_harness.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    stats = harness.Harness(tmp_path / "work", files=80, seed=7, verbose=False).run(kills=20, max_delay=1.5)
    print(stats)
    assert stats["kills"] == 20, stats
    assert stats["checks"] == stats["runs"] + 1
    assert stats["kills_mid_write"] >= 5, stats
