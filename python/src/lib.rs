//! Python bindings for the Innsikt core: the `innsikt._innsikt` extension module.
//!
//! Thin by design: each method releases the GIL, runs one batch call on the core,
//! catches panics, maps errors to the exception hierarchy and hands tables over
//! through the Arrow C stream interface. The Python package wraps these.

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchIterator};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList, PyString};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

pyo3::create_exception!(
    _innsikt,
    InnsiktError,
    PyException,
    "Base class of all Innsikt errors."
);
pyo3::create_exception!(
    _innsikt,
    CodebookError,
    InnsiktError,
    "A codebook cannot be loaded (the message names file, line, code and rule)."
);
pyo3::create_exception!(
    _innsikt,
    ArchiveNotFoundError,
    InnsiktError,
    "No archive at the given path."
);
pyo3::create_exception!(
    _innsikt,
    ArchiveExistsError,
    InnsiktError,
    "An archive already exists there."
);
pyo3::create_exception!(
    _innsikt,
    ArchiveLockedError,
    InnsiktError,
    "Another process is writing to the archive."
);
pyo3::create_exception!(
    _innsikt,
    QueryError,
    InnsiktError,
    "The query cannot be parsed or run."
);
pyo3::create_exception!(
    _innsikt,
    InputError,
    InnsiktError,
    "An input file or sidecar cannot be read."
);
pyo3::create_exception!(
    _innsikt,
    StorageError,
    InnsiktError,
    "The store or index failed."
);
pyo3::create_exception!(
    _innsikt,
    ProjectClosedError,
    InnsiktError,
    "The project was closed (`Project.close`, or the end of its `with` block)."
);
pyo3::create_exception!(
    _innsikt,
    InternalError,
    InnsiktError,
    "A bug in Innsikt (a caught panic)."
);

fn to_py(e: innsikt::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        "not_found" => ArchiveNotFoundError::new_err(msg),
        "exists" => ArchiveExistsError::new_err(msg),
        "locked" => ArchiveLockedError::new_err(msg),
        "query" => QueryError::new_err(msg),
        "input" | "invalid" => InputError::new_err(msg),
        "codebook" => CodebookError::new_err(msg),
        "cancelled" => pyo3::exceptions::PyKeyboardInterrupt::new_err("cancelled"),
        _ => StorageError::new_err(msg),
    }
}

/// Run `f` without the GIL, turning panics into `InternalError`.
fn guarded<T: Send>(py: Python<'_>, f: impl FnOnce() -> innsikt::Result<T> + Send) -> PyResult<T> {
    let out = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match out {
        Ok(r) => r.map_err(to_py),
        Err(panic) => Err(InternalError::new_err(format!(
            "internal error (please report): {}",
            panic_message(panic.as_ref())
        ))),
    }
}

/// The message a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// The arrays of an Arrow column handed over through the PyCapsule interface:
/// a stream (`__arrow_c_stream__`, any number of chunks) or one array
/// (`__arrow_c_array__`). The buffers are taken as the producer describes them
/// (the C data interface's contract); their offsets and UTF-8 are then checked
/// in full, and a panic on malformed structures becomes an error.
fn import_arrow_column(obj: &Bound<'_, PyAny>) -> PyResult<Vec<arrow_array::ArrayRef>> {
    catch_unwind(AssertUnwindSafe(|| import_arrow_column_unguarded(obj))).unwrap_or_else(|panic| {
        Err(InputError::new_err(format!(
            "texts: malformed Arrow data: {}",
            panic_message(panic.as_ref())
        )))
    })
}

