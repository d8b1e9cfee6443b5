//! The README's output samples, held to what expc prints: each ```text block after a
//! `<!-- sample: COMMAND -->` line is compared with the output of COMMAND, run in a
//! scratch copy of what it names, so a sample whose ids or wording drift fails here.
//!
//! The marker: `<!-- sample: expc ARGS… -->`, optionally followed by `; PATH = SOURCE`
//! pairs that copy a repository file to PATH in the scratch folder first. Every argument
//! holding a `/` names a repository path whose folder is copied to the same place.
//!
//! The rule: the sample's lines, trailing spaces aside, are lines of the output (standard
//! output, then standard error) in the same order, each right after the one before it,
//! except where the sample has a line `…`, which stands for any number of lines.

use std::path::Path;
use std::process::Command;

use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    let cases = samples()
        .into_iter()
        .map(|s| (slug(&s.command), s))
        .collect::<Vec<_>>();
    assert!(!cases.is_empty(), "the README has no `<!-- sample: … -->`");
    suite.each("readme_sample_matches_output", cases, sample_matches_output);
}

#[derive(Debug)]
struct Sample {
    /// `expc …` as written.
    command: String,
    /// Files to copy first: (path in the scratch folder, repository path).
    files: Vec<(String, String)>,
    /// The sample's lines, as the README shows them without its indentation.
    lines: Vec<String>,
}

fn samples() -> Vec<Sample> {
    let readme = std::fs::read_to_string(expc_tests::root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- sample:")
            .and_then(|m| m.strip_suffix("-->"))
        else {
            continue;
        };
        let mut parts = marker.split(';').map(str::trim);
        let command = parts.next().unwrap().to_owned();
        let files = parts
            .map(|p| {
                let (to, from) = p.split_once('=').unwrap_or_else(|| {
                    panic!("README line {}: `{p}` is not `PATH = SOURCE`", i + 1)
                });
                (to.trim().to_owned(), from.trim().to_owned())
            })
            .collect();
        let fence = lines[i + 1];
        assert_eq!(
            fence.trim(),
            "```text",
            "README line {}: a sample marker must be followed by a ```text block",
            i + 2
        );
        let indent = fence.len() - fence.trim_start().len();
        let block = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .map(|l| l.get(indent..).unwrap_or("").trim_end().to_owned())
            .collect();
        out.push(Sample {
            command,
            files,
            lines: block,
        });
    }
    out
}

/// A test name from a command: its words, lowercase, joined by `_`.
fn slug(command: &str) -> String {
    let words: String = command
        .split_whitespace()
        .skip(1)
        .map(|w| {
            Path::new(w)
                .file_stem()
                .map_or(w.to_owned(), |s| s.to_string_lossy().into_owned())
        })
        .map(|w| {
            w.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_");
    words.trim_matches('_').to_owned()
}

fn sample_matches_output(sample: Sample) {
    let dir = expc_tests::temp_path("readme", &slug(&sample.command));
    std::fs::create_dir_all(&dir).unwrap();
    let root = expc_tests::root();
    for (to, from) in &sample.files {
        let target = dir.join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(root.join(from), &target).unwrap();
    }
    let words: Vec<&str> = sample.command.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"expc"), "{}", sample.command);
    for word in &words[1..] {
        if let Some((folder, _)) = word.rsplit_once('/')
            && root.join(folder).is_dir()
        {
            expc_tests::copy_dir(&root.join(folder), &dir.join(folder));
        }
    }
    let out = Command::new(expc_tests::expc())
        .args(&words[1..])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<&str> = printed.lines().map(str::trim_end).collect();
    if let Err(line) = follows(&sample.lines, &printed) {
        panic!(
            "the README's sample of `{}` no longer matches at its line `{line}`; expc prints:\n{}",
            sample.command,
            printed.join("\n")
        );
    }
}

/// Whether `sample` is found in `printed` by the rule of this file's opening comment;
/// else the first sample line that is not.
fn follows<'s>(sample: &'s [String], printed: &[&str]) -> Result<(), &'s str> {
    let mut at = 0;
    let mut gap = true;
    for line in sample {
        if line.trim() == "…" {
            gap = true;
            continue;
        }
        let found = if gap {
            printed[at..].iter().position(|p| p == line).map(|i| at + i)
        } else {
            (printed.get(at) == Some(&line.as_str())).then_some(at)
        };
        match found {
            Some(i) => at = i + 1,
            None => return Err(line),
        }
        gap = false;
    }
    Ok(())
}
