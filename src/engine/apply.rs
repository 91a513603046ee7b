//! Applying fixes: ruff's `apply_fixes` (`crates/ruff_linter/src/fix/mod.rs`) and `lint_fix`
//! (`linter.rs`) on rollgate's files. Fixes of one file are taken in order of their first edit
//! (then rule id, a total order); one that touches text an earlier fix changed waits for the next
//! pass; identical edits of two fixes are made once. Passes repeat (findings are cross-file: the
//! whole input set is linted again) until no applicable fix is left, at most [`MAX_PASSES`].
//! A file whose fixed text no longer parses, or has an error finding it did not have, keeps its
//! original text and the rules whose fixes broke it are named; same when the passes run out.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::fix::{Applicability, TextEdit, TextFix};
use super::lint::{LintRun, dedupe, lint_in_project};
use super::{Engine, Settings, Severity};
use crate::manifest::input::Input;
use crate::manifest::kustomize::Scopes;
use crate::manifest::{Limits, Source};

/// Passes over the input set before giving up (ruff's test harness uses 10 too).
pub const MAX_PASSES: usize = 10;

/// Whether two edits touch the same text (an insertion at the edge of a replacement counts: the
/// order of the two would be a guess).
fn conflict(a: &TextEdit, b: &TextEdit) -> bool {
    a.range.start.max(b.range.start) <= a.range.end.min(b.range.end)
}

/// Choose the fixes of one file that can be applied together. Returns the edits (sorted, not
/// overlapping) and, per chosen fix, its rule id.
pub fn select<'a>(fixes: &[(&'a str, &TextFix)]) -> (Vec<TextEdit>, Vec<&'a str>) {
    let mut order: Vec<&(&str, &TextFix)> =
        fixes.iter().filter(|(_, f)| !f.edits.is_empty()).collect();
    order.sort_by(|a, b| {
        let sa = a.1.edits.iter().map(|e| e.range.start).min();
        let sb = b.1.edits.iter().map(|e| e.range.start).min();
        (sa, a.0).cmp(&(sb, b.0))
    });
    let mut applied: BTreeSet<TextEdit> = BTreeSet::new();
    let mut rules = Vec::new();
    for (rule, fix) in order {
        let new: Vec<&TextEdit> = fix.edits.iter().filter(|e| !applied.contains(*e)).collect();
        if new.iter().any(|e| applied.iter().any(|a| conflict(a, e))) {
            continue;
        }
        // Within one fix the edits were checked not to overlap when lowered.
        applied.extend(new.into_iter().cloned());
        rules.push(*rule);
    }
    (applied.into_iter().collect(), rules)
}

