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
        let _ = report(d, sources, options).write(&mut cache, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
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
