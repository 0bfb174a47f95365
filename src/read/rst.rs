//! rst reader (to be written).

use super::{Budget, Parsed, ReadError};

/// Reads a decoded rst file.
pub fn read(_text: &str, _budget: &Budget) -> Result<Parsed, ReadError> {
    Err(ReadError::parse("the rst reader is not built yet"))
}
