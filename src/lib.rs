//! Innsikt: an embeddable insight-coding engine for Norwegian interviews and notes.
//!
//! The data path, and the module for each step:
//!
//! - [`decode`]: bytes to text (UTF-8, UTF-8 with BOM, UTF-16 with BOM, Windows-1252).
//! - [`formats`]: text to a document's passages (speaker turns, paragraphs), offsets in code points.
//! - [`ingest`]: files and folders, the metadata sidecar, passage ids, speaker roles.
//! - [`store`]: the record of truth in SQLite.
//! - [`analysis`]: the Norwegian analyzer (lemmas, nynorsk variants, compound parts).
//! - [`index`]: the tantivy index derived from the store.
//! - [`query`]: the query language and its translation to tantivy queries.
//! - [`search`]: hits, facets, snippets, concordance.
//! - [`codebook`]: codebooks, their rules compiled into a one-pass matcher.
//! - [`apply`]: a batch of texts coded a share at a time, into a hits table or each text's codes.
//! - [`table`]: Arrow record batches, the shape in which tables leave the core.
//! - [`project`]: an archive directory and the operations on it.
//! - [`memory`]: large buffers, advised for huge pages where they pay.
//! - [`progress`], [`error`]: progress callbacks and the public error type.

pub mod analysis;
pub mod apply;
pub mod codebook;
pub mod decode;
pub mod error;
pub mod formats;
pub mod index;
pub mod ingest;
pub mod memory;
pub mod progress;
pub mod project;
pub mod query;
pub mod search;
pub mod store;
pub mod table;

pub use codebook::Codebook;
pub use error::{Error, Result};
pub use project::{AutocodeReport, IngestReport, Project, SearchResult};
