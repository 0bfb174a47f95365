//! Text decoding (to be written): UTF-8, BOMs, UTF-16, Latin-1/Windows-1252 via a detector;
//! binary files refused.

use super::{ReadError, SkipReason};

/// Decodes a text file's bytes, or says why it is not text.
pub fn decode(bytes: &[u8]) -> Result<String, ReadError> {
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(ReadError::new(SkipReason::Binary, "contains NUL bytes"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        ReadError::new(
            SkipReason::Undecodable,
            format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
