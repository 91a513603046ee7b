//! rustc/ruff-style output: a header, the place, the source line(s) with the exact node
//! underlined, related locations, notes and help; a summary line at the end.
//!
//! ```text
//! error[istio-weights-not-100]: weights sum to 105, not 100: v1 receives 90.5%, v2 9.5% of traffic
//!   --> vs.yaml:8:5
//!    |
//!  8 |   - route:
//!    |     ^^^^^
//!  9 |     - destination: {host: reviews, subset: v1}
//! 10 |       weight: 95
//!    |               -- v1: weight 95 (90.5%)
//!    |
//!    = note: VirtualService default/reviews
//!    = help: Istio treats weights as relative shares (weight / sum); write them so they add up to 100
//! ```
//!
//! Positions are 1-based and count characters, like every other format. Only the drawing
//! counts terminal cells: a tab is shown as four spaces, East Asian wide characters take two
//! cells, and control or bidirectional-override characters from the input are shown as visible
//! symbols so a manifest cannot move the cursor or recolour the terminal. Lines longer than
//! [`MAX_WIDTH`] cells are cut around the underlined node (minified JSON is one line).

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::Options;
use crate::engine::finding::Severity;
use crate::engine::lint::{LintRun, Located};
use crate::engine::object::ObjectRef;
use crate::manifest::{Source, Span};

/// Source text wider than this (in cells) is cut to a window around the annotations.
const MAX_WIDTH: usize = 120;
/// Characters kept before the first annotation when a long line is cut.
const CONTEXT: usize = 24;
/// Unannotated lines between two annotated ones are shown when there are at most this many;
/// more become `...`.
const MAX_GAP: u32 = 2;

pub fn write(run: &LintRun, opts: &Options, w: &mut dyn Write) -> io::Result<()> {
    let p = Paint(opts.color);
    for d in &run.diagnostics {
        diagnostic(run, d, p, w)?;
        writeln!(w)?;
    }
    summary(run, p, w)
}

// ---------------------------------------------------------------------------------------------
// Colour

#[derive(Clone, Copy)]
struct Paint(bool);

const BOLD: &str = "1";
const RED: &str = "1;31";
const YELLOW: &str = "1;33";
const CYAN: &str = "1;36";
const BLUE: &str = "1;34";
const GREEN: &str = "1;32";

impl Paint {
    fn paint(self, style: &str, text: &str) -> String {
        if self.0 && !text.is_empty() {
            format!("\x1b[{style}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn severity_style(s: Severity) -> &'static str {
    match s {
        Severity::Error => RED,
        Severity::Warning => YELLOW,
        Severity::Info => CYAN,
    }
}

// ---------------------------------------------------------------------------------------------
// How characters are drawn

/// One input character as drawn: the text to print and the cells it takes.
struct Drawn {
    ch: char,
    repeat: usize,
    width: usize,
}

fn draw(c: char) -> Drawn {
    let one = |ch| Drawn {
        ch,
        repeat: 1,
        width: 1,
    };
    match c {
        '\t' => Drawn {
            ch: ' ',
            repeat: 4,
            width: 4,
        },
        // C0 controls as their Control Pictures (U+2400..), DEL as U+2421.
        '\0'..='\x1f' => one(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
        '\x7f' => one('\u{2421}'),
        // C1 controls, bidi embeddings/overrides/isolates, line/paragraph separators: shown
        // as U+FFFD so the drawn line is what the bytes are, not what they make a terminal do.
        '\u{80}'..='\u{9f}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => one('\u{fffd}'),
        c if is_zero_width(c) => Drawn {
            ch: c,
            repeat: 1,
            width: 0,
        },
        c if is_wide(c) => Drawn {
            ch: c,
            repeat: 1,
            width: 2,
        },
        c => one(c),
    }
}

/// Combining marks, zero-width joiners and variation selectors (a close approximation of
/// `wcwidth() == 0` without a table crate).
fn is_zero_width(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036f}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05bd}'
        | '\u{0610}'..='\u{061a}'
        | '\u{064b}'..='\u{065f}'
        | '\u{1ab0}'..='\u{1aff}'
        | '\u{1dc0}'..='\u{1dff}'
        | '\u{200b}'..='\u{200d}'
        | '\u{2060}'
        | '\u{20d0}'..='\u{20ff}'
        | '\u{fe00}'..='\u{fe0f}'
        | '\u{fe20}'..='\u{fe2f}'
        | '\u{feff}'
    )
}

/// East Asian Wide and Fullwidth ranges, and the emoji blocks terminals draw two cells wide.
fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115f}'
        | '\u{2e80}'..='\u{303e}'
        | '\u{3041}'..='\u{33ff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{a000}'..='\u{a4cf}'
        | '\u{a960}'..='\u{a97f}'
        | '\u{ac00}'..='\u{d7a3}'
        | '\u{f900}'..='\u{faff}'
        | '\u{fe10}'..='\u{fe19}'
        | '\u{fe30}'..='\u{fe6f}'
        | '\u{ff00}'..='\u{ff60}'
        | '\u{ffe0}'..='\u{ffe6}'
        | '\u{1f300}'..='\u{1f64f}'
        | '\u{1f900}'..='\u{1f9ff}'
        | '\u{20000}'..='\u{2fffd}'
        | '\u{30000}'..='\u{3fffd}'
    )
}

