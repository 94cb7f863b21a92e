"""Innsikt: a Norwegian-aware archive of interviews and meeting notes.

    >>> import innsikt
    >>> p = innsikt.Project.create("arkiv")
    >>> rep = p.ingest(["corpus-sample/"], metadata="corpus-sample/metadata.csv")
    >>> p.search("ungdom AND municipality:Åsnes", limit=None).to_pandas()

Every table is handed over from the Rust core as Arrow, without a Python object
per row; ``.to_pandas()``, ``.to_polars()`` and ``.to_arrow()`` convert it.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _innsikt
from ._innsikt import (
    ArchiveExistsError,
    CodebookError,
    ArchiveLockedError,
    ArchiveNotFoundError,
    InnsiktError,
    InputError,
    InternalError,
    ProjectClosedError,
    QueryError,
    StorageError,
)

__version__ = _innsikt.__version__

__all__ = [
    "Project",
    "Table",
    "SearchResult",
    "IngestReport",
    "AutocodeReport",
    "Codebook",
    "CodebookError",
    "analyze",
    "InnsiktError",
    "ArchiveNotFoundError",
    "ArchiveExistsError",
    "ArchiveLockedError",
    "QueryError",
    "InputError",
    "StorageError",
    "ProjectClosedError",
    "InternalError",
]

PathLike = Union[str, "os.PathLike[str]"]
ProgressArg = Union[bool, Callable[[int, int, str], Any], None]


class Table:
    """A table from the core. Convert with ``to_pandas()``, ``to_polars()`` or ``to_arrow()``."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._raw.__arrow_c_stream__(requested_schema)

    def to_arrow(self) -> "pyarrow.Table":  # noqa: F821
        import pyarrow as pa

        return pa.table(self._raw)

    def to_pandas(self) -> "pandas.DataFrame":  # noqa: F821
        return self.to_arrow().to_pandas()

    def to_polars(self) -> "polars.DataFrame":  # noqa: F821
        import polars as pl

        # polars reads the Arrow stream itself: no pyarrow table in between.
        return pl.DataFrame(self._raw)

    @property
    def columns(self) -> List[str]:
        return list(self._raw.column_names)

    def __len__(self) -> int:
        return int(self._raw.num_rows)

    def __repr__(self) -> str:
        return f"<innsikt.{type(self).__name__}: {len(self)} rows × {len(self.columns)} columns>"

    def _repr_html_(self) -> str:
        return self.to_pandas().head(20)._repr_html_()


class SearchResult(Table):
    """Search hits in rank order, with ``total`` (all hits) and ``facets``."""

    def __init__(self, raw: Any, total: int, facets: Dict[str, List[Tuple[str, int]]]) -> None:
        super().__init__(raw)
        self.total = total
        #: facet name -> list of (value, count), over every hit, largest first
        self.facets = facets

    def facet(self, name: str) -> "pandas.DataFrame":  # noqa: F821
        """Facet counts for ``name`` as a DataFrame (value, count)."""
        import pandas as pd

        return pd.DataFrame(self.facets.get(name, []), columns=["value", "count"])


