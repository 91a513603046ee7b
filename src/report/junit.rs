//! JUnit XML, for CI systems that show test reports (GitLab, Jenkins, Azure Pipelines, …).
//!
//! One `<testsuite>` per input file (named after the file), one `<testcase>` per finding. Errors
//! and warnings are `<failure>`s whose `type` is the severity; info findings are passing test
//! cases with the message in `<system-out>`. A file with no finding gets one passing test case,
//! so every linted file shows up in the report; a run with no file at all gets one passing test
//! case in a suite named `rollgate`.
//!
//! Text from the input (messages quote values from manifests) is escaped for XML 1.0, and
//! characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) are replaced by
//! visible stand-ins (Control Pictures, U+FFFD).

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{file_name, line_col};
use crate::engine::finding::Severity;
use crate::engine::lint::{LintRun, Located};

pub fn write(run: &LintRun, w: &mut dyn Write) -> io::Result<()> {
    w.write_all(to_string(run).as_bytes())
}

/// A test suite: a name and its test cases, already rendered.
struct Suite {
    name: String,
    tests: usize,
    failures: usize,
    body: String,
}

pub fn to_string(run: &LintRun) -> String {
    // Suites in source order; findings with no source (cluster objects) go last, one suite per
    // object (named by its path, `apiVersion/kind/namespace/name`).
    let mut suites: Vec<(Option<usize>, Suite)> = run
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                Some(i),
                Suite {
                    name: s.name.clone(),
                    tests: 0,
                    failures: 0,
                    body: String::new(),
                },
            )
        })
        .collect();
    for d in &run.diagnostics {
        let key = d.source.filter(|&i| i < run.sources.len());
        let name = file_name(run, d);
        let at = match suites
            .iter()
            .position(|(k, s)| *k == key && (key.is_some() || s.name == name))
        {
            Some(at) => at,
            None => {
                suites.push((
                    key,
                    Suite {
                        name: name.into_owned(),
                        tests: 0,
                        failures: 0,
                        body: String::new(),
                    },
                ));
                suites.len() - 1
            }
        };
        let suite = &mut suites[at].1;
        suite.tests += 1;
        if d.finding.severity > Severity::Info {
            suite.failures += 1;
        }
        testcase(run, d, &mut suite.body);
    }
    if suites.is_empty() {
        suites.push((
            None,
            Suite {
                name: "rollgate".into(),
                tests: 0,
                failures: 0,
                body: String::new(),
            },
        ));
    }
    for (_, s) in &mut suites {
        if s.tests == 0 {
            s.tests = 1;
            let _ = writeln!(
                s.body,
                "    <testcase name=\"no problems found\" classname=\"{}\"/>",
                attr(&s.name)
            );
        }
    }

    let tests: usize = suites.iter().map(|(_, s)| s.tests).sum();
    let failures: usize = suites.iter().map(|(_, s)| s.failures).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"rollgate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    for (_, s) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
            attr(&s.name),
            s.tests,
            s.failures
        );
        out.push_str(&s.body);
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(run: &LintRun, d: &Located, out: &mut String) {
    let f = &d.finding;
    let file = file_name(run, d);
    let name = match d.span {
        Some(_) => {
            let (line, col) = line_col(d);
            format!("{} at {line}:{col}", f.rule)
        }
        None => f.rule.to_owned(),
    };
    let line_attr = match d.span {
        Some(_) => format!(" line=\"{}\"", line_col(d).0),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"{line_attr}>",
        attr(&name),
        attr(&file),
        attr(&file)
    );

    // The body: the place, the object, the related places and the help, one per line.
    let mut body = String::new();
    match d.span {
        Some(_) => {
            let (line, col) = line_col(d);
            let _ = writeln!(body, "{file}:{line}:{col}: {}: {}", f.severity, f.message);
        }
        None => {
            let _ = writeln!(body, "{file}: {}: {}", f.severity, f.message);
        }
    }
    if let Some(o) = &f.object {
        let _ = writeln!(body, "object: {o}");
    }
    if !f.pointer.is_empty() {
        let _ = writeln!(body, "pointer: {}", f.pointer);
    }
    for r in &d.related {
        let rfile = r
            .source
            .and_then(|s| run.sources.get(s))
            .map_or("-", |s| s.name.as_str());
        match r.span {
            Some(s) => {
                let _ = writeln!(
                    body,
                    "related: {rfile}:{}:{}: {}",
                    s.start.line, s.start.column, r.message
                );
            }
            None => {
                let _ = writeln!(body, "related: {rfile}: {}", r.message);
            }
        }
    }
    if let Some(h) = &f.help {
        let _ = writeln!(body, "help: {h}");
    }
    let _ = writeln!(body, "rule: {}", super::help_uri(f.rule));

    if f.severity > Severity::Info {
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            attr(&f.message),
            f.severity,
            text(&body)
        );
    } else {
        let _ = writeln!(out, "      <system-out>{}</system-out>", text(&body));
    }
    out.push_str("    </testcase>\n");
}

/// A character XML 1.0 allows (production `Char`), else a visible stand-in.
fn xml_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        '\0'..='\x1f' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
        c => c,
    }
}

/// Escape character data.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A CR would be normalised away by the parser; keep it as a reference.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape an attribute value (double-quoted). Whitespace characters become references, since
/// attribute-value normalisation would turn them into spaces.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        assert_eq!(
            attr("a<b>&\"c'\n\u{1b}\u{ffff}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;\u{241b}\u{fffd}"
        );
        assert_eq!(text("x < y && \0"), "x &lt; y &amp;&amp; \u{2400}");
    }
}