/// Message text from rules and inputs, made safe for a terminal (line breaks kept).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c => draw(c).ch,
        })
        .collect()
}

/// `text` with every line after the first indented by `indent` spaces.
fn indent_rest(text: &str, indent: usize) -> String {
    text.replace('\n', &format!("\n{:indent$}", ""))
}

// ---------------------------------------------------------------------------------------------
// One diagnostic

/// An underline in a snippet. Character indices are 0-based, `end` exclusive and `> start`.
struct Annotation {
    line: u32,
    start: usize,
    end: usize,
    primary: bool,
    label: String,
}

impl Annotation {
    fn new(source: &Source, span: Span, primary: bool, label: String) -> Option<Annotation> {
        if span.start.line == 0 {
            return None;
        }
        // Nothing to underline on a line the source does not have (e.g. the text of a file
        // over the size limit is not kept).
        let text = source.line(span.start.line)?;
        let start = (span.start.column as usize).saturating_sub(1);
        let end = if span.end.line == span.start.line {
            (span.end.column as usize).saturating_sub(1)
        } else if span.end.line > span.start.line {
            // A multi-line node is underlined to the end of its first line.
            text.chars().count()
        } else {
            start
        };
        Some(Annotation {
            line: span.start.line,
            start,
            end: end.max(start + 1),
            primary,
            label,
        })
    }
}

/// A place with no snippet: shown as a note.
struct Note {
    label: &'static str,
    text: String,
}