fn import_arrow_column_unguarded(obj: &Bound<'_, PyAny>) -> PyResult<Vec<arrow_array::ArrayRef>> {
    use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
    use arrow_array::ffi_stream::ArrayStreamReader;
    let bad = |e: &dyn std::fmt::Display| InputError::new_err(format!("texts: {e}"));
    let arrays: Vec<arrow_array::ArrayRef> = if obj.hasattr("__arrow_c_stream__")? {
        let capsule = obj.call_method0("__arrow_c_stream__")?;
        let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
            InputError::new_err("texts: __arrow_c_stream__ did not return a capsule")
        })?;
        let ptr = capsule
            .pointer_checked(Some(c"arrow_array_stream"))
            .map_err(|_| InputError::new_err("texts: not an Arrow array stream capsule"))?;
        let stream = ptr.as_ptr() as *mut FFI_ArrowArrayStream;
        // SAFETY: a capsule named "arrow_array_stream" holds an
        // FFI_ArrowArrayStream (the PyCapsule interface).
        if unsafe { (*stream).get_next().is_none() || (*stream).get_schema().is_none() } {
            return Err(InputError::new_err(
                "texts: an Arrow stream without callbacks",
            ));
        }
        // SAFETY: as above; `from_raw` moves the stream out and leaves a
        // released one behind for the capsule's destructor.
        let reader = unsafe { ArrayStreamReader::from_raw(stream) }.map_err(|e| bad(&e))?;
        reader.collect::<Result<_, _>>().map_err(|e| bad(&e))?
    } else if obj.hasattr("__arrow_c_array__")? {
        let pair = obj.call_method0("__arrow_c_array__")?;
        let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) =
            pair.extract().map_err(|_| {
                InputError::new_err("texts: __arrow_c_array__ did not return two capsules")
            })?;
        let schema_ptr = schema
            .pointer_checked(Some(c"arrow_schema"))
            .map_err(|_| InputError::new_err("texts: not an Arrow schema capsule"))?;
        let array_ptr = array
            .pointer_checked(Some(c"arrow_array"))
            .map_err(|_| InputError::new_err("texts: not an Arrow array capsule"))?;
        // SAFETY: the capsules hold an FFI_ArrowSchema and an FFI_ArrowArray
        // (the PyCapsule interface); the array is moved out, its release
        // callback cleared in the capsule, and the schema only borrowed.
        let data = unsafe {
            let array = FFI_ArrowArray::from_raw(array_ptr.as_ptr() as *mut FFI_ArrowArray);
            from_ffi(array, &*(schema_ptr.as_ptr() as *const FFI_ArrowSchema))
        }
        .map_err(|e| bad(&e))?;
        vec![arrow_array::make_array(data)]
    } else {
        return Err(InputError::new_err(
            "texts: not an Arrow column (no __arrow_c_stream__ or __arrow_c_array__)",
        ));
    };
    for a in &arrays {
        check_column(&a.to_data()).map_err(|e| bad(&e))?;
    }
    Ok(arrays)
}

/// Checks an imported column as arrow's `validate_full` does, with the UTF-8 of
/// string columns checked by `innsikt::decode::utf8` (SIMD: on 100 MB of
/// proceedings 20 ms, where `validate_full` takes 120 ms). Offset strings have
/// the bytes from their first to their last offset checked at once, then every
/// offset must rise and fall on a character boundary; string views have their
/// structure checked by arrow as byte views (bounds, prefixes, padding) and
/// each text's bytes by SIMD. Other types are left to `validate_full`.
fn check_column(data: &arrow_data::ArrayData) -> Result<(), String> {
    use arrow_schema::DataType;
    match data.data_type() {
        DataType::Utf8 => check_offset_strings::<i32>(data),
        DataType::LargeUtf8 => check_offset_strings::<i64>(data),
        DataType::Utf8View => check_string_views(data),
        _ => data.validate_full().map_err(|e| e.to_string()),
    }
}

fn check_offset_strings<O: arrow_array::OffsetSizeTrait>(
    data: &arrow_data::ArrayData,
) -> Result<(), String> {
    // The buffers' sizes and the first and last offsets (within the values).
    data.validate().map_err(|e| e.to_string())?;
    data.validate_nulls().map_err(|e| e.to_string())?;
    if data.is_empty() {
        // An empty column may come without offsets at all.
        return Ok(());
    }
    let offsets = &data.buffer::<O>(0)[..data.len() + 1];
    let values = data.buffers()[1].as_slice();
    let at = |i: usize| {
        offsets[i]
            .to_usize()
            .ok_or_else(|| format!("offset {i} is negative"))
    };
    let (first, last) = (at(0)?, at(data.len())?);
    let text = innsikt::decode::utf8(&values[first..last]).map_err(|e| {
        let bad = first + e.valid_up_to();
        let row = offsets.partition_point(|o| o.to_usize().is_some_and(|o| o <= bad));
        format!("text {} is not valid UTF-8", row.saturating_sub(1))
    })?;
    let mut previous = first;
    for i in 0..offsets.len() {
        let o = at(i)?;
        if o < previous || o > last {
            return Err(format!("offset {i} is out of order"));
        }
        if !text.is_char_boundary(o - first) {
            return Err(format!("text {i} does not begin on a UTF-8 character"));
        }
        previous = o;
    }
    Ok(())
}

