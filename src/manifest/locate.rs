//! Positions inside a scalar: map a byte range of a scalar's *value* (e.g. a matcher inside a
//! PromQL query in a `|` block) back to the source, whatever the scalar style. pint does the same
//! for rule files; without it a finding inside a 20-line query would point at the key.
//!
//! The value is re-decoded from the source text with the scalar's style, keeping for every
//! decoded character the source position it came from.

use std::ops::Range;

use super::source::{Pos, Source, Span};
use super::{NodeSpan, ScalarKind};

/// Decoded characters of a scalar, each with its source position.
pub fn decode_with_positions(source: &Source, node: &NodeSpan) -> Option<(String, Vec<Pos>)> {
    let kind = node.scalar?;
    let start = source.offset(node.value.start);
    let end = source.offset(node.value.end).max(start);
    let raw = source.text.get(start..end)?;
    let mut out = String::new();
    let mut pos = Vec::new();
    let base = node.value.start;
    // Positions of raw characters.
    let mut chars: Vec<(char, Pos)> = Vec::with_capacity(raw.len());
    let (mut line, mut col) = (base.line, base.column);
    for c in raw.chars() {
        chars.push((c, Pos::new(line, col)));
        if c == '\n' {
            line += 1;
            col = 1;
        } else if c != '\r' {
            col += 1;
        }
    }
    let chars: Vec<(char, Pos)> = chars.into_iter().filter(|(c, _)| *c != '\r').collect();
    match kind {
        ScalarKind::Plain | ScalarKind::SingleQuoted | ScalarKind::DoubleQuoted => {
            let body = match kind {
                ScalarKind::Plain => &chars[..],
                _ if chars.len() >= 2 => &chars[1..chars.len() - 1],
                _ => &chars[..],
            };
            flow_fold(body, kind, &mut out, &mut pos);
        }
        ScalarKind::Literal | ScalarKind::Folded => {
            // The span starts at the first content line's indentation; the header (`|-`, `>+`)
            // is on the line before it.
            let header = block_header(source, start);
            let indent = node.value.start.column.saturating_sub(1) as usize;
            block(
                &chars,
                header,
                indent,
                kind == ScalarKind::Folded,
                &mut out,
                &mut pos,
            );
        }
    }
    Some((out, pos))
}

/// The header (`|-`, `>+2`) of a block scalar whose content starts at byte `start`.
fn block_header(source: &Source, start: usize) -> &str {
    let before = &source.text[..start];
    before
        .rfind(['|', '>'])
        .map(|i| before[i..].lines().next().unwrap_or(""))
        .unwrap_or("")
}

