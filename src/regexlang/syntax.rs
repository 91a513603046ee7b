//! From a Prometheus regex (Go RE2 syntax) to a `regex-syntax` HIR with RE2's meaning.
//!
//! Prometheus compiles a matcher value `v` with Go's `regexp.Compile("^(?s:" + v + ")$")` after
//! first parsing `v` alone (`model/labels/regexp.go` `NewFastRegexMatcher`; `(?s:` since 3.0).
//! The Rust parser accepts almost the same language, but a few spellings mean different things;
//! this module makes the difference explicit instead of silently analysing another regex:
//!
//! * rewritten to RE2's meaning: `\d \w \s` (ASCII in RE2, Unicode in Rust, and `\s` is
//!   `[\t\n\f\r ]` without `\v`), `\b \B` (ASCII word boundary), and the Rust-only escapes
//!   `\<`, `\>`, `\b{start}`… which RE2 reads as literals (`<`, `>`, `\b` + `{start}`);
//! * rejected as "not RE2" (Go's parser returns an error, so Prometheus rejects the query):
//!   stacked repetition operators (`a**`, `a{2}{3}`), repeat counts above 1000 or nested
//!   repetitions multiplying past 1000 (Go `repeatIsValid`), the flags `u`, `x`, `R`, and
//!   `\u` escapes;
//! * reported as unsupported (undecided): nested classes and class set operations (`[a[b]]`,
//!   `[a&&b]`, `--`, `~~`), where RE2 reads `[`, `&`, `-`, `~` literally.
//!
//! Rewrites are applied to the pattern text at the byte spans of the parsed AST, so escapes and
//! character classes are handled by the real parser, never by string matching.

use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassPerl, ClassPerlKind, ClassSetBinaryOp, ClassSetItem,
    Flag, Flags, FlagsItemKind, GroupKind, HexLiteralKind, LiteralKind, RepetitionKind,
    RepetitionRange,
};
use regex_syntax::hir::Hir;

use super::Limits;

/// Why a pattern could not be turned into an automaton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prep {
    /// The Rust parser rejects it (so does the PromQL parser rollgate uses).
    Syntax(String),
    /// Go's `regexp` rejects it: Prometheus refuses the query.
    NotRe2(String),
    /// Valid, but RE2 and Rust read it differently and we do not translate that construct.
    Unsupported(String),
    /// Past a configured bound.
    Limit(String),
}

/// Go's maximum repeat count (`regexp/syntax` `maxRepeat`… checked in `parseRepeat`).
const GO_MAX_REPEAT: u32 = 1000;

/// Parse `pattern` as a Prometheus regex and return the HIR of `\A(?s:pattern)\z`.
pub(crate) fn prepare(pattern: &str, limits: &Limits) -> Result<Hir, Prep> {
    if pattern.len() > limits.max_pattern_len {
        return Err(Prep::Limit(format!(
            "regex is {} bytes, over the {}-byte limit",
            pattern.len(),
            limits.max_pattern_len
        )));
    }
    let parsed = ast::parse::ParserBuilder::new()
        .nest_limit(limits.nest_limit)
        .build()
        .parse(pattern);
    let tree = match parsed {
        Ok(t) => t,
        Err(e) => return Err(classify_ast_error(&e, limits)),
    };
    let rewrites = ast::visit(&tree, Scan::new(pattern))?;
    check_repeat_sizes(&tree)?;
    if rewrites.is_empty() {
        // The common case: translate the tree we have, wrapped, instead of parsing again.
        return translate_wrapped(pattern, tree);
    }

    let mut text = String::with_capacity(pattern.len() + 32);
    text.push_str(r"\A(?s:");
    let mut at = 0;
    for (range, replacement) in &rewrites {
        // Spans come from the parser over this very string: in bounds and on char boundaries.
        // `get` keeps that an assumption checked at runtime rather than a panic.
        let Some(before) = pattern.get(at..range.start) else {
            return Err(Prep::Unsupported(
                "internal: rewrite span out of order".into(),
            ));
        };
        text.push_str(before);
        text.push_str(replacement);
        at = range.end;
    }
    text.push_str(pattern.get(at..).unwrap_or(""));
    text.push_str(r")\z");

    regex_syntax::ParserBuilder::new()
        // Our rewrites add at most two levels (a group around `\b`, a class around `\D`), the
        // wrapper one more.
        .nest_limit(limits.nest_limit.saturating_add(4))
        .unicode(true)
        .utf8(true)
        .build()
        .parse(&text)
        .map_err(|e| match e {
            regex_syntax::Error::Parse(ref p) => classify_ast_error(p, limits),
            other => Prep::Syntax(one_line(&other.to_string())),
        })
}