fn check_string_views(data: &arrow_data::ArrayData) -> Result<(), String> {
    data.validate().map_err(|e| e.to_string())?;
    data.validate_nulls().map_err(|e| e.to_string())?;
    let buffers = &data.buffers()[1..];
    // Bounds, prefixes and padding, as for any byte views.
    let typed = arrow_buffer::ScalarBuffer::<u128>::new(
        data.buffers()[0].clone(),
        data.offset(),
        data.len(),
    );
    arrow_array::BinaryViewArray::try_new(typed.clone(), buffers.to_vec(), None)
        .map_err(|e| e.to_string())?;
    for (i, &v) in typed.iter().enumerate() {
        let len = v as u32 as usize;
        let inline = v.to_le_bytes();
        let bytes = if len <= 12 {
            &inline[4..4 + len]
        } else {
            let view = arrow_data::ByteView::from(v);
            // In bounds: checked by `BinaryViewArray::try_new`.
            &buffers[view.buffer_index as usize].as_slice()[view.offset as usize..][..len]
        };
        innsikt::decode::utf8(bytes).map_err(|_| format!("text {i} is not valid UTF-8"))?;
    }
    Ok(())
}

/// Append the texts of a string array to `out`, borrowed; a null is "". A
/// dictionary-encoded column (a polars Categorical, a pyarrow dictionary) is
/// read through its dictionary.
fn string_values<'a>(a: &'a dyn arrow_array::Array, out: &mut Vec<&'a str>) -> PyResult<()> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let nulls = a.logical_nulls();
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    match a.data_type() {
        DataType::Dictionary(_, value_type)
            if matches!(
                value_type.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            let d = a.as_any_dictionary();
            let mut values = Vec::with_capacity(d.values().len());
            string_values(d.values().as_ref(), &mut values)?;
            // Keys were checked against the dictionary's length by validation.
            out.extend(d.normalized_keys().into_iter().enumerate().map(|(i, k)| {
                if valid(i) {
                    values[k]
                } else {
                    ""
                }
            }));
        }
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            out.extend((0..s.len()).map(|i| if valid(i) { s.value(i) } else { "" }));
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            out.extend((0..s.len()).map(|i| if valid(i) { s.value(i) } else { "" }));
        }
        DataType::Utf8View => {
            let s = a.as_string_view();
            out.extend((0..s.len()).map(|i| if valid(i) { s.value(i) } else { "" }));
        }
        DataType::Null => out.extend(std::iter::repeat_n("", a.len())),
        other => {
            return Err(InputError::new_err(format!(
                "texts: an Arrow column of {other}, not of strings"
            )))
        }
    }
    Ok(())
}

/// An Arrow table that pyarrow, pandas and polars read through `__arrow_c_stream__`.
#[pyclass(module = "innsikt._innsikt", frozen)]
struct ArrowTable {
    batch: RecordBatch,
}

#[pymethods]
impl ArrowTable {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let schema = self.batch.schema();
        let reader = RecordBatchIterator::new(vec![Ok(self.batch.clone())], schema);
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new(
            py,
            stream,
            Some(CString::new("arrow_array_stream").unwrap()),
        )
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }
}

/// The `threads` argument: None for one per core (at most 8), else at least 1.
fn threads_arg(threads: Option<usize>) -> PyResult<usize> {
    match threads {
        None => Ok(innsikt::codebook::default_threads()),
        Some(0) => Err(InputError::new_err("threads must be at least 1")),
        Some(n) => Ok(n),
    }
}

fn table(batch: RecordBatch) -> ArrowTable {
    ArrowTable { batch }
}

/// Calls a Python progress callback from worker code; stops on Ctrl-C or a
/// callback exception (the exception is kept and raised afterwards).
struct PyProgress {
    callback: Option<Py<PyAny>>,
    on_saved: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl innsikt::progress::Progress for PyProgress {
    fn update(&mut self, done: u64, total: u64, what: &str) -> bool {
        Python::attach(|py| {
            if let Err(e) = py.check_signals() {
                self.error = Some(e);
                return false;
            }
            if let Some(cb) = &self.callback {
                if let Err(e) = cb.call1(py, (done, total, what)) {
                    self.error = Some(e);
                    return false;
                }
            }
            true
        })
    }

    fn saved(&mut self, keys: &[String]) {
        if let Some(cb) = &self.on_saved {
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (keys.to_vec(),)) {
                    self.error.get_or_insert(e);
                }
            });
        }
    }
}

