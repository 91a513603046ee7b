//! rustc/ruff-style output (placeholder renderer; snippets land with the full reporter).

use std::io::{self, Write};

use super::{Options, file_name, line_col};
use crate::engine::lint::LintRun;

pub fn write(run: &LintRun, opts: &Options, w: &mut dyn Write) -> io::Result<()> {
    let _ = opts;
    for d in &run.diagnostics {
        let (line, col) = line_col(d);
        writeln!(w, "{}[{}]: {}", d.finding.severity, d.finding.rule, d.finding.message)?;
        writeln!(w, "  --> {}:{line}:{col}", file_name(run, d))?;
    }
    Ok(())
}
