//! Located manifests: inputs become `serde_json::Value` documents plus an index from JSON pointer
//! to source span. Everything about positions lives here; rules only name JSON pointers.

pub mod context;
pub mod edit;
pub mod exclude;
pub mod helm;
pub mod input;
pub mod kustomize;
pub mod locate;
pub mod render;
pub mod scalar;
pub mod source;
pub mod yaml;

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
///
/// Built for every node of every document but looked up only for the few documents with
/// findings, so insertion is an append to one arena (no allocation per node); the first few
/// lookups scan the entries (a document usually gets one or two), and the sorted lookup order
/// is built when there are more.
#[derive(Debug, Default, Clone)]
pub struct SpanIndex {
    arena: String,
    entries: Vec<(u32, u32, NodeSpan)>,
    order: std::sync::OnceLock<Vec<u32>>,
    scans: Scans,
}

/// Lookups answered by scanning since the last insertion.
#[derive(Debug, Default)]
struct Scans(std::sync::atomic::AtomicU32);

impl Clone for Scans {
    fn clone(&self) -> Self {
        Scans(std::sync::atomic::AtomicU32::new(
            self.0.load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
}

/// Lookups of a document answered by a linear scan before its entries are sorted (a scan
/// costs one pass, sorting about log2(entries) passes).
const SCANNED_LOOKUPS: u32 = 8;

impl SpanIndex {
    /// Record a span under a pointer that `write` appends to the given buffer.
    pub fn push_with(&mut self, write: impl FnOnce(&mut String), span: NodeSpan) {
        let start = self.arena.len();
        write(&mut self.arena);
        let len = self.arena.len() - start;
        self.entries.push((start as u32, len as u32, span));
        self.order = std::sync::OnceLock::new();
        self.scans = Scans::default();
    }

    pub fn insert(&mut self, pointer: String, span: NodeSpan) {
        self.push_with(|b| b.push_str(&pointer), span);
    }

    fn key(&self, i: u32) -> &str {
        let (s, l, _) = self.entries[i as usize];
        &self.arena[s as usize..(s + l) as usize]
    }

    pub fn get(&self, pointer: &str) -> Option<&NodeSpan> {
        if self.order.get().is_none()
            && self
                .scans
                .0
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                < SCANNED_LOOKUPS
        {
            // The last entry with this pointer (the value that wins for a duplicate key).
            return self
                .entries
                .iter()
                .rev()
                .find(|&&(s, l, _)| {
                    l as usize == pointer.len()
                        && &self.arena[s as usize..(s + l) as usize] == pointer
                })
                .map(|(_, _, n)| n);
        }
        let order = self.order.get_or_init(|| {
            let mut o: Vec<u32> = (0..self.entries.len() as u32).collect();
            // Stable: for a duplicate key the later entry (the value that wins) sorts last.
            o.sort_by(|&a, &b| self.key(a).cmp(self.key(b)));
            o
        });
        // The last entry with this pointer.
        let end = order.partition_point(|&i| self.key(i) <= pointer);
        let i = *order.get(end.checked_sub(1)?)?;
        (self.key(i) == pointer).then(|| &self.entries[i as usize].2)
    }

    /// The spans recorded for `pointer`, first to last (more than one for a duplicate key).
    pub fn all(&self, pointer: &str) -> impl Iterator<Item = &NodeSpan> {
        self.entries
            .iter()
            .filter(move |(s, l, _)| &self.arena[*s as usize..(*s + *l) as usize] == pointer)
            .map(|(_, _, n)| n)
    }

    /// The span of `pointer`, or of its nearest ancestor that has one (nodes that came from an
    /// alias or a merge key have no span of their own). Returns the pointer that matched.
    pub fn locate<'p>(&self, pointer: &'p str) -> Option<(&'p str, &NodeSpan)> {
        let mut p = pointer;
        loop {
            if let Some(s) = self.get(p) {
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

    /// Every recorded (pointer, span), in document order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &NodeSpan)> {
        self.entries
            .iter()
            .map(|(s, l, n)| (&self.arena[*s as usize..(*s + *l) as usize], n))
    }

    /// The entries strictly below `pointer` (its descendants).
    pub fn entries_under<'p>(
        &'p self,
        pointer: &'p str,
    ) -> impl Iterator<Item = (&'p str, &'p NodeSpan)> + 'p {
        self.entries().filter(move |(p, _)| {
            p.len() > pointer.len() && p.starts_with(pointer) && p.as_bytes()[pointer.len()] == b'/'
        })
    }

    /// The entries of the direct children of `pointer`.
    pub fn children<'p>(
        &'p self,
        pointer: &'p str,
    ) -> impl Iterator<Item = (&'p str, &'p NodeSpan)> + 'p {
        self.entries_under(pointer)
            .filter(move |(p, _)| !p[pointer.len() + 1..].contains('/'))
    }

    /// The span recorded last (the loader sets a mapping member's key span after the fact).
    pub fn last_mut(&mut self) -> Option<&mut NodeSpan> {
        self.entries.last_mut().map(|(_, _, n)| n)
    }

    /// The pointer recorded last.
    pub fn last_pointer(&self) -> &str {
        match self.entries.len() {
            0 => "",
            n => self.key(n as u32 - 1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
