//! asciidoc reader (to be written).

use super::{Budget, Parsed, ReadError};

/// Reads a decoded asciidoc file.
pub fn read(_text: &str, _budget: &Budget) -> Result<Parsed, ReadError> {
    Err(ReadError::parse("the asciidoc reader is not built yet"))
}
