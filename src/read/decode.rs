//! Text decoding for plain-text formats: a BOM is obeyed, valid UTF-8 is taken as is,
//! UTF-16 without a BOM is recognised by its NUL pattern, and anything else goes through
//! `chardetng` (the detector Firefox uses) and `encoding_rs` — the legacy encodings docs
//! folders still hold are Latin-1/Windows-1252 and their neighbours. Binary files are
//! refused before any of that guesswork, except that UTF-16's NULs are not mistaken for
//! binary, and a stray NUL or two (more than one per 1,000 bytes is binary) is dropped.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

use super::{ReadError, SkipReason};

/// How much of the file the binary and UTF-16 sniffing looks at.
const SNIFF: usize = 8192;

/// Decodes a text file's bytes, or says why it is not text (`binary`, `undecodable`).
pub fn decode(bytes: &[u8]) -> Result<String, ReadError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return checked(UTF_8, rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return checked(UTF_16LE, rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return checked(UTF_16BE, rest);
    }
    if let Some(enc) = utf16_without_bom(bytes) {
        if let Ok(s) = checked(enc, bytes) {
            if control_share(s.chars().take(SNIFF)) < 0.02 {
                return Ok(s);
            }
        }
    }
    let head = &bytes[..bytes.len().min(SNIFF)];
    // Binary formats are full of NULs; a text file may hold a stray one (Javadoc writes the
    // `NUL` constant's value literally), which costs it nothing once dropped.
    let nuls = head.iter().filter(|&&b| b == 0).count();
    if nuls > head.len() / 1000 {
        return Err(ReadError::new(SkipReason::Binary, "contains NUL bytes"));
    }
    if nuls > 0 || bytes.contains(&0) {
        let without: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
        return decode(&without);
    }
    if control_share(head.iter().map(|&b| b as char)) > 0.05 {
        return Err(ReadError::new(
            SkipReason::Binary,
            "too many control characters for text",
        ));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_string());
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    let enc = detector.guess(None, true);
    checked(enc, bytes)
}

/// Decodes without BOM sniffing and refuses the result when many characters did not map.
fn checked(enc: &'static Encoding, bytes: &[u8]) -> Result<String, ReadError> {
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if had_errors {
        let total = text.chars().count().max(1);
        let bad = text.chars().filter(|&c| c == '\u{FFFD}').count();
        if bad * 50 > total {
            return Err(ReadError::new(
                SkipReason::Undecodable,
                format!(
                    "not valid {} ({bad} of {total} characters unmappable)",
                    enc.name()
                ),
            ));
        }
    }
    Ok(text.into_owned())
}

/// UTF-16 of mostly-ASCII text without a BOM: every other byte NUL, consistently on one
/// side.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(SNIFF) & !1];
    if head.len() < 4 || !bytes.len().is_multiple_of(2) {
        return None;
    }
    let pairs = head.len() / 2;
    let (mut even, mut odd) = (0usize, 0usize);
    for p in head.chunks_exact(2) {
        even += usize::from(p[0] == 0);
        odd += usize::from(p[1] == 0);
    }
    if odd * 10 >= pairs * 4 && even * 20 <= pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 4 && odd * 20 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Share of characters that do not occur in text (C0 controls other than tab, newlines,
/// form feed and escape; DEL).
fn control_share(chars: impl Iterator<Item = char>) -> f64 {
    let (mut n, mut bad) = (0usize, 0usize);
    for c in chars {
        n += 1;
        let text_control = matches!(c, '\t' | '\n' | '\r' | '\x0C' | '\x1B');
        if (c < ' ' && !text_control) || c == '\x7F' {
            bad += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        bad as f64 / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn utf8_and_boms() {
        assert_eq!(decode("héllo wörld".as_bytes()).unwrap(), "héllo wörld");
        assert_eq!(decode(b"\xEF\xBB\xBFplain").unwrap(), "plain");
        let mut le = vec![0xFF, 0xFE];
        le.extend(utf16le("Grüße aus Köln\n"));
        assert_eq!(decode(&le).unwrap(), "Grüße aus Köln\n");
        let mut be = vec![0xFE, 0xFF];
        be.extend("naïve ☃".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be).unwrap(), "naïve ☃");
        assert_eq!(decode(b"").unwrap(), "");
    }

    #[test]
    fn utf16_without_bom_is_text_not_binary() {
        let text = "# Notes\r\nThis file was saved by Notepad as Unicode.\r\n";
        assert_eq!(decode(&utf16le(text)).unwrap(), text);
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&be).unwrap(), text);
    }

    #[test]
    fn legacy_encodings() {
        let latin1 = b"Le caf\xe9 est tr\xe8s bon, la cr\xe8me br\xfbl\xe9e aussi. \
            On d\xe9jeune \xe0 midi pr\xe9cis\xe9ment.";
        let s = decode(latin1).unwrap();
        assert!(s.contains("café") && s.contains("crème brûlée"), "{s}");
        let cp1252 = b"He said \x93it\x92s fine\x94 \x96 and left. The \x80 sign costs \
            more than the dollar; that\x92s life.";
        let s = decode(cp1252).unwrap();
        assert!(
            s.contains("\u{201C}it\u{2019}s fine\u{201D} \u{2013}"),
            "{s}"
        );
        assert!(s.contains('€'), "{s}");
    }

    #[test]
    fn binary_is_refused() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06";
        assert_eq!(decode(png).unwrap_err().reason, SkipReason::Binary);
        let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00";
        assert_eq!(decode(elf).unwrap_err().reason, SkipReason::Binary);
        let mut state: u64 = 0x1234_5678_9ABC_DEF1;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(decode(&random).unwrap_err().reason, SkipReason::Binary);
        // Control characters without NULs.
        let ctrl: Vec<u8> = (0..400u32).map(|i| (i % 31 + 1) as u8).collect();
        assert_eq!(decode(&ctrl).unwrap_err().reason, SkipReason::Binary);
    }

    #[test]
    fn a_stray_nul_in_a_text_file_is_dropped_not_fatal() {
        let page = format!(
            "<p>{}</p><code>\0</code> null control character, and another \0 here.",
            "Plain documentation text. ".repeat(400)
        );
        let s = decode(page.as_bytes()).expect("text with two NULs in 10 KB");
        assert!(
            !s.contains('\0') && s.contains("<code></code> null control"),
            "{s}"
        );
        // The same two NULs in a short file are too many.
        let short = b"ab\0cd\0ef";
        assert_eq!(decode(short).unwrap_err().reason, SkipReason::Binary);
    }

    #[test]
    fn broken_utf16_is_undecodable() {
        // A BOM, then lone surrogates throughout.
        let mut bytes = vec![0xFF, 0xFE];
        for _ in 0..50 {
            bytes.extend([0x00, 0xD8, 0x41, 0x00]);
        }
        assert_eq!(decode(&bytes).unwrap_err().reason, SkipReason::Undecodable);
    }

    #[test]
    fn mutations_never_panic() {
        let sample = "Grüße — “quotes” and text\r\n".repeat(20);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let samples = [sample.as_bytes().to_vec(), utf16le(&sample)];
        for round in 0..4000 {
            let mut bytes = samples[round % 2].clone();
            if round % 3 == 0 {
                bytes.truncate(next() as usize % bytes.len());
            } else {
                for _ in 0..=(next() % 16) {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            match decode(&bytes) {
                Ok(s) => assert!(!s.is_empty() || bytes.len() < 4),
                Err(e) => assert!(matches!(
                    e.reason,
                    SkipReason::Binary | SkipReason::Undecodable
                )),
            }
        }
    }
}
