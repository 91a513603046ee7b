//! A loaded input file: its display name, its text, and a line index.
//!
//! Positions are 1-based lines and 1-based columns counted in Unicode scalar values (characters),
//! the convention of rustc, ruff and most editors' problem matchers. A UTF-8 byte order mark is
//! not part of the text and is not counted. `\r\n` and `\n` both end a line.

use std::ops::Range;

/// A position in a source file: 1-based line, 1-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const fn new(line: u32, column: u32) -> Self {
        Pos { line, column }
    }
}

/// A half-open range of positions (end is exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl Span {
    pub const fn new(start: Pos, end: Pos) -> Self {
        Span { start, end }
    }

    pub const fn point(pos: Pos) -> Self {
        Span {
            start: pos,
            end: pos,
        }
    }
}

/// Byte offsets of the starts of lines after the first: after `\n`, and after a `\r` that no
/// `\n` follows (YAML, like libyaml and saphyr, reads a lone `\r` as a line break; found by
/// fuzz target manifest_load: positions after one were a line off).
pub fn line_breaks(text: &str) -> impl Iterator<Item = usize> + '_ {
    let b = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let i = at + find_cr_or_lf(&b[at..])?;
            at = i + 1;
            if b[i] == b'\n' || b.get(i + 1) != Some(&b'\n') {
                return Some(i + 1);
            }
        }
    })
}

/// Offset of the first `\r` or `\n` in `b`, eight bytes at a time (every file's text is read
/// through for its lines, twice: `Source::new` and the loader).
fn find_cr_or_lf(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether some byte of `x` is zero (exact: the first zero byte always sets its high bit).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if has_zero(x ^ (ONES * u64::from(b'\n'))) || has_zero(x ^ (ONES * u64::from(b'\r'))) {
            break;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map(|k| i + k)
}

/// One input (a file, or standard input under the name given by `--stdin-filename`).
#[derive(Debug, Clone)]
pub struct Source {
    /// The path shown in findings.
    pub name: String,
    pub text: String,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// Per line, the byte offset of its first non-ASCII byte (or of its end): up to there, a
    /// column is a byte count, so positions convert without walking a long line's characters.
    ascii_until: Vec<usize>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let mut text: String = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let mut line_starts = vec![0];
        line_starts.extend(line_breaks(&text));
        let bytes = text.as_bytes();
        let all_ascii = bytes.is_ascii();
        let ascii_until = line_starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = line_starts.get(i + 1).copied().unwrap_or(bytes.len());
                if all_ascii {
                    return end;
                }
                bytes[start..end]
                    .iter()
                    .position(|b| !b.is_ascii())
                    .map_or(end, |k| start + k)
            })
            .collect();
        Source {
            name: name.into(),
            text,
            line_starts,
            ascii_until,
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line(&self, line: u32) -> Option<&str> {
        let idx = (line as usize).checked_sub(1)?;
        let start = *self.line_starts.get(idx)?;
        let end = self
            .line_starts
            .get(idx + 1)
            .copied()
            .unwrap_or(self.text.len());
        let s = &self.text[start..end];
        let s = s.strip_suffix('\n').unwrap_or(s);
        Some(s.strip_suffix('\r').unwrap_or(s))
    }

    /// Byte offset of a position (clamped to the line's end).
    pub fn offset(&self, pos: Pos) -> usize {
        let idx = (pos.line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(idx) else {
            return self.text.len();
        };
        let line = self.line(pos.line).unwrap_or("");
        let col = (pos.column as usize).saturating_sub(1);
        // An ASCII prefix has one byte per column: no walk over a long line's characters (each
        // finding inside a 60 KB one-line query walked it, and each fix lowers several spans).
        let ascii = self.ascii_until.get(idx).map_or(start, |&a| a - start);
        if col <= line.len() && col <= ascii {
            return start + col;
        }
        start
            + line
                .char_indices()
                .nth(col)
                .map(|(i, _)| i)
                .unwrap_or(line.len())
    }

    /// Position of a byte offset (clamped to the text).
    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[idx];
        let mut col_end = offset;
        while !self.text.is_char_boundary(col_end) {
            col_end -= 1;
        }
        let column = if col_end <= self.ascii_until.get(idx).copied().unwrap_or(start) {
            col_end - start + 1
        } else {
            self.text[start..col_end].chars().count() + 1
        };
        Pos::new(idx as u32 + 1, column as u32)
    }

    /// The byte range of a span.
    pub fn range(&self, span: Span) -> Range<usize> {
        let s = self.offset(span.start);
        let e = self.offset(span.end).max(s);
        s..e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time search for line breaks finds every one a byte scan finds.
    #[test]
    fn line_breaks_scan_words_exactly() {
        for sep in ["\n", "\r", "\r\n", "\n\r", "\r\r\n"] {
            for len in 0..20 {
                let text = format!("{}{sep}{}{sep}", "x".repeat(len), "é".repeat(len / 3));
                let b = text.as_bytes();
                let want: Vec<usize> = (0..b.len())
                    .filter(|&i| b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n')))
                    .map(|i| i + 1)
                    .collect();
                assert_eq!(line_breaks(&text).collect::<Vec<_>>(), want, "{text:?}");
            }
        }
    }

    #[test]
    fn bom_is_not_counted_and_crlf_lines_are_split() {
        let s = Source::new("x", "\u{feff}a: 1\r\nbé: 2\r\n");
        assert_eq!(s.line(1), Some("a: 1"));
        assert_eq!(s.line(2), Some("bé: 2"));
        assert_eq!(s.pos(s.text.find('2').unwrap()), Pos::new(2, 5));
        assert_eq!(s.offset(Pos::new(2, 5)), s.text.find('2').unwrap());
        // A lone `\r` ends a line, as in YAML.
        let s = Source::new("x", "a: 1\rb: 2\r\nc: 3\n");
        assert_eq!(s.line_count(), 4);
        assert_eq!(
            (s.line(1), s.line(2), s.line(3), s.line(4)),
            (Some("a: 1"), Some("b: 2"), Some("c: 3"), Some(""))
        );
        assert_eq!(s.pos(s.text.find('2').unwrap()), Pos::new(2, 4));
        // ASCII prefix (one byte per column) and not, and past the end of the line.
        let s = Source::new("x", "ab: cd\néé: x\n");
        assert_eq!(s.offset(Pos::new(1, 5)), 4);
        assert_eq!(s.offset(Pos::new(1, 99)), 6);
        assert_eq!(s.offset(Pos::new(2, 5)), s.text.find('x').unwrap());
        assert_eq!(s.offset(Pos::new(2, 99)), s.text.len() - 1);
    }
}