fn diagnostic(run: &LintRun, d: &Located, p: Paint, w: &mut dyn Write) -> io::Result<()> {
    let f = &d.finding;
    let sev = f.severity;
    let style = severity_style(sev);
    let source_of = |i: Option<usize>| i.and_then(|i| run.sources.get(i).map(|s| (i, s)));

    // Snippets per source, the finding's own source first.
    let mut order: Vec<usize> = Vec::new();
    let mut snippets: BTreeMap<usize, Vec<Annotation>> = BTreeMap::new();
    let mut notes: Vec<Note> = Vec::new();
    let mut add = |src: usize, a: Annotation| {
        if !order.contains(&src) {
            order.push(src);
        }
        snippets.entry(src).or_default().push(a);
    };

    let primary_source = source_of(d.source);
    if let (Some((si, src)), Some(span)) = (primary_source, d.span) {
        if let Some(a) = Annotation::new(src, span, true, String::new()) {
            add(si, a);
        }
    }
    if let Some(o) = &f.object {
        let text = if d.span.is_none() && !f.pointer.is_empty() {
            format!("{} at {}", clean(&o.to_string()), clean(&f.pointer))
        } else {
            clean(&o.to_string())
        };
        notes.push(Note {
            label: "note",
            text,
        });
    }
    // Related places in another source that have no snippet are still named.
    let mut headers: BTreeMap<usize, String> = BTreeMap::new();
    for r in &d.related {
        let label = related_label(&r.message, r.object.as_ref(), f.object.as_ref());
        match (source_of(r.source), r.span) {
            (Some((si, src)), Some(span)) => {
                if let Some(a) = Annotation::new(src, span, false, label.clone()) {
                    headers
                        .entry(si)
                        .or_insert_with(|| place(&src.name, Some(span)));
                    add(si, a);
                } else {
                    notes.push(Note {
                        label: "note",
                        text: format!("{label} ({})", place(&src.name, Some(span))),
                    });
                }
            }
            (Some((_, src)), None) => notes.push(Note {
                label: "note",
                text: format!("{label} ({})", clean(&src.name)),
            }),
            (None, _) => notes.push(Note {
                label: "note",
                text: label,
            }),
        }
    }
    if let Some(h) = &f.help {
        notes.push(Note {
            label: "help",
            text: clean(h),
        });
    }

    let max_line = snippets
        .values()
        .flatten()
        .map(|a| a.line)
        .max()
        .unwrap_or(0);
    let gw = digits(max_line);
    let pad = " ".repeat(gw);
    let gutter = p.paint(BLUE, "|");

    // Header.
    let message = indent_rest(&clean(&f.message), 4);
    writeln!(
        w,
        "{}: {}",
        p.paint(style, &format!("{}[{}]", sev.as_str(), clean(f.rule))),
        p.paint(BOLD, &message)
    )?;
    if let Some((_, src)) = primary_source {
        writeln!(
            w,
            "{pad}{} {}",
            p.paint(BLUE, "-->"),
            place(&src.name, d.span)
        )?;
    }

    for si in &order {
        let (Some(anns), Some(src)) = (snippets.get_mut(si), run.sources.get(*si)) else {
            continue;
        };
        if Some(*si) != d.source {
            let header = headers.get(si).cloned().unwrap_or_else(|| clean(&src.name));
            writeln!(w, "{pad}{} {header}", p.paint(BLUE, ":::"))?;
        }
        writeln!(w, "{pad} {gutter}")?;
        snippet(src, anns, sev, p, gw, w)?;
    }
    if !notes.is_empty() {
        if !snippets.is_empty() {
            writeln!(w, "{pad} {gutter}")?;
        }
        for n in &notes {
            let head = format!("{pad} = {}: ", n.label);
            let text = indent_rest(&n.text, head.chars().count());
            writeln!(
                w,
                "{pad} {} {}{}",
                p.paint(BLUE, "="),
                p.paint(BOLD, &format!("{}:", n.label)),
                if text.is_empty() {
                    String::new()
                } else {
                    format!(" {text}")
                }
            )?;
        }
    }
    if let (Some(fix), Some((_, src))) = (&d.fix, primary_source) {
        fix_block(src, fix, p, &pad, w)?;
    }
    Ok(())
}

/// The fix as a help note and a small diff of the lines it changes (`-` before, `+` after).
fn fix_block(
    src: &Source,
    fix: &crate::engine::TextFix,
    p: Paint,
    pad: &str,
    w: &mut dyn Write,
) -> io::Result<()> {
    use crate::engine::Applicability;
    let how = match (fix.applicability, &fix.refused) {
        (_, Some(why)) => format!("not applicable: {why}"),
        (Applicability::Safe, None) => "safe fix: --fix".to_owned(),
        (Applicability::Unsafe, None) => "unsafe fix: --fix --unsafe-fixes".to_owned(),
        (Applicability::DisplayOnly, None) => "editor-only fix".to_owned(),
    };
    writeln!(
        w,
        "{pad} {} {} {}",
        p.paint(BLUE, "="),
        p.paint(BOLD, "help:"),
        clean(&format!("{} ({how})", fix.message))
    )?;
    // Lines longer than the snippets' window are not drawn (a minified file is one line).
    let preview = crate::engine::apply::changed_lines(src, &fix.edits, 4 * MAX_WIDTH);
    for (line, old, new) in preview.into_iter().flatten() {
        for (i, l) in old.iter().enumerate() {
            let n = (line + i as u32).to_string();
            writeln!(
                w,
                "{n:>width$} {} {}",
                p.paint(RED, "-"),
                p.paint(RED, &clean(l)),
                width = pad.len()
            )?;
        }
        for (i, l) in new.iter().enumerate() {
            let n = (line + i as u32).to_string();
            writeln!(
                w,
                "{n:>width$} {} {}",
                p.paint(GREEN, "+"),
                p.paint(GREEN, &clean(l)),
                width = pad.len()
            )?;
        }
    }
    Ok(())
}

/// The label of a related place; names the object when it is another one than the finding's.
fn related_label(message: &str, object: Option<&ObjectRef>, own: Option<&ObjectRef>) -> String {
    match object {
        Some(o) if Some(o) != own => format!("{} ({})", clean(message), clean(&o.to_string())),
        _ => clean(message),
    }
}

