//! Lowering fixes to text: a rule's [`Edit`]s name JSON pointers of its object; here they become
//! byte-range replacements of the source that keep the file's style.
//!
//! Only the bytes of the edited value change (a scalar is re-written in its own style: plain,
//! quoted or block), so comments, blank lines and the layout around it survive. What cannot be
//! placed exactly is refused with a reason, and the fix is then only shown: a node reached
//! through an alias or a `<<` merge key (it has no text of its own), a node carrying an anchor
//! or inside an anchored collection (other places copy it: editing it would change them too), a
//! range inside a scalar that is not one run of source characters (an escape, a folded line).

use serde_json::Value;

use super::locate::decode_with_positions;
use super::scalar::resolve_plain;
use super::{NodeSpan, ScalarKind, Source, SpanIndex};
use crate::engine::fix::{Applicability, Edit, Fix, TextEdit, TextFix};

/// Lower `fix` of an object whose pointers are relative to `base` in a document indexed by
/// `spans`. Never fails: a fix that cannot be placed comes back `DisplayOnly` with `refused`.
pub fn lower_fix(source: &Source, spans: &SpanIndex, base: &str, fix: &Fix) -> TextFix {
    let mut applicability = fix.applicability;
    let mut edits = Vec::new();
    for e in &fix.edits {
        match lower(source, spans, base, e) {
            Ok(mut t) => {
                // An edit that deletes a comment changes more than the value: never automatic.
                if t.iter()
                    .any(|t| removes_comment(&source.text[t.range.clone()]))
                {
                    applicability = applicability.min(Applicability::Unsafe);
                }
                edits.append(&mut t)
            }
            Err(why) => return refused(fix, why),
        }
    }
    edits.sort();
    edits.dedup();
    if edits.windows(2).any(|w| w[0].range.end > w[1].range.start) {
        return refused(fix, "its edits overlap".into());
    }
    TextFix {
        message: fix.message.clone(),
        applicability,
        edits,
        refused: None,
    }
}

/// Lower `fix` of an object in document `document` of `source` at `base` (an
/// [`crate::engine::Origin::File`]'s fields), loading the text again: for callers that keep no
/// span index, such as an editor offering [`crate::engine::suppression_fix`].
pub fn lower_in_source(source: &Source, document: usize, base: &str, fix: &Fix) -> TextFix {
    let loaded = super::load(&source.text, super::Limits::default());
    match loaded.documents.iter().find(|d| d.index == document) {
        Some(d) => lower_fix(source, &d.spans, base, fix),
        None => refused(fix, "the document did not load".into()),
    }
}

/// The fix, shown but not applicable.
pub fn refused(fix: &Fix, why: String) -> TextFix {
    TextFix {
        message: fix.message.clone(),
        applicability: Applicability::DisplayOnly,
        edits: Vec::new(),
        refused: Some(why),
    }
}

/// Whether replaced text holds a comment (`#` at a line start or after white space, outside
/// quotes: approximated by any such `#`, which only makes a fix less automatic).
fn removes_comment(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n')))
}

/// Lines longer than this are not edited (see [`lower`]).
const MAX_LINE: usize = 16 * 1024;

/// Lower one edit.
pub fn lower(
    source: &Source,
    spans: &SpanIndex,
    base: &str,
    edit: &Edit,
) -> Result<Vec<TextEdit>, String> {
    let full = format!("{base}{}", edit.pointer());
    // Positions on a line cost its length to compute: a minified JSON line of megabytes with
    // thousands of findings made lowering quadratic. Such text is not edited.
    if let Some((_, n)) = spans.locate(&full) {
        if source
            .line(n.value.start.line)
            .is_some_and(|l| l.len() > MAX_LINE)
        {
            return Err(format!(
                "{} is on a line longer than {MAX_LINE} bytes (minified text); not edited",
                edit.pointer()
            ));
        }
    }
    let node = own_node(source, spans, &full, edit.pointer())?;
    match edit {
        Edit::Set { value, pointer } => set(source, spans, &full, node, value, pointer),
        Edit::InScalar {
            range,
            text,
            pointer,
            ..
        } => in_scalar(source, spans, &full, node, range.clone(), text, pointer),
        Edit::Insert { key, value, .. } => insert(source, spans, &full, node, key, value),
        Edit::RenameKey { key, .. } => rename_key(source, spans, &full, node, key),
        Edit::Remove { pointer } => Err(format!("removing {pointer} is not supported")),
    }
}

