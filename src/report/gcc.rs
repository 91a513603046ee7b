//! `file:line:col: severity: message [rule-id]`: the shape compilers print and editors'
//! problem matchers (VS Code `$gcc`, Vim `errorformat`) parse.

use std::io::{self, Write};

use super::{file_name, line_col};
use crate::engine::lint::LintRun;

pub fn write(run: &LintRun, w: &mut dyn Write) -> io::Result<()> {
    for d in &run.diagnostics {
        let (line, col) = line_col(d);
        let msg = super::message_with_field(d).replace('\n', " ");
        writeln!(
            w,
            "{}:{line}:{col}: {}: {msg} [{}]",
            file_name(run, d),
            d.finding.severity,
            d.finding.rule
        )?;
    }
    Ok(())
}
