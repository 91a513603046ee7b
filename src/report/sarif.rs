//! SARIF 2.1.0 (OASIS), for GitHub code scanning and other SARIF viewers.
//!
//! One run. `tool.driver.rules` describes every rule rollgate knows (registered rules and the
//! engine's own diagnostics) briefly: its one-sentence summary, default level, and `helpUri`,
//! the rule's documentation (not embedded: the log stays small). Regions are the real positions of the nodes (1-based lines, columns
//! in Unicode code points as `run.columnKind` says, end exclusive); a result with no place in a
//! file (an object from the cluster) has a logical location only. Relative file names are given
//! relative to `%SRCROOT%`, the directory rollgate ran in. Each result carries a
//! `partialFingerprints` entry built from rule, object and JSON pointer, so viewers can follow a
//! finding across edits that move its line.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::{file_name, help_uri};
use crate::engine::finding::Severity;
use crate::engine::lint::{LintRun, Located};
use crate::engine::object::ObjectRef;
use crate::engine::rule::RuleMeta;
use crate::manifest::Span;

pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/rollgate/rollgate";
const SRCROOT: &str = "%SRCROOT%";
const FINGERPRINT_KEY: &str = "rollgate/v1";

pub fn write(run: &LintRun, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &to_value(run))?;
    writeln!(w)
}

pub fn to_value(run: &LintRun) -> Value {
    let metas = crate::engine::all_metas();
    let mut rules: Vec<Value> = metas.iter().map(|m| rule_descriptor(m)).collect();
    let mut rule_index: HashMap<&str, usize> =
        metas.iter().enumerate().map(|(i, m)| (m.id, i)).collect();

    let artifacts: Vec<Value> = run
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| json!({ "location": artifact_location(&s.name, i) }))
        .collect();

    let mut seen: HashMap<u64, u32> = HashMap::new();
    let results: Vec<Value> = run
        .diagnostics
        .iter()
        .map(|d| {
            let id = d.finding.rule;
            let index = *rule_index.entry(id).or_insert_with(|| {
                // Not in the registry (cannot happen for findings from this engine): describe it
                // minimally so `ruleIndex` stays valid.
                rules.push(json!({ "id": id, "helpUri": help_uri(id) }));
                rules.len() - 1
            });
            result(run, d, index, &mut seen)
        })
        .collect();

    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "rollgate",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "artifacts": artifacts,
            "results": results,
            "properties": { "summary": run.summary },
        }],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule_descriptor(m: &RuleMeta) -> Value {
    let summary = m.summary();
    let short = if summary.is_empty() {
        m.id.to_owned()
    } else {
        summary
    };
    // Kept to what viewers show; the kinds a rule reads and the rest are on its page (helpUri).
    json!({
        "id": m.id,
        "shortDescription": { "text": short },
        "help": brief_help(m.id),
        "helpUri": help_uri(m.id),
        "defaultConfiguration": { "level": level(m.severity) },
    })
}

/// A rule's `help`: where its documentation is, not the documentation itself (embedding every
/// rule's `rules/<id>.md` made the log of a three-finding run 410 KB; viewers link `helpUri`).
fn brief_help(id: &str) -> Value {
    json!({ "text": format!("`rollgate explain {id}` prints the rule's documentation (helpUri)") })
}

fn result(run: &LintRun, d: &Located, rule_index: usize, seen: &mut HashMap<u64, u32>) -> Value {
    let f = &d.finding;
    let mut r = Map::new();
    r.insert("ruleId".into(), json!(f.rule));
    r.insert("ruleIndex".into(), json!(rule_index));
    r.insert("level".into(), json!(level(f.severity)));
    r.insert("message".into(), json!({ "text": f.message }));

    let primary = location(run, d.source, d.span, f.object.as_ref());
    if !primary.is_empty() {
        r.insert("locations".into(), json!([primary]));
    }
    if !d.related.is_empty() {
        let related: Vec<Value> = d
            .related
            .iter()
            .enumerate()
            .map(|(i, rel)| {
                let mut l = location(run, rel.source, rel.span, rel.object.as_ref());
                l.insert("id".into(), json!(i + 1));
                l.insert("message".into(), json!({ "text": rel.message }));
                Value::Object(l)
            })
            .collect();
        r.insert("relatedLocations".into(), Value::Array(related));
    }

    // Identity that survives edits moving the node: rule, object, pointer (or, for findings
    // about text, the file and message), plus an occurrence count for exact repeats.
    let key = match &f.object {
        Some(o) => format!(
            "{}\0{}\0{}\0{}\0{}\0{}",
            f.rule,
            o.api_version,
            o.kind,
            o.namespace.as_deref().unwrap_or(""),
            o.name,
            f.pointer
        ),
        None => format!("{}\0{}\0{}", f.rule, file_name(run, d), f.message),
    };
    let h = fnv1a(key.as_bytes());
    let n = seen.entry(h).or_insert(0);
    *n += 1;
    r.insert(
        "partialFingerprints".into(),
        json!({ FINGERPRINT_KEY: format!("{h:016x}:{n}") }),
    );

    if let Some(fixes) = fixes(run, d) {
        r.insert("fixes".into(), fixes);
    }

    let mut props = Map::new();
    props.insert("pointer".into(), json!(f.pointer));
    if let Some(o) = &f.object {
        props.insert("object".into(), json!(o));
    }
    if let Some(h) = &f.help {
        props.insert("help".into(), json!(h));
    }
    r.insert("properties".into(), Value::Object(props));
    Value::Object(r)
}

