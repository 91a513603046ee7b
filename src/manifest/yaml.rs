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
    /// Bytes of scalars and keys one document may copy through aliases (an alias of a long
    /// string copies it; go-yaml shares it, so its node-count guards do not see this).
    pub max_alias_bytes: u64,
    /// Longest JSON pointer of a node (long keys nested deep).
    pub max_pointer_len: usize,
    /// Bytes of JSON pointers one document's position index may hold (every node's pointer
    /// repeats its ancestors' keys, so long keys with many descendants multiply).
    pub max_index_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_nodes: 1_000_000,
            max_alias_bytes: 32 << 20,
            max_pointer_len: 64 << 10,
            max_index_bytes: 128 << 20,
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
    // A lone `\r` is a line break in YAML (and in `Source`), but saphyr counts it as one only in
    // some places (found by fuzz target manifest_load: inside a plain scalar it does not, and
    // every later line number was one off). Replacing it by `\n` keeps every byte offset and
    // column and means the same.
    let normalized;
    let text = if text.contains('\r')
        && super::source::line_breaks(text).any(|i| text.as_bytes()[i - 1] == b'\r')
    {
        normalized = text
            .char_indices()
            .map(|(i, c)| {
                if c == '\r' && text.as_bytes().get(i + 1) != Some(&b'\n') {
                    '\n'
                } else {
                    c
                }
            })
            .collect::<String>();
        normalized.as_str()
    } else {
        text
    };
    let mut out = Loaded::default();
    // Where the current parse attempt starts.
    let mut start = Restart::default();
    let mut doc_index = 0usize;
    // The last line of the text and its width, computed once (see `clamp_to_text`).
    let mut text_end = None;
    // The parser puts the end of a collection closed by the end of a text without a final line
    // break on the line after the last; spans are kept inside the text.
    let end_pos = {
        let (mut lines, mut last_start) = (1u32, 0);
        for start in super::source::line_breaks(text) {
            lines += 1;
            last_start = start;
        }
        Pos::new(lines, text[last_start..].chars().count() as u32 + 1)
    };
    let mut refused_at = refused_char(text, 0);
    loop {
        // A character libyaml refuses fails the document it is in (kubectl decodes each
        // document of a stream on its own): parse up to that document, report it, go on after.
        // Found once per refused character (positions only move forward: linear in the text).
        if refused_at.is_some_and(|(at, _, _)| at < start.byte) {
            refused_at = refused_char(text, start.byte);
        }
        let refused = refused_at.map(|(at, c, doc_begin)| (doc_begin.max(start.byte), at, c));
        if let Some((doc_begin, at, c)) = refused {
            if doc_begin == start.byte {
                let line = start.lines + text[start.byte..at].matches('\n').count() as u32 + 1;
                let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let col = text[line_start..at].chars().count() as u32 + 1;
                out.problems.push(LoadProblem {
                    kind: ProblemKind::Syntax,
                    message: format!(
                        "invalid YAML: control character U+{:04X} is not allowed (go-yaml, which kubectl and the apiserver use, rejects the document)",
                        c as u32
                    ),
                    span: Span::point(Pos::new(line, col)),
                    document: doc_index,
                    related: None,
                });
                doc_index += 1;
                match next_document_start(text, start, line) {
                    Some(next) => {
                        start = next;
                        continue;
                    }
                    None => break,
                }
            }
        }
        let sub_end = refused.map_or(text.len(), |(doc_begin, _, _)| doc_begin);
        let sub = &text[start.byte..sub_end];
        let before = (out.documents.len(), out.problems.len());
        let mut builder = Builder::new(limits, start, &mut out, doc_index, None);
        builder.text_end = end_pos;
        builder.no_final_break = sub_end == text.len() && !text.ends_with(['\n', '\r']);
        let mut outcome = builder.run(Parser::new_from_str(sub));
        let mut end_index = builder.doc_index;
        // Where the lenient second attempt stopped: it only sees the text up to the end of the
        // document with the error (re-indenting the whole rest for every such document was
        // quadratic).
        let mut part_end = None;
        // Set when the lenient retry ran: its error positions are in the re-indented text.
        let mut retry_shifts = None;
        if let Err(err) = &outcome {
            if LENIENT_INDENT_ERRORS.contains(&err.info()) {
                let error_line = start.pos(err.marker()).line;
                let end =
                    next_document_start(text, start, error_line).filter(|e| e.byte <= sub_end);
                let part = end.map_or(sub, |e| &text[start.byte..e.byte]);
                if let Some((fixed, shifts)) = indent_quoted_continuations(part) {
                    // go-yaml (libyaml) accepts flow scalars and flow collections whose
                    // continuation lines are not indented past their key; kubectl applies
                    // such files (Flagger's own CRD has hundreds; Argo's docs close `[` at the
                    // key's column). Indenting those lines does not change the value (leading
                    // white space of continuation lines is folded away): parse again, mapping
                    // columns back.
                    out.documents.truncate(before.0);
                    out.problems.truncate(before.1);
                    let mut builder =
                        Builder::new(limits, start, &mut out, doc_index, Some(&shifts));
                    builder.text_end = end_pos;
                    builder.no_final_break =
                        end.is_none() && sub_end == text.len() && !text.ends_with(['\n', '\r']);
                    outcome = builder.run(Parser::new_from_str(&fixed));
                    end_index = builder.doc_index;
                    part_end = end;
                    retry_shifts = Some(shifts);
                }
            }
        }
        doc_index = end_index;
        match outcome {
            Ok(None) => match part_end {
                Some(next) => start = next,
                // The text up to a refused character's document is done: that document next.
                None if sub_end < text.len() => {
                    start = Restart {
                        byte: sub_end,
                        lines: start.lines + sub.matches('\n').count() as u32,
                    }
                }
                None => break,
            },
            Ok(Some(line)) => match next_document_start(text, start, line) {
                Some(next) => start = next,
                None => break,
            },
            Err(err) => {
                // Found by fuzz target manifest_load: an error in the re-indented text was
                // reported at its column there, past the end of the real line.
                let at = start.pos_shifted(err.marker(), retry_shifts.as_ref());
                let pos = clamp_to_text(text, at, &mut text_end);
                // A scanner error can leave a document half-built; it was dropped by the builder.
                out.problems.push(LoadProblem {
                    kind: ProblemKind::Syntax,
                    message: syntax_message(err.info()),
                    span: Span::point(pos),
                    document: doc_index,
                    related: None,
                });
                doc_index += 1;
                match next_document_start(text, start, pos.line) {
                    Some(next) => start = next,
                    None => break,
                }
            }
        }
    }
    out
}

