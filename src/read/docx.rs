//! docx reader (to be written).

use super::{Budget, Parsed, ReadError};

/// Reads a docx file's bytes.
pub fn read(_bytes: &[u8], _budget: &Budget) -> Result<Parsed, ReadError> {
    Err(ReadError::parse("the docx reader is not built yet"))
}
