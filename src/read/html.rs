//! html reader (to be written).

use super::{Budget, Parsed, ReadError};

/// Reads a decoded html file.
pub fn read(_text: &str, _budget: &Budget) -> Result<Parsed, ReadError> {
    Err(ReadError::parse("the html reader is not built yet"))
}