/// An open archive. Use the `innsikt.Project` wrapper rather than this class.
#[pyclass(module = "innsikt._innsikt", name = "RawProject")]
struct RawProject {
    /// None once closed.
    inner: Mutex<Option<innsikt::Project>>,
    root: PathBuf,
    /// The project's notes when it was closed: a call that ended as another
    /// thread closed the project still reads those it added.
    notes_at_close: Mutex<Vec<String>>,
}

impl RawProject {
    fn new(p: innsikt::Project) -> RawProject {
        RawProject {
            root: p.root().to_path_buf(),
            inner: Mutex::new(Some(p)),
            notes_at_close: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<innsikt::Project>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn closed_error(&self) -> PyErr {
        ProjectClosedError::new_err(format!("the project at {} is closed", self.root.display()))
    }

    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut innsikt::Project) -> innsikt::Result<T> + Send,
    ) -> PyResult<T> {
        // None: closed.
        let out = guarded(py, || self.lock().as_mut().map(f).transpose())?;
        out.ok_or_else(|| self.closed_error())
    }
}

impl Drop for RawProject {
    /// Closing waits for the store's checkpoint thread; a panic there is not
    /// let out of the collector that drops the project.
    fn drop(&mut self) {
        let p = self.lock().take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(p)));
    }
}

/// A facet as search hands it to Python: the field and each value's count.
type Facet = (String, Vec<(String, u64)>);

