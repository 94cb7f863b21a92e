"""Codebooks and coding from Python: the shared rule and bad-codebook cases, batch
apply without an archive, pickling, and the human-codings invariant."""
import json
import pathlib
import pickle
import sys

import pytest

import innsikt

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "tests" / "cases" / "rules").glob("*.toml"))
BAD = sorted(p for p in (ROOT / "tests" / "cases" / "codebooks-bad").iterdir() if p.suffix in (".toml", ".json"))


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_rule_cases(path):
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    cb = innsikt.Codebook.from_string(doc["codebook"])
    for case in doc["case"]:
        got = json.loads(cb._raw.hits_json(case["text"], case.get("context")))
        assert got == case["expect"], case["text"]


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_codebooks(path):
    expected = (path.parent / f"{path.name}.expected.txt").read_text(encoding="utf-8").rstrip("\n")
    with pytest.raises(innsikt.CodebookError) as e:
        innsikt.Codebook.from_string(path.read_text(encoding="utf-8"), "json" if path.suffix == ".json" else "toml", name=path.name)
    assert str(e.value) == expected


def test_there_are_enough_cases():
    assert len(RULES) >= 5 and len(BAD) >= 10


@pytest.fixture(scope="module")
def pd_codebook():
    return innsikt.Codebook.load(ROOT / "corpus-sample" / "codebooks" / "pd.toml")


def test_default_codebook(pd_codebook):
    codes = pd_codebook.codes().to_pandas()
    names = set(codes["name"])
    for theme in ["Forebygging og tidlig innsats", "Samhandling og kritiske overganger",
                  "Tid, ressurser og tilgjengelighet", "Ledelse og organisering"]:
        assert theme in names
    assert {"fase.innsikt", "fase.utforske", "fase.spredning", "nivaa.individ", "nivaa.gruppe",
            "nivaa.organisasjon", "provehandling"} <= set(codes["code_id"])
    assert (codes["description"].str.len() > 40).sum() >= 30


def test_apply_batch_of_plain_strings(pd_codebook):
    out = pd_codebook.apply([
        "Vi lykkes ikke med å fange opp ungdommene tidlig nok.",
        "Taushetsplikten gjorde at barnevernet og skolen ikke kunne snakke sammen.",
        "Dei tilsette i kommunen manglar tid til å byggje relasjonar med ungdomane.",
        "Ingenting her.",
    ])
    assert len(out) == 4 and out[3] == []
    assert any(c.startswith("emne.samtykke") for c in out[1])
    table = pd_codebook.apply_table(["Sommerjobb i sparebanken."]).to_pandas()
    assert {"text_index", "code_id", "rule", "start", "end", "spans"} <= set(table.columns)


def test_apply_gives_each_text_the_sorted_codes_of_its_hits_for_every_kind_of_input(sample_archive, pd_codebook):
    import pandas as pd
    import pyarrow as pa

    texts = innsikt.Project.open(sample_archive).passages().to_pandas()["text"].tolist()[:400]
    texts += ["", "Ingenting her."]
    hits = pd_codebook.apply_table(texts).to_pandas()
    want = [sorted(set(hits.loc[hits["text_index"] == i, "code_id"])) for i in range(len(texts))]
    assert sum(map(len, want)) > 100 and want[-1] == [] and want[-2] == []
    # Codes sort by id, not by their place in the codebook.
    order = pd_codebook.codes().to_pandas()["code_id"].tolist()
    assert order != sorted(order)
    for name, col in {
        "list": texts,
        "Arrow": pa.array(texts),
        "pandas": pd.Series(texts, dtype="string[pyarrow]"),
    }.items():
        assert pd_codebook.apply(col) == want, name
        assert pd_codebook.apply(col, threads=2) == want, name
    assert pd_codebook.apply([]) == []


def test_codebook_pickles(pd_codebook):
    again = pickle.loads(pickle.dumps(pd_codebook))
    assert again.id == pd_codebook.id and again.version == pd_codebook.version
    texts = ["Fast kontaktperson fra OT fulgte henne over til videregående."]
    assert again.apply(texts) == pd_codebook.apply(texts)