/// SARIF `fixes` (§3.55): the finding's fix when it can be applied as text (safe or unsafe;
/// the unsafe ones say so in their description).
fn fixes(run: &LintRun, d: &Located) -> Option<Value> {
    let fix = d.fix.as_ref()?;
    let i = d.source?;
    let src = run.sources.get(i)?;
    if fix.edits.is_empty() || fix.applicability == crate::engine::Applicability::DisplayOnly {
        return None;
    }
    let replacements: Vec<Value> = fix
        .edits
        .iter()
        .map(|e| {
            let (a, b) = (src.pos(e.range.start), src.pos(e.range.end));
            json!({
                "deletedRegion": {
                    "startLine": a.line,
                    "startColumn": a.column,
                    "endLine": b.line,
                    "endColumn": b.column,
                },
                "insertedContent": { "text": e.content },
            })
        })
        .collect();
    let text = match fix.applicability {
        crate::engine::Applicability::Safe => fix.message.clone(),
        _ => format!("{} (unsafe fix: changes behaviour)", fix.message),
    };
    Some(json!([{
        "description": { "text": text },
        "artifactChanges": [{
            "artifactLocation": Value::Object(artifact_location(&src.name, i)),
            "replacements": replacements,
        }],
    }]))
}

/// A SARIF `location`: physical when the place is in a source, logical when an object is known.
fn location(
    run: &LintRun,
    source: Option<usize>,
    span: Option<Span>,
    object: Option<&ObjectRef>,
) -> Map<String, Value> {
    let mut l = Map::new();
    if let Some((i, src)) = source.and_then(|i| run.sources.get(i).map(|s| (i, s))) {
        let mut phys = Map::new();
        phys.insert(
            "artifactLocation".into(),
            Value::Object(artifact_location(&src.name, i)),
        );
        if let Some(region) = span.and_then(region) {
            phys.insert("region".into(), region);
        }
        l.insert("physicalLocation".into(), Value::Object(phys));
    }
    if let Some(o) = object {
        let mut props = Map::new();
        props.insert("apiVersion".into(), json!(o.api_version));
        props.insert("kind".into(), json!(o.kind));
        if let Some(ns) = &o.namespace {
            props.insert("namespace".into(), json!(ns));
        }
        props.insert("name".into(), json!(o.name));
        l.insert(
            "logicalLocations".into(),
            json!([{
                "name": o.name,
                "fullyQualifiedName": o.to_string(),
                "kind": "resource",
                "properties": props,
            }]),
        );
    }
    l
}

/// A region from a span; `None` for a span with no line (nothing to point at).
fn region(span: Span) -> Option<Value> {
    let s = span.start;
    if s.line == 0 {
        return None;
    }
    let start_column = s.column.max(1);
    let (end_line, end_column) =
        if span.end.line < s.line || (span.end.line == s.line && span.end.column < start_column) {
            (s.line, start_column)
        } else {
            (span.end.line, span.end.column.max(1))
        };
    Some(json!({
        "startLine": s.line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    }))
}

/// The `artifactLocation` of a source: a relative reference against `%SRCROOT%` for relative
/// names (as given on the command line), a `file:` URI for absolute paths.
fn artifact_location(name: &str, index: usize) -> Map<String, Value> {
    let path = if std::path::MAIN_SEPARATOR == '\\' {
        name.replace('\\', "/")
    } else {
        name.to_owned()
    };
    let mut l = Map::new();
    let bytes = path.as_bytes();
    let is_drive =
        bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'/';
    if let Some(rest) = path.strip_prefix('/') {
        l.insert("uri".into(), json!(format!("file:///{}", encode(rest))));
    } else if is_drive {
        l.insert(
            "uri".into(),
            json!(format!("file:///{}:/{}", &path[..1], encode(&path[3..]))),
        );
    } else {
        let mut rel = path.as_str();
        while let Some(r) = rel.strip_prefix("./") {
            rel = r;
        }
        l.insert("uri".into(), json!(encode(rel)));
        l.insert("uriBaseId".into(), json!(SRCROOT));
    }
    l.insert("index".into(), json!(index));
    l
}

/// Percent-encode everything but unreserved characters and `/` (RFC 3986), so that any file
/// name, including one with `:` in its first segment, `#`, `%`, spaces or non-ASCII, is a valid
/// URI reference to itself.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// FNV-1a, 64 bit: stable across versions and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_become_uri_references() {
        let rel = artifact_location("./deploy/a b#1:é.yaml", 0);
        assert_eq!(rel["uri"], "deploy/a%20b%231%3A%C3%A9.yaml");
        assert_eq!(rel["uriBaseId"], SRCROOT);
        let abs = artifact_location("/srv/x.yaml", 2);
        assert_eq!(abs["uri"], "file:///srv/x.yaml");
        assert!(abs.get("uriBaseId").is_none());
        assert_eq!(abs["index"], 2);
    }

    #[test]
    fn backwards_span_is_an_insertion_point() {
        let r = region(Span::new(
            crate::manifest::Pos::new(3, 4),
            crate::manifest::Pos::new(2, 1),
        ))
        .unwrap();
        assert_eq!(r["endLine"], 3);
        assert_eq!(r["endColumn"], 4);
        assert!(region(Span::default()).is_none());
    }
}