/// `\A(?s:tree)\z`, translated. Spans of the wrapper are empty; those inside point into
/// `pattern`, which the translator only reads for error messages.
fn translate_wrapped(pattern: &str, tree: Ast) -> Result<Hir, Prep> {
    let span = ast::Span::splat(ast::Position::new(0, 1, 1));
    let wrapped = Ast::concat(ast::Concat {
        span,
        asts: vec![
            Ast::assertion(Assertion {
                span,
                kind: AssertionKind::StartText,
            }),
            Ast::group(ast::Group {
                span,
                kind: GroupKind::NonCapturing(Flags {
                    span,
                    items: vec![ast::FlagsItem {
                        span,
                        kind: FlagsItemKind::Flag(Flag::DotMatchesNewLine),
                    }],
                }),
                ast: Box::new(tree),
            }),
            Ast::assertion(Assertion {
                span,
                kind: AssertionKind::EndText,
            }),
        ],
    });
    regex_syntax::hir::translate::TranslatorBuilder::new()
        .unicode(true)
        .utf8(true)
        .build()
        .translate(pattern, &wrapped)
        .map_err(|e| Prep::Syntax(format!("{} at byte {}", e.kind(), e.span().start.offset)))
}

fn classify_ast_error(e: &ast::Error, limits: &Limits) -> Prep {
    match e.kind() {
        ast::ErrorKind::NestLimitExceeded(_) => Prep::Limit(format!(
            "regex nests deeper than {} levels",
            limits.nest_limit
        )),
        kind => Prep::Syntax(format!("{kind} at byte {}", e.span().start.offset)),
    }
}

fn one_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Collects the span rewrites and rejects the constructs listed in the module docs.
struct Scan<'p> {
    pattern: &'p str,
    rewrites: Vec<(std::ops::Range<usize>, String)>,
}

impl<'p> Scan<'p> {
    fn new(pattern: &'p str) -> Self {
        Scan {
            pattern,
            rewrites: Vec::new(),
        }
    }

    fn text(&self, span: &ast::Span) -> &'p str {
        self.pattern
            .get(span.start.offset..span.end.offset)
            .unwrap_or("")
    }

    fn rewrite(&mut self, span: &ast::Span, with: impl Into<String>) {
        self.rewrites
            .push((span.start.offset..span.end.offset, with.into()));
    }

    fn check_flags(&self, flags: &Flags) -> Result<(), Prep> {
        for item in &flags.items {
            let name = match item.kind {
                FlagsItemKind::Flag(Flag::Unicode) => 'u',
                FlagsItemKind::Flag(Flag::IgnoreWhitespace) => 'x',
                FlagsItemKind::Flag(Flag::CRLF) => 'R',
                _ => continue,
            };
            return Err(Prep::NotRe2(format!(
                "flag `{name}` is not supported by RE2 (Go accepts only i, m, s, U)"
            )));
        }
        Ok(())
    }
}

/// RE2's Perl classes (`regexp/syntax/perl_groups.go`), as class items.
fn perl_items(kind: &ClassPerlKind) -> &'static str {
    match kind {
        ClassPerlKind::Digit => "0-9",
        ClassPerlKind::Word => "0-9A-Za-z_",
        ClassPerlKind::Space => r"\t\n\x0C\r\x20",
    }
}

fn perl_class(p: &ClassPerl, inside_class: bool) -> String {
    let items = perl_items(&p.kind);
    match (p.negated, inside_class) {
        (false, false) => format!("[{items}]"),
        (false, true) => items.to_string(),
        // A negated set inside a class needs a nested class; fine for the Rust parser, which
        // is the only reader of the rewritten text.
        (true, _) => format!("[^{items}]"),
    }
}

