//! YAML (and JSON, a YAML subset) → `serde_json::Value` plus a span for every node.
//!
//! Built directly on `saphyr_parser` events with an explicit stack: no recursion, so deep nesting
//! cannot overflow the stack, and every resource an input can drive is bounded (`Limits`): nesting
//! depth, and the number of nodes a document may expand to through aliases (a "billion laughs"
//! document is rejected after `max_nodes`, not expanded). After a syntax error the parser cannot
//! recover, so loading restarts at the next `---` line: the documents after a broken one are still
//! linted.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError};
use serde_json::{Map, Value};

use super::scalar::resolve_plain;
use super::source::{Pos, Span};
use super::{Document, NodeSpan, ScalarKind, SpanIndex};

/// Bounds on what one input may make the loader do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of collections (Kubernetes objects are rarely deeper than 20).
    pub max_depth: usize,
    /// Nodes one document may contain once aliases are expanded.
    pub max_nodes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_nodes: 2_000_000,
        }
    }
}

/// What went wrong while loading, with its position. Becomes a finding in the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProblem {
    pub kind: ProblemKind,
    pub message: String,
    pub span: Span,
    /// Index of the document the problem is in (documents that failed to load still count).
    pub document: usize,
    pub related: Option<(Span, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not YAML/JSON at all, or a limit was hit: the document is dropped.
    Syntax,
    /// The same key twice in a mapping: the apiserver's strict decoding rejects it; the last wins.
    DuplicateKey,
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub problems: Vec<LoadProblem>,
}

/// Parse a YAML stream (or a JSON text) into documents.
pub fn load(text: &str, limits: Limits) -> Loaded {
    let mut out = Loaded::default();
    // Where the current parse attempt starts: (byte offset, line offset, char index offset).
    let mut start = Restart::default();
    let mut doc_index = 0usize;
    loop {
        let sub = &text[start.byte..];
        let mut builder = Builder::new(limits, start, &mut out, doc_index);
        let outcome = builder.run(Parser::new_from_str(sub));
        doc_index = builder.doc_index;
        match outcome {
            Ok(()) => break,
            Err(err) => {
                let pos = start.pos(err.marker());
                // A scanner error can leave a document half-built; it was dropped by the builder.
                out.problems.push(LoadProblem {
                    kind: ProblemKind::Syntax,
                    message: syntax_message(err.info()),
                    span: Span::point(pos),
                    document: doc_index,
                    related: None,
                });
                doc_index += 1;
                match next_document_start(text, start.byte, pos.line) {
                    Some(next) => start = next,
                    None => break,
                }
            }
        }
    }
    out
}

fn syntax_message(info: &str) -> String {
    let mut msg = format!("invalid YAML: {info}");
    if msg.ends_with('.') {
        msg.pop();
    }
    msg
}

/// Where a parse attempt restarts after an error, and how to map its markers back.
#[derive(Debug, Clone, Copy, Default)]
struct Restart {
    byte: usize,
    /// Lines before the restart point.
    lines: u32,
}

impl Restart {
    fn pos(&self, m: &Marker) -> Pos {
        Pos::new(self.lines + m.line() as u32, m.col() as u32 + 1)
    }
}

/// The first line after `after_line` (1-based, absolute) that starts a new document (`---`).
fn next_document_start(text: &str, from_byte: usize, after_line: u32) -> Option<Restart> {
    let mut line_no = 0u32;
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        let this = offset;
        offset += line.len();
        // The error may be reported on the `---` line itself (a flow collection left open);
        // restart strictly after the current start so that loading always makes progress.
        if line_no < after_line || this <= from_byte {
            continue;
        }
        let t = line.trim_end_matches(['\n', '\r']);
        if t == "---" || t.starts_with("--- ") || t.starts_with("---\t") {
            return Some(Restart {
                byte: this,
                lines: line_no - 1,
            });
        }
    }
    None
}

enum Frame {
    Map {
        map: Map<String, Value>,
        pointer: String,
        anchor: usize,
        start: Pos,
        key: Option<(String, Span)>,
        key_spans: HashMap<String, Span>,
        /// Values of `<<` merge keys, applied at the end for keys the mapping does not set.
        merges: Vec<Value>,
        nodes: u64,
    },
    Seq {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
        start: Pos,
        nodes: u64,
    },
}

struct Builder<'o> {
    limits: Limits,
    restart: Restart,
    out: &'o mut Loaded,
    doc_index: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, u64)>,
    spans: SpanIndex,
    root: Option<Value>,
    doc_start: Pos,
    nodes: u64,
    /// Set when a limit was hit: events are skipped until the document ends.
    skipping: Option<usize>,
}

