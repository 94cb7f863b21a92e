"""The Python API: archive life cycle, tables as pandas and polars, search,
KWIC, progress, errors as exceptions (never a crash)."""
import json
import shutil

import pandas as pd
import polars as pl
import pytest

import innsikt


def small_files(tmp_path, n, line):
    """A folder of `n` one-line text files, `line` formatted with each file's number."""
    files = tmp_path / "files"
    files.mkdir()
    for i in range(n):
        (files / f"f{i:02d}.txt").write_text(line.format(i=i) + "\n", encoding="utf-8")
    return files


def test_tables_reach_pandas_and_polars(sample_archive):
    p = innsikt.Project.open(sample_archive)
    docs = p.documents().to_pandas()
    assert len(docs) >= 16
    assert {"document_id", "municipality", "date", "document_type", "participant_role", "access_level"} <= set(docs.columns)
    assert set(docs["municipality"]) >= {"Kongsvinger", "Eidskog", "Grue", "Åsnes", "Nord-Odal", "Sør-Odal"}
    passages = p.passages()
    pdf = passages.to_pandas()
    pldf = passages.to_polars()
    assert isinstance(pdf, pd.DataFrame) and isinstance(pldf, pl.DataFrame)
    assert len(pdf) == pldf.height > 1000
    assert {"passage_id", "document_id", "speaker", "start", "end", "text"} <= set(pdf.columns)
    assert pdf["passage_id"].is_unique


def test_search_semantics_and_facets(sample_archive):
    p = innsikt.Project.open(sample_archive)
    res = p.search("ungdom AND municipality:Åsnes", limit=None)
    df = res.to_pandas()
    assert res.total == len(df) > 10
    assert set(df["municipality"]) == {"Åsnes"}
    assert dict(res.facets["municipality"]) == {"Åsnes": res.total}
    assert "<b>" in df["snippet"].iloc[0]
    top = p.search("ungdom", limit=5)
    assert len(top) == 5 and top.total > 100
    assert p.search("barnevern AND NOT skole", limit=None).total < p.search("barnevern", limit=None).total
    assert p.search('"fast kontaktperson"', limit=None).total >= 5
    roles = res.facet("speaker_role")
    assert list(roles.columns) == ["value", "count"]


def test_kwic(sample_archive):
    p = innsikt.Project.open(sample_archive)
    k = p.kwic("samarbeid", width=30).to_pandas()
    assert len(k) > 20
    assert k["keyword"].str.lower().str.startswith("samarbeid").mean() > 0.5
    assert (k["left"].str.len() <= 30).all()


def test_reingest_is_a_no_op(sample_archive, root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sample_archive, copy)
    p = innsikt.Project.open(copy)
    rep = p.ingest([root / "corpus-sample"], metadata=root / "corpus-sample" / "metadata.csv", progress=False)
    assert (rep.added, rep.updated) == (0, 0) and rep.unchanged >= 16