#[pymethods]
impl RawProject {
    #[staticmethod]
    fn create(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let p = guarded(py, move || innsikt::Project::create(&path))?;
        Ok(RawProject::new(p))
    }

    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let p = guarded(py, move || innsikt::Project::open(&path))?;
        Ok(RawProject::new(p))
    }

    #[getter]
    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    #[getter]
    fn notes(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        match self.with(py, |p| Ok(p.notes.clone())) {
            Err(e) if e.is_instance_of::<ProjectClosedError>(py) => Ok(self
                .notes_at_close
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()),
            r => r,
        }
    }

    /// Whether `close` has been called. A call under way holds the project:
    /// it is open.
    #[getter]
    fn closed(&self) -> bool {
        match self.inner.try_lock() {
            Ok(p) => p.is_none(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().is_none(),
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    /// Closes the archive: waits for a call under way on another thread, then
    /// the store finishes its checkpoint and closes its files, all without
    /// the GIL. Closing a closed project does nothing; any other call after
    /// it raises `ProjectClosedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || {
            // The notes are kept before the project is taken, under its lock.
            let p = {
                let mut p = self.lock();
                if let Some(p) = p.as_ref() {
                    *self
                        .notes_at_close
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = p.notes.clone();
                }
                p.take()
            };
            drop(p);
            Ok(())
        })
    }

    fn counts(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        self.with(py, |p| p.counts())
    }

    #[pyo3(signature = (paths, metadata=None, progress=None, on_saved=None))]
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        paths: Vec<PathBuf>,
        metadata: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
        on_saved: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut prog = PyProgress {
            callback: progress,
            on_saved,
            error: None,
        };
        let result = self.with(py, |p| p.ingest(&paths, metadata.as_deref(), &mut prog));
        if let Some(e) = prog.error.take() {
            return Err(e);
        }
        let rep = result?;
        let d = PyDict::new(py);
        d.set_item("added", rep.added)?;
        d.set_item("updated", rep.updated)?;
        d.set_item("unchanged", rep.unchanged)?;
        d.set_item("passages", rep.passages)?;
        d.set_item("errors", rep.errors)?;
        d.set_item("documents", rep.documents)?;
        Ok(d)
    }

    #[pyo3(signature = (progress=None))]
    fn reindex(&self, py: Python<'_>, progress: Option<Py<PyAny>>) -> PyResult<u64> {
        let mut prog = PyProgress {
            callback: progress,
            on_saved: None,
            error: None,
        };
        let result = self.with(py, |p| p.reindex(&mut prog));
        if let Some(e) = prog.error.take() {
            return Err(e);
        }
        result
    }

    fn documents(&self, py: Python<'_>) -> PyResult<ArrowTable> {
        self.with(py, |p| p.documents()).map(table)
    }

    fn passages(&self, py: Python<'_>) -> PyResult<ArrowTable> {
        self.with(py, |p| p.passages()).map(table)
    }

    /// Returns (table, total, facets).
    #[pyo3(signature = (query, limit=None))]
    fn search(
        &self,
        py: Python<'_>,
        query: String,
        limit: Option<usize>,
    ) -> PyResult<(ArrowTable, usize, Vec<Facet>)> {
        let r = self.with(py, |p| p.search(&query, limit))?;
        Ok((table(r.table), r.total, r.facets.into_iter().collect()))
    }

    #[pyo3(signature = (query, width=40, limit=None))]
    fn kwic(
        &self,
        py: Python<'_>,
        query: String,
        width: usize,
        limit: Option<usize>,
    ) -> PyResult<ArrowTable> {
        self.with(py, |p| p.kwic(&query, width, limit)).map(table)
    }

    fn document_text(&self, py: Python<'_>, document_id: String) -> PyResult<Option<String>> {
        self.with(py, |p| p.document_text(&document_id))
    }

    #[pyo3(signature = (codebook, progress=None, threads=None))]
    fn autocode<'py>(
        &self,
        py: Python<'py>,
        codebook: &RawCodebook,
        progress: Option<Py<PyAny>>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let threads = threads_arg(threads)?;
        let cb = codebook.inner.clone();
        let mut prog = PyProgress {
            callback: progress,
            on_saved: None,
            error: None,
        };
        let result = self.with(py, |p| p.autocode_with_threads(&cb, &mut prog, threads));
        if let Some(e) = prog.error.take() {
            return Err(e);
        }
        let r = result?;
        let d = PyDict::new(py);
        d.set_item("passages", r.passages)?;
        d.set_item("codings", r.codings)?;
        d.set_item("replaced", r.replaced)?;
        d.set_item("by_code", r.by_code.into_iter().collect::<Vec<_>>())?;
        d.set_item("silent_rules", r.silent_rules)?;
        Ok(d)
    }

    #[pyo3(signature = (passage_id, code_id, coder, start=None, end=None))]
    fn code(
        &self,
        py: Python<'_>,
        passage_id: String,
        code_id: String,
        coder: String,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<i64> {
        let span = match (start, end) {
            (Some(a), Some(b)) => Some((a, b)),
            (None, None) => None,
            _ => return Err(InputError::new_err("give both start and end, or neither")),
        };
        self.with(py, |p| p.code(&passage_id, &code_id, &coder, span))
    }

    fn uncode(&self, py: Python<'_>, coding_id: i64) -> PyResult<bool> {
        self.with(py, |p| p.uncode(coding_id))
    }

    fn memo(
        &self,
        py: Python<'_>,
        kind: String,
        target: String,
        author: String,
        text: String,
    ) -> PyResult<i64> {
        self.with(py, |p| p.memo(&kind, &target, &author, &text))
    }

    fn memos(&self, py: Python<'_>) -> PyResult<ArrowTable> {
        self.with(py, |p| p.memos()).map(table)
    }

    #[pyo3(signature = (coder=None))]
    fn codings(&self, py: Python<'_>, coder: Option<String>) -> PyResult<ArrowTable> {
        self.with(py, |p| p.codings(coder.as_deref())).map(table)
    }

    #[pyo3(signature = (by, coder=None))]
    fn crosstab(&self, py: Python<'_>, by: String, coder: Option<String>) -> PyResult<ArrowTable> {
        self.with(py, |p| p.crosstab(&by, coder.as_deref()))
            .map(table)
    }

    #[pyo3(signature = (coder=None))]
    fn cooccurrence(&self, py: Python<'_>, coder: Option<String>) -> PyResult<ArrowTable> {
        self.with(py, |p| p.cooccurrence(coder.as_deref()))
            .map(table)
    }

    #[pyo3(signature = (code_id=None, coder=None, context=200))]
    fn segments(
        &self,
        py: Python<'_>,
        code_id: Option<String>,
        coder: Option<String>,
        context: usize,
    ) -> PyResult<ArrowTable> {
        self.with(py, |p| {
            p.segments(code_id.as_deref(), coder.as_deref(), context)
        })
        .map(table)
    }

    fn import_codings(
        &self,
        py: Python<'_>,
        path: PathBuf,
    ) -> PyResult<(u64, Vec<(String, String)>)> {
        self.with(py, |p| p.import_codings(&path))
    }

    #[pyo3(signature = (a, b, passages=None))]
    fn agreement(
        &self,
        py: Python<'_>,
        a: String,
        b: String,
        passages: Option<Vec<String>>,
    ) -> PyResult<ArrowTable> {
        self.with(py, |p| p.agreement(&a, &b, passages.as_deref()))
            .map(table)
    }

    fn codebook_versions(&self, py: Python<'_>) -> PyResult<Vec<(String, String, String, String)>> {
        self.with(py, |p| p.codebook_versions())
    }
}