/// Duplicate keys reported per document (each costs a scan of the document's index).
const MAX_DUPLICATES_REPORTED: usize = 100;

/// go-yaml v2 `allowedAliasRatio`: the share of nodes that may come from aliases, shrinking from
/// 99% (up to 400,000 nodes) to 10% (4,000,000 nodes).
fn allowed_alias_ratio(nodes: u64) -> f64 {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    let n = nodes as f64;
    if n <= LOW {
        0.99
    } else if n >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((n - LOW) / (HIGH - LOW))
    }
}

/// Scanner errors that go-yaml does not raise for the same text.
const LENIENT_INDENT_ERRORS: &[&str] = &[
    "invalid indentation in quoted scalar",
    "invalid indentation",
];

/// Indent the continuation lines of multi-line quoted scalars and flow collections one column
/// past the line that opened them. Returns the new text and, per 1-based line (relative to
/// `text`), how many spaces were added; `None` when nothing needed changing.
fn indent_quoted_continuations(text: &str) -> Option<(String, HashMap<u32, u32>)> {
    enum Open {
        Quoted(char),
        /// Bracket depth of a flow collection.
        Flow(i32),
    }
    let mut out = String::with_capacity(text.len() + 1024);
    let mut shifts = HashMap::new();
    // What is open, and the minimum indentation of its continuation lines.
    let mut open: Option<(Open, usize)> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        let mut scan_from = 0;
        if let Some((_, need)) = &open {
            if !blank && indent < *need {
                let add = need - indent;
                out.extend(std::iter::repeat_n(' ', add));
                shifts.insert(i as u32 + 1, add as u32);
            }
        } else {
            // A quoted value or a flow collection opening on this line: after `key: `, `- `,
            // or both (`- key: 'value`, nested `- - `). Its continuation lines must be indented
            // past the innermost block it is in: the column of the entry's content or key
            // (argo-rollouts test/e2e/crds/istio.yaml has `- description: '…` entries whose
            // continuation lines are indented less than the key).
            let mut col = indent;
            let mut t = &line[indent..];
            let mut entry = false;
            while let Some(r) = t.strip_prefix("- ") {
                let lead = r.len() - r.trim_start_matches(' ').len();
                col += 2 + lead;
                t = &r[lead..];
                entry = true;
            }
            let starts_value = |t: &str| matches!(t.chars().next(), Some('\'' | '"' | '[' | '{'));
            let after = if entry && starts_value(t) {
                Some((col, t))
            } else {
                t.find(": ").map(|k| (col + k + 2, &t[k + 2..]))
            };
            if let Some((at, rest)) = after {
                let lead = rest.len() - rest.trim_start().len();
                match rest.trim_start().chars().next() {
                    Some(q @ ('\'' | '"')) => {
                        open = Some((Open::Quoted(q), col + 1));
                        scan_from = at + lead + 1;
                    }
                    Some('[' | '{') => {
                        open = Some((Open::Flow(0), col + 1));
                        scan_from = at + lead;
                    }
                    _ => {}
                }
            }
        }
        let rest = &line[scan_from.min(line.len())..];
        match &mut open {
            Some((Open::Quoted(q), _)) if closes(rest, *q) => open = None,
            Some((Open::Quoted(_), _)) => {}
            Some((Open::Flow(depth), _)) => {
                *depth += flow_depth_change(rest);
                if *depth <= 0 {
                    open = None;
                }
            }
            None => {}
        }
        out.push_str(line);
    }
    (!shifts.is_empty()).then_some((out, shifts))
}

/// A numeric mapping key as sigs.k8s.io/yaml writes it: integers in decimal, floats with Go's
/// `strconv.FormatFloat(f, 'g', -1, 32)` (shortest float32 digits; exponent form below 1e-4
/// and from 1e6 on: `1e+06`).
fn go_key_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    let x = f as f32;
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    if !x.is_finite() {
        return if x.is_nan() {
            ".nan"
        } else if x > 0.0 {
            ".inf"
        } else {
            "-.inf"
        }
        .into();
    }
    // Rust's `{:e}` of an f32 is its shortest round-trip digits, like Go's shortest mode.
    let e = format!("{x:e}");
    let Some((mant, exp)) = e.split_once('e') else {
        return e;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return e;
    };
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
    } else if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// The first character at or after `from` that libyaml's reader refuses ("control characters
