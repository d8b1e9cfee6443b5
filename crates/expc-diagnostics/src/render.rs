//! Rendering diagnostics for a terminal, with ariadne.

use ariadne::{Color, Config, IndexType, Label as AriadneLabel, Report, ReportKind};

use crate::{Diagnostic, Severity, SourceMap};

/// How to render: with or without ANSI colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    pub color: bool,
}

/// Renders one diagnostic against its sources. Spans are byte offsets (ariadne is set to
/// byte indexing, so labels stay in place on non-ASCII text).
pub fn render(diagnostic: &Diagnostic, sources: &SourceMap, options: RenderOptions) -> String {
    render_all(std::slice::from_ref(diagnostic), sources, options)
}

/// Renders many diagnostics, one after the other, reading each source once.
pub fn render_all(
    diagnostics: &[Diagnostic],
    sources: &SourceMap,
    options: RenderOptions,
) -> String {
    let mut cache = ariadne::sources(
        sources
            .files()
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::new();
    for d in diagnostics {
        // Writing into a Vec cannot fail; a source that cannot be fetched renders without it.
        match too_long_to_quote(d, sources) {
            None => {
                let _ = report(d, sources, options).write(&mut cache, &mut out);
            }
            Some(note) => out.extend(unquoted(d, &note).into_bytes()),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The longest line a diagnostic quotes. A longer one (minified data, a generated file, a
/// template never closed) would be printed whole under every label: the diagnostic then
/// says where instead of quoting.
pub const MAX_QUOTED_LINE: usize = 1_000;

/// For a diagnostic with a label on a line longer than [`MAX_QUOTED_LINE`], a note that
/// says where it is and why it is not quoted.
fn too_long_to_quote(diagnostic: &Diagnostic, sources: &SourceMap) -> Option<String> {
    let long = diagnostic.labels.iter().find_map(|label| {
        let file = sources.get(label.span.file)?;
        [label.span.start, label.span.end]
            .into_iter()
            .map(|offset| (offset, file.line_len(offset)))
            .find(|(_, len)| *len > MAX_QUOTED_LINE)
            .map(|(offset, len)| (file, offset, len))
    })?;
    let (file, offset, len) = long;
    let at = file.line_col(diagnostic.span().start);
    let line = file.line_col(offset).line;
    Some(format!(
        "at {}:{}:{} (line {line} is {len} bytes long, too long to quote)",
        file.name, at.line, at.column
    ))
}

/// A diagnostic drawn like ariadne draws it, with `note` where the quoted source would be.
fn unquoted(diagnostic: &Diagnostic, note: &str) -> String {
    let kind = match diagnostic.severity {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
        Severity::Note => "Advice",
    };
    let mut text = format!(
        "[{}] {kind}: {}\n   │\n   │ {note}\n",
        diagnostic.code.id, diagnostic.message
    );
    for label in diagnostic.labels.iter().filter(|l| !l.message.is_empty()) {
        text.push_str(&format!("   │ - {}\n", label.message));
    }
    if let Some(help) = &diagnostic.help {
        text.push_str(&format!("   │ Help: {help}\n"));
    }
    for n in &diagnostic.notes {
        text.push_str(&format!("   │ Note: {n}\n"));
    }
    text.push_str("───╯\n");
    text
}

fn report<'a>(
    diagnostic: &'a Diagnostic,
    sources: &SourceMap,
    options: RenderOptions,
) -> Report<'a, (String, std::ops::Range<usize>)> {
    let name_of = |span: crate::Span| {
        sources
            .get(span.file)
            .map_or_else(|| "<unknown>".to_owned(), |f| f.name.clone())
    };
    let primary = diagnostic.span();
    let kind = match diagnostic.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Note => ReportKind::Advice,
    };
    let config = Config::default()
        .with_color(options.color)
        .with_index_type(IndexType::Byte);
    let mut report = Report::build(kind, (name_of(primary), clamp(primary, sources)))
        .with_config(config)
        .with_code(diagnostic.code.id)
        .with_message(&diagnostic.message);
    for (i, label) in diagnostic.labels.iter().enumerate() {
        let mut l = AriadneLabel::new((name_of(label.span), clamp(label.span, sources)))
            .with_order(i as i32);
        // ariadne draws no underline for a label without a message.
        let message = match (label.message.is_empty(), i) {
            (false, _) => label.message.as_str(),
            (true, 0) => "here",
            (true, _) => "related",
        };
        l = l.with_message(message);
        if options.color {
            l = l.with_color(if i == 0 {
                match diagnostic.severity {
                    Severity::Error => Color::Red,
                    Severity::Warning => Color::Yellow,
                    Severity::Note => Color::Cyan,
                }
            } else {
                Color::Blue
            });
        }
        report = report.with_label(l);
    }
    if let Some(help) = &diagnostic.help {
        report = report.with_help(help);
    }
    for note in &diagnostic.notes {
        report = report.with_note(note);
    }
    report.finish()
}

/// Keeps a span inside its file and on character boundaries, so rendering never panics.
fn clamp(span: crate::Span, sources: &SourceMap) -> std::ops::Range<usize> {
    let Some(file) = sources.get(span.file) else {
        return 0..0;
    };
    let len = file.text.len();
    let mut start = (span.start as usize).min(len);
    let mut end = (span.end as usize).clamp(start, len);
    while !file.text.is_char_boundary(start) {
        start -= 1;
    }
    while !file.text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::{MAX_QUOTED_LINE, RenderOptions, render};
    use crate::{Code, Diagnostic, SourceMap, Span};

    #[test]
    fn a_line_too_long_is_located_not_quoted() {
        let long = format!("let x = `{}\n", "ab ".repeat(1_000_000));
        let mut sources = SourceMap::new();
        let file = sources.add("long.exp", format!("experiment e {{}}\n{long}"));
        let d = Diagnostic::error(
            Code::UNTERMINATED_TEMPLATE,
            "unterminated template",
            Span::new(file, 24, 25),
        );
        let text = render(&d, &sources, RenderOptions { color: false });
        assert!(
            text.len() < 2 * MAX_QUOTED_LINE,
            "{} bytes printed",
            text.len()
        );
        assert!(text.contains("long.exp:2:9"), "{text}");
        assert!(text.contains("too long to quote"), "{text}");

        // A short line is quoted as before.
        let file = sources.add("short.exp", "experiment e {}\nlet x = `ab\n");
        let d = Diagnostic::error(
            Code::UNTERMINATED_TEMPLATE,
            "unterminated template",
            Span::new(file, 24, 25),
        );
        let text = render(&d, &sources, RenderOptions { color: false });
        assert!(text.contains("let x = `ab"), "{text}");
    }
}