/// Apply sorted, non-overlapping edits.
pub fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in edits {
        if e.range.start < at || e.range.end > text.len() || e.range.start > e.range.end {
            continue;
        }
        out.push_str(&text[at..e.range.start]);
        out.push_str(&e.content);
        at = e.range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The start and end (before its line break) of the lines holding `range`, looking at most `max`
/// bytes away from it: a preview of a line longer than that (minified JSON is one line) is not drawn, and finding its
/// ends must not cost a scan of the whole file per finding.
fn line_bounds(text: &str, range: &Range<usize>, max: usize) -> Option<(usize, usize)> {
    if range.start > range.end || range.end > text.len() {
        return None;
    }
    let lo = range.start.saturating_sub(max);
    let hi = range.end.saturating_add(max).min(text.len());
    let b = text.as_bytes();
    let s = match b[lo..range.start].iter().rposition(|&c| c == b'\n') {
        Some(i) => lo + i + 1,
        None if lo == 0 => 0,
        None => return None,
    };
    let e = match b[range.end..hi].iter().position(|&c| c == b'\n') {
        Some(i) => range.end + i,
        None if hi == text.len() => text.len(),
        None => return None,
    };
    let e = if e > range.end && b[e - 1] == b'\r' {
        e - 1
    } else {
        e
    };
    Some((s, e))
}

/// One group of changed lines: its first line number, the old lines and the new ones.
pub type ChangedLines = (u32, Vec<String>, Vec<String>);

/// The lines edits change: (first line number, old lines, new lines) per group of edits on
/// neighbouring lines. For the human format's fix preview: `None` when a changed line is longer
/// than `max_line` bytes (the preview would be the whole of a minified file).
pub fn changed_lines(
    src: &Source,
    edits: &[TextEdit],
    max_line: usize,
) -> Option<Vec<ChangedLines>> {
    let text = src.text.as_str();
    let mut groups: Vec<(usize, usize, Vec<&TextEdit>)> = Vec::new();
    for e in edits {
        if e.range.end > text.len()
            || !text.is_char_boundary(e.range.start)
            || !text.is_char_boundary(e.range.end)
        {
            continue;
        }
        let (s, t) = line_bounds(text, &e.range, max_line)?;
        match groups.last_mut() {
            Some(g) if s <= g.1 => {
                g.1 = g.1.max(t);
                g.2.push(e);
            }
            _ => groups.push((s, t, vec![e])),
        }
    }
    let groups = groups
        .into_iter()
        .map(|(s, t, es)| {
            let shifted: Vec<TextEdit> = es
                .iter()
                .map(|e| TextEdit::replace(e.range.start - s..e.range.end - s, e.content.clone()))
                .collect();
            let old = &text[s..t];
            let new = apply(old, &shifted);
            let line = src.pos(s).line;
            let split = |x: &str| {
                x.split('\n')
                    .map(|l| l.trim_end_matches('\r').to_owned())
                    .collect()
            };
            (line, split(old), split(&new))
        })
        .collect();
    Some(groups)
}

/// What `lint --fix` did to one file.
#[derive(Debug, Clone, Default)]
pub struct FileOutcome {
    /// The text as read.
    pub original: String,
    /// The fixed text (the original when nothing applied or the fix was undone).
    pub text: String,
    /// Fixes applied, per rule.
    pub fixed: BTreeMap<&'static str, usize>,
    /// Why the fixes of this file were undone.
    pub failure: Option<String>,
}

impl FileOutcome {
    /// The file left as it was read, with the reason its fixes were not kept.
    fn refused(original: &str, why: String) -> Self {
        FileOutcome {
            original: original.to_owned(),
            text: original.to_owned(),
            fixed: BTreeMap::new(),
            failure: Some(why),
        }
    }

    pub fn fixed_count(&self) -> usize {
        self.fixed.values().sum()
    }
}

pub struct FixRun {
    /// The lint of the fixed texts (what remains), as `lint` returns it.
    pub run: LintRun,
    /// Per input, in input order.
    pub files: Vec<FileOutcome>,
    /// Passes made.
    pub passes: usize,
}

/// Error findings per rule, per input.
fn errors_by_rule(run: &LintRun, n: usize) -> Vec<BTreeMap<&'static str, usize>> {
    let mut v = vec![BTreeMap::new(); n];
    for d in &run.diagnostics {
        if d.finding.severity == Severity::Error {
            if let Some(m) = d.source.and_then(|s| v.get_mut(s)) {
                *m.entry(d.finding.rule).or_insert(0) += 1;
            }
        }
    }
    v
}

