//! Output formats, one file each. Every reporter gets the placed findings of a run and writes
//! to a stream; none of them knows about rules.

pub mod gcc;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod sarif;

use std::io::{self, Write};

use crate::engine::lint::{LintRun, Located};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc/ruff style, with the source line and a caret (colour on a terminal).
    Human,
    /// Stable JSON: `{"findings": [...], "summary": {...}}` (see docs/output.md).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…,line=…::`).
    Github,
    /// `file:line:col: severity: message [rule-id]`, for editors' problem matchers.
    Gcc,
    /// JUnit XML, one test case per finding.
    Junit,
}

pub struct Options {
    pub color: bool,
}

pub fn write(format: Format, run: &LintRun, opts: &Options, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => human::write(run, opts, w),
        Format::Json => json::write(run, w),
        Format::Sarif => sarif::write(run, w),
        Format::Github => github::write(run, w),
        Format::Gcc => gcc::write(run, w),
        Format::Junit => junit::write(run, w),
    }
}

/// The file name a finding is shown under: its source; for an object with no file (a cluster
/// object, `rollgate audit`) the object's path `apiVersion/kind/namespace/name`
/// (`apps/v1/Deployment/prod/web`, `v1/Service/prod/web`; no namespace segment for
/// cluster-scoped objects); else `-`.
pub fn file_name<'r>(run: &'r LintRun, d: &'r Located) -> std::borrow::Cow<'r, str> {
    if let Some(s) = d.source.and_then(|s| run.sources.get(s)) {
        return std::borrow::Cow::Borrowed(s.name.as_str());
    }
    match &d.finding.object {
        Some(o) if !o.name.is_empty() => std::borrow::Cow::Owned(object_path(o)),
        _ => std::borrow::Cow::Borrowed("-"),
    }
}

/// `apiVersion/kind/namespace/name` (no namespace segment for cluster-scoped objects).
pub fn object_path(o: &crate::engine::ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{}/{}/{ns}/{}", o.api_version, o.kind, o.name),
        None => format!("{}/{}/{}", o.api_version, o.kind, o.name),
    }
}

/// The message, followed by the field it is about when the finding has no position (a cluster
/// object: `… (at spec.http[0].route)`), for one-line formats.
pub fn message_with_field(d: &Located) -> String {
    if d.span.is_none() && d.source.is_none() && !d.finding.pointer.is_empty() {
        format!(
            "{} (at {})",
            d.finding.message,
            crate::webhook::review::dotted_path(&d.finding.pointer)
        )
    } else {
        d.finding.message.clone()
    }
}

/// 1-based line and column of a finding (1:1 when it has no position).
pub fn line_col(d: &Located) -> (u32, u32) {
    d.span
        .map(|s| (s.start.line.max(1), s.start.column.max(1)))
        .unwrap_or((1, 1))
}

/// The documentation URL of a rule.
pub fn help_uri(rule: &str) -> String {
    format!("https://github.com/rollgate/rollgate/blob/main/rules/{rule}.md")
}

/// The message with the object it is about, for one-line formats.
pub fn message_with_object(d: &Located) -> String {
    match &d.finding.object {
        Some(o) if !o.name.is_empty() => format!("{} ({o})", message_with_field(d)),
        _ => message_with_field(d),
    }
}

/// A finding's fix as JSON (additive to the version 1 interface): applicability, message, why it
/// cannot be applied (if so), and the edits with 1-based positions (end exclusive, columns in
/// characters) and byte ranges of the source text (which excludes a byte order mark).
pub fn fix_value(run: &LintRun, d: &Located) -> serde_json::Value {
    use serde_json::json;
    let Some(fix) = &d.fix else {
        return serde_json::Value::Null;
    };
    let src = d.source.and_then(|s| run.sources.get(s));
    let edits: Vec<serde_json::Value> = fix
        .edits
        .iter()
        .filter_map(|e| {
            let src = src?;
            let (a, b) = (src.pos(e.range.start), src.pos(e.range.end));
            Some(json!({
                "content": e.content,
                "line": a.line,
                "column": a.column,
                "end_line": b.line,
                "end_column": b.column,
                "start_byte": e.range.start,
                "end_byte": e.range.end,
            }))
        })
        .collect();
    json!({
        "applicability": fix.applicability,
        "message": fix.message,
        "refused": fix.refused,
        "edits": edits,
    })
}
