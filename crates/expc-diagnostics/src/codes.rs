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
    RESERVED_WORD = "E0017", "reserved-word", "a reserved word (`where`, `in`, `on`, …) declared as a name";
    // Names and modules.
    UNRESOLVED_IMPORT = "E0100", "unresolved-import", "an import names a file or module that does not exist";
    IMPORT_CYCLE = "E0101", "import-cycle", "files import each other in a cycle";
    UNKNOWN_NAME = "E0102", "unknown-name", "a name that is not declared or imported";
    DUPLICATE_NAME = "E0103", "duplicate-name", "a name declared twice in one scope";
    INVALID_IMPORT = "E0104", "invalid-import", "an import that mixes forms that do not go together";
    WRONG_KIND_OF_NAME = "E0105", "wrong-kind-of-name", "a name of the wrong kind: a type where a value is expected, a param where a resource is";
    // Types and values.
    TYPE_MISMATCH = "E0200", "type-mismatch", "a value of one type where another is expected";
    MISSING_UNIT = "E0201", "missing-unit", "a bare number where a memory size or a duration is expected";
    INVALID_TYPE = "E0202", "invalid-type", "a type that is malformed or not allowed where it is written";
    FORMAT_MISMATCH = "E0203", "format-mismatch", "a file, table or model in another format than the one expected";
    SCHEMA_MISMATCH = "E0204", "schema-mismatch", "a table whose columns differ from the ones expected";
    INVALID_OPERATION = "E0205", "invalid-operation", "an operator applied to values it does not work on";
    CONSTRAINT_VIOLATED = "E0206", "constraint-violated", "a param's value does not satisfy its `where` constraint";
    INVALID_VALUE = "E0207", "invalid-value", "a value of the right type that is not allowed";
    INVALID_FILE_SET = "E0208", "invalid-file-set", "a `glob(…)` that is malformed, misplaced or declared with a type other than a list of files";
    EMPTY_FILE_SET = "E0209", "empty-file-set", "a `glob(…)` pattern that matches no file";
    REGISTRY_SELECTION = "E0240", "registry-selection", "a model chosen from the registry (`registry(…)`, `registry.best(…)`, `registry.top(…)`) that is malformed or that no registered version matches";
    INVALID_SAMPLE_SHEET = "E0210", "invalid-sample-sheet", "a sample sheet read by `rows(…)` that cannot be read, is empty, or does not match its schema";
    // Conditions and what a task produces.
    OPTIONAL_BINDING = "E0220", "optional-binding", "a name bound in only one branch of an `if` (so perhaps left out) passed where a value is required";
    INVALID_CONDITION = "E0221", "invalid-condition", "an `if` condition that is not a `Bool` known when the experiment is planned";
    BRANCH_MISMATCH = "E0222", "branch-mismatch", "a name bound in both branches of an `if` to calls whose outputs differ";
    INVALID_PRODUCED_LIST = "E0223", "invalid-produced-list", "a list output not declared as a list of files with one `glob(\"folder/…\")` pattern";
    PRODUCED_LIST_AS_FILE = "E0224", "produced-list-as-file", "the list of files a task produces passed where one file is expected";
    // Remote inputs.
    INVALID_REMOTE_INPUT = "E0230", "invalid-remote-input", "a data path with a scheme expc does not fetch, or a URL that names no file";
    REMOTE_NOT_A_FILE = "E0231", "remote-not-a-file", "a remote input declared as a directory or a file set: only single files are fetched";
    INVALID_GIT_INPUT = "E0232", "invalid-git-input", "a `git(repo, rev, path)` data source that is malformed or used outside a data item";
    // Blocks, resources and placement.
    UNKNOWN_FIELD = "E0300", "unknown-field", "a block sets or reads a field that does not exist";
    MISSING_FIELD = "E0301", "missing-field", "a block leaves out a required field";
    DUPLICATE_ENTRY = "E0302", "duplicate-entry", "a block sets the same field twice";
    SITE_LIMIT = "E0303", "site-limit", "a resource or task exceeds what its site profile allows";
    INVALID_PLACEMENT = "E0304", "invalid-placement", "a call is placed on a resource that cannot run it, or on none";
    INVALID_PROFILE = "E0305", "invalid-profile", "a profile or `--on` moves calls to something that is not a resource that can run them";
    UNKNOWN_PROFILE = "E0306", "unknown-profile", "`--profile` names a profile that the spec does not declare";
    // Tasks, calls and pipelines.
    MISSING_ARGUMENT = "E0400", "missing-argument", "a call does not pass a required input";
    UNKNOWN_ARGUMENT = "E0401", "unknown-argument", "a call passes an input the task does not have, twice, or without a name";
    NOT_CALLABLE = "E0402", "not-callable", "a call of something that is not a task or function, or in the wrong place";
    INVALID_INTERPOLATION = "E0403", "invalid-interpolation", "a command interpolates a value that has no single text form";
    SECRET_LEAK = "E0404", "secret-leak", "a secret used where its value could be written down";
    INVALID_SWEEP = "E0405", "invalid-sweep", "a sweep that is empty, uneven or malformed";
    INVALID_TASK = "E0406", "invalid-task", "a task without exactly one command, or with a malformed section or output";
    OVERLAPPING_OUTPUTS = "E0407", "overlapping-outputs", "two outputs of a task on one file, or one inside the other";
    INVALID_AFTER = "E0408", "invalid-after", "`after` names something that is not another call of the same pipeline";
    INVALID_LOOP = "E0409", "invalid-loop", "a `for` loop over something that is not a sweep or a list known when the experiment is planned";
    UNBOUND_SHELL_VARIABLE = "E0410", "unbound-shell-variable", "a `shell` script reads a `$name` that is not exported to it or that nothing sets";
    INVALID_REGISTER = "E0440", "invalid-register", "`register` names something other than a model output of a call, or a registry name that is not a plain name";
    INVALID_EVALUATES = "E0441", "invalid-evaluates", "`evaluates` names something other than a model input of the task";
    UNUSED = "W0500", "unused", "a param, data item or model that nothing uses";
    // Lowering to a DAG.
    UNSET_PARAM = "E0600", "unset-param", "a param without a default is given no value";
    DEPENDENCY_CYCLE = "E0601", "dependency-cycle", "calls that read each other's outputs in a cycle";
    NO_PIPELINE = "E0602", "no-pipeline", "the pipeline to plan or run does not exist";
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
