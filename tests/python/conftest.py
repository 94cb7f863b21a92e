import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def bench_script():
    """Loads a script of bench/ (`bench_script("compare")`) as a module, without
    putting bench/ on the import path."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory):
    import innsikt

    path = tmp_path_factory.mktemp("sample") / "arkiv"
    p = innsikt.Project.create(path)
    rep = p.ingest([ROOT / "corpus-sample"], metadata=ROOT / "corpus-sample" / "metadata.csv", progress=False)
    assert rep.errors == []
    return path
