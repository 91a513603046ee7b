//! Positions: rollgate counts 1-based lines and columns in characters; LSP counts 0-based lines
//! and UTF-16 code units (an astral character such as an emoji is two). Line breaks are the
//! same for both: `\n`, `\r\n` and a lone `\r`.

use lsp_types::Position;

use crate::manifest::source::line_breaks;
use crate::manifest::{Pos, Source};

/// The LSP position of a rollgate position in `source`.
pub fn to_lsp(source: &Source, pos: Pos) -> Position {
    let line = pos.line.saturating_sub(1);
    let text = source.line(pos.line).unwrap_or("");
    let col = pos.column.saturating_sub(1) as usize;
    let character: usize = if text.is_ascii() {
        col.min(text.len())
    } else {
        text.chars().take(col).map(char::len_utf16).sum()
    };
    Position {
        line,
        character: character as u32,
    }
}

/// The rollgate position of an LSP position (clamped to the line; a position inside a
/// surrogate pair is the character's start).
pub fn from_lsp(source: &Source, p: Position) -> Pos {
    let line = p.line.saturating_add(1);
    let text = source.line(line).unwrap_or("");
    let mut units = 0usize;
    let mut chars = 0u32;
    for c in text.chars() {
        units += c.len_utf16();
        if units > p.character as usize {
            break;
        }
        chars += 1;
    }
    Pos::new(line, chars + 1)
}

/// The byte offset in `text` of an LSP position (clamped to the end of its line; a line past
/// the end is the end of the text).
pub fn offset(text: &str, p: Position) -> usize {
    let start = if p.line == 0 {
        0
    } else {
        match line_breaks(text).nth(p.line as usize - 1) {
            Some(s) => s,
            None => return text.len(),
        }
    };
    let rest = &text[start..];
    let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    let mut units = 0usize;
    for (i, c) in rest[..end].char_indices() {
        if units >= p.character as usize {
            return start + i;
        }
        units += c.len_utf16();
        if units > p.character as usize {
            // Inside a surrogate pair: the character's start.
            return start + i;
        }
    }
    start + end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astral_and_non_ascii() {
        // "é" is one unit, "😀" two (one character each in rollgate).
        let s = Source::new("t", "a: é😀x\nb: 1\r\nc\rd");
        let x = Pos::new(1, 6);
        assert_eq!(
            to_lsp(&s, x),
            Position {
                line: 0,
                character: 6
            }
        );
        assert_eq!(from_lsp(&s, to_lsp(&s, x)), x);
        assert_eq!(&s.text[offset(&s.text, to_lsp(&s, x))..][..1], "x");
        // Inside the surrogate pair: the emoji's start.
        let mid = Position {
            line: 0,
            character: 5,
        };
        assert_eq!(from_lsp(&s, mid), Pos::new(1, 5));
        assert_eq!(&s.text[offset(&s.text, mid)..], "😀x\nb: 1\r\nc\rd");
        // Lines after \r\n and a lone \r; positions past the end are clamped.
        let d = Position {
            line: 3,
            character: 9,
        };
        assert_eq!(offset(&s.text, d), s.text.len());
        assert_eq!(
            offset(
                &s.text,
                Position {
                    line: 2,
                    character: 0
                }
            ),
            s.text.find('c').unwrap()
        );
        assert_eq!(
            offset(
                &s.text,
                Position {
                    line: 9,
                    character: 0
                }
            ),
            s.text.len()
        );
    }
}
