//! The library's errors as Python exceptions.

use std::io::ErrorKind;

use pyo3::PyErr;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyNotADirectoryError, PyOSError,
    PyPermissionError, PyValueError,
};

/// Where an error arose: reading a file makes every failure a file problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// Building, searching, saving: bad arguments or data are `ValueError`.
    Arguments,
    /// Opening or verifying a file: anything wrong with it is an `OSError`.
    File,
}

/// `e` as the Python exception a user expects, with the library's message
/// (which names the file, row or parameter).
pub(crate) fn to_py(e: zgq::Error, context: Context) -> PyErr {
    let msg = e.to_string();
    match &e {
        zgq::Error::Io { source, .. } => match source.kind() {
            ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
            ErrorKind::NotADirectory => PyNotADirectoryError::new_err(msg),
            ErrorKind::AlreadyExists => PyFileExistsError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
        zgq::Error::NotAnIndex { .. }
        | zgq::Error::Version { .. }
        | zgq::Error::Corrupt { .. }
        | zgq::Error::Checksum { .. } => PyOSError::new_err(msg),
        _ if context == Context::File => PyOSError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}
