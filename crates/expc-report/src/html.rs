//! The page: one HTML file with the styles, the vendored ECharts, the report's script and
//! its data inlined.
//!
//! The data is JSON in a `<script type="application/json">` element, read by
//! `JSON.parse`. Every `<`, `>` and `&` in it and the line separators U+2028 and U+2029
//! are written as `\uXXXX` escapes, which JSON reads back unchanged and which cannot end
//! the element (`</script>`) or open a comment (`<!--`) — whatever a spec, a param or a
//! log contains. Nothing from a run is written anywhere else in the page.

use serde::Serialize;

use crate::model::Report;

const ECHARTS: &str = include_str!("../vendor/echarts.min.js");
const SCRIPT: &str = include_str!("../assets/report.js");
const STYLE: &str = include_str!("../assets/report.css");
const BODY: &str = include_str!("../assets/report.html");

/// JSON safe to inline in a `<script>` element.
pub fn script_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).expect("report data serialises");
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn page(report: &Report) -> String {
    let data = script_json(report);
    let mut out = String::with_capacity(ECHARTS.len() + data.len() + 64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No request leaves the page: everything is inline.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:\">\n",
    );
    out.push_str("<title>expc report</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");
    out.push_str(BODY);
    out.push_str("<script type=\"application/json\" id=\"report-data\">");
    out.push_str(&data);
    out.push_str("</script>\n<script>\n");
    out.push_str(ECHARTS);
    out.push_str("\n</script>\n<script>\n");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_inside_the_data_element() {
        let hostile = "</script><script>alert(1)</script><!-- \u{2028}\u{2029} </SCRIPT > & é";
        let text = script_json(&serde_json::json!({ "spec": hostile }));
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!text.contains(bad), "{bad:?} left in {text}");
        }
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["spec"], hostile);
    }

    #[test]
    fn inlined_code_cannot_end_its_element() {
        for (name, code) in [("echarts", ECHARTS), ("report.js", SCRIPT)] {
            let lower = code.to_ascii_lowercase();
            assert!(!lower.contains("</script"), "{name} contains `</script`");
            assert!(!lower.contains("<!--"), "{name} contains `<!--`");
        }
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
    }
}
