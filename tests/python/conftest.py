import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory):
    import innsikt

    path = tmp_path_factory.mktemp("sample") / "arkiv"
    p = innsikt.Project.create(path)
    rep = p.ingest([ROOT / "corpus-sample"], metadata=ROOT / "corpus-sample" / "metadata.csv", progress=False)
    assert rep.errors == []
    return path
