//! The JSON interface (stable; documented in docs/output.md "JSON output"):
//! `{"version": 1, "findings": [...], "summary": {...}}`. Positions are 1-based, columns count
//! characters, `end_*` is exclusive; `line`/`column` are `null` for findings with no place.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::file_name;
use crate::engine::lint::LintRun;
use crate::manifest::Span;

fn span_fields(span: Option<Span>) -> [(&'static str, Value); 4] {
    match span {
        Some(s) => [
            ("line", json!(s.start.line)),
            ("column", json!(s.start.column)),
            ("end_line", json!(s.end.line)),
            ("end_column", json!(s.end.column)),
        ],
        None => [
            ("line", Value::Null),
            ("column", Value::Null),
            ("end_line", Value::Null),
            ("end_column", Value::Null),
        ],
    }
}

pub fn to_value(run: &LintRun) -> Value {
    let findings: Vec<Value> = run
        .diagnostics
        .iter()
        .map(|d| {
            let mut f = serde_json::Map::new();
            f.insert("rule".into(), json!(d.finding.rule));
            f.insert("severity".into(), json!(d.finding.severity));
            f.insert("message".into(), json!(d.finding.message));
            f.insert("file".into(), json!(file_name(run, d)));
            for (k, v) in span_fields(d.span) {
                f.insert(k.into(), v);
            }
            f.insert("pointer".into(), json!(d.finding.pointer));
            f.insert("object".into(), json!(d.finding.object));
            let related: Vec<Value> = d
                .related
                .iter()
                .map(|r| {
                    let mut m = serde_json::Map::new();
                    m.insert("message".into(), json!(r.message));
                    m.insert(
                        "file".into(),
                        json!(r.source.and_then(|s| run.sources.get(s)).map(|s| &s.name)),
                    );
                    for (k, v) in span_fields(r.span) {
                        m.insert(k.into(), v);
                    }
                    m.insert("pointer".into(), json!(r.pointer));
                    m.insert("object".into(), json!(r.object));
                    Value::Object(m)
                })
                .collect();
            f.insert("related".into(), Value::Array(related));
            f.insert("help".into(), json!(d.finding.help));
            f.insert("fix".into(), super::fix_value(run, d));
            Value::Object(f)
        })
        .collect();
    json!({
        "version": 1,
        "findings": findings,
        "summary": run.summary,
    })
}

pub fn write(run: &LintRun, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &to_value(run))?;
    writeln!(w)
}