def test_progress_callback_and_errors_in_batch(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    (files / "ok.txt").write_text("Første avsnitt om ungdomsrådet.\n", encoding="utf-8")
    (files / "bad.vtt").write_text("not a vtt file\n", encoding="utf-8")
    (files / "tom.txt").write_bytes(b"")
    calls = []
    p = innsikt.Project.create(tmp_path / "a")
    rep = p.ingest([files], progress=lambda done, total, what: calls.append((done, total, what)))
    assert rep.added == 1
    assert {e[0].split("/")[-1] for e in rep.errors} == {"bad.vtt", "tom.txt"}
    assert any("line 1" in msg and "WEBVTT" in msg for _, msg in rep.errors)
    assert calls[-1][0] == calls[-1][1] == 3


def test_progress_bars_count_files_for_ingest_and_passages_for_autocode(tmp_path, monkeypatch, root):
    # The autocode bar used to say "file/s" while it counted passages.
    import tqdm.auto

    bars = []

    class Recorder:
        def __init__(self, total, desc, unit):
            self.total, self.desc, self.unit, self.n, self.postfix = total, desc, unit, 0, []
            bars.append(self)

        def set_postfix_str(self, s, refresh=True):
            self.postfix.append(s)

        def refresh(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    p = innsikt.Project.create(tmp_path / "a")
    p.ingest([root / "corpus-sample"], metadata=root / "corpus-sample" / "metadata.csv")
    with pytest.warns(UserWarning, match="matched nothing"):
        p.autocode(root / "corpus-sample" / "codebooks" / "pd.toml")
    passages = len(p.passages())
    p.reindex()
    ingest, autocode, reindex = bars
    assert (ingest.desc, ingest.unit) == ("ingest", "file")
    assert ingest.n == ingest.total > 1
    assert any(s.endswith((".txt", ".vtt", ".docx", ".srt", ".md")) for s in ingest.postfix)
    for bar, desc in ((autocode, "autocode"), (reindex, "reindex")):
        assert (bar.desc, bar.unit) == (desc, "passage")
        assert bar.n == bar.total == passages
        assert bar.postfix == []
    # apply_table shows no bar unless asked; asked, it counts texts.
    cb = innsikt.Codebook.load(root / "corpus-sample" / "codebooks" / "pd.toml")
    texts = p.passages().to_pandas()["text"].tolist()
    cb.apply_table(texts)
    assert len(bars) == 3
    cb.apply_table(texts, progress=True)
    apply = bars[3]
    assert (apply.desc, apply.unit) == ("apply", "text")
    assert apply.n == apply.total == len(texts)


def test_apply_table_hears_of_each_share_and_stops_on_ctrl_c():
    job = innsikt.Codebook.from_string(
        'format = 1\n[codebook]\nid = "j"\nversion = "1"\n'
        '[[code]]\nid = "jobb"\nname = "Jobb"\n  [[code.rule]]\n  query = "sommerjobb"\n'
    )
    # Two shares of 16 MiB and a bit on one thread; æ makes the strs Latin-1.
    text = "Læreren ga ham en sommerjobb i banken, og det gikk bra. " * 16
    texts = [text] * ((36 << 20) // len(text.encode("utf-8")))
    heard = []
    got = job.apply_table(texts, threads=1, progress=lambda d, t, w: heard.append((d, t, w)))
    assert len(got) == len(texts)  # one row per text, its 16 spans in it
    assert len(heard) == 3 and heard[-1] == (len(texts), len(texts), "apply")
    assert [d for d, _, _ in heard] == sorted(d for d, _, _ in heard)

    def interrupt(done, total, what):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.apply_table(texts, threads=1, progress=interrupt)
    # A callback's own error is raised as it is.
    with pytest.raises(ZeroDivisionError):
        job.apply_table(texts, threads=1, progress=lambda d, t, w: 1 / 0)
    # apply, each text's codes, alike.
    heard.clear()
    assert job.apply(texts, threads=1, progress=lambda d, t, w: heard.append(d)) == [["jobb"]] * len(texts)
    assert heard[-1] == len(texts) and len(heard) == 3
    with pytest.raises(KeyboardInterrupt):
        job.apply(texts, threads=1, progress=interrupt)


def test_exception_hierarchy(tmp_path, sample_archive):
    with pytest.raises(innsikt.ArchiveNotFoundError):
        innsikt.Project.open(tmp_path / "nothing")
    innsikt.Project.create(tmp_path / "x")
    with pytest.raises(innsikt.ArchiveExistsError):
        innsikt.Project.create(tmp_path / "x")
    p = innsikt.Project.open(sample_archive)
    with pytest.raises(innsikt.QueryError, match="character"):
        p.search("(ungdom AND")
    for cls in (innsikt.ArchiveNotFoundError, innsikt.ArchiveLockedError, innsikt.QueryError, innsikt.InternalError):
        assert issubclass(cls, innsikt.InnsiktError)


def test_locked_archive(tmp_path):
    import fcntl

    p = innsikt.Project.create(tmp_path / "a")
    (tmp_path / "f.txt").write_text("Ungdom.\n", encoding="utf-8")
    with open(tmp_path / "a" / "write.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("4242")
        f.flush()
        with pytest.raises(innsikt.ArchiveLockedError, match="4242"):
            p.ingest([tmp_path / "f.txt"], progress=False)
    assert p.ingest([tmp_path / "f.txt"], progress=False).added == 1


def test_an_index_left_behind_the_store_is_rebuilt_by_the_next_ingest(tmp_path):
    """Opened while another process holds the write lock, a lost index cannot be
    rebuilt; the next ingest rebuilds it before adding to it, and says so."""
    import fcntl
    import shutil

    (tmp_path / "f.txt").write_text("Ungdommen trenger en trygg voksen.\n", encoding="utf-8")
    (tmp_path / "g.txt").write_text("Ungdomsrådet møtes i kveld.\n", encoding="utf-8")
    p = innsikt.Project.create(tmp_path / "a")
    p.ingest([tmp_path / "f.txt"], progress=False)
    del p
    shutil.rmtree(tmp_path / "a" / "index")
    with open(tmp_path / "a" / "write.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p = innsikt.Project.open(tmp_path / "a")
    assert p.search("ungdom").total == 0
    with pytest.warns(UserWarning, match="behind the store"):
        assert p.ingest([tmp_path / "g.txt"], progress=False).added == 1
    assert p.search("ungdom").total == 2


def test_a_rust_panic_becomes_an_exception():
    from innsikt import _innsikt

    with pytest.raises(innsikt.InternalError, match="deliberate test panic"):
        _innsikt._panic_for_test()


def test_analyze_exposes_the_analyzer():
    terms = dict(innsikt.analyze("ungdomsrådet tenestene"))
    assert "ungdom" in terms["ungdomsrådet"]
    assert "tjeneste" in terms["tenestene"]


def test_interrupt_during_ingest_keeps_the_archive_consistent(tmp_path):
    files = small_files(tmp_path, 5, "Avsnitt nummer {i} om ungdomsrådet.")
    p = innsikt.Project.create(tmp_path / "a")

    def stop_after_two(done, total, what):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        p.ingest([files], progress=stop_after_two)
    q = innsikt.Project.open(tmp_path / "a")
    docs = len(q.documents())
    assert docs == 2, "the files read before the interrupt are saved, nothing half-written"
    assert q.search("ungdomsråd", limit=None).total == docs
    rep = q.ingest([files], progress=False)
    assert (rep.added, rep.unchanged) == (3, 2)


def test_sidecar_problems_name_file_and_line(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.txt").write_text("Tekst om skulen.\n", encoding="utf-8")
    (files / "meta.csv").write_text(
        "file;municipality;date\na.txt;Grue;2022-01-01\nb.txt;Grue;2022-01-02\nc.txt;Grue;2022;ekstra\n",
        encoding="utf-8",
    )
    p = innsikt.Project.create(tmp_path / "a")
    rep = p.ingest([files / "a.txt"], metadata=files / "meta.csv", progress=False)
    assert rep.added == 1
    msgs = dict(rep.errors)
    assert any(k.endswith("meta.csv:3") and "no such file" in v for k, v in msgs.items()), msgs
    assert any(k.endswith("meta.csv:4") for k in msgs), msgs
    assert p.documents().to_pandas()["municipality"].tolist() == ["Grue"]
    with pytest.raises(innsikt.InputError, match="no 'file' column"):
        bad = files / "bad.csv"
        bad.write_text("name,municipality\na.txt,Grue\n", encoding="utf-8")
        p.ingest([files / "a.txt"], metadata=bad, progress=False)


def test_threads_change_speed_not_results(sample_archive, root, tmp_path):
    p = innsikt.Project.open(sample_archive)
    texts = p.passages().to_pandas()["text"].tolist()
    assert len(texts) > 1000
    cb = innsikt.Codebook.load(root / "corpus-sample" / "codebooks" / "pd.toml")
    one = cb.apply_table(texts, threads=1).to_pandas()
    two = cb.apply_table(texts, threads=2).to_pandas()
    assert len(one) > 0
    pd.testing.assert_frame_equal(one, two)
    assert cb.apply(texts[:50], threads=3) == cb.apply(texts[:50])
    with pytest.raises(innsikt.InputError, match="threads must be at least 1"):
        cb.apply_table(texts, threads=0)
    # Texts are read in place whatever their storage (ASCII, Latin-1, UCS-2, UCS-4);
    # offsets are code points; a text that is not a str is named.
    job = innsikt.Codebook.from_string(
        'format = 1\n[codebook]\nid = "j"\nversion = "1"\n'
        '[[code]]\nid = "jobb"\nname = "Jobb"\n  [[code.rule]]\n  query = "sommerjobb"\n'
    )
    mixed = ["sommerjobb", "Læreren ga ham sommerjobb.", "Ŧ sommerjobb", "🙂 sommerjobb i banken"]
    got = job.apply_table(mixed).to_pandas()
    assert got["text_index"].tolist() == [0, 1, 2, 3]
    assert got["start"].tolist() == [0, 15, 2, 2]
    assert got["spans"].tolist() == ["[[0,10]]", "[[15,25]]", "[[2,12]]", "[[2,12]]"]
    with pytest.raises(innsikt.InputError, match="text 1 is not a str but int"):
        job.apply_table(["ok", 7, "ok"])
    with pytest.raises(innsikt.InputError, match="text 2 is not valid unicode"):
        job.apply_table(["ok", "ok", "lone \ud800 surrogate"])
    # Autocoding on one thread and on two gives the same codings.
    arch = tmp_path / "copy"
    shutil.copytree(sample_archive, arch)
    q = innsikt.Project.open(arch)
    cols = ["passage_id", "code_id", "start", "end", "spans", "rule"]
    # The sample holds no passage for a few of the PD rules; both runs say which.
    silent = "3 rules matched nothing in this archive: fase.spredning/spre-praksis"
    with pytest.warns(UserWarning, match=silent):
        q.autocode(cb, progress=False, threads=1)
    a = q.codings("machine").to_polars().select(cols)
    with pytest.warns(UserWarning, match=silent):
        q.autocode(cb, progress=False, threads=2)
    b = q.codings("machine").to_polars().select(cols)
    assert a.height > 0 and a.equals(b)


def test_strs_of_every_storage_are_coded_as_their_utf8_and_left_as_they_were():
    import sys

    import pyarrow as pa

    job = innsikt.Codebook.from_string(
        'format = 1\n[codebook]\nid = "j"\nversion = "1"\n'
        '[[code]]\nid = "jobb"\nname = "Jobb"\n  [[code.rule]]\n  query = "sommerjobb OR lærer"\n'
    )

    class Note(str):
        pass

    # Long enough for the eight- and sixteen-unit runs of ASCII, with letters
    # beyond it at every place in such a run: CPython keeps these as ASCII,
    # Latin-1, UCS-2 (– is U+2013) and UCS-4 (🙂), and the subclass as its own object.
    base = "Læreren sa at sommerjobb i banken er en god start for de unge"
    texts = ["plain ascii sommerjobb text for the test"]
    texts += [base[:k] + "æ" + base[k:] for k in range(0, 40, 3)]
    texts += [base[:k] + "–" + base[k:] for k in range(0, 40, 5)]
    texts += [base[:k] + "🙂" + base[k:] for k in range(0, 40, 7)]
    texts += [Note(base + " – notat"), "", "æ", "–", "🙂"]
    sizes = [sys.getsizeof(t) for t in texts]
    got = job.apply_table(texts, threads=1).to_pandas()
    # No UTF-8 copy was made and kept with the strings (pyarrow, below, keeps one).
    assert [sys.getsizeof(t) for t in texts] == sizes
    want = job.apply_table(pa.array([str(t) for t in texts]), threads=1).to_pandas()
    assert got["text_index"].nunique() > 20
    pd.testing.assert_frame_equal(got, want)
    # A list is read as it is, not copied, and left as it was; a tuple or a
    # generator is read through a list of its own.
    before = list(texts)
    pd.testing.assert_frame_equal(job.apply_table(tuple(texts), threads=1).to_pandas(), got)
    pd.testing.assert_frame_equal(job.apply_table((t for t in texts), threads=1).to_pandas(), got)
    assert texts == before and all(a is b for a, b in zip(texts, before))
    # The offsets are code points of the text as Python has it.
    for row in got.itertuples():
        for a, b in json.loads(row.spans):
            text = texts[row.text_index]
            assert text[a:b].lower().startswith(("sommerjobb", "lærer")), (row, a, b)
            assert not text[a - 1 : a].isalnum() and not text[b : b + 1].isalnum(), (row, a, b)
    with pytest.raises(innsikt.InputError, match="text 1 is not valid unicode: a lone surrogate, U\\+DC00, at character 3"):
        job.apply_table(["ok", "🙂 x\udc00", "ok"])
    with pytest.raises(innsikt.InputError, match="text 0 is not valid unicode: a lone surrogate, U\\+D83D, at character 2"):
        job.apply_table(["– \ud83d\ude42"])


def test_arrow_columns_are_coded_in_place_like_lists_of_str(sample_archive, root):
    import pyarrow as pa

    p = innsikt.Project.open(sample_archive)
    passages = p.passages().to_polars()
    texts = passages["text"].to_list()
    cb = innsikt.Codebook.load(root / "corpus-sample" / "codebooks" / "pd.toml")
    want = cb.apply_table(texts).to_pandas()
    assert len(want) > 0
    half = len(texts) // 2
    columns = {
        "polars Series": passages["text"],
        "pyarrow string": pa.array(texts, pa.string()),
        "pyarrow large_string": pa.array(texts, pa.large_string()),
        "pyarrow string_view": pa.array(texts, pa.string_view()),
        "pyarrow chunked": pa.chunked_array([texts[:half], texts[half:]]),
        "sliced": pa.array(["x"] + texts, pa.string()).slice(1),
    }
    # A pandas Series of strings kept in Arrow, missing none, is read in place;
    # any other pandas Series goes the way of a list.
    in_place = {
        "pandas string[pyarrow]": pd.Series(texts, dtype="string[pyarrow]"),
        "pandas ArrowDtype": pd.Series(texts, dtype=pd.ArrowDtype(pa.large_string())),
        "pandas sliced": pd.Series(["x"] + texts, dtype="string[pyarrow]").iloc[1:],
    }
    as_list = {
        "pandas object": pd.Series(texts, dtype=object),
        "pandas string[python]": pd.Series(texts, dtype="string[python]"),
    }
    for name, col in in_place.items():
        assert innsikt._pandas_arrow_strings(col) is not None, name
    for name, col in as_list.items():
        assert innsikt._pandas_arrow_strings(col) is None, name
    missing = pd.Series(["sommerjobb", None], dtype="string[pyarrow]")
    assert innsikt._pandas_arrow_strings(missing) is None
    for name, col in {**columns, **in_place, **as_list}.items():
        got = cb.apply_table(col).to_pandas()
        pd.testing.assert_frame_equal(got, want, obj=name)
    # Offsets are code points, as for str; a null is an empty text, counted.
    job = innsikt.Codebook.from_string(
        'format = 1\n[codebook]\nid = "j"\nversion = "1"\n'
        '[[code]]\nid = "jobb"\nname = "Jobb"\n  [[code.rule]]\n  query = "sommerjobb"\n'
    )
    mixed = pl.Series(["Læreren ga ham sommerjobb.", None, "🙂 sommerjobb i banken"])
    got = job.apply_table(mixed).to_pandas()
    assert got["text_index"].tolist() == [0, 2]
    assert got["spans"].tolist() == ["[[15,25]]", "[[2,12]]"]
    with pytest.raises(innsikt.InputError, match="texts: an Arrow column of Int64, not of strings"):
        job.apply_table(pa.array([1, 2, 3]))
    with pytest.raises(innsikt.InputError, match="contexts must have one entry per text"):
        job.apply_table(mixed, metadata=[{}])
    # Dictionary-encoded columns are read through their dictionary.
    cats = mixed.cast(pl.Categorical)
    assert job.apply_table(cats).to_pandas().equals(got)
    dict_arr = pa.array(["Læreren ga ham sommerjobb.", None, "🙂 sommerjobb i banken"]).dictionary_encode()
    assert job.apply_table(dict_arr).to_pandas().equals(got)
    # pandas keeps the checks of a list: a missing text is named, not made empty.
    with pytest.raises(innsikt.InputError, match="text 1 is not a str"):
        job.apply_table(pd.Series(["sommerjobb", None]))
    with pytest.raises(innsikt.InputError, match="text 1 is not a str"):
        job.apply_table(pd.Series(["sommerjobb", None], dtype="string[pyarrow]"))
    assert job.apply_table(pd.Series(["Læreren ga ham sommerjobb."])).to_pandas()["spans"].tolist() == ["[[15,25]]"]
    # The producer is not trusted: invalid UTF-8 in a string column is refused.
    broken = pa.array([b"sommerjobb", b"\xff sommerjobb"], pa.binary()).view(pa.string())
    with pytest.raises(innsikt.InputError, match="texts: .*(utf-8|UTF-8|utf8)"):
        job.apply_table(broken)



def test_arrow_columns_with_broken_text_or_offsets_are_refused_naming_the_text():
    import pyarrow as pa

    job = innsikt.Codebook.from_string(
        'format = 1\n[codebook]\nid = "j"\nversion = "1"\n'
        '[[code]]\nid = "jobb"\nname = "Jobb"\n  [[code.rule]]\n  query = "sommerjobb"\n'
    )

    def offsets(*values):
        return pa.py_buffer(b"".join(v.to_bytes(4, "little") for v in values))

    cases = {
        "string": (
            pa.array([b"sommerjobb", b"\xff sommerjobb"], pa.binary()).view(pa.string()),
            "text 1 is not valid UTF-8",
        ),
        "large_string": (
            pa.array([b"sommerjobb", b"ok", b"sommer\xc3jobb"], pa.large_binary()).view(pa.large_string()),
            "text 2 is not valid UTF-8",
        ),
        "string_view": (
            pa.array([b"sommerjobb", b"en lang sommerjobb \xff i banken"], pa.binary_view()).view(pa.string_view()),
            "text 1 is not valid UTF-8",
        ),
        "string_view, inline": (
            pa.array([b"sommerjobb", b"\xffkort"], pa.binary_view()).view(pa.string_view()),
            "text 1 is not valid UTF-8",
        ),
        # Every byte is valid UTF-8 together, but text 1 starts inside "æ".
        "offset inside a character": (
            pa.Array.from_buffers(pa.string(), 2, [None, offsets(0, 1, 3), pa.py_buffer("æx".encode())]),
            "text 1 does not begin on a UTF-8 character",
        ),
        "offsets that fall back": (
            pa.Array.from_buffers(pa.string(), 2, [None, offsets(0, 3, 1), pa.py_buffer(b"abc")]),
            "offset 1 is out of order",
        ),
        "an offset past the values": (
            pa.Array.from_buffers(pa.string(), 2, [None, offsets(0, 9, 3), pa.py_buffer(b"abc")]),
            "offset 1 is out of order",
        ),
    }
    for name, (col, message) in cases.items():
        with pytest.raises(innsikt.InputError, match=f"^texts: {message}") as e:
            job.apply_table(col)
        assert name and e.value
    # Valid columns of each kind, sliced and empty, still read.
    ok = pa.array(["æ sommerjobb", "", None, "sommerjobb i «banken»"])
    for col in [ok, ok.cast(pa.large_string()), ok.cast(pa.string_view()), ok.slice(1), ok.slice(4)]:
        got = job.apply_table(col).to_pandas()
        assert len(got) == sum(1 for t in col.to_pylist() if t and "sommerjobb" in t)


@pytest.mark.filterwarnings("ignore:.*rules matched nothing")
def test_a_closed_project_refuses_calls_and_its_archive_reopens_whole(tmp_path, monkeypatch, root):
    # A few pages start the store's checkpoint thread, which closing waits for.
    monkeypatch.setenv("INNSIKT_CHECKPOINT_PAGES", "4")
    cb = innsikt.Codebook.load(root / "corpus-sample" / "codebooks" / "pd.toml")
    with innsikt.Project.create(tmp_path / "a") as p:
        assert not p.closed
        rep = p.ingest([root / "corpus-sample"], progress=False)
        codings = p.autocode(cb, progress=False).codings
        counts = p._raw.counts()
    assert p.closed
    assert "closed" in repr(p)
    for call in (lambda: p.search("ungdom"), lambda: p.codings(), lambda: p.autocode(cb, progress=False)):
        with pytest.raises(innsikt.ProjectClosedError, match=f"{tmp_path / 'a'}.* is closed"):
            call()
    p.close()  # again: nothing
    assert issubclass(innsikt.ProjectClosedError, innsikt.InnsiktError)
    q = innsikt.Project.open(tmp_path / "a")
    assert q._raw.counts() == counts and counts[0] == rep.added
    assert len(q.codings()) == codings > 0


def test_close_waits_for_a_call_under_way_on_another_thread(tmp_path):
    import threading
    import time

    files = small_files(tmp_path, 60, "Ungdommene i kommune {i} snakket om skolen.")
    p = innsikt.Project.create(tmp_path / "a")
    started = threading.Event()
    out = {}

    def progress(done, total, what):
        # Needs the GIL at every file: close() must not hold it while it waits.
        started.set()
        time.sleep(0.005)

    def ingest():
        out["rep"] = p.ingest([files], progress=progress)

    t = threading.Thread(target=ingest)
    t.start()
    assert started.wait(30)
    p.close()
    t.join(30)
    assert not t.is_alive()
    assert out["rep"].added == 60 and p.closed
    assert innsikt.Project.open(tmp_path / "a").search("ungdom").total == 60
