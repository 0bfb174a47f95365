//! pdf reader (to be written).

use super::{Budget, Parsed, ReadError};

/// Reads a pdf file's bytes.
pub fn read(_bytes: &[u8], _budget: &Budget) -> Result<Parsed, ReadError> {
    Err(ReadError::parse("the pdf reader is not built yet"))
}
