//! The "suppress with a reason" edit: an `ignore-check.rollgate.dev/<rule>: "<reason>"`
//! annotation added to the object a finding is about (ruff's `noqa_edit`, as an annotation so
//! that the webhook honours it too). A text edit computed from the position index, standing in
//! for the fix engine's `Insert` edit until that lands: it only ever inserts whole lines before
//! an existing key, so no byte of the file is rewritten and comments survive.

use std::ops::Range;

use super::IGNORE_PREFIX;
use crate::manifest::{Source, SpanIndex};

/// Insert `content` at byte range `range` (empty for an insertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub range: Range<usize>,
    pub content: String,
}

/// The reason written when the user gives none: the suppression is invalid until it is
/// replaced (`invalid-suppression` reports an empty reason, not this one), so it reads as a
/// request.
pub const REASON_PLACEHOLDER: &str = "TODO: say why this finding does not apply";

/// The edit that suppresses `rule` on the object at `base` (its JSON pointer in the document
/// whose position index is `spans`). `None` when the object's `metadata` is not a block mapping
/// written in this document (flow style, JSON, an alias): no line can be inserted safely.
pub fn suppression_edit(
    source: &Source,
    spans: &SpanIndex,
    base: &str,
    metadata: Option<&serde_json::Value>,
    rule: &str,
    reason: &str,
) -> Option<TextEdit> {
    let metadata = metadata?.as_object()?;
    let entry = format!("{IGNORE_PREFIX}{rule}: {}", quote(reason));
    let meta_ptr = format!("{base}/metadata");
    match metadata.get("annotations") {
        Some(serde_json::Value::Object(annotations)) if !annotations.is_empty() => {
            let ptr = format!("{meta_ptr}/annotations");
            let (at, indent) = first_key(source, spans, &ptr, annotations.keys())?;
            Some(TextEdit {
                range: at..at,
                content: format!("{entry}\n{indent}"),
            })
        }
        Some(_) => None,
        None => {
            let (at, indent) = first_key(source, spans, &meta_ptr, metadata.keys())?;
            Some(TextEdit {
                range: at..at,
                content: format!("annotations:\n{indent}  {entry}\n{indent}"),
            })
        }
    }
}

/// The byte offset of the key written first among `keys` of the mapping at `ptr`, and the
/// indentation before it; `None` unless each key starts its own line (a block mapping).
fn first_key<'k>(
    source: &Source,
    spans: &SpanIndex,
    ptr: &str,
    keys: impl Iterator<Item = &'k String>,
) -> Option<(usize, String)> {
    let mut first = None;
    for k in keys {
        let mut p = ptr.to_owned();
        crate::manifest::push_segment(&mut p, k);
        let key = spans.get(&p)?.key?;
        if first.is_none_or(|f: crate::manifest::Span| key.start < f.start) {
            first = Some(key);
        }
    }
    let key = first?;
    let line = source.line(key.start.line)?;
    let at = source.offset(key.start);
    let line_start = source.offset(crate::manifest::Pos::new(key.start.line, 1));
    let indent = line.get(..at - line_start)?;
    if !indent.bytes().all(|b| b == b' ') {
        return None;
    }
    Some((at, indent.to_owned()))
}

/// A double-quoted YAML scalar.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Limits, load};

    fn apply(text: &str, rule: &str) -> Option<String> {
        let source = Source::new("t.yaml", text);
        let loaded = load(&source.text, Limits::default());
        let doc = &loaded.documents[0];
        let e = suppression_edit(
            &source,
            &doc.spans,
            "",
            doc.value.get("metadata"),
            rule,
            "canary runs in staging only",
        )?;
        let mut out = source.text.clone();
        out.replace_range(e.range, &e.content);
        Some(out)
    }

    #[test]
    fn adds_annotations_block() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  # the name\n  name: x\n";
        assert_eq!(
            apply(text, "r1").unwrap(),
            "apiVersion: v1\nkind: Service\nmetadata:\n  # the name\n  annotations:\n    ignore-check.rollgate.dev/r1: \"canary runs in staging only\"\n  name: x\n"
        );
    }

    #[test]
    fn adds_to_existing_annotations() {
        let text = "kind: S\nmetadata:\n    name: x\n    annotations:\n      a: b  # keep\n";
        let out = apply(text, "r1").unwrap();
        assert_eq!(
            out,
            "kind: S\nmetadata:\n    name: x\n    annotations:\n      ignore-check.rollgate.dev/r1: \"canary runs in staging only\"\n      a: b  # keep\n"
        );
        let again = load(&out, Limits::default());
        assert!(again.problems.is_empty());
    }

    #[test]
    fn refuses_flow_style() {
        assert_eq!(
            apply("{\"kind\": \"S\", \"metadata\": {\"name\": \"x\"}}", "r1"),
            None
        );
        assert_eq!(apply("kind: S\nmetadata: {name: x}\n", "r1"), None);
    }
}