/// `file:line:col`, or just the file when there is no position.
fn place(name: &str, span: Option<Span>) -> String {
    match span {
        Some(s) if s.start.line > 0 => {
            format!("{}:{}:{}", clean(name), s.start.line, s.start.column.max(1))
        }
        _ => clean(name),
    }
}

fn digits(n: u32) -> usize {
    n.max(1).to_string().len()
}

// ---------------------------------------------------------------------------------------------
// Snippets

/// Draw the annotated lines of one source, with short gaps filled and long ones elided.
fn snippet(
    src: &Source,
    anns: &mut [Annotation],
    sev: Severity,
    p: Paint,
    gw: usize,
    w: &mut dyn Write,
) -> io::Result<()> {
    anns.sort_by_key(|a| (a.line, a.start, !a.primary));
    let mut lines: Vec<u32> = anns.iter().map(|a| a.line).collect();
    lines.dedup();
    let gutter = p.paint(BLUE, "|");
    let mut prev: Option<u32> = None;
    for &line in &lines {
        if let Some(prev) = prev {
            let gap = line - prev - 1;
            if gap > MAX_GAP {
                writeln!(w, "{}", p.paint(BLUE, "..."))?;
            } else {
                for l in prev + 1..line {
                    let text = src.line(l).unwrap_or("");
                    let (shown, _) = window(text, 0);
                    source_row(l, &shown.text, p, gw, w)?;
                }
            }
        }
        prev = Some(line);
        let text = src.line(line).unwrap_or("");
        let on_line: Vec<&Annotation> = anns.iter().filter(|a| a.line == line).collect();
        // A long line is drawn once per group of annotations that fit one window.
        let mut i = 0;
        while i < on_line.len() {
            let (shown, end_char) = window(text, on_line[i].start);
            let mut j = i + 1;
            while j < on_line.len() && on_line[j].start < end_char {
                j += 1;
            }
            source_row(line, &shown.text, p, gw, w)?;
            for a in &on_line[i..j] {
                let (from, to) = shown.cells(a.start, a.end);
                let (mark, style) = if a.primary {
                    ('^', severity_style(sev))
                } else {
                    ('-', BLUE)
                };
                let marks: String = std::iter::repeat_n(mark, (to - from).max(1)).collect();
                let label = indent_rest(&a.label, gw + 3 + to.max(from + 1) + 1);
                let mut row = format!("{:gw$} {gutter} {:from$}{}", "", "", p.paint(style, &marks));
                if !label.is_empty() {
                    row.push(' ');
                    row.push_str(&p.paint(style, &label));
                }
                writeln!(w, "{row}")?;
            }
            i = j;
        }
    }
    Ok(())
}

fn source_row(line: u32, text: &str, p: Paint, gw: usize, w: &mut dyn Write) -> io::Result<()> {
    let number = p.paint(BLUE, &format!("{line:>gw$} |"));
    if text.is_empty() {
        writeln!(w, "{number}")
    } else {
        writeln!(w, "{number} {text}")
    }
}

/// A line as drawn, possibly cut: `cols[i]` is the cell where character `first + i` starts.
struct Shown {
    text: String,
    first: usize,
    cols: Vec<usize>,
}

impl Shown {
    /// The cells `[from, to)` of the characters `[start, end)`, clamped to what is shown.
    fn cells(&self, start: usize, end: usize) -> (usize, usize) {
        let last = self.cols.len() - 1;
        let at = |c: usize| self.cols[c.saturating_sub(self.first).min(last)];
        // A position at the end of the line (a syntax error there) is drawn just after the
        // last character.
        let from = at(start);
        (from, at(end).max(from + 1))
    }
}