/// Flow scalars: line breaks fold to a space (an empty line gives a newline); leading and
/// trailing white space of continuation lines is dropped; quotes and escapes are decoded.
fn flow_fold(body: &[(char, Pos)], kind: ScalarKind, out: &mut String, pos: &mut Vec<Pos>) {
    let lines: Vec<&[(char, Pos)]> = body.split(|(c, _)| *c == '\n').collect();
    let n = lines.len();
    let mut pending_break: Option<Pos> = None;
    let mut empty_lines = 0;
    for (li, line) in lines.iter().enumerate() {
        let mut l: &[(char, Pos)] = line;
        if li > 0 {
            while let Some((' ' | '\t', _)) = l.first() {
                l = &l[1..];
            }
        }
        if li + 1 < n {
            while let Some((' ' | '\t', _)) = l.last() {
                l = &l[..l.len() - 1];
            }
        }
        if li > 0 && l.is_empty() && li + 1 < n {
            empty_lines += 1;
            continue;
        }
        if let Some(p) = pending_break.take() {
            if empty_lines == 0 {
                out.push(' ');
                pos.push(p);
            }
            for _ in 0..empty_lines {
                out.push('\n');
                pos.push(p);
            }
            empty_lines = 0;
        }
        let mut i = 0;
        while i < l.len() {
            let (c, p) = l[i];
            match (kind, c) {
                (ScalarKind::SingleQuoted, '\'') if l.get(i + 1).is_some_and(|x| x.0 == '\'') => {
                    out.push('\'');
                    pos.push(p);
                    i += 2;
                    continue;
                }
                (ScalarKind::DoubleQuoted, '\\') => {
                    let Some(&(e, _)) = l.get(i + 1) else {
                        // Escaped line break: the lines join with nothing between them.
                        i += 1;
                        pending_break = None;
                        continue;
                    };
                    let (decoded, skip) = match e {
                        'n' => ('\n', 2),
                        't' => ('\t', 2),
                        'r' => ('\r', 2),
                        '0' => ('\0', 2),
                        'x' => (hex(l, i + 2, 2), 4),
                        'u' => (hex(l, i + 2, 4), 6),
                        'U' => (hex(l, i + 2, 8), 10),
                        other => (other, 2),
                    };
                    out.push(decoded);
                    pos.push(p);
                    i += skip;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            pos.push(p);
            i += 1;
        }
        if li + 1 < n {
            let end = l.last().map(|(_, p)| Pos::new(p.line, p.column + 1));
            pending_break = Some(end.unwrap_or(line.first().map(|x| x.1).unwrap_or_default()));
        }
    }
}

fn hex(l: &[(char, Pos)], from: usize, n: usize) -> char {
    let s: String = l.iter().skip(from).take(n).map(|(c, _)| *c).collect();
    u32::from_str_radix(&s, 16)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}')
}

/// Block scalars: strip the indentation (the first line's was not part of the span), keep
/// (literal) or fold (folded) line breaks; the final line break follows the chomping indicator.
fn block(
    chars: &[(char, Pos)],
    header: &str,
    indent: usize,
    folded: bool,
    out: &mut String,
    pos: &mut Vec<Pos>,
) {
    let mut lines: Vec<&[(char, Pos)]> = chars.split(|(c, _)| *c == '\n').collect();
    let header = header.split('#').next().unwrap_or("").trim();
    let strip = header.contains('-');
    // Lines after the scalar's last content line (less indented, empty) are not part of it.
    while lines.len() > 1
        && lines
            .last()
            .is_some_and(|l| l.iter().all(|(c, _)| *c == ' '))
    {
        lines.pop();
    }
    let content = |i: usize| -> &[(char, Pos)] {
        let l = lines[i];
        if i == 0 {
            l
        } else if l.len() >= indent {
            &l[indent..]
        } else {
            &[]
        }
    };
    let is_spaced = |c: &[(char, Pos)]| c.first().is_some_and(|(ch, _)| *ch == ' ' || *ch == '\t');
    for i in 0..lines.len() {
        let cur = content(i);
        if i > 0 {
            let prev = content(i - 1);
            let brk = lines[i - 1]
                .last()
                .map(|(_, p)| Pos::new(p.line, p.column + 1))
                .unwrap_or_else(|| cur.first().map(|x| x.1).unwrap_or_default());
            // Folding (YAML 1.2 §8.1.3): a break between two non-empty, not more-indented lines
            // becomes a space; a break followed by empty lines becomes those lines' breaks.
            let fold = folded
                && !prev.is_empty()
                && !is_spaced(prev)
                && !cur.is_empty()
                && !is_spaced(cur);
            if fold {
                out.push(' ');
                pos.push(brk);
            } else if folded
                && cur.is_empty()
                && !prev.is_empty()
                && !is_spaced(prev)
                && i + 1 < lines.len()
                && !content(i + 1).is_empty()
                && !is_spaced(content(i + 1))
            {
                // Break before an empty line between two text lines: dropped (the empty line
                // itself becomes the single newline).
            } else {
                out.push('\n');
                pos.push(brk);
            }
        }
        for &(c, p) in cur {
            out.push(c);
            pos.push(p);
        }
    }
    if !strip {
        let end = lines
            .last()
            .and_then(|l| l.last())
            .map(|(_, p)| Pos::new(p.line, p.column + 1))
            .unwrap_or_default();
        out.push('\n');
        pos.push(end);
    }
}

/// The last scalar decoded by [`in_scalar`]: findings come in runs about one scalar (one per
/// template action or matcher of a long query), and decoding it again for each made placing
/// them quadratic (5,000 findings in a 60 KB query took minutes).
struct Decoded {
    raw: String,
    /// The header of a block scalar (it decides chomping and indentation).
    header: String,
    kind: Option<ScalarKind>,
    base: Pos,
    positions: Vec<Pos>,
    /// Byte offset in the decoded value of each character, and the value's length.
    char_starts: Vec<usize>,
}

thread_local! {
    static LAST_DECODED: std::cell::RefCell<Option<Decoded>> = const { std::cell::RefCell::new(None) };
}

/// The source span of `range` (bytes of the decoded value).
pub fn in_scalar(source: &Source, node: &NodeSpan, range: &Range<usize>) -> Option<Span> {
    let start = source.offset(node.value.start);
    let end = source.offset(node.value.end).max(start);
    let raw = source.text.get(start..end)?;
    let header = match node.scalar? {
        ScalarKind::Literal | ScalarKind::Folded => block_header(source, start),
        _ => "",
    };
    LAST_DECODED.with(|cell| {
        let mut cell = cell.borrow_mut();
        // Same text, header, style and place: the same decoding (compared, not hashed).
        let hit = cell.as_ref().is_some_and(|d| {
            d.kind == node.scalar
                && d.base == node.value.start
                && d.header == header
                && d.raw == raw
        });
        if !hit {
            let (decoded, positions) = decode_with_positions(source, node)?;
            let mut char_starts: Vec<usize> = decoded.char_indices().map(|(i, _)| i).collect();
            char_starts.push(decoded.len());
            *cell = Some(Decoded {
                raw: raw.to_owned(),
                header: header.to_owned(),
                kind: node.scalar,
                base: node.value.start,
                positions,
                char_starts,
            });
        }
        let d = cell.as_ref()?;
        // The character index of a byte offset; `None` off a character boundary or past the end.
        let char_at = |b: usize| d.char_starts.binary_search(&b).ok();
        let start_char = char_at(range.start)?;
        let end_char = char_at(range.end.max(range.start))?;
        span_of(&d.positions, start_char, end_char)
    })
}

fn span_of(positions: &[Pos], start_char: usize, end_char: usize) -> Option<Span> {
    let start = *positions.get(start_char)?;
    let end = if end_char > start_char {
        let last = positions.get(end_char - 1)?;
        Pos::new(last.line, last.column + 1)
    } else {
        start
    };
    Some(Span::new(start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Limits, load};

    fn check(text: &str, pointer: &str, needle: &str, expect: Pos) {
        let source = Source::new("t", text);
        let docs = load(&source.text, Limits::default()).documents;
        let d = &docs[0];
        let value = d.value.pointer(pointer).unwrap().as_str().unwrap();
        let node = d.spans.get(pointer).unwrap();
        let (decoded, _) = decode_with_positions(&source, node).unwrap();
        assert_eq!(decoded, value, "decoding {text:?}");
        let at = value.find(needle).unwrap();
        let span = in_scalar(&source, node, &(at..at + needle.len())).unwrap();
        assert_eq!(span.start, expect, "{needle} in {text:?}");
    }

    #[test]
    fn repeated_lookups_in_one_scalar_and_lookalikes() {
        // The last decoding is reused: same content, same place, different header must not be.
        let a = Source::new("a", "q: |\n  x\n\n");
        let b = Source::new("b", "q: >\n  x\n\n");
        let docs_a = load(&a.text, Limits::default()).documents;
        let docs_b = load(&b.text, Limits::default()).documents;
        let na = docs_a[0].spans.get("/q").unwrap();
        let nb = docs_b[0].spans.get("/q").unwrap();
        assert_eq!(na.value, nb.value);
        for _ in 0..2 {
            let sa = in_scalar(&a, na, &(0..1)).unwrap();
            let sb = in_scalar(&b, nb, &(0..1)).unwrap();
            assert_eq!((sa.start, sb.start), (Pos::new(2, 3), Pos::new(2, 3)));
            // Off the end, off a character boundary: no span.
            assert_eq!(in_scalar(&a, na, &(0..10)), None);
        }
        let s = Source::new("c", "q: \"é{{ x }}é{{ y }}\"\n");
        let docs = load(&s.text, Limits::default()).documents;
        let n = docs[0].spans.get("/q").unwrap();
        let value = docs[0].value["q"].as_str().unwrap();
        let at = value.find("{{ y").unwrap();
        for _ in 0..3 {
            let sp = in_scalar(&s, n, &(at..at + 7)).unwrap();
            assert_eq!((sp.start, sp.end), (Pos::new(1, 14), Pos::new(1, 21)));
            assert_eq!(in_scalar(&s, n, &(1..2)), None, "inside é");
        }
    }

    #[test]
    fn literal_block() {
        check(
            "q: |\n  sum(rate(\n    x{pod=~\"a.*\"}[1m]))\n",
            "/q",
            "pod",
            Pos::new(3, 7),
        );
        check("q: |-\n  a\n\n  b\nz: 1\n", "/q", "b", Pos::new(4, 3));
    }

    #[test]
    fn folded_block() {
        check(
            "q: >\n  sum(rate(\n    x{pod=~\"a.*\"}[1m]))\n  / 2\n",
            "/q",
            "pod",
            Pos::new(3, 7),
        );
        check(
            "q: >-\n  sum(a)\n  / sum(b)\n",
            "/q",
            "sum(b)",
            Pos::new(3, 5),
        );
    }

    #[test]
    fn quoted_and_plain() {
        check("q: \"a{x=\\\"1\\\"} / b\"\n", "/q", "b", Pos::new(1, 18));
        check("q: 'it''s b'\n", "/q", "b", Pos::new(1, 11));
        check("q: sum(a)\n  / sum(b)\n", "/q", "sum(b)", Pos::new(2, 5));
        check(
            "q: \"sum(a)\n  / sum(b)\"\n",
            "/q",
            "sum(b)",
            Pos::new(2, 5),
        );
        check("q: é + b\n", "/q", "b", Pos::new(1, 8));
    }
}