/// The node at `full`, if it has text of its own that only it uses.
fn own_node<'s>(
    source: &Source,
    spans: &'s SpanIndex,
    full: &str,
    shown: &str,
) -> Result<&'s NodeSpan, String> {
    let Some(node) = spans.get(full) else {
        return Err(match spans.locate(full) {
            Some(_) => format!(
                "{shown} has no text of its own (it comes from an alias or a `<<` merge key); edit the anchored node instead"
            ),
            None => format!("{shown} is not in the file"),
        });
    };
    if node.scalar.is_none() && raw(source, node).starts_with('*') {
        return Err(format!(
            "{shown} is an alias (`{}`); editing it here would not change the anchored value",
            raw(source, node).trim_end()
        ));
    }
    // The node and every ancestor: an anchor on any of them means aliases copy this text.
    let mut p = full;
    loop {
        if let Some(n) = spans.get(p) {
            if let Some(anchor) = anchor_before(source, n) {
                let what = if p == full {
                    format!("{shown} has an anchor (`{anchor}`)")
                } else {
                    format!("{shown} is inside a node with an anchor (`{anchor}`)")
                };
                return Err(format!(
                    "{what} that aliases copy; editing it would change every copy"
                ));
            }
        }
        if p.is_empty() {
            break;
        }
        p = p.rfind('/').map_or("", |i| &p[..i]);
    }
    Ok(node)
}

/// The source text of a node's value.
fn raw<'a>(source: &'a Source, node: &NodeSpan) -> &'a str {
    let r = source.range(node.value);
    source.text.get(r).unwrap_or("")
}

/// How far before a value [`anchor_before`] looks for its anchor when it has no key.
const ANCHOR_LOOKBACK: usize = 1024;

/// The anchor (`&name`) written before a node's value, if any: the token before the value,
/// skipping white space, line breaks and a tag.
fn anchor_before<'a>(source: &'a Source, node: &NodeSpan) -> Option<&'a str> {
    let start = source.offset(node.value.start);
    let before = source.text.get(..start)?;
    // Only the text after the key (or the line's start) can hold the anchor.
    let from = match node.key {
        Some(k) => source.offset(k.end).min(start),
        // Anchors and tags are short: look back a bounded stretch, not to the start of a long
        // line (a minified JSON file is one line, and this runs once per fixed node).
        None => {
            let mut lo = before.len().saturating_sub(ANCHOR_LOOKBACK);
            while !before.is_char_boundary(lo) {
                lo += 1;
            }
            let t = before[lo..].trim_end();
            t.rfind(['\n', '\r']).map_or(lo, |i| lo + i + 1)
        }
    };
    // A collection's span may start at its anchor.
    let own = raw(source, node);
    if own.starts_with('&') {
        return own.split(char::is_whitespace).next();
    }
    let between = &before[from..];
    between
        .split(|c: char| c.is_whitespace() || c == ':' || c == '-' || c == '[' || c == ',')
        .find(|t| t.starts_with('&') && t.len() > 1)
}

/// Whether the node at `full` lies inside a flow collection (`{…}`, `[…]`).
fn in_flow(source: &Source, spans: &SpanIndex, full: &str) -> bool {
    let mut p = full;
    while let Some(i) = p.rfind('/') {
        p = &p[..i];
        if let Some(n) = spans.get(p) {
            if n.scalar.is_none() && raw(source, n).starts_with(['{', '[']) {
                return true;
            }
        }
    }
    false
}

/// Line ending used at byte `at` (the next line break after it), `\n` by default.
fn eol_at(text: &str, at: usize) -> &'static str {
    match text[at.min(text.len())..].find('\n') {
        Some(i) if i > 0 && text.as_bytes()[at + i - 1] == b'\r' => "\r\n",
        Some(_) => "\n",
        None if text.contains("\r\n") => "\r\n",
        None => "\n",
    }
}

