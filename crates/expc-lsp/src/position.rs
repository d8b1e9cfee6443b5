//! Conversions between byte spans and the protocol's positions (0-based lines, UTF-16
//! columns), and between `file:` URIs and paths.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use expc_diagnostics::SourceFile;
use lsp_types::{Position, Range, Uri};

/// The protocol position of a byte offset (clamped to the text).
pub fn position(file: &SourceFile, offset: u32) -> Position {
    let mut offset = (offset as usize).min(file.text.len());
    while !file.text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = file.text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = file.line_col(offset as u32).line - 1;
    let character = file.text[line_start..offset]
        .chars()
        .map(|c| c.len_utf16() as u32)
        .sum();
    Position { line, character }
}

/// The protocol range of a byte range.
pub fn range(file: &SourceFile, start: u32, end: u32) -> Range {
    Range {
        start: position(file, start),
        end: position(file, end),
    }
}

/// The byte offset of a protocol position (clamped to its line).
pub fn offset(file: &SourceFile, position: Position) -> u32 {
    file.offset_of_utf16(position.line, position.character)
}

/// The path a `file:` URI names; `None` for other schemes.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // `file:///path` or `file://localhost/path`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let decoded = percent_decode(rest)?;
    // `file:///C:/x` on Windows.
    let decoded = match decoded.as_bytes() {
        [b'/', drive, b':', ..] if drive.is_ascii_alphabetic() && cfg!(windows) => {
            decoded[1..].to_owned()
        }
        _ => decoded,
    };
    Some(PathBuf::from(decoded))
}

/// The `file:` URI of an absolute path.
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut out = String::from("file://");
    if !text.starts_with('/') {
        out.push('/');
    }
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&out).ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use expc_diagnostics::FileId;

    #[test]
    fn positions_count_utf16_units() {
        let f = SourceFile::new(FileId(0), "a", "a😀b\nc");
        assert_eq!(
            position(&f, 5),
            Position {
                line: 0,
                character: 3
            }
        );
        assert_eq!(
            position(&f, 7),
            Position {
                line: 1,
                character: 0
            }
        );
        assert_eq!(
            offset(
                &f,
                Position {
                    line: 0,
                    character: 3
                }
            ),
            5
        );
    }

    #[test]
    fn uris_round_trip() {
        let p = Path::new("/tmp/a dir/é.exp");
        let uri = path_to_uri(p).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20dir/%C3%A9.exp");
        assert_eq!(uri_to_path(&uri).unwrap(), p);
    }
}
