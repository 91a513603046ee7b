//! GitHub Actions workflow commands: each finding becomes an annotation on the pull request.
//! https://docs.github.com/actions/reference/workflow-commands-for-github-actions

use std::io::{self, Write};

use super::{file_name, message_with_object};
use crate::engine::finding::Severity;
use crate::engine::lint::LintRun;

/// Escape data (`%`, CR, LF) as the runner expects.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn write(run: &LintRun, w: &mut dyn Write) -> io::Result<()> {
    for d in &run.diagnostics {
        let level = match d.finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = vec![format!("file={}", escape_property(&file_name(run, d)))];
        if let Some(s) = d.span {
            props.push(format!("line={}", s.start.line));
            props.push(format!("col={}", s.start.column));
            if s.end.line >= s.start.line && s.end != s.start {
                props.push(format!("endLine={}", s.end.line));
                if s.end.line == s.start.line {
                    props.push(format!("endColumn={}", s.end.column));
                }
            }
        }
        props.push(format!("title={}", escape_property(d.finding.rule)));
        writeln!(
            w,
            "::{level} {}::{}",
            props.join(","),
            escape_data(&message_with_object(d))
        )?;
    }
    Ok(())
}