fn set(
    source: &Source,
    spans: &SpanIndex,
    full: &str,
    node: &NodeSpan,
    value: &Value,
    shown: &str,
) -> Result<Vec<TextEdit>, String> {
    let range = source.range(node.value);
    let Some(kind) = node.scalar else {
        return set_collection(source, spans, full, node, value, shown);
    };
    if let Value::String(new) = value {
        if matches!(kind, ScalarKind::Literal | ScalarKind::Folded) {
            // Keep the block: change the differing part of its value only.
            let (old, _) = decode_with_positions(source, node)
                .ok_or_else(|| format!("{shown} could not be decoded"))?;
            let p = common_prefix(&old, new);
            let s = common_suffix(&old[p..], &new[p..]);
            return in_scalar(
                source,
                spans,
                full,
                node,
                p..old.len() - s,
                &new[p..new.len() - s],
                shown,
            );
        }
    }
    let text = render_scalar(value, kind, in_flow(source, spans, full))
        .ok_or_else(|| format!("the new value of {shown} is not a scalar"))?;
    Ok(vec![TextEdit::replace(range, text)])
}

/// Replace a whole collection by an empty one or a flow-style value (`pause: {}`).
fn set_collection(
    source: &Source,
    spans: &SpanIndex,
    full: &str,
    node: &NodeSpan,
    value: &Value,
    shown: &str,
) -> Result<Vec<TextEdit>, String> {
    let flow = flow_json(value).ok_or_else(|| format!("cannot write the new value of {shown}"))?;
    let start = source.offset(node.value.start);
    if raw(source, node).starts_with(['{', '[']) {
        return Ok(vec![TextEdit::replace(source.range(node.value), flow)]);
    }
    // A block collection: from after the key's `:` to the end of its last descendant.
    let Some(key) = node.key else {
        return Err(format!("{shown} is a block collection without a key"));
    };
    let key_end = source.offset(key.end);
    let colon = source.text[key_end..start]
        .find(':')
        .map(|i| key_end + i + 1)
        .ok_or_else(|| format!("{shown}: no `:` after its key"))?;
    let end = descendants_end(source, spans, full).max(colon);
    Ok(vec![TextEdit::replace(colon..end, format!(" {flow}"))])
}

/// The end of the text of the last descendant of `full` (scalars end where their text does).
fn descendants_end(source: &Source, spans: &SpanIndex, full: &str) -> usize {
    spans
        .entries_under(full)
        .filter(|(_, n)| n.scalar.is_some() || raw(source, n).starts_with(['{', '[', '*']))
        .map(|(_, n)| content_end(source, n))
        .max()
        .unwrap_or(0)
}

/// The end of a scalar's, flow collection's or alias's own text: a block scalar's span runs
/// over its trailing line breaks, which belong to the next line.
fn content_end(source: &Source, node: &NodeSpan) -> usize {
    let r = source.range(node.value);
    let t = &source.text[r.clone()];
    r.start + t.trim_end().len()
}

