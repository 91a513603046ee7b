//! Maps from a transformed text (a rendered template, a whitespace-collapsed query) back to the
//! text it was made from, so that a finding inside the query points at the exact characters the
//! user wrote in the YAML scalar.

use std::ops::Range;

/// One piece of the output and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Bytes of the output.
    pub out: Range<usize>,
    /// Bytes of the input this piece came from.
    pub src: Range<usize>,
    /// `out` is a verbatim copy of `src` (same bytes): offsets inside map one to one. Otherwise
    /// any offset inside maps to the whole of `src` (a template action and its value, a collapsed
    /// run of white space).
    pub verbatim: bool,
    /// Index into the substitutions of the rendering that produced this piece, if any.
    pub substitution: Option<usize>,
}

/// Output → input, as a list of contiguous segments covering the output in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    segments: Vec<Segment>,
    out_len: usize,
}

impl SourceMap {
    /// The identity map over a text of `len` bytes.
    pub fn identity(len: usize) -> SourceMap {
        let mut m = SourceMap::default();
        m.push_verbatim(0..len);
        m
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Append a verbatim copy of `src`.
    pub fn push_verbatim(&mut self, src: Range<usize>) {
        if src.is_empty() {
            return;
        }
        let len = src.end - src.start;
        // Merge with a preceding verbatim piece that ends where this one starts.
        if let Some(last) = self.segments.last_mut() {
            if last.verbatim && last.src.end == src.start && last.substitution.is_none() {
                last.src.end = src.end;
                last.out.end += len;
                self.out_len += len;
                return;
            }
        }
        self.segments.push(Segment {
            out: self.out_len..self.out_len + len,
            src,
            verbatim: true,
            substitution: None,
        });
        self.out_len += len;
    }

    /// Append `out_len` bytes of output that stand for the whole of `src` (possibly empty output,
    /// e.g. a template action that renders nothing).
    pub fn push_replaced(
        &mut self,
        src: Range<usize>,
        out_len: usize,
        substitution: Option<usize>,
    ) {
        self.segments.push(Segment {
            out: self.out_len..self.out_len + out_len,
            src,
            verbatim: false,
            substitution,
        });
        self.out_len += out_len;
    }

    pub fn out_len(&self) -> usize {
        self.out_len
    }

    /// The input range a range of the output came from. Ranges that cover part of a replaced
    /// piece widen to all of it; an empty range maps to a point (or to an empty substitution's
    /// whole source when it sits exactly there).
    pub fn to_source(&self, r: &Range<usize>) -> Range<usize> {
        if self.segments.is_empty() {
            return 0..0;
        }
        let start = self.map_start(r.start);
        let end = if r.end > r.start {
            self.map_end(r.end)
        } else {
            start
        };
        start..end.max(start)
    }

    fn map_start(&self, pos: usize) -> usize {
        // The non-empty segment containing `pos` (`out.end` never decreases along the list).
        let i = self.segments.partition_point(|s| s.out.end <= pos);
        let Some(s) = self.segments.get(i) else {
            // At (or past) the end of the output.
            return self.segments.last().map_or(0, |s| s.src.end);
        };
        if pos < s.out.start {
            return s.src.start;
        }
        if s.verbatim {
            s.src.start + (pos - s.out.start).min(s.src.len())
        } else {
            s.src.start
        }
    }

    fn map_end(&self, pos: usize) -> usize {
        // The last segment whose output contains `pos - 1`.
        let i = self.segments.partition_point(|s| s.out.start < pos);
        let i = i.saturating_sub(1).min(self.segments.len() - 1);
        let s = &self.segments[i];
        if s.verbatim {
            s.src.start + (pos - s.out.start).min(s.src.len())
        } else {
            s.src.end
        }
    }

    /// Substitutions (indices) whose output overlaps `r` (or touches it, for empty output).
    pub fn substitutions_in(&self, r: &Range<usize>) -> impl Iterator<Item = usize> + '_ {
        let r = r.clone();
        self.segments.iter().filter_map(move |s| {
            let sub = s.substitution?;
            let overlaps = if s.out.is_empty() {
                r.start <= s.out.start && s.out.start <= r.end
            } else {
                s.out.start < r.end && r.start < s.out.end
            };
            overlaps.then_some(sub)
        })
    }
}

/// Collapse every run of white space into one space, as Flagger does before sending a query
/// (`pkg/metrics/providers/prometheus.go` `trimQuery`: `regexp.MustCompile(`\s+`)` → `" "`;
/// Go's `\s` is `[\t\n\f\r ]`). Returns the new text and its map to `text`.
pub fn collapse_whitespace(text: &str) -> (String, SourceMap) {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r');
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut map = SourceMap::default();
    let mut i = 0;
    let mut run_start = 0;
    while i < bytes.len() {
        if is_space(bytes[i]) {
            let ws = i;
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            if i - ws == 1 && bytes[ws] == b' ' {
                continue;
            }
            out.push_str(&text[run_start..ws]);
            map.push_verbatim(run_start..ws);
            out.push(' ');
            map.push_replaced(ws..i, 1, None);
            run_start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[run_start..]);
    map.push_verbatim(run_start..text.len());
    (out, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_and_replaced() {
        // "a{{ x }}b" → "aVALb"
        let mut m = SourceMap::default();
        m.push_verbatim(0..1);
        m.push_replaced(1..8, 3, Some(0));
        m.push_verbatim(8..9);
        assert_eq!(m.to_source(&(0..1)), 0..1);
        assert_eq!(m.to_source(&(1..2)), 1..8);
        assert_eq!(m.to_source(&(2..4)), 1..8);
        assert_eq!(m.to_source(&(4..5)), 8..9);
        assert_eq!(m.to_source(&(0..5)), 0..9);
        assert_eq!(m.to_source(&(5..5)), 9..9);
    }

    #[test]
    fn empty_substitution() {
        // "[{{ interval }}]" → "[]"
        let mut m = SourceMap::default();
        m.push_verbatim(0..1);
        m.push_replaced(1..15, 0, Some(0));
        m.push_verbatim(15..16);
        assert_eq!(m.to_source(&(0..2)), 0..16);
        assert_eq!(m.to_source(&(1..2)), 15..16);
        assert_eq!(m.substitutions_in(&(0..2)).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn collapse() {
        let (t, m) = collapse_whitespace("sum(\n    rate(x[1m]))  by (le)");
        assert_eq!(t, "sum( rate(x[1m])) by (le)");
        let at = t.find("rate").unwrap();
        assert_eq!(m.to_source(&(at..at + 4)), 9..13);
        let at = t.find("by").unwrap();
        assert_eq!(m.to_source(&(at..at + 2)), 23..25);
    }
}
