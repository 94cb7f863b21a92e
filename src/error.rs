//! The archive-level error: what went wrong and where (file, line, query position).
//! Lower layers have their own errors ([`FormatError`], [`StoreError`],
//! [`IndexError`], [`QueryError`]); this one wraps them for the public API.

use crate::codebook::CodebookError;
use crate::formats::FormatError;
use crate::index::IndexError;
use crate::query::QueryError;
use crate::store::StoreError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no archive at {}", .0.display())]
    NotFound(PathBuf),
    #[error("an archive already exists at {}", .0.display())]
    Exists(PathBuf),
    #[error("archive {} is locked by process {pid}", .path.display())]
    Locked { path: PathBuf, pid: String },
    #[error("{0}")]
    Query(#[from] QueryError),
    #[error("store {0}")]
    Store(#[from] StoreError),
    #[error("index {0}")]
    Index(#[from] IndexError),
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: {error}", .path.display())]
    Format { path: PathBuf, error: FormatError },
    #[error("{}: line {line}: {message}", .path.display())]
    Metadata {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Boxed: a codebook error carries where it came from (file, line, column,
    /// code, rule), which would make every `Result` of this layer as large.
    #[error("{0}")]
    Codebook(Box<CodebookError>),
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// A short name of the error's kind, for bindings that map kinds to exceptions.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Exists(_) => "exists",
            Error::Locked { .. } => "locked",
            Error::Query(_) => "query",
            Error::Store(_) | Error::Index(_) => "storage",
            Error::Io { .. } | Error::Format { .. } | Error::Metadata { .. } => "input",
            Error::Invalid(_) => "invalid",
            Error::Codebook(_) => "codebook",
            Error::Cancelled => "cancelled",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Error {
        Error::Io {
            path: path.into(),
            message: e.to_string().to_lowercase(),
        }
    }
}

impl From<CodebookError> for Error {
    fn from(e: CodebookError) -> Error {
        Error::Codebook(Box::new(e))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