/// are not allowed", `yaml_parser_update_buffer`): C0 controls but tab, line feed and carriage
/// return; DEL; C1 controls but NEL; U+FFFE and U+FFFF.
fn disallowed_char(text: &str, from: usize) -> Option<(usize, char)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        // Eight bytes at a time while none is below 0x20 or from 0x7f up (printable ASCII is
        // nearly all of a manifest; each word holding a line break is looked at byte by byte).
        let end = match bytes.get(i..i + 8) {
            Some(chunk) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                let x = u64::from_le_bytes(word);
                // A byte below 0x20 (exact as a test of "any"), or with its high bit set after
                // adding 1 (0x7f and up; a carry out of 0xff only flags more).
                let low = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
                let high = (x | x.wrapping_add(ONES)) & HIGHS;
                if low | high == 0 {
                    i += 8;
                    continue;
                }
                i + 8
            }
            None => bytes.len(),
        };
        while i < end {
            let b = bytes[i];
            let suspicious = b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')
                || b == 0x7f
                || b == 0xc2
                || b == 0xef;
            if suspicious {
                let c = text[i..].chars().next()?;
                let bad = matches!(c as u32, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f | 0x7f | 0x80..=0x84 | 0x86..=0x9f | 0xfffe | 0xffff);
                if bad {
                    return Some((i, c));
                }
            }
            i += 1;
        }
    }
    None
}

/// [`disallowed_char`] at or after `from`, with the start of its document: the last `---` line
/// before it (or the text's start).
fn refused_char(text: &str, from: usize) -> Option<(usize, char, usize)> {
    let (at, c) = disallowed_char(text, from)?;
    let mut end = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let doc_begin = loop {
        if end == 0 {
            break 0;
        }
        let begin = text[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        let t = text[begin..end].trim_end_matches(['\n', '\r']);
        if t == "---" || t.starts_with("--- ") || t.starts_with("---\t") {
            break begin;
        }
        end = begin;
    };
    Some((at, c, doc_begin))
}

/// Net change of flow-bracket depth on a line, ignoring brackets inside quotes and comments.
fn flow_depth_change(rest: &str) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' if prev == ' ' || prev == '\t' => break,
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ => {}
            },
        }
        prev = c;
    }
    depth
}

/// Whether a quoted scalar's closing quote is on this (rest of a) line.
fn closes(rest: &str, q: char) -> bool {
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if q == '"' && c == '\\' {
            chars.next();
        } else if c == q {
            if q == '\'' && chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return true;
            }
        }
    }
    false
}

/// A scanner error at the end of input is reported past the last line; show it at the end of
/// the last line instead, where a reader can see it.
/// `end` caches the last line and its width: a stream of broken documents reports one error
/// each, and counting the lines every time made that quadratic.
fn clamp_to_text(text: &str, pos: Pos, end: &mut Option<(u32, u32)>) -> Pos {
    let (last_line, width) = *end.get_or_insert_with(|| {
        let body = text.trim_end_matches(['\n', '\r', ' ', '\t']);
        let last_line = body.lines().count().max(1) as u32;
        let width = body.lines().last().map_or(0, |l| l.chars().count()) as u32;
        (last_line, width)
    });
    if pos.line > last_line {
        Pos::new(last_line, width + 1)
    } else {
        pos
    }
}

fn syntax_message(info: &str) -> String {
    if info.contains("recursion limit exceeded") {
        return "nesting too deep; document not loaded".into();
    }
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

    /// Like `pos`, for a text whose lines were indented by `shifts`.
    fn pos_shifted(&self, m: &Marker, shifts: Option<&HashMap<u32, u32>>) -> Pos {
        let shift = shifts
            .and_then(|s| s.get(&(m.line() as u32)))
            .copied()
            .unwrap_or(0);
        let col = (m.col() as u32 + 1).saturating_sub(shift).max(1);
        Pos::new(self.lines + m.line() as u32, col)
    }
}

/// The first line after `after_line` (1-based, absolute) that starts a new document (`---`).
/// Scans from `from` (a line start), not from the beginning of the text: a stream of broken
/// documents restarts once per document.
fn next_document_start(text: &str, from: Restart, after_line: u32) -> Option<Restart> {
    let from_byte = from.byte;
    let mut line_no = from.lines;
    let mut offset = from.byte;
    for line in text[from.byte..].split_inclusive('\n') {
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
        /// Values of `<<` merge keys, applied at the end for keys the mapping does not set.
        merges: Vec<Value>,
        nodes: u64,
        /// Bytes of the scalars and keys in it (for anchors).
        bytes: u64,
    },
    Seq {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
        start: Pos,
        nodes: u64,
        bytes: u64,
    },
}

