//! The manifest loader (YAML and JSON) with positions: never a panic, every recorded span lies
//! inside the input, every node of every document can be located, and a JSON text loads to the
//! value a JSON parser reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate::manifest::input::from_bytes;
use rollgate::manifest::{Limits, Pos, Source, Span, load, push_segment};
use serde_json::Value;

fn inside(src: &Source, p: Pos, what: &str) {
    assert!(p.line >= 1 && p.column >= 1, "{what}: {p:?} is not 1-based");
    let line = src
        .line(p.line)
        .unwrap_or_else(|| panic!("{what}: line {} of {}", p.line, src.line_count()));
    let width = line.chars().count() as u32 + 1;
    // A position may point just past a line's last character (and past a `\r`).
    assert!(
        p.column <= width + 1,
        "{what}: {p:?} past the end of line {} ({width} columns)",
        p.line
    );
}

fn span_inside(src: &Source, s: Span, what: &str) {
    inside(src, s.start, what);
    inside(src, s.end, what);
    assert!(s.start <= s.end, "{what}: {s:?} ends before it starts");
}

/// Every pointer of `v`, document order.
fn pointers(v: &Value, p: &mut String, out: &mut Vec<String>) {
    out.push(p.clone());
    let len = p.len();
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                push_segment(p, k);
                pointers(c, p, out);
                p.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                push_segment(p, &i.to_string());
                pointers(c, p, out);
                p.truncate(len);
            }
        }
        _ => {}
    }
}

/// JSON equality, numbers compared as the f64 a JSON decoder would make of them.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let input = from_bytes("fuzz".into(), data.to_vec());
    if let Some((pos, _)) = &input.unusable {
        // The position of the first bad byte is in the (lossy) text kept for display.
        inside(&input.source, *pos, "unusable");
        return;
    }
    let src = &input.source;
    let loaded = load(&src.text, Limits::default());
    for p in &loaded.problems {
        span_inside(src, p.span, &p.message);
        if let Some((s, m)) = &p.related {
            span_inside(src, *s, m);
        }
    }
    for doc in &loaded.documents {
        inside(src, doc.start, "document start");
        let mut all = Vec::new();
        pointers(&doc.value, &mut String::new(), &mut all);
        for ptr in &all {
            let (_, node) = doc
                .spans
                .locate(ptr)
                .unwrap_or_else(|| panic!("no span for {ptr:?} nor any ancestor"));
            span_inside(src, node.value, ptr);
            if let Some(k) = node.key {
                span_inside(src, k, ptr);
            }
        }
    }
    // JSON is YAML: a JSON text (ASCII, no merge key) must load to what a JSON decoder reads.
    if src.text.is_ascii() && !src.text.contains("<<") {
        if let Ok(json) = serde_json::from_str::<Value>(&src.text) {
            if loaded
                .problems
                .iter()
                .all(|p| p.kind == rollgate::manifest::ProblemKind::DuplicateKey)
            {
                assert_eq!(loaded.documents.len(), 1, "{:?}", loaded.problems);
                let got = &loaded.documents[0].value;
                assert!(same(got, &json), "JSON {json} loaded as {got}");
            }
        }
    }
});