fn context_of(d: Option<&Bound<'_, PyDict>>) -> PyResult<innsikt::codebook::Context> {
    let mut ctx = innsikt::codebook::Context::new();
    if let Some(d) = d {
        for (k, v) in d.iter() {
            ctx.insert(k.extract::<String>()?, v.str()?.to_string());
        }
    }
    Ok(ctx)
}

/// A compiled codebook. Use the `innsikt.Codebook` wrapper.
#[pyclass(module = "innsikt._innsikt", name = "RawCodebook", frozen)]
struct RawCodebook {
    inner: std::sync::Arc<innsikt::Codebook>,
}

#[pymethods]
impl RawCodebook {
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let cb = guarded(py, move || Ok(innsikt::Codebook::load(&path)?))?;
        Ok(RawCodebook {
            inner: std::sync::Arc::new(cb),
        })
    }

    #[staticmethod]
    #[pyo3(signature = (text, json=false, name=None))]
    fn parse(py: Python<'_>, text: String, json: bool, name: Option<PathBuf>) -> PyResult<Self> {
        let cb = guarded(py, move || {
            Ok(innsikt::Codebook::parse(&text, json, name.as_deref())?)
        })?;
        Ok(RawCodebook {
            inner: std::sync::Arc::new(cb),
        })
    }

    #[getter]
    fn meta(&self) -> (String, String, String, String) {
        let m = &self.inner.meta;
        (
            m.id.clone(),
            m.name.clone(),
            m.version.clone(),
            m.description.clone(),
        )
    }

    #[getter]
    fn source(&self) -> String {
        self.inner.source.clone()
    }

    #[getter]
    fn rule_count(&self) -> usize {
        self.inner.rule_count()
    }

    fn codes(&self, py: Python<'_>) -> PyResult<ArrowTable> {
        let c = &self.inner.codes;
        let batch = guarded(py, || {
            Ok(innsikt::table::TableBuilder::new()
                .str("code_id", c.iter().map(|x| Some(&x.id)))
                .str("name", c.iter().map(|x| Some(&x.name)))
                .str("parent_id", c.iter().map(|x| x.parent.as_ref()))
                .i64("depth", c.iter().map(|x| Some(x.depth as i64)))
                .str("description", c.iter().map(|x| Some(&x.description)))
                .str("include", c.iter().map(|x| Some(&x.include)))
                .str("exclude", c.iter().map(|x| Some(&x.exclude)))
                .str("examples", c.iter().map(|x| Some(x.examples.join("\n"))))
                .str("colour", c.iter().map(|x| x.colour.as_ref()))
                .str("rules", c.iter().map(|x| Some(x.rules.join(";"))))
                .build())
        })?;
        Ok(table(batch))
    }

    /// Code a batch of texts; `contexts` (one dict per text) feed the rules' `where`.
    /// Returns one table row per hit: text index, code, rule, spans; or, with
    /// `codes`, a list per text of the ids of the codes that hit it.
    #[pyo3(signature = (texts, contexts=None, threads=None, codes=false, progress=None))]
    fn apply(
        &self,
        py: Python<'_>,
        texts: Bound<'_, PyList>,
        contexts: Option<Vec<Bound<'_, PyDict>>>,
        threads: Option<usize>,
        codes: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        // The list's strings, each checked and held in one pass over the list
        // (the list itself may change once the interpreter is released; a
        // string held may not go away). Taking a list, not any sequence, spares
        // an iterator object and a copy of the list.
        let held: Vec<Bound<'_, PyString>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.cast_into::<PyString>().map_err(|e| {
                    InputError::new_err(format!(
                        "text {i} is not a str but {}",
                        e.into_inner()
                            .get_type()
                            .name()
                            .map_or_else(|_| "?".into(), |n| n.to_string())
                    ))
                })
            })
            .collect::<PyResult<_>>()?;
        let texts: Vec<PyText<'_>> = held.iter().map(str_text).collect::<PyResult<_>>()?;
        self.apply_texts(py, texts, contexts, threads, codes, progress)
    }

    /// [`RawCodebook::apply`] on an Arrow column of strings, read in place: anything
    /// with `__arrow_c_stream__` or `__arrow_c_array__` (a pyarrow array or chunked
    /// array, a polars Series). A null is an empty text.
    #[pyo3(signature = (texts, contexts=None, threads=None, codes=false, progress=None))]
    fn apply_arrow(
        &self,
        py: Python<'_>,
        texts: Bound<'_, PyAny>,
        contexts: Option<Vec<Bound<'_, PyDict>>>,
        threads: Option<usize>,
        codes: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let arrays = import_arrow_column(&texts)?;
        let mut strs: Vec<&str> = Vec::with_capacity(arrays.iter().map(|a| a.len()).sum());
        for a in &arrays {
            string_values(a.as_ref(), &mut strs)?;
        }
        let texts = strs.into_iter().map(PyText::Utf8).collect();
        self.apply_texts(py, texts, contexts, threads, codes, progress)
    }

    /// Hits for one text as JSON, the shape of the rule test cases.
    #[pyo3(signature = (text, context=None))]
    fn hits_json(
        &self,
        py: Python<'_>,
        text: &str,
        context: Option<Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        if u32::try_from(text.len()).is_err() {
            return Err(InputError::new_err(
                "the text is longer than 4 GiB, the most a text to code can be",
            ));
        }
        let ctx = context_of(context.as_ref())?;
        let cb = &self.inner;
        guarded(py, || {
            let hits = cb.apply(text, &ctx);
            Ok(cb.hits_json(&hits).to_string())
        })
    }
}

