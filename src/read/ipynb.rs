//! ipynb reader (to be written).

use super::{Budget, Parsed, ReadError};

/// Reads a decoded ipynb file.
pub fn read(_text: &str, _budget: &Budget) -> Result<Parsed, ReadError> {
    Err(ReadError::parse("the ipynb reader is not built yet"))
}