struct Builder<'o> {
    limits: Limits,
    shifts: Option<&'o HashMap<u32, u32>>,
    restart: Restart,
    out: &'o mut Loaded,
    doc_index: usize,
    stack: Vec<Frame>,
    /// Anchored values with their node count and bytes.
    anchors: HashMap<usize, (Value, u64, u64)>,
    spans: SpanIndex,
    root: Option<Value>,
    doc_start: Pos,
    nodes: u64,
    /// Nodes that were copies of anchored nodes (go-yaml's `aliasCount`).
    alias_nodes: u64,
    /// Bytes copied through aliases.
    alias_bytes: u64,
    /// Duplicate keys reported in this document.
    duplicates: usize,
    /// Set when a limit was hit: events are skipped until the document ends.
    skipping: Option<usize>,
    /// The position after the last character of the text.
    text_end: Pos,
    /// The text does not end with a line break: a block scalar that runs to its end has no
    /// final line break either (libyaml), which saphyr adds.
    no_final_break: bool,
}

/// Append an escaped JSON pointer segment.
pub fn push_segment(pointer: &mut String, seg: &str) {
    pointer.push('/');
    // Every node of every document gets a pointer: most keys need no escape.
    if !seg.bytes().any(|b| b == b'~' || b == b'/') {
        pointer.push_str(seg);
        return;
    }
    for c in seg.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

impl<'o> Builder<'o> {
    fn new(
        limits: Limits,
        restart: Restart,
        out: &'o mut Loaded,
        doc_index: usize,
        shifts: Option<&'o HashMap<u32, u32>>,
    ) -> Self {
        Builder {
            limits,
            shifts,
            restart,
            out,
            doc_index,
            stack: Vec::new(),
            anchors: HashMap::new(),
            spans: SpanIndex::default(),
            root: None,
            doc_start: Pos::default(),
            nodes: 0,
            alias_nodes: 0,
            alias_bytes: 0,
            duplicates: 0,
            skipping: None,
            text_end: Pos::new(u32::MAX, u32::MAX),
            no_final_break: false,
        }
    }

    /// Feed the parser's events to the builder. `Ok(Some(line))`: a limit was hit at `line`
    /// and the document was abandoned; the caller restarts at the next document instead of
    /// walking the rest of a hostile document's events.
    fn run(
        &mut self,
        parser: Parser<'_, saphyr_parser::StrInput<'_>>,
    ) -> Result<Option<u32>, ScanError> {
        for item in parser {
            let (event, span) = item?;
            let span = Span::new(
                self.restart
                    .pos_shifted(&span.start, self.shifts)
                    .min(self.text_end),
                self.restart
                    .pos_shifted(&span.end, self.shifts)
                    .min(self.text_end),
            );
            self.event(event, span);
            if self.skipping.is_some() {
                self.skipping = None;
                self.finish_document(false);
                return Ok(Some(span.end.line));
            }
        }
        Ok(None)
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
                self.alias_nodes = 0;
                self.alias_bytes = 0;
                self.duplicates = 0;
                self.doc_start = span.start;
            }
            Event::DocumentEnd => self.finish_document(true),
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if is_key {
                    let explicit_str = tag
                        .as_ref()
                        .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                    // Kubernetes reads a key as go-yaml v2 resolves it, then sigs.k8s.io/yaml
                    // (`convertToJSONableObject`) writes it as a string: `yes:` is "true",
                    // `0x10:` "16", `1.50:` "1.5"; a null key (`: x`, `~: x`) is rejected.
                    // Only a short word (null, booleans) or a number-like key can resolve to
                    // something other than its text: the rest is not resolved (no allocation).
                    let may_resolve = text.len() <= 5
                        || text
                            .as_bytes()
                            .first()
                            .is_some_and(|b| b.is_ascii_digit() || b"+-.".contains(b));
                    let text = if style == ScalarStyle::Plain && !explicit_str && may_resolve {
                        match resolve_plain(&text) {
                            Value::Null => {
                                self.abandon(
                                    "invalid YAML: a mapping key is empty or null, which kubectl and the apiserver (go-yaml) reject".into(),
                                    span,
                                );
                                return;
                            }
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => go_key_number(&n),
                            _ => text.into_owned(),
                        }
                    } else {
                        text.into_owned()
                    };
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some((text, span));
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
                let bytes = text.len() as u64;
                let explicit_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let mut text = text;
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && self.no_final_break
                    && span.end >= self.text_end
                    && text.ends_with('\n')
                {
                    // `a: |` + `  x` at the end of a text without a final line break is "x"
                    // to go-yaml (tests/goyaml.rs), "x\n" to saphyr.
                    text.to_mut().pop();
                }
                let value = if style == ScalarStyle::Plain && !explicit_str {
                    resolve_plain(&text)
                } else {
                    Value::String(text.into_owned())
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), 1, bytes));
                }
                self.insert(value, span, Some(kind), 1, 1, bytes);
            }
            Event::Alias(id) => {
                let Some(&(_, count, bytes)) = self.anchors.get(&id) else {
                    self.abandon("invalid YAML: alias to an unknown anchor".into(), span);
                    return;
                };
                self.alias_nodes = self.alias_nodes.saturating_add(count);
                let total = self.nodes.saturating_add(count);
                // go-yaml's guard against alias bombs (Kubernetes CVE-2019-11253), so that
                // rollgate refuses what the apiserver refuses, before copying anything.
                if self.alias_nodes > 100
                    && total > 1000
                    && self.alias_nodes as f64 / total as f64 > allowed_alias_ratio(total)
                {
                    self.abandon(
                        "document contains excessive aliasing (alias bomb?); not loaded, as the apiserver would refuse it".into(),
                        span,
                    );
                    return;
                }
                if total > self.limits.max_nodes {
                    let max = self.limits.max_nodes;
                    self.abandon(
                        format!(
                            "document expands to more than {max} nodes through aliases (alias bomb?); not loaded"
                        ),
                        span,
                    );
                    return;
                }
                self.alias_bytes = self.alias_bytes.saturating_add(bytes);
                if self.alias_bytes > self.limits.max_alias_bytes {
                    let max = self.limits.max_alias_bytes;
                    self.abandon(
                        format!(
                            "document copies more than {max} bytes of text through aliases (alias bomb?); not loaded"
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
                let Some((value, _, _)) = self.anchors.get(&id).cloned() else {
                    return;
                };
                self.insert(value, span, None, count, count, bytes);
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
                    self.abandon(
                        "a collection is used as a mapping key, which Kubernetes cannot read; an unquoted `{{ … }}` template is a YAML flow mapping: quote it"
                            .into(),
                        span,
                    );
                    return;
                }
                if self.stack.len() >= self.limits.max_depth {
                    let max = self.limits.max_depth;
                    self.abandon(
                        format!("nesting too deep (more than {max} levels); document not loaded"),
                        span,
                    );
                    return;
                }
                self.nodes += 1;
                let pointer = self.child_pointer();
                if pointer.len() > self.limits.max_pointer_len {
                    let max = self.limits.max_pointer_len;
                    self.abandon(
                        format!(
                            "keys nested too long (a path over {max} bytes); document not loaded"
                        ),
                        span,
                    );
                    return;
                }
                let frame = if is_map {
                    Frame::Map {
                        map: Map::new(),
                        pointer,
                        anchor,
                        start: span.start,
                        key: None,
                        merges: Vec::new(),
                        nodes: 1,
                        bytes: 0,
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        pointer,
                        anchor,
                        start: span.start,
                        nodes: 1,
                        bytes: 0,
                    }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (value, anchor, start, nodes, bytes) = match frame {
                    Frame::Map {
                        mut map,
                        anchor,
                        start,
                        merges,
                        nodes,
                        bytes,
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
                        (Value::Object(map), anchor, start, nodes, bytes)
                    }
                    Frame::Seq {
                        items,
                        anchor,
                        start,
                        nodes,
                        bytes,
                        ..
                    } => (Value::Array(items), anchor, start, nodes, bytes),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), nodes, bytes));
                }
                let full = Span::new(start, span.end.max(start));
                self.insert(value, full, None, nodes, 0, bytes);
            }
        }
    }

    /// The pointer of the node about to be inserted into the top frame.
    fn child_pointer(&self) -> String {
        let mut p = String::new();
        write_child_pointer(self.stack.last(), &mut p);
        p
    }

    /// Insert a finished node into the top frame. `count` is the node's subtree size (for
    /// anchors); `fresh` is how many nodes it adds to the document (collections were counted when
    /// they started); `bytes` is the text of its scalars and keys (for anchors).
    fn insert(
        &mut self,
        value: Value,
        span: Span,
        scalar: Option<ScalarKind>,
        count: u64,
        fresh: u64,
        bytes: u64,
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
        let node = |key| NodeSpan {
            key,
            value: span,
            scalar,
        };
        self.spans
            .push_with(|b| write_child_pointer(self.stack.last(), b), node(None));
        let (max_len, max_bytes) = (self.limits.max_pointer_len, self.limits.max_index_bytes);
        if self.spans.last_pointer().len() > max_len {
            self.abandon(
                format!("key too long (a path over {max_len} bytes); document not loaded"),
                span,
            );
            return;
        }
        if self.spans.arena.len() > max_bytes {
            self.abandon(
                format!(
                    "document too large to index: the paths of its nodes (long keys with many children) exceed {max_bytes} bytes; not loaded"
                ),
                span,
            );
            return;
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
            }
            Some(Frame::Seq {
                items,
                nodes,
                bytes: total,
                ..
            }) => {
                *nodes = nodes.saturating_add(count);
                *total = total.saturating_add(bytes);
                items.push(value);
            }
            Some(Frame::Map {
                map,
                key,
                merges,
                nodes,
                bytes: total,
                ..
            }) => {
                *nodes = nodes.saturating_add(count);
                let Some((k, key_span)) = key.take() else {
                    return;
                };
                *total = total.saturating_add(bytes + k.len() as u64);
                if let Some(last) = self.spans.last_mut() {
                    last.key = Some(key_span);
                }
                if k == "<<" {
                    merges.push(value);
                    return;
                }
                let duplicate = map.contains_key(&k);
                if !duplicate {
                    map.insert(k, value);
                } else {
                    if let Some(slot) = map.get_mut(&k) {
                        *slot = value;
                    }
                    // Finding the first definition scans the index: report a bounded number.
                    self.duplicates += 1;
                    if self.duplicates > MAX_DUPLICATES_REPORTED {
                        return;
                    }
                    let more = if self.duplicates == MAX_DUPLICATES_REPORTED {
                        "; further duplicate keys in this document are not listed"
                    } else {
                        ""
                    };
                    let mut pointer = self.child_pointer_of_last();
                    let first = self
                        .spans
                        .all(&pointer)
                        .next()
                        .and_then(|n| n.key)
                        .unwrap_or(key_span);
                    pointer.clear();
                    self.out.problems.push(LoadProblem {
                        kind: ProblemKind::DuplicateKey,
                        message: format!(
                            "duplicate key \"{k}\": the apiserver rejects it (strict decoding); other tools keep only the last value{more}"
                        ),
                        span: key_span,
                        document: self.doc_index,
                        related: Some((first, "first defined here".into())),
                    });
                }
            }
        }
    }

    /// The pointer of the entry recorded last.
    fn child_pointer_of_last(&self) -> String {
        self.spans.last_pointer().to_owned()
    }
}