impl RawCodebook {
    fn apply_texts(
        &self,
        py: Python<'_>,
        texts: Vec<PyText<'_>>,
        contexts: Option<Vec<Bound<'_, PyDict>>>,
        threads: Option<usize>,
        codes: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let threads = threads_arg(threads)?;
        let ctxs: Vec<innsikt::codebook::Context> = match &contexts {
            Some(c) => {
                if c.len() != texts.len() {
                    return Err(InputError::new_err("contexts must have one entry per text"));
                }
                c.iter()
                    .map(|d| context_of(Some(d)))
                    .collect::<PyResult<_>>()?
            }
            None => vec![innsikt::codebook::Context::new(); texts.len()],
        };
        let cb = self.inner.clone();
        // Ctrl-C (and the callback, when given) between shares of the batch.
        let mut prog = PyProgress {
            callback: progress,
            on_saved: None,
            error: None,
        };
        let prog_ref = &mut prog;
        let applied = guarded(py, move || {
            // A str's UTF-8 is written as the text is coded, one text at a
            // time, not the batch at once; its length is known before only where
            // a text's code points could take more than 4 GiB.
            for (i, t) in texts.iter().enumerate() {
                let len = match t {
                    PyText::Points(_) if t.units() > (u32::MAX / 4) as usize => t.utf8_len().ok(),
                    _ => Some(t.units()),
                };
                if len.is_some_and(|len| u32::try_from(len).is_err()) {
                    return Err(innsikt::Error::Invalid(format!(
                        "text {i} is longer than 4 GiB, the most a text to code can be"
                    )));
                }
            }
            // Coded a share of the texts at a time (see `innsikt::apply`).
            let mut matchers = innsikt::codebook::Matchers::new(&cb, threads);
            Ok(if codes {
                let (ends, codes) =
                    innsikt::apply::apply_codes(&mut matchers, &texts, &ctxs, prog_ref)?;
                Applied::Codes(ends, codes)
            } else {
                Applied::Table(innsikt::apply::apply_table(
                    &mut matchers,
                    &texts,
                    &ctxs,
                    prog_ref,
                )?)
            })
        });
        if let Some(e) = prog.error.take() {
            return Err(e);
        }
        let applied = applied?;
        match applied {
            Applied::Table(batch) => Ok(Py::new(py, table(batch))?.into_any()),
            Applied::Codes(ends, codes) => {
                // One str per code, shared by every list it is in.
                let ids: Vec<Bound<'_, PyString>> = self
                    .inner
                    .codes
                    .iter()
                    .map(|c| PyString::new(py, &c.id))
                    .collect();
                let mut start = 0;
                let lists = ends.iter().map(|&end| {
                    let mine = &codes[start..end as usize];
                    start = end as usize;
                    PyList::new(py, mine.iter().map(|&c| &ids[c as usize]))
                });
                Ok(PyList::new(py, lists.collect::<PyResult<Vec<_>>>()?)?
                    .into_any()
                    .unbind())
            }
        }
    }
}