/// The end of the text of a node and its descendants.
fn node_end(source: &Source, spans: &SpanIndex, full: &str, node: &NodeSpan) -> usize {
    if node.scalar.is_some() || raw(source, node).starts_with(['{', '[', '*']) {
        content_end(source, node)
    } else {
        descendants_end(source, spans, full).max(source.offset(node.value.start))
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = 0;
    for ((i, x), y) in a.char_indices().zip(b.chars()) {
        if x != y {
            return i;
        }
        n = i + x.len_utf8();
    }
    n
}

fn common_suffix(a: &str, b: &str) -> usize {
    let mut n = 0;
    for (x, y) in a.chars().rev().zip(b.chars().rev()) {
        if x != y {
            break;
        }
        n += x.len_utf8();
    }
    n
}

/// A plain scalar that reads back as the string `s` in a block (or flow) context.
fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(first == '-' && s.len() > 1 && !s.starts_with("- "))
    {
        return false;
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control()) {
        return false;
    }
    if s == "---" || s == "..." || s.starts_with("--- ") {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    resolve_plain(s) == Value::String(s.to_owned())
}

/// A YAML double-quoted scalar (a JSON string is one).
fn double_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The text of a scalar value in (as near as possible) the style `kind`.
pub fn render_scalar(value: &Value, kind: ScalarKind, flow: bool) -> Option<String> {
    Some(match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let s = n.to_string();
            if resolve_plain(&s) == *value {
                s
            } else {
                double_quoted(&s)
            }
        }
        Value::String(s) => match kind {
            ScalarKind::Plain if plain_ok(s, flow) => s.clone(),
            ScalarKind::SingleQuoted
                if !s.contains(['\n', '\r']) && !s.chars().any(char::is_control) =>
            {
                format!("'{}'", s.replace('\'', "''"))
            }
            _ => double_quoted(s),
        },
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// A value in flow style: scalars as in a plain context, collections as JSON (a YAML flow
/// collection), empty ones as `{}` / `[]`.
fn flow_json(value: &Value) -> Option<String> {
    match value {
        Value::Array(_) | Value::Object(_) => serde_json::to_string(value).ok(),
        v => render_scalar(v, ScalarKind::Plain, true),
    }
}

#[allow(clippy::too_many_arguments)]
fn in_scalar(
    source: &Source,
    spans: &SpanIndex,
    full: &str,
    node: &NodeSpan,
    range: std::ops::Range<usize>,
    text: &str,
    shown: &str,
) -> Result<Vec<TextEdit>, String> {
    let kind = node
        .scalar
        .ok_or_else(|| format!("{shown} is not a scalar"))?;
    let (decoded, pos) = decode_with_positions(source, node)
        .ok_or_else(|| format!("{shown} could not be decoded"))?;
    if range.start > range.end
        || range.end > decoded.len()
        || !decoded.is_char_boundary(range.start)
        || !decoded.is_char_boundary(range.end)
    {
        return Err(format!(
            "the range {range:?} is not inside the value of {shown}"
        ));
    }
    let flow = in_flow(source, spans, full);
    let mut new_value = decoded.clone();
    new_value.replace_range(range.clone(), text);
    // Styles where the new value cannot be written in place: re-write the whole scalar.
    let whole = |why: &str| -> Result<Vec<TextEdit>, String> {
        if matches!(kind, ScalarKind::Literal | ScalarKind::Folded) {
            return Err(format!("{shown}: {why}"));
        }
        let t = render_scalar(&Value::String(new_value.clone()), kind, flow)
            .ok_or_else(|| format!("{shown}: {why}"))?;
        Ok(vec![TextEdit::replace(source.range(node.value), t)])
    };
    let ci = decoded[..range.start].chars().count();
    let cj = ci + decoded[range.clone()].chars().count();
    let chars: Vec<char> = decoded.chars().collect();
    if pos.len() != chars.len() {
        return whole("its text does not map to its value");
    }
    // Source offsets of the decoded characters ci..cj: one contiguous run, equal characters.
    let off = |k: usize| source.offset(pos[k]);
    let start = if ci < chars.len() {
        off(ci)
    } else if ci > 0 {
        off(ci - 1) + chars[ci - 1].len_utf8()
    } else {
        return whole("the value is empty");
    };
    let mut at = start;
    for (k, &c) in chars.iter().enumerate().take(cj).skip(ci) {
        let special = match kind {
            ScalarKind::SingleQuoted => c == '\'',
            ScalarKind::DoubleQuoted => c == '\\' || c == '"',
            _ => false,
        };
        if off(k) != at || special || !source.text[at..].starts_with(c) {
            return whole("the range is not one run of its text (an escape or a folded line)");
        }
        at += c.len_utf8();
    }
    let end = at;
    if ci == cj && ci < chars.len() && !source.text[start..].starts_with(chars[ci]) {
        return whole("the position is not in its text");
    }
    let content = match kind {
        ScalarKind::Plain => {
            if !plain_ok(&new_value, flow) {
                return whole("the new value needs quotes");
            }
            text.to_owned()
        }
        ScalarKind::SingleQuoted => {
            if text.contains(['\n', '\r']) {
                return whole("the new text has a line break");
            }
            text.replace('\'', "''")
        }
        ScalarKind::DoubleQuoted => {
            let q = double_quoted(text);
            q[1..q.len() - 1].to_owned()
        }
        ScalarKind::Literal => {
            // Continuation lines get the block's indentation and the file's line ending.
            let indent = " ".repeat(node.value.start.column.saturating_sub(1) as usize);
            let eol = eol_at(&source.text, start);
            text.split('\n')
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        l.to_owned()
                    } else {
                        format!("{eol}{indent}{l}")
                    }
                })
                .collect()
        }
        ScalarKind::Folded => {
            if text.contains(['\n', '\r']) {
                return Err(format!("{shown}: a line break in a folded (`>`) scalar"));
            }
            text.to_owned()
        }
    };
    Ok(vec![TextEdit::replace(start..end, content)])
}

