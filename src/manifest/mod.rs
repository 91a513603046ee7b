//! Located manifests: inputs become `serde_json::Value` documents plus an index from JSON pointer
//! to source span. Everything about positions lives here; rules only name JSON pointers.

pub mod input;
pub mod locate;
pub mod scalar;
pub mod source;
pub mod yaml;

use std::collections::HashMap;

use serde_json::Value;

pub use source::{Pos, Source, Span};
pub use yaml::{Limits, LoadProblem, Loaded, ProblemKind, load, push_segment};

/// How a scalar was written; needed to map offsets inside its value back to the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// Where a node is: the key that introduced it (in a mapping) and the value itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpan {
    pub key: Option<Span>,
    pub value: Span,
    /// Set for scalars.
    pub scalar: Option<ScalarKind>,
}

impl NodeSpan {
    /// The span a finding about this node points at: the value of a scalar, the key of a
    /// collection in a mapping (the line a reader looks for), else the collection's start.
    pub fn primary(&self) -> Span {
        match (self.scalar, self.key) {
            (None, Some(key)) => key,
            (None, None) => Span::point(self.value.start),
            _ => self.value,
        }
    }
}

/// JSON pointer → span, for one document.
#[derive(Debug, Default, Clone)]
pub struct SpanIndex(HashMap<Box<str>, NodeSpan>);

impl SpanIndex {
    pub fn insert(&mut self, pointer: String, span: NodeSpan) {
        self.0.insert(pointer.into_boxed_str(), span);
    }

    pub fn get(&self, pointer: &str) -> Option<&NodeSpan> {
        self.0.get(pointer)
    }

    /// The span of `pointer`, or of its nearest ancestor that has one (nodes that came from an
    /// alias or a merge key have no span of their own). Returns the pointer that matched.
    pub fn locate<'p>(&self, pointer: &'p str) -> Option<(&'p str, &NodeSpan)> {
        let mut p = pointer;
        loop {
            if let Some(s) = self.0.get(p) {
                return Some((p, s));
            }
            if p.is_empty() {
                return None;
            }
            p = match p.rfind('/') {
                Some(i) => &p[..i],
                None => "",
            };
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One YAML document (or the JSON text) of a source.
#[derive(Debug, Clone)]
pub struct Document {
    /// 0-based index in the stream (documents that failed to load are counted too).
    pub index: usize,
    pub value: Value,
    pub spans: SpanIndex,
    pub start: Pos,
}