/// What a call of `apply` hands back: the table of hits, or each text's codes.
enum Applied {
    Table(RecordBatch),
    /// Each text's end in the codes, and the codes (indexes into the codebook's).
    Codes(Vec<u32>, Vec<u32>),
}

/// A text to code as Python handed it over, read in place: UTF-8 already (an
/// Arrow string, or a str of ASCII only), or a str's code points, written as
/// UTF-8 by the worker that codes it, with the interpreter released.
type PyText<'a> = innsikt::decode::Text<'a>;

/// A str's text where CPython keeps it, without asking CPython for its UTF-8
/// form: that form would be made one string at a time while holding the
/// interpreter, and then kept with each string for as long as it lives.
fn str_text<'a>(s: &'a Bound<'_, PyString>) -> PyResult<PyText<'a>> {
    use innsikt::decode::CodePoints;
    use pyo3::ffi;
    let op = s.as_ptr();
    // SAFETY: `op` is a str (`cast` checked it) that `s` keeps alive for 'a,
    // and a str's code points never change: the slices stay valid and
    // unchanged for as long as the borrow of `s`, with or without the
    // interpreter held. `PyUnicode_READY` (a no-op from 3.12) makes a string of
    // the legacy API give its canonical form; the kind says the width of its
    // code points and the length their count.
    unsafe {
        if ffi::PyUnicode_READY(op) != 0 {
            return Err(PyErr::fetch(s.py()));
        }
        let len = ffi::PyUnicode_GET_LENGTH(op) as usize;
        let data = ffi::PyUnicode_DATA(op);
        Ok(match ffi::PyUnicode_KIND(op) {
            ffi::PyUnicode_1BYTE_KIND => {
                let b = std::slice::from_raw_parts(data as *const u8, len);
                // CPython marks a string of ASCII only as such when it makes it.
                match ffi::PyUnicode_IS_ASCII(op) != 0 {
                    // ASCII is its own UTF-8.
                    true => PyText::Utf8(std::str::from_utf8_unchecked(b)),
                    false => PyText::Points(CodePoints::Latin1(b)),
                }
            }
            ffi::PyUnicode_2BYTE_KIND => PyText::Points(CodePoints::Ucs2(
                std::slice::from_raw_parts(data as *const u16, len),
            )),
            _ => PyText::Points(CodePoints::Ucs4(std::slice::from_raw_parts(
                data as *const u32,
                len,
            ))),
        })
    }
}

/// One word as `analyze` gives it: the word, its own terms, its compound-part terms.
type AnalysedWord = (String, Vec<String>, Vec<String>);

/// Terms the Norwegian analyzer gives each word of `text`: (word, own terms, compound-part terms).
#[pyfunction]
fn analyze(py: Python<'_>, text: &str) -> PyResult<Vec<AnalysedWord>> {
    guarded(py, || {
        Ok(innsikt::analysis::words(text)
            .map(|w| {
                let t = innsikt::analysis::analyze_word(&w.lower);
                (w.lower, t.full, t.parts)
            })
            .collect())
    })
}

/// The parse of one file as JSON (the shape of the test cases' expected files).
#[pyfunction]
fn parse_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    guarded(py, move || {
        let bytes = std::fs::read(&path).map_err(|e| innsikt::Error::Io {
            path: path.clone(),
            message: e.to_string().to_lowercase(),
        })?;
        Ok(innsikt::formats::parse_to_json(&path, &bytes).to_string())
    })
}

/// Raise a Rust panic inside the core (used by tests to prove panics become exceptions).
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    guarded(py, || -> innsikt::Result<()> {
        panic!("deliberate test panic")
    })
}

#[pymodule]
fn _innsikt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<RawProject>()?;
    m.add_class::<ArrowTable>()?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(parse_file, m)?)?;
    m.add("InnsiktError", py.get_type::<InnsiktError>())?;
    m.add(
        "ArchiveNotFoundError",
        py.get_type::<ArchiveNotFoundError>(),
    )?;
    m.add("ArchiveExistsError", py.get_type::<ArchiveExistsError>())?;
    m.add("ArchiveLockedError", py.get_type::<ArchiveLockedError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("ProjectClosedError", py.get_type::<ProjectClosedError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("CodebookError", py.get_type::<CodebookError>())?;
    m.add_class::<RawCodebook>()?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