/// The byte offset of the bracket closing the flow collection opened at `open`.
fn flow_close(text: &str, open: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'\'' => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Rename the key of the member at `full`, in the key's style.
fn rename_key(
    source: &Source,
    spans: &SpanIndex,
    full: &str,
    node: &NodeSpan,
    key: &str,
) -> Result<Vec<TextEdit>, String> {
    let span = node
        .key
        .ok_or_else(|| format!("{} is not a mapping member", display(full)))?;
    let parent = full.rfind('/').map_or("", |i| &full[..i]);
    let mut sibling = parent.to_owned();
    super::push_segment(&mut sibling, key);
    if spans.get(&sibling).is_some() {
        return Err(format!("{key} is already a key of {}", display(parent)));
    }
    let range = source.range(span);
    let old = &source.text[range.clone()];
    let kind = if old.starts_with('\'') {
        ScalarKind::SingleQuoted
    } else if old.starts_with('"') {
        ScalarKind::DoubleQuoted
    } else if old.starts_with(['?', '|', '>']) {
        return Err(format!("the key of {} is a complex key", display(full)));
    } else {
        ScalarKind::Plain
    };
    let text = render_scalar(
        &Value::String(key.to_owned()),
        kind,
        in_flow(source, spans, full),
    )
    .ok_or("a key that cannot be written")?;
    Ok(vec![TextEdit::replace(range, text)])
}

/// Add `key: value` to the mapping at `full`.
fn insert(
    source: &Source,
    spans: &SpanIndex,
    full: &str,
    node: &NodeSpan,
    key: &str,
    value: &Value,
) -> Result<Vec<TextEdit>, String> {
    let text = &source.text;
    let mut child = full.to_owned();
    super::push_segment(&mut child, key);
    if spans.get(&child).is_some() {
        return Err(format!("{key} is already set"));
    }
    if node.scalar.is_some() {
        return Err(format!("{} is not a mapping", display(full)));
    }
    let flow = in_flow(source, spans, full);
    let key_text = if plain_ok(key, true) {
        key.to_owned()
    } else {
        double_quoted(key)
    };
    let body = raw(source, node);
    if body.starts_with('[') {
        return Err(format!("{} is a sequence", display(full)));
    }
    if body.starts_with('{') {
        // Flow mapping: before the closing brace (found by scanning: the span's end may lie
        // past it).
        let open = source.offset(node.value.start);
        let close = flow_close(text, open).ok_or("an unclosed flow mapping")?;
        let inner = &text[open + 1..close];
        let v = flow_json(value).ok_or("a value that cannot be written")?;
        if inner.trim().is_empty() {
            return Ok(vec![TextEdit::replace(
                close..close,
                format!("{key_text}: {v}"),
            )]);
        }
        if inner.contains('#') && removes_comment(inner) {
            return Err(format!("{} holds a comment", display(full)));
        }
        let at = open + 1 + inner.trim_end().len();
        let sep = if inner.trim_end().ends_with(',') {
            " "
        } else {
            ", "
        };
        return Ok(vec![TextEdit::replace(
            at..at,
            format!("{sep}{key_text}: {v}"),
        )]);
    }
    if flow {
        return Err(format!("{} is inside a flow collection", display(full)));
    }
    // Block mapping: a new line after the last line of its members (so that comments and
    // nested blocks stay where they are), with the members' indentation.
    let members: Vec<(&str, &NodeSpan)> = spans
        .children(full)
        .filter(|(_, n)| n.key.is_some())
        .collect();
    let Some(first) = members
        .iter()
        .filter_map(|(_, n)| n.key)
        .min_by_key(|k| k.start)
    else {
        return Err(format!(
            "{} has no member to place the new key after",
            display(full)
        ));
    };
    let indent_cols = first.start.column.saturating_sub(1) as usize;
    let line_start = source.offset(crate::manifest::Pos::new(first.start.line, 1));
    if text[line_start..source.offset(first.start)].contains('\t') {
        return Err(format!("{} is indented with tabs", display(full)));
    }
    let last = members
        .iter()
        .map(|(p, n)| node_end(source, spans, p, n))
        .max()
        .unwrap_or(0);
    let line_end = text[last..]
        .find(['\n', '\r'])
        .map_or(text.len(), |i| last + i);
    let eol = eol_at(text, last);
    let indent = " ".repeat(indent_cols);
    let rendered =
        block_value(value, indent_cols, 2, eol).ok_or("a value that cannot be written")?;
    Ok(vec![TextEdit::replace(
        line_end..line_end,
        format!("{eol}{indent}{key_text}:{rendered}"),
    )])
}

/// A value after `key:` in a block mapping at `indent` columns: ` scalar`, or nested members on
/// the following lines.
fn block_value(value: &Value, indent: usize, step: usize, eol: &str) -> Option<String> {
    match value {
        Value::Object(m) if !m.is_empty() => {
            let pad = " ".repeat(indent + step);
            let mut out = String::new();
            for (k, v) in m {
                let k = if plain_ok(k, false) {
                    k.clone()
                } else {
                    double_quoted(k)
                };
                out.push_str(&format!(
                    "{eol}{pad}{k}:{}",
                    block_value(v, indent + step, step, eol)?
                ));
            }
            Some(out)
        }
        v => Some(format!(" {}", flow_json(v)?)),
    }
}

fn display(full: &str) -> &str {
    if full.is_empty() {
        "the document"
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::apply::apply;
    use serde_json::json;

    /// Lower `edit` (pointers relative to document 0's root) and apply it.
    fn fixed(text: &str, edit: Edit) -> Result<String, String> {
        let source = Source::new("t.yaml", text);
        let loaded = super::super::load(text, super::super::Limits::default());
        let doc = &loaded.documents[0];
        let fix = Fix::safe("t", vec![edit]);
        let t = lower_fix(&source, &doc.spans, "", &fix);
        match t.refused {
            Some(why) => Err(why),
            None => Ok(apply(&source.text, &t.edits)),
        }
    }

    fn value_at(text: &str, pointer: &str) -> Value {
        let loaded = super::super::load(text, super::super::Limits::default());
        assert!(loaded.problems.is_empty(), "{text}: {:?}", loaded.problems);
        loaded.documents[0]
            .value
            .pointer(pointer)
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn set_keeps_style_and_comments() {
        let t = "a:\n  b: 95 # share\n  c: 'x'\n  d: \"z\"\n";
        assert_eq!(
            fixed(t, Edit::set("/a/b", 90)).unwrap(),
            "a:\n  b: 90 # share\n  c: 'x'\n  d: \"z\"\n"
        );
        assert_eq!(
            fixed(t, Edit::set("/a/c", "it's")).unwrap(),
            "a:\n  b: 95 # share\n  c: 'it''s'\n  d: \"z\"\n"
        );
        assert_eq!(
            fixed(t, Edit::set("/a/d", "q\"")).unwrap(),
            "a:\n  b: 95 # share\n  c: 'x'\n  d: \"q\\\"\"\n"
        );
        // A plain string that would read back as a number is quoted.
        let out = fixed("a: x\n", Edit::set("/a", "10")).unwrap();
        assert_eq!(value_at(&out, "/a"), json!("10"));
        // A plain value in a flow mapping with a comma gets quotes.
        let out = fixed("a: {b: x, c: z}\n", Edit::set("/a/b", "p,q")).unwrap();
        assert_eq!(value_at(&out, "/a/b"), json!("p,q"));
        assert_eq!(value_at(&out, "/a/c"), json!("z"));
    }

    #[test]
    fn crlf_bom_and_tabs_in_values() {
        let t = "\u{feff}a:\r\n  b: 1\r\n  c: 2\r\n";
        let out = fixed(t, Edit::insert("/a", "d", 0)).unwrap();
        assert_eq!(out, "a:\r\n  b: 1\r\n  c: 2\r\n  d: 0\r\n");
        let out = fixed(
            "a:\r\n  q: |\r\n    sum(x)\r\n    by (y)\r\n",
            Edit::in_scalar("/a/q", 4..5, "\nz"),
        )
        .unwrap();
        assert_eq!(out, "a:\r\n  q: |\r\n    sum(\r\n    z)\r\n    by (y)\r\n");
        assert_eq!(value_at(&out, "/a/q"), json!("sum(\nz)\nby (y)\n"));
    }

    #[test]
    fn insert_block_and_flow() {
        let t = "r:\n- destination:\n    host: a\n    subset: v2 # c\n- x: 1\n";
        let out = fixed(t, Edit::insert("/r/0", "weight", 0)).unwrap();
        assert_eq!(
            out,
            "r:\n- destination:\n    host: a\n    subset: v2 # c\n  weight: 0\n- x: 1\n"
        );
        let out = fixed("m: {a: 1}\n", Edit::insert("/m", "b", 2)).unwrap();
        assert_eq!(out, "m: {a: 1, b: 2}\n");
        let out = fixed("m: {}\n", Edit::insert("/m", "b", "x y")).unwrap();
        assert_eq!(value_at(&out, "/m"), json!({"b": "x y"}));
        let out = fixed(
            "metadata:\n  name: x\nspec: {}\n",
            Edit::insert("/metadata", "annotations", json!({"k.io/r": "why"})),
        )
        .unwrap();
        assert_eq!(
            out,
            "metadata:\n  name: x\n  annotations:\n    k.io/r: why\nspec: {}\n"
        );
        // A key that is set already.
        assert!(fixed("m: {a: 1}\n", Edit::insert("/m", "a", 2)).is_err());
    }

    #[test]
    fn in_scalar_in_every_style() {
        let q = "up{job=\"a\"}";
        for (t, p) in [
            ("q: |\n  sum(up{job=\"a\"})\n", "/q"),
            ("q: 'sum(up{job=\"a\"})'\n", "/q"),
            ("q: \"sum(up{job=\\\"a\\\"})\"\n", "/q"),
            ("q: sum(up{job=\"a\"})\n", "/q"),
        ] {
            let v = value_at(t, p);
            let s = v.as_str().unwrap();
            let at = s.find(q).unwrap();
            let out = fixed(t, Edit::in_scalar(p, at..at + 2, "down")).unwrap();
            let want = s.replacen("up", "down", 1);
            assert_eq!(value_at(&out, p), json!(want), "{t} -> {out}");
            // Insertion of a quote character.
            let out = fixed(t, Edit::in_scalar(p, at..at, "x\"y'")).unwrap();
            let mut want = s.to_owned();
            want.insert_str(at, "x\"y'");
            assert_eq!(value_at(&out, p), json!(want), "{t} -> {out}");
        }
    }

    #[test]
    fn refuses_aliases_anchors_and_merge_keys() {
        let t = "base: &b\n  w: 1\nuse: *b\nm:\n  <<: *b\n  x: 2\n";
        let e = fixed(t, Edit::set("/base/w", 2)).unwrap_err();
        assert!(e.contains("anchor"), "{e}");
        let e = fixed(t, Edit::set("/use", 2)).unwrap_err();
        assert!(e.contains("alias"), "{e}");
        let e = fixed(t, Edit::set("/m/w", 2)).unwrap_err();
        assert!(e.contains("merge key"), "{e}");
        assert_eq!(
            fixed(t, Edit::set("/m/x", 3)).unwrap(),
            t.replace("x: 2", "x: 3")
        );
        let e = fixed("a: &x 1\nb: *x\n", Edit::set("/a", 2)).unwrap_err();
        assert!(e.contains("anchor"), "{e}");
    }

    #[test]
    fn rename_key_and_set_collection() {
        let t = "metadata:\n  annotations:\n    \"ignore-check.rollgate.dev/x\": \"r\"\n";
        let out = fixed(
            t,
            Edit::rename_key(
                "/metadata/annotations/ignore-check.rollgate.dev~1x",
                "ignore-check.rollgate.dev/y",
            ),
        )
        .unwrap();
        assert_eq!(out, t.replace("/x", "/y"));
        let t = "s:\n- pause:\n    duration: 0 # c\n- w: 1\n";
        let out = fixed(t, Edit::set("/s/0/pause", json!({}))).unwrap();
        assert_eq!(out, "s:\n- pause: {} # c\n- w: 1\n");
    }

    #[test]
    fn multi_document_streams_edit_their_document() {
        let text = "a: 1\n---\nb: 2\n";
        let source = Source::new("t.yaml", text);
        let loaded = super::super::load(text, super::super::Limits::default());
        let doc = loaded.documents.iter().find(|d| d.index == 1).unwrap();
        let t = lower_fix(
            &source,
            &doc.spans,
            "",
            &Fix::safe("t", vec![Edit::set("/b", 3)]),
        );
        assert_eq!(apply(text, &t.edits), "a: 1\n---\nb: 3\n");
    }
}