/// Append an escaped JSON pointer segment.
pub fn push_segment(pointer: &mut String, seg: &str) {
    pointer.push('/');
    for c in seg.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

impl<'o> Builder<'o> {
    fn new(limits: Limits, restart: Restart, out: &'o mut Loaded, doc_index: usize) -> Self {
        Builder {
            limits,
            restart,
            out,
            doc_index,
            stack: Vec::new(),
            anchors: HashMap::new(),
            spans: SpanIndex::default(),
            root: None,
            doc_start: Pos::default(),
            nodes: 0,
            skipping: None,
        }
    }

    fn run(&mut self, parser: Parser<'_, saphyr_parser::StrInput<'_>>) -> Result<(), ScanError> {
        for item in parser {
            let (event, span) = item?;
            let span = Span::new(self.restart.pos(&span.start), self.restart.pos(&span.end));
            self.event(event, span);
        }
        Ok(())
    }

    fn problem(&mut self, kind: ProblemKind, message: String, span: Span) {
        self.out.problems.push(LoadProblem {
            kind,
            message,
            span,
            document: self.doc_index,
            related: None,
        });
    }

    /// Abandon the current document: report, then skip its remaining events.
    fn abandon(&mut self, message: String, span: Span) {
        self.problem(ProblemKind::Syntax, message, span);
        self.skipping = Some(self.stack.len());
        self.stack.clear();
    }

    fn event(&mut self, event: Event<'_>, span: Span) {
        if let Some(depth) = self.skipping.as_mut() {
            match event {
                Event::DocumentEnd => {
                    self.skipping = None;
                    self.finish_document(false);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => *depth += 1,
                Event::MappingEnd | Event::SequenceEnd => *depth = depth.saturating_sub(1),
                _ => {}
            }
            return;
        }
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.root = None;
                self.spans = SpanIndex::default();
                self.anchors.clear();
                self.nodes = 0;
                self.doc_start = span.start;
            }
            Event::DocumentEnd => self.finish_document(true),
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if is_key {
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some((text.into_owned(), span));
                    }
                    return;
                }
                let kind = match style {
                    ScalarStyle::Plain => ScalarKind::Plain,
                    ScalarStyle::SingleQuoted => ScalarKind::SingleQuoted,
                    ScalarStyle::DoubleQuoted => ScalarKind::DoubleQuoted,
                    ScalarStyle::Literal => ScalarKind::Literal,
                    ScalarStyle::Folded => ScalarKind::Folded,
                };
                let explicit_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !explicit_str {
                    resolve_plain(&text)
                } else {
                    Value::String(text.into_owned())
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                self.insert(value, span, Some(kind), 1, 1);
            }
            Event::Alias(id) => {
                let Some((value, count)) = self.anchors.get(&id).cloned() else {
                    self.abandon("invalid YAML: alias to an unknown anchor".into(), span);
                    return;
                };
                if self.nodes.saturating_add(count) > self.limits.max_nodes {
                    let max = self.limits.max_nodes;
                    self.abandon(
                        format!(
                            "document expands to more than {max} nodes through aliases (alias bomb?); not loaded"
                        ),
                        span,
                    );
                    return;
                }
                if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
                    self.abandon(
                        "aliases used as mapping keys are not supported".into(),
                        span,
                    );
                    return;
                }
                self.insert(value, span, None, count, count);
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
                    self.abandon(
                        "complex mapping keys (a collection used as a key) are not supported"
                            .into(),
                        span,
                    );
                    return;
                }
                if self.stack.len() >= self.limits.max_depth {
                    let max = self.limits.max_depth;
                    self.abandon(
                        format!("nesting deeper than {max} levels; document not loaded"),
                        span,
                    );
                    return;
                }
                self.nodes += 1;
                let pointer = self.child_pointer();
                let frame = if is_map {
                    Frame::Map {
                        map: Map::new(),
                        pointer,
                        anchor,
                        start: span.start,
                        key: None,
                        key_spans: HashMap::new(),
                        merges: Vec::new(),
                        nodes: 1,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        pointer,
                        anchor,
                        start: span.start,
                        nodes: 1,
                    }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (value, anchor, start, nodes) = match frame {
                    Frame::Map {
                        mut map,
                        anchor,
                        start,
                        merges,
                        nodes,
                        ..
                    } => {
                        // YAML 1.1 merge keys (go-yaml v2 honours them): explicit keys win.
                        for merged in merges {
                            let sources = match merged {
                                Value::Array(items) => items,
                                other => vec![other],
                            };
                            for src in sources {
                                if let Value::Object(m) = src {
                                    for (k, v) in m {
                                        map.entry(k).or_insert(v);
                                    }
                                }
                            }
                        }
                        (Value::Object(map), anchor, start, nodes)
                    }
                    Frame::Seq {
                        items,
                        anchor,
                        start,
                        nodes,
                        ..
                    } => (Value::Array(items), anchor, start, nodes),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), nodes));
                }
                let full = Span::new(start, span.end.max(start));
                self.insert(value, full, None, nodes, 0);
            }
        }
    }

    /// The pointer of the node about to be inserted into the top frame.
    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Map { pointer, key, .. }) => {
                let mut p = pointer.clone();
                push_segment(&mut p, key.as_ref().map(|(k, _)| k.as_str()).unwrap_or(""));
                p
            }
            Some(Frame::Seq { pointer, items, .. }) => format!("{pointer}/{}", items.len()),
        }
    }

    /// Insert a finished node into the top frame. `count` is the node's subtree size (for
    /// anchors); `fresh` is how many nodes it adds to the document (collections were counted when
    /// they started).
    fn insert(
        &mut self,
        value: Value,
        span: Span,
        scalar: Option<ScalarKind>,
        count: u64,
        fresh: u64,
    ) {
        self.nodes = self.nodes.saturating_add(fresh);
        if self.nodes > self.limits.max_nodes {
            let max = self.limits.max_nodes;
            self.abandon(
                format!("document has more than {max} nodes; not loaded"),
                span,
            );
            return;
        }
        let pointer = self.child_pointer();
        match self.stack.last_mut() {
            None => {
                self.spans.insert(
                    pointer,
                    NodeSpan {
                        key: None,
                        value: span,
                        scalar,
                    },
                );
                self.root = Some(value);
            }
            Some(Frame::Seq { items, nodes, .. }) => {
                *nodes = nodes.saturating_add(count);
                items.push(value);
                self.spans.insert(
                    pointer,
                    NodeSpan {
                        key: None,
                        value: span,
                        scalar,
                    },
                );
            }
            Some(Frame::Map {
                map,
                key,
                key_spans,
                merges,
                nodes,
                ..
            }) => {
                *nodes = nodes.saturating_add(count);
                let Some((k, key_span)) = key.take() else {
                    return;
                };
                if k == "<<" {
                    merges.push(value);
                    return;
                }
                let mut duplicate = None;
                if let Some(first) = key_spans.get(&k) {
                    duplicate = Some(*first);
                } else {
                    key_spans.insert(k.clone(), key_span);
                }
                map.insert(k.clone(), value);
                self.spans.insert(
                    pointer,
                    NodeSpan {
                        key: Some(key_span),
                        value: span,
                        scalar,
                    },
                );
                if let Some(first) = duplicate {
                    self.out.problems.push(LoadProblem {
                        kind: ProblemKind::DuplicateKey,
                        message: format!(
                            "duplicate key \"{k}\": the apiserver rejects it (strict decoding); other tools keep only the last value"
                        ),
                        span: key_span,
                        document: self.doc_index,
                        related: Some((first, "first defined here".into())),
                    });
                }
            }
        }
    }

    fn finish_document(&mut self, loaded: bool) {
        let spans = std::mem::take(&mut self.spans);
        let root = self.root.take();
        if loaded {
            self.out.documents.push(Document {
                index: self.doc_index,
                value: root.unwrap_or(Value::Null),
                spans,
                start: self.doc_start,
            });
        }
        self.anchors.clear();
        self.stack.clear();
        self.nodes = 0;
        self.doc_index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Document {
        let l = load(text, Limits::default());
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert_eq!(l.documents.len(), 1);
        l.documents.into_iter().next().unwrap()
    }

    #[test]
    fn block_and_flow_positions() {
        let d = one("a:\n  b: [1, {c: 'x'}]\n  \"q k\": v\n");
        assert_eq!(d.value, json!({"a": {"b": [1, {"c": "x"}], "q k": "v"}}));
        let s = d.spans.get("/a/b/1/c").unwrap();
        assert_eq!(s.key.unwrap().start, Pos::new(2, 11));
        assert_eq!(s.value.start, Pos::new(2, 14));
        let s = d.spans.get("/a/q k").unwrap();
        assert_eq!(s.key.unwrap().start, Pos::new(3, 3));
        assert_eq!(s.value.start, Pos::new(3, 10));
    }

    #[test]
    fn multi_document_and_error_recovery() {
        let l = load(
            "a: 1\n---\nb: [\n---\nc: 3\n",
            Limits::default(),
        );
        assert_eq!(l.documents.len(), 2);
        assert_eq!(l.documents[1].value, json!({"c": 3}));
        assert_eq!(l.documents[1].spans.get("/c").unwrap().value.start, Pos::new(5, 4));
        assert_eq!(l.problems.len(), 1);
        assert_eq!(l.problems[0].document, 1);
        assert_eq!(l.documents[1].index, 2);
    }

    #[test]
    fn duplicate_keys_are_reported_and_last_wins() {
        let l = load("a: 1\na: 2\n", Limits::default());
        assert_eq!(l.documents[0].value, json!({"a": 2}));
        assert_eq!(l.problems[0].kind, ProblemKind::DuplicateKey);
        assert_eq!(l.problems[0].span.start, Pos::new(2, 1));
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let l = load(&text, Limits::default());
        assert!(l.documents.is_empty());
        assert!(l.problems[0].message.contains("alias"), "{:?}", l.problems);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "- ".repeat(100_000) + "x\n";
        let l = load(&text, Limits::default());
        assert!(l.documents.is_empty());
        assert!(l.problems[0].message.contains("nesting"));
        let text = "[".repeat(100_000);
        let l = load(&text, Limits::default());
        assert!(l.documents.is_empty());
        assert!(!l.problems.is_empty());
    }

    #[test]
    fn merge_keys() {
        let d = one("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        assert_eq!(d.value["m"], json!({"y": 3, "x": 1}));
    }
}
