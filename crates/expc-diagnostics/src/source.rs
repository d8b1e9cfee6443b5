//! The source files a compilation reads, and byte ↔ line/column conversion.

use crate::span::{FileId, Span};

/// A loaded source file: its display name and its text.
///
/// Text that was not valid UTF-8 is stored with each invalid byte replaced by U+001A
/// (SUBSTITUTE), a one-byte character, so that byte offsets still match the file on disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub id: FileId,
    pub name: String,
    pub text: String,
    line_starts: Vec<u32>,
}

/// A 1-based line and column (column counted in characters, as editors and humans do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

impl SourceFile {
    pub fn new(id: FileId, name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| (i + 1) as u32))
            .collect();
        Self {
            id,
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = (offset as usize).min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s as usize <= offset) - 1;
        let line_start = self.line_starts[line] as usize;
        let mut col_end = offset;
        while !self.text.is_char_boundary(col_end) {
            col_end -= 1;
        }
        LineCol {
            line: line as u32 + 1,
            column: self.text[line_start..col_end].chars().count() as u32 + 1,
        }
    }

    /// The byte offset of a 0-based line and UTF-16 column, as the language server protocol
    /// counts them (clamped to the line).
    pub fn offset_of_utf16(&self, line: u32, character: u32) -> u32 {
        let Some(&start) = self.line_starts.get(line as usize) else {
            return self.text.len() as u32;
        };
        let end = self
            .line_starts
            .get(line as usize + 1)
            .map_or(self.text.len(), |&e| e as usize);
        let mut units = 0;
        for (i, c) in self.text[start as usize..end].char_indices() {
            if units >= character || c == '\n' {
                return start + i as u32;
            }
            units += c.len_utf16() as u32;
        }
        end as u32
    }

    /// The length in bytes of the line that holds a byte offset, without its newline.
    pub fn line_len(&self, offset: u32) -> usize {
        let offset = (offset as usize).min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&e| e as usize - 1);
        end.saturating_sub(start)
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// Decodes bytes as UTF-8, replacing each invalid byte by U+001A so offsets are kept.
/// Returns the text and the offsets of the replaced bytes.
pub fn decode_lossless(bytes: &[u8]) -> (String, Vec<usize>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), Vec::new()),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len());
            let mut bad = Vec::new();
            let mut rest = bytes;
            let mut base = 0;
            loop {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        out.push_str(s);
                        break;
                    }
                    Err(e) => {
                        let valid = e.valid_up_to();
                        // Safety of the slice: `valid_up_to` is a char boundary of valid UTF-8.
                        out.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                        let skip = e.error_len().unwrap_or(rest.len() - valid);
                        for k in 0..skip {
                            out.push('\u{1A}');
                            bad.push(base + valid + k);
                        }
                        rest = &rest[valid + skip..];
                        base += valid + skip;
                    }
                }
            }
            (out, bad)
        }
    }
}

/// All source files of one compilation, addressed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(id, name, text));
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let f = SourceFile::new(FileId(0), "a", "é = 1\nxy");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(2), LineCol { line: 1, column: 2 });
        assert_eq!(f.line_col(7), LineCol { line: 2, column: 1 });
        assert_eq!(f.line_col(100), LineCol { line: 2, column: 3 });
    }

    #[test]
    fn invalid_utf8_keeps_offsets() {
        let (text, bad) = decode_lossless(b"ab\xffc\xe2\x82");
        assert_eq!(text.len(), 6);
        assert_eq!(bad, vec![2, 4, 5]);
        assert_eq!(&text[3..4], "c");
    }

    #[test]
    fn utf16_offsets() {
        let f = SourceFile::new(FileId(0), "a", "a😀b\nc");
        assert_eq!(f.offset_of_utf16(0, 3), 5);
        assert_eq!(f.offset_of_utf16(1, 0), 7);
        assert_eq!(f.offset_of_utf16(9, 0), 8);
    }
}
