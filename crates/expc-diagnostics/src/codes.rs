//! The registry of diagnostic codes.
//!
//! A code never changes meaning once published. Each has a kebab-case name, a one-line
//! summary and a long explanation with an example in `explain/CODE.md`.

use std::fmt;

/// A stable diagnostic code such as `E0010`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code {
    pub id: &'static str,
    pub name: &'static str,
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id)
    }
}

/// One entry of the registry.
#[derive(Debug)]
pub struct CodeInfo {
    pub code: Code,
    pub summary: &'static str,
    pub explanation: &'static str,
}

macro_rules! codes {
    ($( $konst:ident = $id:literal, $name:literal, $summary:literal; )*) => {
        impl Code {
            $( pub const $konst: Code = Code { id: $id, name: $name }; )*
        }

        /// Every code, in order.
        pub static ALL: &[CodeInfo] = &[
            $( CodeInfo {
                code: Code::$konst,
                summary: $summary,
                explanation: include_str!(concat!("../explain/", $id, ".md")),
            }, )*
        ];
    };
}

codes! {
    // Lexical errors.
    INVALID_CHARACTER = "E0001", "invalid-character", "a character that cannot start any token";
    INVALID_UTF8 = "E0002", "invalid-utf8", "the file is not valid UTF-8";
    UNTERMINATED_STRING = "E0003", "unterminated-string", "a string literal has no closing quote";
    UNTERMINATED_COMMENT = "E0004", "unterminated-comment", "a block comment has no closing `*/`";
    UNTERMINATED_TEMPLATE = "E0005", "unterminated-template", "a command template has no closing backtick";
    INVALID_ESCAPE = "E0006", "invalid-escape", "an unknown escape sequence in a string or template";
    UNKNOWN_UNIT = "E0007", "unknown-unit", "a number is followed by a unit expc does not know";
    MALFORMED_QUANTITY = "E0008", "malformed-quantity", "a unit quantity that cannot be read exactly";
    NUMBER_OUT_OF_RANGE = "E0009", "number-out-of-range", "a number literal too large to represent";
    // Syntax errors.
    UNEXPECTED_TOKEN = "E0010", "unexpected-token", "the parser found a token where it expected another";
    UNCLOSED_DELIMITER = "E0011", "unclosed-delimiter", "an opening bracket is never closed";
    MISMATCHED_DELIMITER = "E0012", "mismatched-delimiter", "a closing bracket does not match the open one";
    UNKNOWN_KEYWORD = "E0013", "unknown-keyword", "a word where an item or section keyword is expected";
    NESTING_TOO_DEEP = "E0014", "nesting-too-deep", "brackets nested deeper than expc accepts";
    INVALID_TEMPLATE = "E0015", "invalid-template", "a command template that cannot be split into arguments";
    DANGLING_DOC_COMMENT = "W0016", "dangling-doc-comment", "a doc comment that documents nothing";
}

/// Looks a code up by its id (`E0010`, case-insensitive) or name (`unexpected-token`).
pub fn lookup(query: &str) -> Option<&'static CodeInfo> {
    ALL.iter()
        .find(|info| info.code.id.eq_ignore_ascii_case(query) || info.code.name == query)
}

/// The long explanation of a code, if it exists.
pub fn explain(query: &str) -> Option<&'static str> {
    lookup(query).map(|info| info.explanation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented() {
        let mut ids: Vec<_> = ALL.iter().map(|i| i.code.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len(), "duplicate code ids");
        for info in ALL {
            assert!(
                info.explanation.starts_with(&format!("# {}", info.code.id)),
                "explain/{}.md must start with its heading",
                info.code.id
            );
            assert!(
                info.explanation.contains("```exp"),
                "explain/{}.md needs an example",
                info.code.id
            );
        }
    }

    #[test]
    fn lookup_by_id_or_name() {
        assert_eq!(lookup("e0010").unwrap().code, Code::UNEXPECTED_TOKEN);
        assert_eq!(lookup("unknown-unit").unwrap().code, Code::UNKNOWN_UNIT);
        assert!(lookup("E9999").is_none());
    }
}