@dataclass
class IngestReport:
    """What an ingest did. ``errors`` lists (file, message); the rest was ingested."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    passages: int = 0
    errors: List[Tuple[str, str]] = field(default_factory=list)
    documents: List[Tuple[str, str]] = field(default_factory=list)


@dataclass
class AutocodeReport:
    """What an autocoding run did. ``silent_rules`` lists (code, rule) that matched nothing."""

    passages: int = 0
    codings: int = 0
    replaced: int = 0
    by_code: Dict[str, int] = field(default_factory=dict)
    silent_rules: List[Tuple[str, str]] = field(default_factory=list)


class Codebook:
    """A codebook: hierarchical codes with definitions and rules (TOML or JSON).

    Rules are compiled once; ``apply`` codes a batch of plain strings without an
    archive (for notebooks, Spark/Ray/Dask workers), ``Project.autocode`` codes an
    archive. A Codebook pickles (as its source text), so it can be sent to workers.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @classmethod
    def load(cls, path: PathLike) -> "Codebook":
        """Load a ``.toml`` or ``.json`` codebook. Raises ``CodebookError`` naming file, line, code and rule."""
        return cls(_innsikt.RawCodebook.load(os.fspath(path)))

    @classmethod
    def from_string(cls, text: str, format: str = "toml", name: Optional[str] = None) -> "Codebook":
        """Parse a codebook from text (``format`` is "toml" or "json")."""
        return cls(_innsikt.RawCodebook.parse(text, format == "json", name))

    @property
    def id(self) -> str:
        return self._raw.meta[0]

    @property
    def name(self) -> str:
        return self._raw.meta[1]

    @property
    def version(self) -> str:
        return self._raw.meta[2]

    def __repr__(self) -> str:
        return f"<innsikt.Codebook {self.id!r} {self.version}: {len(self.codes())} codes, {self._raw.rule_count} rules>"

    def __reduce__(self) -> Any:
        return (Codebook.from_string, (self._raw.source, "json" if self._raw.source.lstrip().startswith("{") else "toml"))

    def codes(self) -> Table:
        """code_id, name, parent_id, depth, description, include, exclude, examples, colour, rules."""
        return Table(self._raw.codes())

    def apply(
        self,
        texts: Sequence[str],
        metadata: Optional[Sequence[Dict[str, str]]] = None,
        threads: Optional[int] = None,
        progress: ProgressArg = False,
    ) -> List[List[str]]:
        """Code ids per text (sorted, without repeats). ``texts`` as for
        ``apply_table`` (a list of str, an Arrow column, a pandas Series).
        ``metadata`` gives one dict per text for rules scoped with ``where``; a
        field a text lacks fails an allow-list and passes a deny-list.
        ``threads``: worker threads (default one per core). Ctrl-C and
        ``progress`` as for ``apply_table``."""
        cb, bar = _progress(progress, "apply", "text")
        try:
            return self._apply(texts, metadata, threads, codes=True, progress=cb)
        finally:
            if bar is not None:
                bar.close()

    def apply_table(
        self,
        texts: Sequence[str],
        metadata: Optional[Sequence[Dict[str, str]]] = None,
        threads: Optional[int] = None,
        progress: ProgressArg = False,
    ) -> Table:
        """Every hit as a row: text_index, code_id, rule, start, end, spans (JSON, code points).

        ``texts`` is a sequence of str, or an Arrow column of strings (a polars
        Series, also Categorical, a pyarrow Array or ChunkedArray, also
        dictionary-encoded: anything with ``__arrow_c_stream__`` or
        ``__arrow_c_array__``), which is read in place without making Python
        strings; a null there is an empty text. A pandas Series of strings kept
        in Arrow (pandas 3's ``str``, ``string[pyarrow]``) is read in place too
        when no value is missing; any other pandas object, or one with a missing
        value, is read as a list, whose checks name a missing or non-str text.
        ``threads``: worker threads (default one per core, at most 8); the rows are the
        same for any number. The texts are coded and tabled a share at a time
        (16 MiB of text per thread): Ctrl-C stops the call between shares, and
        ``progress`` (True for a tqdm bar of the texts coded, or a callable
        taking done, total and what) hears of each share."""
        cb, bar = _progress(progress, "apply", "text")
        try:
            return Table(self._apply(texts, metadata, threads, codes=False, progress=cb))
        finally:
            if bar is not None:
                bar.close()

    def _apply(self, texts: Any, metadata: Any, threads: Optional[int], codes: bool, progress: Any = None) -> Any:
        md = [dict(m) for m in metadata] if metadata is not None else None
        # pandas objects keep the checks of a list (a None or a number is named,
        # not turned into an empty text by pandas' own conversion), except a
        # Series of strings that pandas keeps in Arrow and that misses none:
        # that one is read in place.
        is_pandas = type(texts).__module__.split(".")[0] == "pandas"
        if is_pandas:
            arrow = _pandas_arrow_strings(texts)
            if arrow is not None:
                return self._raw.apply_arrow(arrow, md, threads, codes, progress)
        elif hasattr(texts, "__arrow_c_stream__") or hasattr(texts, "__arrow_c_array__"):
            return self._raw.apply_arrow(texts, md, threads, codes, progress)
        # A list goes as it is: the core holds each of its strings itself.
        return self._raw.apply(texts if type(texts) is list else list(texts), md, threads, codes, progress)


def _pandas_arrow_strings(texts: Any) -> Any:
    """The Arrow array under a pandas Series of strings kept in Arrow (the ``str``
    dtype of pandas 3, ``string[pyarrow]``, an ``ArrowDtype`` of strings), when no
    value is missing; otherwise None. Iterating such a Series makes a Python
    string per row, which took longer than coding them."""
    dtype = getattr(texts, "dtype", None)
    storage = getattr(dtype, "storage", None)
    arrow_type = getattr(dtype, "pyarrow_dtype", None)
    is_arrow = (type(dtype).__name__ == "StringDtype" and storage == "pyarrow") or (
        type(dtype).__name__ == "ArrowDtype" and str(arrow_type) in ("string", "large_string", "string_view")
    )
    array = getattr(texts, "array", None)
    if not is_arrow or not hasattr(array, "__arrow_array__") or texts.hasnans:
        return None
    return array.__arrow_array__()