/// Write the pointer of the node about to be inserted into `top` (the document root if none).
fn write_child_pointer(top: Option<&Frame>, b: &mut String) {
    match top {
        None => {}
        Some(Frame::Map { pointer, key, .. }) => {
            let key = key.as_ref().map(|(k, _)| k.as_str()).unwrap_or("");
            b.reserve(pointer.len() + 1 + key.len());
            b.push_str(pointer);
            push_segment(b, key);
        }
        Some(Frame::Seq { pointer, items, .. }) => {
            b.reserve(pointer.len() + 1 + 20);
            b.push_str(pointer);
            b.push('/');
            push_index(b, items.len());
        }
    }
}

/// Append `n` in decimal (as `format!("{n}")`, without the formatting machinery: once per
/// sequence item of every document).
fn push_index(b: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        b.push(char::from(d));
    }
}

impl Builder<'_> {
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
        self.alias_nodes = 0;
        self.alias_bytes = 0;
        self.duplicates = 0;
        self.doc_index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indexes_and_segments_are_written_as_formatted() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, usize::MAX] {
            let mut b = String::from("/spec");
            push_index(&mut b, n);
            assert_eq!(b, format!("/spec{n}"));
        }
        for (seg, want) in [
            ("a", "/a"),
            ("", "/"),
            ("a/b~c", "/a~1b~0c"),
            ("é~", "/é~0"),
        ] {
            let mut b = String::new();
            push_segment(&mut b, seg);
            assert_eq!(b, want);
        }
    }

    fn one(text: &str) -> Document {
        let l = load(text, Limits::default());
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert_eq!(l.documents.len(), 1);
        l.documents.into_iter().next().unwrap()
    }

    /// The word-at-a-time scan finds what a scan of every byte finds, wherever the character
    /// sits in its word.
    #[test]
    fn disallowed_char_scans_words_exactly() {
        fn every_byte(text: &str, from: usize) -> Option<(usize, char)> {
            text.char_indices().filter(|(i, _)| *i >= from).find(|(_, c)| {
                matches!(*c as u32, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f | 0x7f | 0x80..=0x84 | 0x86..=0x9f | 0xfffe | 0xffff)
            })
        }
        let specials = [
            "\u{1}", "\u{7f}", "\u{80}", "\u{85}", "\u{9f}", "\u{a0}", "\u{fffe}", "\u{ffff}",
            "\u{fffd}", "é", "\t", "\n", "\r", " ", "~", "\u{1f}", "\u{e000}",
        ];
        for special in specials {
            for before in 0..20 {
                for after in [0, 1, 7, 8, 9] {
                    let text = format!("{}{special}{}", "a".repeat(before), "b: c".repeat(after));
                    for from in [0, before.min(3)] {
                        assert_eq!(
                            disallowed_char(&text, from),
                            every_byte(&text, from),
                            "{text:?} from {from}"
                        );
                    }
                }
            }
        }
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
        let l = load("a: 1\n---\nb: [\n---\nc: 3\n", Limits::default());
        assert_eq!(l.documents.len(), 2);
        assert_eq!(l.documents[1].value, json!({"c": 3}));
        assert_eq!(
            l.documents[1].spans.get("/c").unwrap().value.start,
            Pos::new(5, 4)
        );
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
    fn quoted_continuation_lines_at_key_indentation_are_accepted() {
        // As in Flagger's CRD: go-yaml accepts this, saphyr alone does not.
        let text = "a:\n  d: 'one\n  two'\n  e: \"x\n  y\"\n  f: 1\n";
        let d = one(text);
        assert_eq!(d.value, json!({"a": {"d": "one two", "e": "x y", "f": 1}}));
        assert_eq!(d.spans.get("/a/f").unwrap().value.start, Pos::new(6, 6));
        assert_eq!(
            d.spans.get("/a/e").unwrap().key.unwrap().start,
            Pos::new(4, 3)
        );
    }

    #[test]
    fn quoted_continuation_of_a_sequence_entry_key_is_accepted() {
        // issue 19 (argo-rollouts test/e2e/crds/istio.yaml): go-yaml v2 decodes this, the
        // continuation line is indented less than the key `description` of the `- ` entry.
        let text = "data:\n  list:\n      - description: 'first line\n    continuation less indented than the key'\n        other: x\n";
        let d = one(text);
        assert_eq!(
            d.value,
            json!({"data": {"list": [{
                "description": "first line continuation less indented than the key",
                "other": "x"
            }]}})
        );
        assert_eq!(
            d.spans.get("/data/list/0/other").unwrap().value.start,
            Pos::new(5, 16)
        );
        // A double-quoted scalar, a flow sequence, and nested entries.
        let text = "a:\n  - - k: \"x\n   y\"\n      j: [1,\n   2]\n";
        assert_eq!(one(text).value, json!({"a": [[{"k": "x y", "j": [1, 2]}]]}));
        // libyaml puts no bound on the indentation of a quoted scalar's continuation lines
        // (`yaml_parser_scan_flow_scalar` only stops at a document marker): column 0 too.
        let text = "a:\n  - b: 'x\ny'\n  - c\n";
        assert_eq!(one(text).value, json!({"a": [{"b": "x y"}, "c"]}));
    }

    #[test]
    fn keys_are_read_as_kubernetes_reads_them() {
        // sigs.k8s.io/yaml writes go-yaml v2's resolved keys as strings (tests/goyaml.rs
        // compares with go-yaml itself).
        let d = one("yes: a\n0x10: b\n1.50: c\n1e6: d\n0.00001: e\n\"yes\": f\n!!str 010: g\n");
        assert_eq!(
            d.value,
            json!({"true": "a", "16": "b", "1.5": "c", "1e+06": "d", "1e-05": "e", "yes": "f", "010": "g"})
        );
        assert_eq!(d.spans.get("/16").unwrap().value.start, Pos::new(2, 7));
        assert_eq!(
            go_key_number(&serde_json::Number::from_f64(123456.0).unwrap()),
            "123456"
        );
        assert_eq!(
            go_key_number(&serde_json::Number::from_f64(0.1).unwrap()),
            "0.1"
        );
        assert_eq!(
            go_key_number(&serde_json::Number::from_f64(-2.5e-7).unwrap()),
            "-2.5e-07"
        );
        for text in ["a: 1\n: x\n", "~: x\n", "null: x\n", "a:\n  b: 1\n  : 2\n"] {
            let l = load(text, Limits::default());
            assert!(l.documents.is_empty(), "{text:?}");
            assert!(
                l.problems[0].message.contains("empty or null"),
                "{:?}",
                l.problems
            );
        }
    }

    #[test]
    fn block_scalar_at_the_end_of_a_text_without_final_break() {
        // go-yaml: no final line break to keep (argo-rollouts examples/notifications/configmap.yaml).
        assert_eq!(one("a: |\n  x").value, json!({"a": "x"}));
        assert_eq!(one("a: >\n  x\n  y").value, json!({"a": "x y"}));
        assert_eq!(one("a: |\n  x\n").value, json!({"a": "x\n"}));
        assert_eq!(one("a: |\n  x\nb: 1").value, json!({"a": "x\n", "b": 1}));
    }

    #[test]
    fn control_characters_fail_their_document_only() {
        // libyaml's reader refuses them anywhere (a comment too); the other documents load.
        let l = load(
            "a: 1\n---\nb: \"x\u{1}y\"\n---\nc: 1\n# \u{7f}\n---\nd: \u{e9}\n",
            Limits::default(),
        );
        let values: Vec<&Value> = l.documents.iter().map(|d| &d.value).collect();
        assert_eq!(values, [&json!({"a": 1}), &json!({"d": "\u{e9}"})]);
        let at: Vec<(u32, u32)> = l
            .problems
            .iter()
            .map(|p| (p.span.start.line, p.span.start.column))
            .collect();
        assert_eq!(at, [(3, 6), (6, 3)], "{:?}", l.problems);
        assert!(l.problems[0].message.contains("U+0001"), "{:?}", l.problems);
        assert_eq!(
            l.documents[1].spans.get("/d").unwrap().value.start,
            Pos::new(8, 4)
        );
        // Many documents with one refused character at the end stay linear.
        let mut text = "---\na: [\n".repeat(20_000);
        text.push_str("---\nz: \u{2}\n");
        let l = load(&text, Limits::default());
        assert_eq!(l.problems.len(), 20_001);
    }

    #[test]
    fn flow_collection_closed_at_key_indentation_is_accepted() {
        // As in Argo Rollouts' docs: libyaml accepts a `]` at the key's column.
        let text = "a:\n  scopes: [\n    \"x\"\n  ]\n  b: 1\n";
        let d = one(text);
        assert_eq!(d.value, json!({"a": {"scopes": ["x"], "b": 1}}));
        assert_eq!(d.spans.get("/a/b").unwrap().value.start, Pos::new(5, 6));
    }

    #[test]
    fn alias_copies_of_long_text_are_bounded() {
        // Few nodes, so go-yaml's node guards pass; each alias copies 1 KiB of text.
        let mut text = format!("a: &a {}\nb:\n", "x".repeat(1024));
        text.push_str(&"- *a\n".repeat(100));
        let limits = Limits {
            max_alias_bytes: 64 * 1024,
            ..Limits::default()
        };
        let l = load(&text, limits);
        assert!(l.documents.is_empty());
        assert!(
            l.problems[0].message.contains("through aliases"),
            "{:?}",
            l.problems
        );
        // 64 aliases fit (lines 3..=66); the 65th is reported.
        assert_eq!(l.problems[0].span.start, Pos::new(67, 3));
        // Under the bound it loads (anchored collections count their keys and scalars).
        let text = "a: &a {k: [vvvv, ww]}\nb: [*a, *a, *a]\n";
        let limits = Limits {
            max_alias_bytes: 3 * 7,
            ..Limits::default()
        };
        assert_eq!(load(text, limits).documents.len(), 1);
        let limits = Limits {
            max_alias_bytes: 3 * 7 - 1,
            ..Limits::default()
        };
        assert!(load(text, limits).documents.is_empty());
    }

    #[test]
    fn long_paths_are_bounded() {
        let key = "k".repeat(70 * 1024);
        // A key nested past the longest path.
        let l = load(&format!("? {key}\n: {{a: 1}}\n"), Limits::default());
        assert!(l.documents.is_empty());
        assert!(
            l.problems[0].message.contains("path over 65536"),
            "{:?}",
            l.problems
        );
        let l = load(&format!("? {key}\n: 1\n"), Limits::default());
        assert!(
            l.problems[0].message.contains("key too long"),
            "{:?}",
            l.problems
        );
        // A long key with many children: each child's path repeats it.
        let key = "k".repeat(1000);
        let mut text = format!("? {key}\n:\n");
        for i in 0..200 {
            text.push_str(&format!("  a{i}: 1\n"));
        }
        let limits = Limits {
            max_index_bytes: 100_000,
            ..Limits::default()
        };
        let l = load(&text, limits);
        assert!(l.documents.is_empty());
        assert!(
            l.problems[0].message.contains("too large to index"),
            "{:?}",
            l.problems
        );
        assert_eq!(load(&text, Limits::default()).documents.len(), 1);
    }

    #[test]
    fn duplicate_keys_reported_are_bounded() {
        let text = "a: 1\n".repeat(MAX_DUPLICATES_REPORTED + 50);
        let l = load(&text, Limits::default());
        assert_eq!(l.documents.len(), 1);
        assert_eq!(l.problems.len(), MAX_DUPLICATES_REPORTED);
        assert!(
            l.problems
                .last()
                .is_some_and(|p| p.message.contains("not listed"))
        );
    }

    #[test]
    fn streams_of_broken_documents_recover_per_document() {
        // Each restart used to rescan the text from its start (next `---`, last line) and the
        // lenient retry re-indented the whole rest: quadratic in the number of broken documents.
        let broken = "---\na:\n  b: 'x\ny'\n   c: 1\n";
        let mut text = broken.repeat(3);
        text.push_str("---\na:\n  d: 'one\n  two'\n  f: 1\n---\nz: [\n---\nq: 1\n");
        let l = load(&text, Limits::default());
        let lines: Vec<u32> = l.problems.iter().map(|p| p.span.start.line).collect();
        assert_eq!(lines, [5, 10, 15, 23], "{:?}", l.problems);
        let values: Vec<&Value> = l.documents.iter().map(|d| &d.value).collect();
        assert_eq!(
            values,
            [&json!({"a": {"d": "one two", "f": 1}}), &json!({"q": 1})]
        );
        assert_eq!(
            l.documents[0].spans.get("/a/f").unwrap().value.start,
            Pos::new(20, 6)
        );
        let indices: Vec<usize> = l.documents.iter().map(|d| d.index).collect();
        assert_eq!(indices, [3, 5]);
        // Many of them stay linear (20,000 took 410 s in a debug build, now well under one).
        let l = load(&"---\na: [\n".repeat(20_000), Limits::default());
        assert_eq!(l.problems.len(), 20_000);
        let l = load(&broken.repeat(5_000), Limits::default());
        assert_eq!(l.problems.len(), 5_000);
    }

    #[test]
    fn errors_after_the_lenient_retry_are_placed_in_the_real_text() {
        // The continuation line is re-indented for the retry, which then fails on that line.
        let l = load("a:\n  b: \"x\n y\"t\n", Limits::default());
        assert!(l.documents.is_empty());
        assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
        let p = &l.problems[0];
        assert!(p.message.contains("trailing content"), "{p:?}");
        assert_eq!(p.span.start, Pos::new(3, 4));
    }

    #[test]
    fn lone_carriage_return_inside_a_plain_scalar() {
        let l = load("x: a\r  b\nc: 2\n", Limits::default());
        let d = &l.documents[0];
        assert_eq!(d.value, json!({"x": "a b", "c": 2}));
        assert_eq!(d.spans.get("/c").unwrap().value.start, Pos::new(3, 4));
        // As libyaml reads it: a key broken over two lines.
        let l = load("apiVersio\rn: v1\nkind: x\n", Limits::default());
        assert!(l.documents.is_empty());
        assert_eq!(l.problems[0].span.start.line, 2, "{:?}", l.problems);
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        // Found by fuzz target manifest_load: saphyr reads `\r` as a line break.
        let l = load("a:\n \r b: latency\r", Limits::default());
        let d = &l.documents[0];
        assert_eq!(d.value, json!({"a": {"b": "latency"}}));
        assert_eq!(d.spans.get("/a/b").unwrap().value.start, Pos::new(3, 5));
        assert_eq!(d.spans.get("").unwrap().value.end, Pos::new(4, 1));
    }

    #[test]
    fn spans_stay_inside_a_text_without_final_line_break() {
        // Found by fuzz target manifest_load: the mapping's end was on line 3 of 2.
        let l = load("a:\n  b: 1", Limits::default());
        let d = &l.documents[0];
        assert_eq!(d.spans.get("").unwrap().value.end, Pos::new(2, 7));
        assert_eq!(d.spans.get("/a").unwrap().value.end, Pos::new(2, 7));
        let l = load("a:\n  b: 1\n", Limits::default());
        assert_eq!(
            l.documents[0].spans.get("/a").unwrap().value.end,
            Pos::new(3, 1)
        );
    }

    #[test]
    fn merge_keys() {
        let d = one("base: &b {x: 1, z: 2}\nm:\n  <<: *b\n  z: 3\n");
        assert_eq!(d.value["m"], json!({"z": 3, "x": 1}));
    }
}