fn range_bounds(r: &RepetitionRange) -> (u32, Option<u32>) {
    match *r {
        RepetitionRange::Exactly(n) => (n, Some(n)),
        RepetitionRange::AtLeast(n) => (n, None),
        RepetitionRange::Bounded(m, n) => (m, Some(n)),
    }
}

impl<'p> ast::Visitor for Scan<'p> {
    type Output = Vec<(std::ops::Range<usize>, String)>;
    type Err = Prep;

    fn finish(mut self) -> Result<Self::Output, Prep> {
        self.rewrites.sort_by_key(|(r, _)| r.start);
        Ok(self.rewrites)
    }

    fn visit_pre(&mut self, node: &Ast) -> Result<(), Prep> {
        match node {
            Ast::ClassPerl(p) => {
                let with = perl_class(p, false);
                self.rewrite(&p.span, with);
            }
            Ast::Assertion(a) => self.assertion(a)?,
            Ast::Flags(f) => self.check_flags(&f.flags)?,
            Ast::Group(g) => {
                if let GroupKind::NonCapturing(flags) = &g.kind {
                    self.check_flags(flags)?;
                }
            }
            Ast::Literal(l) => literal_is_re2(l)?,
            Ast::Repetition(r) => {
                // Go: "In Perl it is not allowed to stack repetition operators: a** is a syntax
                // error, not a doubled star" (`regexp/syntax/parse.go` `repeat`).
                if let Ast::Repetition(inner) = &*r.ast {
                    let ops = format!("{}{}", self.text(&inner.op.span), self.text(&r.op.span));
                    return Err(Prep::NotRe2(format!(
                        "invalid nested repetition operator `{ops}`"
                    )));
                }
                if let RepetitionKind::Range(range) = &r.op.kind {
                    let (min, max) = range_bounds(range);
                    if min > GO_MAX_REPEAT || max.is_some_and(|m| m > GO_MAX_REPEAT) {
                        return Err(Prep::NotRe2(format!(
                            "invalid repeat count `{}` (RE2 allows at most {GO_MAX_REPEAT})",
                            self.text(&r.op.span)
                        )));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), Prep> {
        match item {
            ClassSetItem::Perl(p) => {
                let with = perl_class(p, true);
                self.rewrite(&p.span, with);
            }
            ClassSetItem::Bracketed(b) => {
                return Err(Prep::Unsupported(format!(
                    "nested character class `{}`: RE2 reads `[` inside a class as a literal",
                    self.text(&b.span)
                )));
            }
            ClassSetItem::Literal(l) => literal_is_re2(l)?,
            ClassSetItem::Range(r) => {
                literal_is_re2(&r.start)?;
                literal_is_re2(&r.end)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_binary_op_pre(&mut self, op: &ClassSetBinaryOp) -> Result<(), Prep> {
        Err(Prep::Unsupported(format!(
            "class set operation in `{}`: RE2 reads `&&`, `--`, `~~` as literal characters",
            self.text(&op.span)
        )))
    }
}

impl Scan<'_> {
    fn assertion(&mut self, a: &Assertion) -> Result<(), Prep> {
        let text = self.text(&a.span);
        match a.kind {
            AssertionKind::WordBoundary => self.rewrite(&a.span, r"(?-u:\b)"),
            AssertionKind::NotWordBoundary => self.rewrite(&a.span, r"(?-u:\B)"),
            // Rust-only spellings; in RE2 `\<` and `\>` escape punctuation (literal `<`, `>`)
            // and `\b{start}` is `\b` followed by the literal text `{start}`.
            AssertionKind::WordBoundaryStartAngle => self.rewrite(&a.span, "<"),
            AssertionKind::WordBoundaryEndAngle => self.rewrite(&a.span, ">"),
            AssertionKind::WordBoundaryStart
            | AssertionKind::WordBoundaryEnd
            | AssertionKind::WordBoundaryStartHalf
            | AssertionKind::WordBoundaryEndHalf => {
                let rest = text.get(2..).unwrap_or("");
                let with = format!(r"(?-u:\b){}", regex_syntax::escape(rest));
                self.rewrite(&a.span, with);
            }
            AssertionKind::StartLine
            | AssertionKind::EndLine
            | AssertionKind::StartText
            | AssertionKind::EndText => {}
        }
        Ok(())
    }
}

fn literal_is_re2(l: &ast::Literal) -> Result<(), Prep> {
    match l.kind {
        LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
        | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => Err(
            Prep::NotRe2("`\\u`/`\\U` escapes are not RE2 (use `\\x{…}`)".into()),
        ),
        _ => Ok(()),
    }
}

/// Go rejects a counted repetition whose nested counted repetitions multiply past 1000
/// (`regexp/syntax/parse.go` `repeatIsValid`, called for each `{m,n}` with m or n ≥ 2).
/// Recursion depth is bounded by the parser's nest limit.
fn check_repeat_sizes(node: &Ast) -> Result<(), Prep> {
    if let Ast::Repetition(r) = node {
        if let RepetitionKind::Range(range) = &r.op.kind {
            let (min, max) = range_bounds(range);
            if (min >= 2 || max.is_some_and(|m| m >= 2)) && !repeat_is_valid(node, GO_MAX_REPEAT) {
                return Err(Prep::NotRe2(
                    "invalid repeat count: nested repetitions exceed 1000 copies".into(),
                ));
            }
        }
    }
    children(node).try_for_each(check_repeat_sizes)
}

fn repeat_is_valid(node: &Ast, mut n: u32) -> bool {
    if let Ast::Repetition(r) = node {
        if let RepetitionKind::Range(range) = &r.op.kind {
            let (min, max) = range_bounds(range);
            let m = match max {
                Some(0) => return true,
                Some(m) => m,
                None => min,
            };
            if m > n {
                return false;
            }
            if let Some(q) = n.checked_div(m) {
                n = q;
            }
        }
    }
    children(node).all(|c| repeat_is_valid(c, n))
}

fn children(node: &Ast) -> Box<dyn Iterator<Item = &Ast> + '_> {
    match node {
        Ast::Repetition(r) => Box::new(std::iter::once(&*r.ast)),
        Ast::Group(g) => Box::new(std::iter::once(&*g.ast)),
        Ast::Alternation(a) => Box::new(a.asts.iter()),
        Ast::Concat(c) => Box::new(c.asts.iter()),
        _ => Box::new(std::iter::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(p: &str) -> Result<String, Prep> {
        prepare(p, &Limits::default()).map(|h| h.to_string())
    }

    #[test]
    fn perl_classes_become_ascii() {
        let d = rewritten(r"\d").unwrap_or_default();
        assert!(d.contains("[0-9]"), "{d}");
        let w = rewritten(r"[\w.]").unwrap_or_default();
        assert!(!w.contains('\u{00E9}'), "{w}");
        assert!(rewritten(r"[^\D]").is_ok());
        // An escaped backslash followed by `d` is a literal, not a class.
        let lit = rewritten(r"\\d").unwrap_or_default();
        assert!(lit.contains(r"\\d"), "{lit}");
    }

    #[test]
    fn go_rejections() {
        for p in [
            "a**",
            "a{2}{3}",
            "a{1000}{1000}",
            "a{1001}",
            "(a{100}){11}",
            "(?x)a",
            "(?u:a)",
            r"\u0041",
        ] {
            assert!(matches!(rewritten(p), Err(Prep::NotRe2(_))), "{p}");
        }
        for p in [
            "(a{10}){100}",
            "(?:a*)*",
            "a*?",
            "(a{1000}){0}",
            "(a{2}){1}",
        ] {
            assert!(rewritten(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn differing_constructs() {
        assert!(matches!(rewritten("[a&&b]"), Err(Prep::Unsupported(_))));
        assert!(matches!(rewritten("[a[b]]"), Err(Prep::Unsupported(_))));
        assert!(rewritten(r"\<a\>").is_ok_and(|h| h.contains('<') && h.contains('>')));
    }
}