def _progress(
    progress: ProgressArg, desc: str, unit: str
) -> Tuple[Optional[Callable[[int, int, str], None]], Any]:
    """A tqdm bar counting ``unit`` (files for ingest, texts for ``apply_table``,
    passages for the rest), or the caller's callable, or none."""
    if progress is None or progress is False:
        return None, None
    if callable(progress):
        return progress, None
    from tqdm.auto import tqdm

    bar = tqdm(total=0, desc=desc, unit=unit)

    def update(done: int, total: int, what: str) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        # The file being read; a step's own name would only repeat ``desc``.
        if what and what != desc:
            bar.set_postfix_str(what[-40:], refresh=False)
        bar.refresh()

    return update, bar


class Project:
    """An Innsikt archive: a directory with the record of truth and its search index.

    Close it with ``close()``, or open it in a ``with`` block, to release its
    files at a known point; otherwise they are released when the project is
    garbage-collected."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        for note in raw.notes:
            warnings.warn(note, stacklevel=3)

    @classmethod
    def create(cls, path: PathLike) -> "Project":
        """Create a new archive at ``path`` (a new or empty directory)."""
        return cls(_innsikt.RawProject.create(os.fspath(path)))

    @classmethod
    def open(cls, path: PathLike) -> "Project":
        """Open an existing archive. Raises ``ArchiveNotFoundError`` if there is none."""
        return cls(_innsikt.RawProject.open(os.fspath(path)))

    @property
    def root(self) -> str:
        return os.fspath(self._raw.root)

    def close(self) -> None:
        """Finish the store's pending work and close the archive's files, without
        holding the GIL. Closing twice does nothing; any other call on a closed
        project raises ``ProjectClosedError``."""
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<innsikt.Project {self.root!r}: closed>"
        docs, passages = self._raw.counts()
        return f"<innsikt.Project {self.root!r}: {docs} documents, {passages} passages>"

    def ingest(
        self,
        paths: Union[PathLike, Sequence[PathLike]],
        metadata: Optional[PathLike] = None,
        progress: ProgressArg = True,
        on_saved: Optional[Callable[[List[str]], Any]] = None,
    ) -> IngestReport:
        """Ingest files and folders (.txt, .md, .docx, .vtt, .srt).

        ``metadata`` is a CSV sidecar with a ``file`` column (paths relative to the CSV).
        Unchanged files are skipped, changed files replace their document, and files
        that cannot be read are listed in ``errors`` while the rest is ingested.
        ``progress`` is True for a tqdm bar, False for none, or a callable
        ``(done, total, current_file)``. Ctrl-C stops after the current batch is saved.
        ``on_saved`` is called with the keys of each batch of documents once it is
        committed (from then on they survive a crash).
        """
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        cb, bar = _progress(progress, "ingest", "file")
        seen = len(self._raw.notes)
        try:
            d = self._raw.ingest(
                [os.fspath(p) for p in paths],
                os.fspath(metadata) if metadata is not None else None,
                cb,
                on_saved,
            )
        finally:
            if bar is not None:
                bar.close()
        # An index found stale under the write lock is rebuilt first; say so.
        for note in self._raw.notes[seen:]:
            warnings.warn(note, stacklevel=2)
        return IngestReport(**d)

    def reindex(self, progress: ProgressArg = True) -> int:
        """Rebuild the search index from the store; returns the number of passages."""
        cb, bar = _progress(progress, "reindex", "passage")
        try:
            return int(self._raw.reindex(cb))
        finally:
            if bar is not None:
                bar.close()

    def documents(self) -> Table:
        """One row per document, with its metadata columns."""
        return Table(self._raw.documents())

    def passages(self) -> Table:
        """Every passage: passage_id, document_id, speaker, start, end, text, metadata, …"""
        return Table(self._raw.passages())

    def search(self, query: str, limit: Optional[int] = 20) -> SearchResult:
        """Search passages; ``limit=None`` returns every hit. See the query language in the README."""
        raw, total, facets = self._raw.search(query, limit)
        return SearchResult(raw, total, dict(facets))

    def kwic(self, query: str, width: int = 40, limit: Optional[int] = None) -> Table:
        """Keyword-in-context lines for every matching word: left, keyword, right."""
        return Table(self._raw.kwic(query, width, limit))

    def document_text(self, document_id: str) -> Optional[str]:
        """The full text of a document (offsets in tables index into it)."""
        return self._raw.document_text(document_id)

    # --- coding -----------------------------------------------------------------

    def autocode(
        self, codebook: Union[Codebook, PathLike], progress: ProgressArg = True, threads: Optional[int] = None
    ) -> AutocodeReport:
        """Code every passage with ``codebook`` (the machine coder ``auto:<codebook id>``).

        Replaces this codebook's earlier machine codings; human codings are never
        touched. Every coding records the rule that fired and the spans it matched.
        The run is one transaction: its codings appear together when it ends, and
        an error or Ctrl-C leaves the earlier ones as they were. Memory stays at a
        few batches of passages whatever the archive's size.
        ``threads``: matching threads (default one per core, at most 8); the codings
        are the same for any number.
        """
        if not isinstance(codebook, Codebook):
            codebook = Codebook.load(codebook)
        cb, bar = _progress(progress, "autocode", "passage")
        try:
            d = self._raw.autocode(codebook._raw, cb, threads)
        finally:
            if bar is not None:
                bar.close()
        d["by_code"] = dict(d["by_code"])
        report = AutocodeReport(**d)
        if report.silent_rules:
            import warnings

            listed = ", ".join(f"{code}/{rule}" for code, rule in report.silent_rules[:10])
            more = "" if len(report.silent_rules) <= 10 else f" and {len(report.silent_rules) - 10} more"
            warnings.warn(f"{len(report.silent_rules)} rules matched nothing in this archive: {listed}{more}", stacklevel=2)
        return report

    def code(
        self, passage_id: str, code_id: str, coder: str, start: Optional[int] = None, end: Optional[int] = None
    ) -> int:
        """Add a human coding on a whole passage or on ``start:end`` (document offsets). Returns its id."""
        return int(self._raw.code(passage_id, code_id, coder, start, end))

    def uncode(self, coding_id: int) -> bool:
        """Remove a coding by id."""
        return bool(self._raw.uncode(int(coding_id)))

    def import_codings(self, path: PathLike) -> Tuple[int, List[Tuple[str, str]]]:
        """Import human codings from CSV (passage_id, coder, code_id or codes, optional start/end)."""
        n, errors = self._raw.import_codings(os.fspath(path))
        return int(n), list(errors)

    def memo(self, target_kind: str, target_id: str, text: str, author: str) -> int:
        """Attach a memo to a "document", "passage", "code" or "coding"."""
        return int(self._raw.memo(target_kind, str(target_id), author, text))

    def memos(self) -> Table:
        return Table(self._raw.memos())

    def codings(self, coder: Optional[str] = None) -> Table:
        """Every coding: passage_id, document_id, code_id, start, end, coder, kind, rule, codebook version, metadata.

        ``coder`` filters by name, or "machine" / "human". Text columns arrive as
        Arrow string views (``pa.string_view()``), which polars takes over without
        copying; pandas gets ordinary string columns.
        """
        return Table(self._raw.codings(coder))

    def crosstab(self, by: str = "municipality", coder: Optional[str] = None) -> Table:
        """Coded passages per code (rows) and value of ``by`` (columns): any metadata field, or speaker_role."""
        return Table(self._raw.crosstab(by, coder))

    def cooccurrence(self, coder: Optional[str] = None) -> Table:
        """Passages coded with both codes, code × code (the diagonal counts each code)."""
        return Table(self._raw.cooccurrence(coder))

    def segments(self, code_id: Optional[str] = None, coder: Optional[str] = None, context: int = 200) -> Table:
        """Coded segments (a code and its sub-codes) with ``context`` characters before and after."""
        return Table(self._raw.segments(code_id, coder, context))

    def agreement(self, a: str, b: str, passages: Optional[Iterable[str]] = None) -> Table:
        """Per code of coder ``a``: precision and recall of ``b`` against ``a``, percent agreement, Cohen's kappa.

        ``passages`` is the set both were to code (default: the passages ``a`` coded).
        """
        return Table(self._raw.agreement(a, b, list(passages) if passages is not None else None))

    def codebook_versions(self) -> List[Tuple[str, str, str, str]]:
        """(codebook id, version, name, first used) for every version that produced codings."""
        return list(self._raw.codebook_versions())


def analyze(text: str) -> List[Tuple[str, List[str]]]:
    """The index terms the Norwegian analyzer gives each word of ``text``.

    Each word's own terms (its lemma, or its compound parts joined) come first,
    then the terms for its compound parts, which only the index side emits.
    """
    return [(w, full + parts) for w, full, parts in _innsikt.analyze(text)]