/// Draw `text`; when it is wider than [`MAX_WIDTH`], draw a window starting a little before
/// character `focus`. Returns the drawing and the first character index not shown.
fn window(text: &str, focus: usize) -> (Shown, usize) {
    let fits = {
        let mut cells = 0;
        text.chars().all(|c| {
            cells += draw(c).width;
            cells <= MAX_WIDTH
        })
    };
    // Cut on the left only when the focus would not be in the first half of the window.
    let first = if fits || focus <= MAX_WIDTH / 2 {
        0
    } else {
        focus - CONTEXT
    };
    let mut out = String::new();
    let mut cols = Vec::new();
    let mut cell = 0;
    if first > 0 {
        out.push_str("...");
        cell = 3;
    }
    let mut next = first;
    let mut cut = false;
    // Start at character `first` without walking an ASCII prefix character by character: a
    // one-line JSON file with a finding per object made that quadratic.
    let from = if text.len() >= first && text.as_bytes()[..first].is_ascii() {
        first
    } else {
        text.char_indices()
            .nth(first)
            .map_or(text.len(), |(i, _)| i)
    };
    for c in text[from..].chars() {
        if !fits && cell >= MAX_WIDTH {
            cut = true;
            break;
        }
        let d = draw(c);
        cols.push(cell);
        out.extend(std::iter::repeat_n(d.ch, d.repeat));
        cell += d.width;
        next += 1;
    }
    cols.push(cell);
    if cut {
        out.push_str("...");
    }
    (
        Shown {
            text: out,
            first,
            cols,
        },
        next,
    )
}

// ---------------------------------------------------------------------------------------------
// Summary

fn summary(run: &LintRun, p: Paint, w: &mut dyn Write) -> io::Result<()> {
    let count = |s| {
        run.diagnostics
            .iter()
            .filter(|d| d.finding.severity == s)
            .count()
    };
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let s = &run.summary;
    let mut tail = vec![format!(
        "{} checked",
        plural(s.objects, "object", "objects")
    )];
    if s.suppressed > 0 {
        tail.push(format!("{} suppressed", s.suppressed));
    }
    if run.context_files > 0 {
        tail.push(format!(
            "{} as context",
            plural(run.context_files, "file", "files")
        ));
    }
    if s.fixed > 0 {
        tail.push(format!("{} fixed", s.fixed));
    }
    let fixable = |a: crate::engine::Applicability| {
        run.diagnostics
            .iter()
            .filter(|d| {
                d.fix
                    .as_ref()
                    .is_some_and(|f| f.applicability == a && !f.edits.is_empty())
            })
            .count()
    };
    let (safe, unsafe_) = (
        fixable(crate::engine::Applicability::Safe),
        fixable(crate::engine::Applicability::Unsafe),
    );
    if safe > 0 {
        tail.push(format!("{safe} fixable with --fix"));
    }
    if unsafe_ > 0 && safe > 0 {
        tail.push(format!("{unsafe_} more with --unsafe-fixes"));
    } else if unsafe_ > 0 {
        tail.push(format!("{unsafe_} fixable with --fix --unsafe-fixes"));
    }
    // `rollgate audit`: objects of a cluster, no files.
    let files = if run.sources.is_empty() && s.files == 0 && s.objects > 0 {
        "the cluster".to_owned()
    } else {
        plural(s.files, "file", "files")
    };
    let mut counts = Vec::new();
    if errors > 0 {
        counts.push(p.paint(RED, &plural(errors, "error", "errors")));
    }
    if warnings > 0 {
        counts.push(p.paint(YELLOW, &plural(warnings, "warning", "warnings")));
    }
    if infos > 0 {
        counts.push(p.paint(CYAN, &plural(infos, "info", "infos")));
    }
    if counts.is_empty() {
        counts.push(p.paint(GREEN, "no problems found"));
    }
    writeln!(
        w,
        "{} {} {files} ({})",
        counts.join(", "),
        p.paint(BOLD, "in"),
        tail.join(", ")
    )?;
    if run.outside > 0 {
        writeln!(
            w,
            "{} point outside the input; --strict-references to require them",
            plural(run.outside, "reference", "references")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_at_the_focus_character() {
        // ASCII prefix (sliced by bytes) and a non-ASCII one (walked): the same drawing.
        let ascii = format!("{}TARGET{}", "a".repeat(5000), "b".repeat(5000));
        let (shown, next) = window(&ascii, 5000);
        assert!(shown.text.starts_with("...") && shown.text.contains("TARGET"));
        assert_eq!(shown.first, 5000 - CONTEXT);
        let wide = format!("{}TARGET{}", "é".repeat(5000), "b".repeat(5000));
        let (w, wnext) = window(&wide, 5000);
        assert_eq!(w.text.replace('é', "a"), shown.text);
        assert_eq!((w.first, wnext), (shown.first, next));
        // A focus past the end of a short line.
        let (s, _) = window("abc", 10);
        assert_eq!(s.text, "abc");
    }
}