/// Lint `inputs`, apply the fixes at or above `required` until none is left (bounded), and lint
/// the result.
pub fn lint_fix(
    inputs: Vec<Input>,
    scopes: &Scopes,
    engine: &Engine,
    settings: &Settings,
    limits: Limits,
    threads: usize,
    required: Applicability,
) -> FixRun {
    // One input per file, as the lint sees them: outcomes are matched to inputs by index.
    let inputs = dedupe(inputs);
    let n = inputs.len();
    let names: Vec<String> = inputs.iter().map(|i| i.source.name.clone()).collect();
    let places: Vec<(Option<std::path::PathBuf>, bool)> =
        inputs.iter().map(|i| (i.path.clone(), i.context)).collect();
    let usable: Vec<Option<(crate::manifest::Pos, String)>> =
        inputs.iter().map(|i| i.unusable.clone()).collect();
    let skipped: Vec<Option<String>> = inputs.iter().map(|i| i.skipped.clone()).collect();
    let originals: Vec<String> = inputs.iter().map(|i| i.source.text.clone()).collect();
    let mut files: Vec<FileOutcome> = originals
        .iter()
        .map(|t| FileOutcome {
            original: t.clone(),
            text: t.clone(),
            ..FileOutcome::default()
        })
        .collect();
    let make_inputs = |files: &[FileOutcome]| -> Vec<Input> {
        files
            .iter()
            .enumerate()
            .map(|(i, f)| Input {
                source: Source::new(names[i].clone(), f.text.clone()),
                unusable: usable[i].clone(),
                path: places[i].0.clone(),
                context: places[i].1,
                skipped: skipped[i].clone(),
            })
            .collect()
    };
    // Lint the files as they stand now (after a pass, or after undoing a file's fixes).
    let relint = |files: &[FileOutcome]| {
        lint_in_project(
            make_inputs(files),
            scopes,
            engine,
            settings,
            limits,
            threads,
        )
    };
    let mut run = lint_in_project(inputs, scopes, engine, settings, limits, threads);
    let baseline = errors_by_rule(&run, n);
    // Rules whose fixes were applied to each file in the last pass.
    let mut last_rules: Vec<Vec<&'static str>> = vec![Vec::new(); n];
    let mut passes = 0;
    loop {
        // Undo files the last pass broke.
        let now = errors_by_rule(&run, n);
        let mut undone = false;
        for i in 0..n {
            if last_rules[i].is_empty() {
                continue;
            }
            let gained: Vec<&str> = now[i]
                .iter()
                .filter(|(r, c)| baseline[i].get(*r).copied().unwrap_or(0) < **c)
                .map(|(r, _)| *r)
                .collect();
            if !gained.is_empty() {
                let mut rules: Vec<&str> = last_rules[i].clone();
                rules.sort();
                rules.dedup();
                files[i] = FileOutcome::refused(
                    &originals[i],
                    format!(
                        "fixes of {} made the file gain {} findings; left unchanged",
                        rules.join(", "),
                        gained.join(", ")
                    ),
                );
                undone = true;
            }
        }
        if undone {
            run = relint(&files);
        }
        // Collect this pass's fixes.
        let mut per_file: Vec<Vec<(&'static str, &TextFix)>> = vec![Vec::new(); n];
        for d in &run.diagnostics {
            let (Some(s), Some(fix)) = (d.source, &d.fix) else {
                continue;
            };
            if s < n
                && files[s].failure.is_none()
                && usable[s].is_none()
                && fix.applicability >= required
                && fix.applicability > Applicability::DisplayOnly
                && !fix.edits.is_empty()
            {
                per_file[s].push((d.finding.rule, fix));
            }
        }
        if per_file.iter().all(Vec::is_empty) {
            break;
        }
        if passes == MAX_PASSES {
            for (i, fixes) in per_file.iter().enumerate() {
                if fixes.is_empty() {
                    continue;
                }
                let mut rules: Vec<&str> = fixes.iter().map(|(r, _)| *r).collect();
                rules.sort();
                rules.dedup();
                files[i] = FileOutcome::refused(
                    &originals[i],
                    format!(
                        "fixes did not converge after {MAX_PASSES} passes (rules {}); left unchanged",
                        rules.join(", ")
                    ),
                );
            }
            run = relint(&files);
            break;
        }
        passes += 1;
        let mut changed = false;
        let mut next_rules = vec![Vec::new(); n];
        for (i, fixes) in per_file.iter().enumerate() {
            if fixes.is_empty() {
                continue;
            }
            let (edits, rules) = select(fixes);
            let text = apply(&files[i].text, &edits);
            if text != files[i].text {
                files[i].text = text;
                changed = true;
                for r in &rules {
                    *files[i].fixed.entry(r).or_insert(0) += 1;
                }
                next_rules[i] = rules;
            }
        }
        last_rules = next_rules;
        if !changed {
            break;
        }
        run = relint(&files);
    }
    run.summary.fixed = files.iter().map(FileOutcome::fixed_count).sum();
    FixRun { run, files, passes }
}

/// A unified diff of two texts (`---`/`+++` headers, hunks with 3 lines of context), empty when
/// they are equal. Lines are compared with Myers' algorithm after the common head and tail are
/// cut; a change too large to compare (edit distance over a bound) is shown as one hunk.
pub fn unified_diff(old: &str, new: &str, name: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = diff_lines(&a, &b);
    let mut out = format!("--- a/{name}\n+++ b/{name}\n");
    // Hunks: runs of changes with up to 3 lines of context, merged when close.
    const CTX: usize = 3;
    let changes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changes.len() {
        let start = changes[i].saturating_sub(CTX);
        let mut end = changes[i];
        let mut j = i;
        while j + 1 < changes.len() && changes[j + 1] <= end + 2 * CTX + 1 {
            j += 1;
            end = changes[j];
        }
        let end = (end + CTX + 1).min(ops.len());
        let (mut a_start, mut b_start) = (0, 0);
        for o in &ops[..start] {
            match o {
                Op::Same(..) => {
                    a_start += 1;
                    b_start += 1;
                }
                Op::Del(_) => a_start += 1,
                Op::Ins(_) => b_start += 1,
            }
        }
        let (mut a_len, mut b_len) = (0, 0);
        let mut body = String::new();
        for o in &ops[start..end] {
            let (mark, line) = match o {
                Op::Same(x, _) => {
                    a_len += 1;
                    b_len += 1;
                    (' ', a[*x])
                }
                Op::Del(x) => {
                    a_len += 1;
                    ('-', a[*x])
                }
                Op::Ins(y) => {
                    b_len += 1;
                    ('+', b[*y])
                }
            };
            body.push(mark);
            body.push_str(line);
            if !line.ends_with('\n') {
                body.push_str("\n\\ No newline at end of file\n");
            }
        }
        let a_from = if a_len == 0 { a_start } else { a_start + 1 };
        let b_from = if b_len == 0 { b_start } else { b_start + 1 };
        out.push_str(&format!("@@ -{a_from},{a_len} +{b_from},{b_len} @@\n"));
        out.push_str(&body);
        i = j + 1;
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Same(usize, usize),
    Del(usize),
    Ins(usize),
}

/// Edit script of two line lists: common head and tail, Myers in between (bounded).
fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops: Vec<Op> = (0..head).map(|i| Op::Same(i, i)).collect();
    match myers(ma, mb, 2000) {
        Some(mid) => ops.extend(mid.into_iter().map(|o| match o {
            Op::Same(x, y) => Op::Same(x + head, y + head),
            Op::Del(x) => Op::Del(x + head),
            Op::Ins(y) => Op::Ins(y + head),
        })),
        None => {
            ops.extend((0..ma.len()).map(|x| Op::Del(x + head)));
            ops.extend((0..mb.len()).map(|y| Op::Ins(y + head)));
        }
    }
    let (ta, tb) = (a.len() - tail, b.len() - tail);
    ops.extend((0..tail).map(|k| Op::Same(ta + k, tb + k)));
    ops
}

/// Myers' O((N+M)·D) shortest edit script, `None` when D exceeds `max_d`.
fn myers(a: &[&str], b: &[&str], max_d: usize) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let max_d = max_d.min(max);
    let off = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut found = None;
    for d in 0..=max_d as isize {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let idx = (k + off) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                found = Some(d);
                break;
            }
            k += 2;
        }
        if found.is_some() {
            break;
        }
    }
    let d_end = found?;
    // Backtrack.
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..=d_end).rev() {
        let v = &trace[d as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && v[(k - 1 + off) as usize] < v[(k + 1 + off) as usize])
        {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[(prev_k + off) as usize];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            ops.push(Op::Same(x as usize, y as usize));
        }
        if x == prev_x {
            y -= 1;
            ops.push(Op::Ins(y as usize));
        } else {
            x -= 1;
            ops.push(Op::Del(x as usize));
        }
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        ops.push(Op::Same(x as usize, y as usize));
    }
    ops.reverse();
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_skips_overlaps_and_dedups() {
        let f1 = TextFix {
            message: "a".into(),
            applicability: Applicability::Safe,
            edits: vec![TextEdit::replace(0..2, "x")],
            refused: None,
        };
        let f2 = TextFix {
            edits: vec![TextEdit::replace(1..3, "y")],
            ..f1.clone()
        };
        let f3 = TextFix {
            edits: vec![TextEdit::replace(0..2, "x"), TextEdit::replace(5..6, "z")],
            ..f1.clone()
        };
        let (edits, rules) = select(&[("r1", &f1), ("r2", &f2), ("r3", &f3)]);
        assert_eq!(rules, vec!["r1", "r3"]);
        assert_eq!(apply("abcdefg", &edits), "xcdezg");
    }

    #[test]
    fn unified_diff_hunks() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n";
        let new = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nK\n";
        let d = unified_diff(old, new, "f.yaml");
        assert_eq!(
            d,
            "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -8,4 +8,4 @@\n h\n i\n j\n-k\n+K\n"
        );
        assert_eq!(unified_diff(old, old, "f"), "");
        let d = unified_diff("x", "x\ny\n", "f");
        assert!(
            d.contains("-x\n\\ No newline at end of file\n+x\n+y\n"),
            "{d}"
        );
    }

    #[test]
    fn changed_lines_groups() {
        let t = Source::new("t", "a: 1\r\nb: 2\r\n");
        let c = changed_lines(
            &t,
            &[TextEdit::replace(3..4, "5"), TextEdit::replace(9..10, "6")],
            100,
        );
        assert_eq!(
            c,
            Some(vec![
                (1, vec!["a: 1".to_string()], vec!["a: 5".to_string()]),
                (2, vec!["b: 2".to_string()], vec!["b: 6".to_string()])
            ])
        );
        let long = Source::new("t", format!("x: [{}1]", "0, ".repeat(100)));
        let at = long.text.len() - 2;
        assert_eq!(
            changed_lines(&long, &[TextEdit::replace(at..at + 1, "2")], 100),
            None
        );
    }
}