def test_human_codings_survive_autocoding(tmp_path, root, pd_codebook):
    p = innsikt.Project.create(tmp_path / "a")
    p.ingest([root / "corpus-sample" / "intervjuer"], progress=False)
    pid = p.passages().to_pandas().query("kind == 'turn'")["passage_id"].iloc[3]
    cid = p.code(pid, "tema.tid", coder="kari")
    p.memo("coding", cid, "Tydelig om åpningstider.", author="kari")
    before = p.codings("human").to_pandas()
    with pytest.warns(UserWarning, match="rules matched nothing in this archive"):
        r1 = p.autocode(pd_codebook, progress=False)
    with pytest.warns(UserWarning, match="rules matched nothing"):
        r2 = p.autocode(pd_codebook, progress=False)
    assert r2.replaced == r1.codings
    machine = p.codings("machine").to_pandas()
    assert len(machine) == r1.codings
    assert machine["rule"].notna().all() and (machine["spans"].str.len() > 2).all()
    after = p.codings("human").to_pandas()
    assert before.equals(after)
    assert p.uncode(cid) and len(p.codings("human")) == 0
    assert len(p.codings("machine")) == r1.codings
    # A human coding added after the run, and every machine coding, has its own id;
    # a machine coding is removed by its id like any other, and only it.
    cid2 = p.code(pid, "tema.tid", coder="kari")
    ids = p.codings().to_pandas()["coding_id"]
    assert ids.is_unique and ids.is_monotonic_increasing and cid2 == ids.max()
    gone = int(machine["coding_id"].iloc[len(machine) // 2])
    assert p.uncode(gone) and not p.uncode(gone)
    left = p.codings("machine").to_pandas()
    assert len(left) == r1.codings - 1 and gone not in set(left["coding_id"])
    assert left.drop(columns="coding_id").equals(
        machine[machine["coding_id"] != gone].drop(columns="coding_id").reset_index(drop=True)
    )


def test_analyses_on_the_sample(tmp_path, root, pd_codebook):
    p = innsikt.Project.create(tmp_path / "a")
    p.ingest([root / "corpus-sample"], metadata=root / "corpus-sample" / "metadata.csv", progress=False)
    with pytest.warns(UserWarning, match="matched nothing"):
        p.autocode(pd_codebook, progress=False)
    ct = p.crosstab(by="municipality").to_pandas().set_index("code_id")
    assert {"Kongsvinger", "Eidskog", "Grue", "Åsnes", "Nord-Odal", "Sør-Odal"} <= set(ct.columns)
    co = p.cooccurrence().to_polars()
    assert co.height == co.width - 1
    seg = p.segments("tema.samhandling", context=80).to_pandas()
    assert len(seg) > 10 and (seg["text"].str.len() > 0).all()
    n, errors = p.import_codings(root / "corpus-sample" / "codings" / "gold-marte.csv")
    assert n >= 300 and errors == []
    ag = p.agreement("marte", "auto:pd").to_pandas().set_index("code_id")
    assert {"tema.forebygging", "tema.samhandling", "tema.tid", "tema.ledelse"} <= set(ag.index)
    assert ag["kappa"].notna().all()


def test_interrupted_autocoding_keeps_the_earlier_codings(tmp_path, root, pd_codebook):
    import warnings

    p = innsikt.Project.create(tmp_path / "a")
    p.ingest([root / "corpus-sample"], metadata=root / "corpus-sample" / "metadata.csv", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.autocode(pd_codebook, progress=False)
    before = p.codings("machine").to_pandas()

    def interrupt(done, total, what):
        if done >= 1000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        p.autocode(pd_codebook, progress=interrupt)
    assert p.codings("machine").to_pandas().equals(before)
    with pytest.raises(KeyboardInterrupt):
        p.reindex(progress=lambda d, t, w: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert p.search("ungdom", limit=0).total > 100, "the index is whole after the interrupt"
