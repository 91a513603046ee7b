//! A parsed query: promql-parser's AST plus the byte span of every node, matcher and range in
//! the query text (the AST has no positions; they are recovered by walking the AST in source
//! order over the tokens of [`super::lex`]).
//!
//! Parsing is bounded: the text size, the bracket nesting and the number of operators are
//! checked on the tokens first, because promql-parser builds (and drops) the AST recursively and
//! a deep query would overflow the stack.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::token::{self as ptok, TokenId};
use promql_parser::parser::{self, AggregateExpr, BinaryExpr, Call, Expr, VectorSelector};

use super::lex::{self, Kind, Op, Token};

/// Queries longer than this are not parsed (reported as not analysed).
pub const MAX_QUERY_BYTES: usize = 128 * 1024;
/// Deepest nesting of `(`, `[`, `{` that is parsed.
pub const MAX_NESTING: usize = 64;
/// Most operator tokens (binary and unary) that are parsed: each adds a level to the AST.
pub const MAX_OPERATORS: usize = 256;

/// Why a query does not parse, or was not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Bytes of the query text.
    pub span: Range<usize>,
    pub message: String,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Prometheus (and promql-parser) reject the query.
    Invalid,
    /// Beyond rollgate's limits: not analysed (the query may be valid).
    NotAnalysed,
}

/// A matcher of a selector, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherLoc {
    pub name: String,
    /// `=`, `!=`, `=~`, `!~`
    pub op: &'static str,
    /// The value, unquoted.
    pub value: String,
    /// `name op "value"`.
    pub span: Range<usize>,
    pub name_span: Range<usize>,
    /// The quoted value, quotes included.
    pub value_span: Range<usize>,
}

/// Locations by node address, looked up for every node a rule visits.
type Locs = crate::FastMap<usize, Loc>;

/// Positions of one AST node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    /// The whole node.
    pub span: Range<usize>,
    /// The node's keyword or name: the aggregation operator, the function name, the binary
    /// operator, the metric name (or `{` of a selector without one).
    pub head: Range<usize>,
    /// `by (…)`/`without (…)` of an aggregation; `on (…)`/`ignoring (…)` of a binary operator.
    pub grouping: Option<Range<usize>>,
    /// `[5m]` of a range selector or `[30m:1m]` of a subquery.
    pub range: Option<Range<usize>>,
    /// The matchers of a selector, in source order.
    pub matchers: Vec<MatcherLoc>,
}

/// A parsed query.
pub struct Query {
    text: String,
    tokens: Vec<Token>,
    expr: Box<Expr>,
    /// Node address → positions. Addresses are stable: the AST is boxed and never mutated.
    locs: Locs,
    located: bool,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("text", &self.text)
            .field("located", &self.located)
            .finish()
    }
}

fn addr<T>(x: &T) -> usize {
    x as *const T as usize
}

impl Query {
    /// Parse `text` (already rendered). Never panics; bounded in time and stack.
    pub fn parse(text: &str) -> Result<Query, ParseError> {
        if text.len() > MAX_QUERY_BYTES {
            return Err(ParseError {
                span: 0..text.len(),
                message: format!(
                    "query is {} bytes long; rollgate does not analyse queries over {} KiB",
                    text.len(),
                    MAX_QUERY_BYTES / 1024
                ),
                kind: ParseErrorKind::NotAnalysed,
            });
        }
        let tokens = lex::lex(text).map_err(|e| ParseError {
            span: e.span,
            message: e.message,
            kind: ParseErrorKind::Invalid,
        })?;
        guard(text, &tokens)?;
        for t in tokens.iter().filter(|t| t.kind == Kind::Str) {
            if let Some(r) = lex::invalid_utf8_escape(&text[t.span.clone()]) {
                let at = t.span.start + r.start..t.span.start + r.end;
                return Err(ParseError {
                    message: format!(
                        "the escape {} in {} is not valid UTF-8: Prometheus keeps the raw byte, which no label value (always UTF-8) contains, so the matcher never matches; rollgate does not analyse the query further",
                        &text[at.clone()],
                        &text[t.span.clone()]
                    ),
                    span: at,
                    kind: ParseErrorKind::NotAnalysed,
                });
            }
        }
        // promql-parser compiles every regex matcher with the `regex` crate while parsing, which
        // is 90% of its time; the same few patterns recur across gates. So the regex matchers
        // are checked and compiled here through a cache, promql-parser parses them as `=`/`!=`
        // (same text length), and the AST gets its regex matchers back after locating.
        let regexes =
            regex_matchers(text, &tokens).map_err(|(span, message, kind)| ParseError {
                span,
                message,
                kind,
            })?;
        let fast = !regexes.is_empty();
        let parse_text = if fast {
            let mut b = text.as_bytes().to_vec();
            for r in &regexes {
                // `=~` → `= `, `!~` → `!=`
                b[r.op.start + 1] = if b[r.op.start] == b'=' { b' ' } else { b'=' };
            }
            String::from_utf8(b).unwrap_or_else(|_| text.to_owned())
        } else {
            text.to_owned()
        };
        let expr = parser::parse(&parse_text).map_err(|m| invalid(text, &tokens, m))?;
        let mut q = Query {
            text: text.to_owned(),
            tokens,
            expr: Box::new(expr),
            locs: Locs::default(),
            located: false,
        };
        let mut l = Locator {
            text,
            toks: &q.tokens,
            brackets: lex::match_brackets(&q.tokens),
            i: 0,
            locs: Locs::default(),
        };
        let root: &Expr = &q.expr;
        if l.expr(root).is_some() && l.toks.get(l.i).is_some_and(|t| t.kind == Kind::Eof) {
            q.locs = l.locs;
            q.located = true;
        }
        if fast {
            let restored = q.located && restore_regexes(&mut q.expr, &q.locs, &regexes);
            if !restored {
                // Could not pair the matchers back: parse the text as it is (slow, exact).
                let expr = parser::parse(text).map_err(|m| invalid(text, &q.tokens, m))?;
                return Ok(Query {
                    expr: Box::new(expr),
                    locs: Locs::default(),
                    located: false,
                    ..q
                });
            }
            // promql-parser's check that saw `=` matchers: a selector without a name needs a
            // matcher that does not match the empty string.
            let mut empty = None;
            walk(&q.expr, &mut Vec::new(), &mut |e, _| {
                let vs = match e {
                    Expr::VectorSelector(vs) => vs,
                    Expr::MatrixSelector(ms) => &ms.vs,
                    _ => return,
                };
                if vs.name.is_none() && vs.matchers.is_empty_matchers() && empty.is_none() {
                    empty = Some(e as *const Expr as usize);
                }
            });
            if let Some(at) = empty {
                let span = q.locs.get(&at).map_or(0..text.len(), |l| l.span.clone());
                return Err(ParseError {
                    span,
                    message: "vector selector must contain at least one non-empty matcher".into(),
                    kind: ParseErrorKind::Invalid,
                });
            }
        }
        Ok(q)
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Whether positions were recovered for every node (else `loc` returns `None` and findings
    /// point at the whole query).
    pub fn located(&self) -> bool {
        self.located
    }

    /// Positions of an AST node of this query (an `Expr`, or the `VectorSelector` inside a
    /// range selector).
    pub fn loc<T>(&self, node: &T) -> Option<&Loc> {
        self.locs.get(&addr(node))
    }

    /// The span of a node, or the whole query when unknown.
    pub fn span<T>(&self, node: &T) -> Range<usize> {
        self.loc(node)
            .map_or(0..self.text.len(), |l| l.span.clone())
    }

    /// Visit every node in source order with its ancestors (outermost first).
    pub fn walk<'q>(&'q self, f: &mut dyn FnMut(&'q Expr, &[&'q Expr])) {
        let mut stack = Vec::new();
        walk(&self.expr, &mut stack, f);
    }

    /// Every vector selector (instant or inside a range selector), in source order.
    pub fn selectors(&self) -> Vec<Selector<'_>> {
        let mut out = Vec::new();
        self.walk(&mut |e, anc| {
            let (vs, range) = match e {
                Expr::VectorSelector(vs) => (vs, None),
                Expr::MatrixSelector(ms) => (&ms.vs, Some(ms.range)),
                _ => return,
            };
            out.push(Selector {
                vs,
                range,
                expr: e,
                loc: self.loc(vs).or_else(|| self.loc(e)),
                range_span: self.loc(e).and_then(|l| l.range.clone()),
                function: anc.iter().rev().find_map(|a| match a {
                    Expr::Call(c) => Some(c.func.name),
                    _ => None,
                }),
            });
        });
        out
    }

    /// Calls of the function `name` (`histogram_quantile`, `rate`, …).
    pub fn calls<'q>(&'q self, name: &str) -> Vec<&'q Call> {
        let mut out = Vec::new();
        self.walk(&mut |e, _| {
            if let Expr::Call(c) = e {
                if c.func.name == name {
                    out.push(c);
                }
            }
        });
        out
    }

    /// Every `histogram_quantile(φ, X)` call.
    pub fn histogram_quantiles(&self) -> Vec<HistogramQuantile<'_>> {
        let mut out = Vec::new();
        self.walk(&mut |e, anc| {
            let Expr::Call(c) = e else { return };
            if c.func.name != "histogram_quantile" {
                return;
            }
            let (Some(phi), Some(arg)) = (c.args.args.first(), c.args.args.get(1)) else {
                return;
            };
            out.push(HistogramQuantile {
                call: c,
                expr: e,
                phi: number_value(phi),
                arg,
                ancestors: anc.to_vec(),
            });
        });
        out
    }

    /// Every range: `[5m]` of a range selector and `[30m:1m]` of a subquery, with the function
    /// that consumes it.
    pub fn range_windows(&self) -> Vec<RangeWindow<'_>> {
        let mut out = Vec::new();
        self.walk(&mut |e, anc| {
            let (range, selector) = match e {
                Expr::MatrixSelector(ms) => (ms.range, Some(&ms.vs)),
                Expr::Subquery(sq) => (sq.range, None),
                _ => return,
            };
            let function = match anc.last() {
                Some(Expr::Call(c)) => Some(c.func.name),
                _ => None,
            };
            out.push(RangeWindow {
                range,
                expr: e,
                selector,
                function,
                span: self.loc(e).and_then(|l| l.range.clone()),
            });
        });
        out
    }
}

fn number_value(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => number_value(&p.expr),
        _ => None,
    }
}

fn walk<'q>(e: &'q Expr, stack: &mut Vec<&'q Expr>, f: &mut dyn FnMut(&'q Expr, &[&'q Expr])) {
    f(e, stack);
    stack.push(e);
    for c in children(e) {
        walk(c, stack, f);
    }
    stack.pop();
}

/// The sub-expressions of a node, in source order (without allocating: every rule that looks
/// into a query walks its tree).
pub fn children(e: &Expr) -> impl Iterator<Item = &Expr> {
    let (first, fixed, args): (Option<&Expr>, [Option<&Expr>; 2], &[Box<Expr>]) = match e {
        Expr::Aggregate(a) => (a.param.as_deref(), [Some(&*a.expr), None], &[]),
        Expr::Unary(u) => (None, [Some(&*u.expr), None], &[]),
        Expr::Binary(b) => (None, [Some(&*b.lhs), Some(&*b.rhs)], &[]),
        Expr::Paren(p) => (None, [Some(&*p.expr), None], &[]),
        Expr::Subquery(s) => (None, [Some(&*s.expr), None], &[]),
        Expr::Call(c) => (None, [None, None], &c.args.args),
        _ => (None, [None, None], &[]),
    };
    first
        .into_iter()
        .chain(fixed.into_iter().flatten())
        .chain(args.iter().map(|a| &**a))
}

/// Whether `inner` is `outer` or one of its sub-expressions (the same node, not an equal one).
pub fn contains(outer: &Expr, inner: &Expr) -> bool {
    std::ptr::eq(outer, inner) || children(outer).any(|c| contains(c, inner))
}

/// A vector selector with its context.
#[derive(Debug, Clone)]
pub struct Selector<'q> {
    pub vs: &'q VectorSelector,
    /// The range when it is a range selector (`x[5m]`).
    pub range: Option<Duration>,
    /// The node: a `VectorSelector` or the `MatrixSelector` around it.
    pub expr: &'q Expr,
    pub loc: Option<&'q Loc>,
    pub range_span: Option<Range<usize>>,
    /// The innermost function call around it (`rate`, `histogram_quantile`, …).
    pub function: Option<&'static str>,
}

impl Selector<'_> {
    /// The metric name, from the name or a `__name__="…"` matcher.
    pub fn metric(&self) -> Option<&str> {
        self.vs.name.as_deref().or_else(|| {
            self.vs
                .matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.as_str())
        })
    }

    /// The located matcher for an AST matcher, if positions are known.
    pub fn matcher_loc(&self, m: &Matcher) -> Option<&MatcherLoc> {
        let op = match_op_text(&m.op);
        self.loc?
            .matchers
            .iter()
            .find(|l| l.name == m.name && l.op == op && l.value == m.value)
    }
}

pub fn match_op_text(op: &MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    }
}

/// `histogram_quantile(φ, X)`.
#[derive(Debug, Clone)]
pub struct HistogramQuantile<'q> {
    pub call: &'q Call,
    pub expr: &'q Expr,
    /// φ when it is a literal.
    pub phi: Option<f64>,
    /// X.
    pub arg: &'q Expr,
    pub ancestors: Vec<&'q Expr>,
}

/// A range window.
#[derive(Debug, Clone)]
pub struct RangeWindow<'q> {
    pub range: Duration,
    pub expr: &'q Expr,
    /// The selector of a range selector (`None` for a subquery).
    pub selector: Option<&'q VectorSelector>,
    /// The function applied to it (`rate`, `increase`, `avg_over_time`, …).
    pub function: Option<&'static str>,
    /// The `[…]` in the text.
    pub span: Option<Range<usize>>,
}

// ---------------------------------------------------------------------------------------------
// Regex matchers, compiled once per pattern.

/// A regex matcher in the text: its operator token and its (unquoted) pattern, compiled.
struct RegexMatcher {
    op: Range<usize>,
    negated: bool,
    name: String,
    value: String,
    regex: regex::Regex,
}

thread_local! {
    static REGEX_CACHE: std::cell::RefCell<HashMap<String, Option<regex::Regex>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// promql-parser's `Matcher::try_parse_re`: `^(?:re)$`, and when that does not compile, the same
/// with `{` escaped where it does not start a repetition (Go accepts `a{b}` literally).
fn compile_regex(re: &str) -> Option<regex::Regex> {
    if let Some(hit) = REGEX_CACHE.with(|c| c.borrow().get(re).cloned()) {
        return hit;
    }
    let anchored = format!("^(?:{re})$");
    let compiled = regex::Regex::new(&anchored)
        .or_else(|_| regex::Regex::new(&escape_repeat(&anchored)))
        .ok();
    REGEX_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(re.to_owned(), compiled.clone());
    });
    compiled
}

/// At most 80 characters of `s`, for messages.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("`{}…`", &s[..i]),
        None => format!("`{s}`"),
    }
}

/// promql-parser's `try_escape_for_repeat_re`.
fn escape_repeat(re: &str) -> String {
    fn is_repeat(chars: &mut std::str::Chars<'_>) -> (bool, String) {
        let mut buf = String::new();
        let mut comma_seen = false;
        for c in chars.by_ref() {
            buf.push(c);
            match c {
                ',' if comma_seen => return (false, buf),
                ',' if buf == "," => return (false, buf),
                ',' => comma_seen = true,
                '}' if buf == "}" => return (false, buf),
                '}' => return (true, buf),
                _ if c.is_ascii_digit() => continue,
                _ => return (false, buf),
            }
        }
        (false, buf)
    }
    let mut result = String::with_capacity(re.len() + 1);
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(cc) = chars.next() {
                    result.push(c);
                    result.push(cc);
                }
            }
            '{' => {
                let (is, s) = is_repeat(&mut chars);
                if !is {
                    result.push('\\');
                }
                result.push(c);
                result.push_str(&s);
            }
            _ => result.push(c),
        }
    }
    result
}

/// The regex matchers of the text (not `__name__`, whose regex matters to promql-parser's
/// checks), compiled; an invalid one is promql-parser's "illegal regex" error.
fn regex_matchers(
    text: &str,
    toks: &[Token],
) -> Result<Vec<RegexMatcher>, (Range<usize>, String, ParseErrorKind)> {
    let mut out = Vec::new();
    for w in toks.windows(3) {
        let [n, op, v] = w else { continue };
        let negated = match op.kind {
            Kind::Op(Op::EqlRegex) => false,
            Kind::Op(Op::NeqRegex) => true,
            _ => continue,
        };
        if !matches!(n.kind, Kind::Ident | Kind::Str) || v.kind != Kind::Str {
            continue;
        }
        let name_text = &text[n.span.clone()];
        let name = match n.kind {
            Kind::Str => match promql_parser::util::unquote_string(name_text) {
                Ok(s) => s,
                Err(_) => continue,
            },
            _ => name_text.to_owned(),
        };
        if name == "__name__" {
            continue;
        }
        let Ok(value) = promql_parser::util::unquote_string(&text[v.span.clone()]) else {
            continue;
        };
        let Some(regex) = compile_regex(&value) else {
            // What only exceeds the `regex` crate's size limit (large Unicode classes repeated,
            // `\pL{50}`) Prometheus's Go regexp accepts: not an error, just not analysed. What
            // Go rejects too (`a**`, nested repeats past 1000 copies) stays an error.
            if crate::regexlang::go_rejects(&value).is_none() {
                return Err((
                    v.span.clone(),
                    format!(
                        "the regex {} is too large for rollgate to compile (Prometheus may accept it); the query is not analysed",
                        shorten(&value)
                    ),
                    ParseErrorKind::NotAnalysed,
                ));
            }
            return Err((
                v.span.clone(),
                format!("illegal regex for {value}"),
                ParseErrorKind::Invalid,
            ));
        };
        out.push(RegexMatcher {
            op: op.span.clone(),
            negated,
            name,
            value,
            regex,
        });
    }
    Ok(out)
}

/// Give the AST its regex matchers back (parsed as `=`/`!=`), pairing them through the located
/// matchers. Returns false when a matcher cannot be paired.
fn restore_regexes(e: &mut Expr, locs: &Locs, regexes: &[RegexMatcher]) -> bool {
    let mut ok = true;
    let mut pending: Vec<&RegexMatcher> = regexes.iter().collect();
    walk_mut(
        e,
        &mut |vs: &mut VectorSelector, loc: Option<&Loc>| {
            let Some(loc) = loc else {
                if !pending.is_empty() {
                    ok = false;
                }
                return;
            };
            // Regex matchers of this selector, in source order.
            let mut mine: Vec<&RegexMatcher> = Vec::new();
            for ml in &loc.matchers {
                if let Some(i) = pending.iter().position(|r| {
                    r.name == ml.name
                        && r.value == ml.value
                        && ml.span.start <= r.op.start
                        && r.op.end <= ml.span.end
                }) {
                    mine.push(pending.remove(i));
                }
            }
            let all = vs
                .matchers
                .matchers
                .iter_mut()
                .chain(vs.matchers.or_matchers.iter_mut().flatten());
            let mut used = vec![false; mine.len()];
            for m in all {
                let want_neg = match m.op {
                    MatchOp::Equal => false,
                    MatchOp::NotEqual => true,
                    _ => continue,
                };
                if let Some(i) = (0..mine.len()).find(|&i| {
                    !used[i]
                        && mine[i].negated == want_neg
                        && mine[i].name == m.name
                        && mine[i].value == m.value
                }) {
                    used[i] = true;
                    let r = mine[i].regex.clone();
                    m.op = if want_neg {
                        MatchOp::NotRe(r)
                    } else {
                        MatchOp::Re(r)
                    };
                }
            }
            if used.iter().any(|u| !u) {
                ok = false;
            }
        },
        locs,
    );
    ok && pending.is_empty()
}

fn walk_mut(e: &mut Expr, f: &mut dyn FnMut(&mut VectorSelector, Option<&Loc>), locs: &Locs) {
    match e {
        Expr::VectorSelector(vs) => {
            let loc = locs.get(&addr(&*vs));
            f(vs, loc);
        }
        Expr::MatrixSelector(ms) => {
            let loc = locs.get(&addr(&ms.vs));
            f(&mut ms.vs, loc);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                walk_mut(p, f, locs);
            }
            walk_mut(&mut a.expr, f, locs);
        }
        Expr::Unary(u) => walk_mut(&mut u.expr, f, locs),
        Expr::Binary(b) => {
            walk_mut(&mut b.lhs, f, locs);
            walk_mut(&mut b.rhs, f, locs);
        }
        Expr::Paren(p) => walk_mut(&mut p.expr, f, locs),
        Expr::Subquery(s) => walk_mut(&mut s.expr, f, locs),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                walk_mut(a, f, locs);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Limits.

fn guard(text: &str, tokens: &[Token]) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut ops = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t.kind {
            Kind::Number if duration_position(&tokens[..i]) => {
                // promql-parser turns a number of seconds into a `Duration` with
                // `Duration::from_secs_f64`, which panics on infinity, NaN and 2^64 s or more
                // (found by the promql_template fuzz target: `x[99999919991999949999]`).
                let n = &text[t.span.clone()];
                let out_of_range = n
                    .to_ascii_lowercase()
                    .parse::<f64>()
                    .is_ok_and(|v| !(v.is_finite() && v < u64::MAX as f64));
                if out_of_range {
                    return Err(ParseError {
                        span: t.span.clone(),
                        message: format!(
                            "duration {n} is out of range: a number of seconds must be finite and below 2^64"
                        ),
                        kind: ParseErrorKind::Invalid,
                    });
                }
            }
            Kind::LParen | Kind::LBracket | Kind::LBrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ParseError {
                        span: t.span.clone(),
                        message: format!(
                            "query nests brackets more than {MAX_NESTING} deep; rollgate does not analyse it"
                        ),
                        kind: ParseErrorKind::NotAnalysed,
                    });
                }
            }
            Kind::RParen | Kind::RBracket | Kind::RBrace => depth = depth.saturating_sub(1),
            Kind::Op(op) if op.is_binary() => {
                ops += 1;
                if ops > MAX_OPERATORS {
                    return Err(ParseError {
                        span: t.span.clone(),
                        message: format!(
                            "query has more than {MAX_OPERATORS} operators; rollgate does not analyse it"
                        ),
                        kind: ParseErrorKind::NotAnalysed,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a number after `before` is read as a duration: a range `[n]`, a subquery
/// `[d:n]`, or an offset (`offset n`, `offset -n`).
fn duration_position(before: &[Token]) -> bool {
    match before {
        [.., p]
            if matches!(
                p.kind,
                Kind::LBracket | Kind::Colon | Kind::Keyword("offset")
            ) =>
        {
            true
        }
        [.., o, p] => {
            matches!(p.kind, Kind::Op(Op::Add | Op::Sub)) && o.kind == Kind::Keyword("offset")
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Positions: walk the AST in source order over the tokens.

struct Locator<'a> {
    text: &'a str,
    toks: &'a [Token],
    brackets: Vec<Option<usize>>,
    i: usize,
    locs: Locs,
}

fn op_of(id: TokenId) -> Option<Op> {
    Some(match id {
        ptok::T_ADD => Op::Add,
        ptok::T_SUB => Op::Sub,
        ptok::T_MUL => Op::Mul,
        ptok::T_DIV => Op::Div,
        ptok::T_MOD => Op::Mod,
        ptok::T_POW => Op::Pow,
        ptok::T_EQLC => Op::EqlC,
        ptok::T_NEQ => Op::Neq,
        ptok::T_LSS => Op::Lss,
        ptok::T_GTR => Op::Gtr,
        ptok::T_LTE => Op::Lte,
        ptok::T_GTE => Op::Gte,
        ptok::T_LAND => Op::And,
        ptok::T_LOR => Op::Or,
        ptok::T_LUNLESS => Op::Unless,
        ptok::T_ATAN2 => Op::Atan2,
        _ => return None,
    })
}

/// The lexer kind of a binary operator of the AST.
pub fn binary_op(b: &BinaryExpr) -> Option<Op> {
    op_of(b.op.id())
}

/// The name of an aggregation operator of the AST (`sum`, `topk`, …).
pub fn aggregate_name(a: &AggregateExpr) -> &'static str {
    match a.op.id() {
        ptok::T_SUM => "sum",
        ptok::T_AVG => "avg",
        ptok::T_COUNT => "count",
        ptok::T_MIN => "min",
        ptok::T_MAX => "max",
        ptok::T_GROUP => "group",
        ptok::T_STDDEV => "stddev",
        ptok::T_STDVAR => "stdvar",
        ptok::T_TOPK => "topk",
        ptok::T_BOTTOMK => "bottomk",
        ptok::T_COUNT_VALUES => "count_values",
        ptok::T_QUANTILE => "quantile",
        ptok::T_LIMITK => "limitk",
        ptok::T_LIMIT_RATIO => "limit_ratio",
        _ => "?",
    }
}

impl Locator<'_> {
    fn tok(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn kind(&self) -> Option<Kind> {
        self.tok().map(|t| t.kind)
    }

    fn word(&self) -> &str {
        self.tok().map_or("", |t| &self.text[t.span.clone()])
    }

    fn start(&self) -> usize {
        self.tok().map_or(self.text.len(), |t| t.span.start)
    }

    /// End of the token before the cursor.
    fn end(&self) -> usize {
        self.i
            .checked_sub(1)
            .and_then(|j| self.toks.get(j))
            .map_or(0, |t| t.span.end)
    }

    fn eat(&mut self, k: Kind) -> Option<Range<usize>> {
        let t = self.tok()?;
        if t.kind != k {
            return None;
        }
        let s = t.span.clone();
        self.i += 1;
        Some(s)
    }

    /// Skip a bracketed group starting at the cursor; returns its span.
    fn group(&mut self) -> Option<Range<usize>> {
        let open = self.i;
        let close = (*self.brackets.get(open)?)?;
        let span = self.toks[open].span.start..self.toks[close].span.end;
        self.i = close + 1;
        Some(span)
    }

    fn keyword(&self, words: &[&str]) -> bool {
        matches!(self.kind(), Some(Kind::Keyword(k)) if words.contains(&k))
    }

    /// `offset [+-]dur` and `@ …` modifiers after a selector or subquery.
    fn modifiers(&mut self) -> Option<()> {
        loop {
            if self.keyword(&["offset"]) {
                self.i += 1;
                if matches!(self.kind(), Some(Kind::Op(Op::Add | Op::Sub))) {
                    self.i += 1;
                }
                match self.kind()? {
                    Kind::Duration | Kind::Number => self.i += 1,
                    _ => return None,
                }
            } else if self.kind() == Some(Kind::At) {
                self.i += 1;
                if matches!(self.kind(), Some(Kind::Op(Op::Add | Op::Sub))) {
                    self.i += 1;
                }
                if self.keyword(&["start", "end"]) {
                    self.i += 1;
                    self.eat(Kind::LParen)?;
                    self.eat(Kind::RParen)?;
                } else {
                    match self.kind()? {
                        Kind::Number | Kind::Duration => self.i += 1,
                        _ => return None,
                    }
                }
            } else {
                return Some(());
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> Option<Range<usize>> {
        // Unary plus disappears from the AST.
        if !matches!(e, Expr::Binary(_)) {
            while self.kind() == Some(Kind::Op(Op::Add)) && !matches!(e, Expr::NumberLiteral(_)) {
                self.i += 1;
            }
        }
        let start = self.start();
        let mut loc = Loc::default();
        match e {
            Expr::NumberLiteral(_) => {
                while matches!(self.kind(), Some(Kind::Op(Op::Add | Op::Sub))) {
                    self.i += 1;
                }
                loc.head = match self.kind()? {
                    Kind::Number | Kind::Duration => {
                        let s = self.tok()?.span.clone();
                        self.i += 1;
                        s
                    }
                    _ => return None,
                };
            }
            Expr::StringLiteral(_) => loc.head = self.eat(Kind::Str)?,
            Expr::Paren(p) => {
                loc.head = self.eat(Kind::LParen)?;
                self.expr(&p.expr)?;
                self.eat(Kind::RParen)?;
            }
            Expr::Unary(u) => {
                loc.head = self.eat(Kind::Op(Op::Sub))?;
                self.expr(&u.expr)?;
            }
            Expr::VectorSelector(vs) => {
                self.selector(vs, &mut loc)?;
                self.modifiers()?;
                self.locs.insert(addr(vs), loc.clone());
            }
            Expr::MatrixSelector(ms) => {
                self.selector(&ms.vs, &mut loc)?;
                let open = self.start();
                self.eat(Kind::LBracket)?;
                self.i = self.brackets.get(self.i - 1).copied().flatten()? + 1;
                loc.range = Some(open..self.end());
                self.modifiers()?;
                let mut vloc = loc.clone();
                vloc.span = start..self.end();
                self.locs.insert(addr(&ms.vs), vloc);
            }
            Expr::Subquery(sq) => {
                self.expr(&sq.expr)?;
                let open = self.start();
                self.eat(Kind::LBracket)?;
                self.i = self.brackets.get(self.i - 1).copied().flatten()? + 1;
                loc.range = Some(open..self.end());
                self.modifiers()?;
            }
            Expr::Call(c) => {
                let t = self.tok()?;
                if !matches!(t.kind, Kind::Ident | Kind::Keyword(_)) || self.word() != c.func.name {
                    return None;
                }
                loc.head = t.span.clone();
                self.i += 1;
                self.eat(Kind::LParen)?;
                for (n, a) in c.args.args.iter().enumerate() {
                    if n > 0 {
                        self.eat(Kind::Comma)?;
                    }
                    self.expr(a)?;
                }
                self.eat(Kind::RParen)?;
            }
            Expr::Aggregate(a) => {
                let t = self.tok()?;
                if t.kind != Kind::Keyword(aggregate_name(a)) {
                    return None;
                }
                loc.head = t.span.clone();
                self.i += 1;
                if self.keyword(&["by", "without"]) {
                    let s = self.start();
                    self.i += 1;
                    self.group()?;
                    loc.grouping = Some(s..self.end());
                }
                self.eat(Kind::LParen)?;
                if let Some(p) = &a.param {
                    self.expr(p)?;
                    self.eat(Kind::Comma)?;
                }
                self.expr(&a.expr)?;
                // A trailing comma is accepted: `sum(x,)`.
                let _ = self.eat(Kind::Comma);
                self.eat(Kind::RParen)?;
                if loc.grouping.is_none() && self.keyword(&["by", "without"]) {
                    let s = self.start();
                    self.i += 1;
                    self.group()?;
                    loc.grouping = Some(s..self.end());
                }
            }
            Expr::Binary(b) => {
                self.expr(&b.lhs)?;
                let op = binary_op(b)?;
                let t = self.tok()?;
                if t.kind != Kind::Op(op) {
                    return None;
                }
                loc.head = t.span.clone();
                self.i += 1;
                while self.keyword(&[
                    "bool",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                    "fill",
                    "fill_left",
                    "fill_right",
                ]) {
                    let s = self.start();
                    let on = self.keyword(&["on", "ignoring"]);
                    self.i += 1;
                    if self.kind() == Some(Kind::LParen) {
                        self.group()?;
                    }
                    if on {
                        loc.grouping = Some(s..self.end());
                    }
                }
                self.expr(&b.rhs)?;
            }
            Expr::Extension(_) => return None,
        }
        loc.span = start..self.end();
        if loc.head.is_empty() && loc.head.start == 0 {
            loc.head = loc.span.clone();
        }
        self.locs.insert(addr(e), loc.clone());
        Some(loc.span)
    }

    fn selector(&mut self, vs: &VectorSelector, loc: &mut Loc) -> Option<()> {
        if let Some(name) = &vs.name {
            let t = self.tok()?;
            let ok = matches!(
                t.kind,
                Kind::Ident | Kind::MetricIdent | Kind::Keyword(_) | Kind::Op(_)
            ) && self.word() == name;
            if !ok {
                return None;
            }
            loc.head = t.span.clone();
            self.i += 1;
        }
        if self.kind() == Some(Kind::LBrace) {
            let open = self.i;
            if vs.name.is_none() {
                loc.head = self.tok()?.span.clone();
            }
            let close = (*self.brackets.get(open)?)?;
            loc.matchers = matchers(self.text, &self.toks[open + 1..close]);
            self.i = close + 1;
        } else if vs.name.is_none() {
            return None;
        }
        Some(())
    }
}

/// The matchers between `{` and `}`.
fn matchers(text: &str, toks: &[Token]) -> Vec<MatcherLoc> {
    let mut out = Vec::new();
    for group in toks.split(|t| matches!(t.kind, Kind::Comma | Kind::Op(Op::Or))) {
        let [n, op, v] = group else { continue };
        let op = match op.kind {
            Kind::Op(Op::Eql) => "=",
            Kind::Op(Op::Neq) => "!=",
            Kind::Op(Op::EqlRegex) => "=~",
            Kind::Op(Op::NeqRegex) => "!~",
            _ => continue,
        };
        let name_text = &text[n.span.clone()];
        let name = match n.kind {
            Kind::Str => match promql_parser::util::unquote_string(name_text) {
                Ok(s) => s,
                Err(_) => continue,
            },
            _ => name_text.to_owned(),
        };
        let Ok(value) = promql_parser::util::unquote_string(&text[v.span.clone()]) else {
            continue;
        };
        out.push(MatcherLoc {
            name,
            op,
            value,
            span: n.span.start..v.span.end,
            name_span: n.span.clone(),
            value_span: v.span.clone(),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Errors: where, and a message better than "invalid promql query".

/// promql-parser's error `message`, placed and worded.
fn invalid(text: &str, tokens: &[Token], message: String) -> ParseError {
    let span = locate_error(text, tokens, &message);
    ParseError {
        span,
        message: if message == "invalid promql query" {
            syntax_message(text, tokens).unwrap_or_else(|| "invalid PromQL".to_owned())
        } else {
            message
        },
        kind: ParseErrorKind::Invalid,
    }
}

/// Where promql-parser's error `message` is, as far as can be told.
fn locate_error(text: &str, toks: &[Token], message: &str) -> Range<usize> {
    let whole = 0..text.len();
    if message == "invalid promql query" {
        return syntax_error(text, toks).map_or(whole, |(s, _)| s);
    }
    // A quoted name in the message: `unknown function with name 'foo'`,
    // `… in call to function 'rate', …`, `illegal regex for a(b`.
    let quoted = message.split('\'').nth(1).filter(|s| !s.is_empty());
    if let Some(name) = quoted {
        for (i, t) in toks.iter().enumerate() {
            if &text[t.span.clone()] == name
                && toks.get(i + 1).is_some_and(|n| n.kind == Kind::LParen)
            {
                let close = lex::match_brackets(toks)
                    .get(i + 1)
                    .copied()
                    .flatten()
                    .and_then(|c| toks.get(c))
                    .map_or(t.span.end, |c| c.span.end);
                return t.span.start..close;
            }
        }
        if let Some(at) = text.find(name) {
            return at..at + name.len();
        }
    }
    if let Some(re) = message.strip_prefix("illegal regex for ") {
        for t in toks.iter().filter(|t| t.kind == Kind::Str) {
            if promql_parser::util::unquote_string(&text[t.span.clone()]).is_ok_and(|v| v == re) {
                return t.span.clone();
            }
        }
    }
    if message.contains("missing unit character in duration") {
        if let Some(w) = toks
            .windows(2)
            .find(|w| w[0].kind == Kind::LBracket && w[1].kind == Kind::RBracket)
        {
            return w[0].span.start..w[1].span.end;
        }
    }
    if message.contains("non-empty matcher") {
        if let Some(w) = toks
            .windows(2)
            .find(|w| w[0].kind == Kind::LBrace && w[1].kind == Kind::RBrace)
        {
            return w[0].span.start..w[1].span.end;
        }
    }
    if message.contains("no expression found") {
        return whole;
    }
    whole
}

/// A message for promql-parser's bare "invalid promql query".
fn syntax_message(text: &str, toks: &[Token]) -> Option<String> {
    syntax_error(text, toks).map(|(_, m)| m)
}

/// The first token where the query stops being PromQL, found by a small recursive-descent
/// recognizer of the grammar (promql-parser's LR parser discards the position).
fn syntax_error(text: &str, toks: &[Token]) -> Option<(Range<usize>, String)> {
    let mut r = Recognizer {
        text,
        toks,
        i: 0,
        depth: 0,
    };
    match r.expr() {
        Err(e) => Some(e),
        Ok(()) => {
            let t = r.toks.get(r.i)?;
            if t.kind == Kind::Eof {
                None
            } else {
                Some((
                    t.span.clone(),
                    format!("unexpected {} after the expression", r.describe(t)),
                ))
            }
        }
    }
}

struct Recognizer<'a> {
    text: &'a str,
    toks: &'a [Token],
    i: usize,
    depth: usize,
}

type RResult = Result<(), (Range<usize>, String)>;

impl Recognizer<'_> {
    fn kind(&self) -> Kind {
        self.toks.get(self.i).map_or(Kind::Eof, |t| t.kind)
    }

    fn describe(&self, t: &Token) -> String {
        match t.kind {
            Kind::Eof => "end of query".into(),
            _ => format!("\"{}\"", &self.text[t.span.clone()]),
        }
    }

    fn fail(&self, expected: &str) -> RResult {
        let t = self.toks.get(self.i).or(self.toks.last());
        let (span, got) = match t {
            Some(t) => (t.span.clone(), self.describe(t)),
            None => (0..0, "end of query".into()),
        };
        Err((span, format!("unexpected {got}, expected {expected}")))
    }

    fn eat(&mut self, k: Kind, expected: &str) -> RResult {
        if self.kind() == k {
            self.i += 1;
            Ok(())
        } else {
            self.fail(expected)
        }
    }

    fn expr(&mut self) -> RResult {
        self.depth += 1;
        if self.depth > MAX_NESTING * 4 {
            return self.fail("a shallower expression");
        }
        self.unary()?;
        while let Kind::Op(op) = self.kind() {
            if !op.is_binary() {
                break;
            }
            self.i += 1;
            // bool, on/ignoring (…), group_left/right (…), fill (…)
            loop {
                match self.kind() {
                    Kind::Keyword("bool") => self.i += 1,
                    Kind::Keyword("on" | "ignoring" | "fill" | "fill_left" | "fill_right") => {
                        self.i += 1;
                        self.paren_group()?;
                    }
                    Kind::Keyword("group_left" | "group_right") => {
                        self.i += 1;
                        if self.kind() == Kind::LParen {
                            self.paren_group()?;
                        }
                    }
                    _ => break,
                }
            }
            self.unary()?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn paren_group(&mut self) -> RResult {
        self.eat(Kind::LParen, "\"(\"")?;
        while self.kind() != Kind::RParen {
            match self.kind() {
                Kind::Ident
                | Kind::MetricIdent
                | Kind::Keyword(_)
                | Kind::Str
                | Kind::Number
                | Kind::Comma
                | Kind::Op(Op::Add | Op::Sub | Op::And | Op::Or | Op::Unless | Op::Atan2) => {
                    self.i += 1
                }
                _ => return self.fail("a label name or \")\""),
            }
        }
        self.i += 1;
        Ok(())
    }

    fn unary(&mut self) -> RResult {
        while matches!(self.kind(), Kind::Op(Op::Add | Op::Sub)) {
            self.i += 1;
        }
        self.primary()?;
        // Postfix: ranges, subqueries, offset, @.
        loop {
            match self.kind() {
                Kind::LBracket => {
                    self.i += 1;
                    if !matches!(self.kind(), Kind::Duration | Kind::Number) {
                        return self.fail("a duration like 5m");
                    }
                    self.i += 1;
                    if self.kind() == Kind::Colon {
                        self.i += 1;
                        if matches!(self.kind(), Kind::Duration | Kind::Number) {
                            self.i += 1;
                        }
                    }
                    self.eat(Kind::RBracket, "\"]\"")?;
                }
                Kind::Keyword("offset") => {
                    self.i += 1;
                    if matches!(self.kind(), Kind::Op(Op::Add | Op::Sub)) {
                        self.i += 1;
                    }
                    if !matches!(self.kind(), Kind::Duration | Kind::Number) {
                        return self.fail("a duration after offset");
                    }
                    self.i += 1;
                }
                Kind::At => {
                    self.i += 1;
                    if matches!(self.kind(), Kind::Op(Op::Add | Op::Sub)) {
                        self.i += 1;
                    }
                    match self.kind() {
                        Kind::Number | Kind::Duration => self.i += 1,
                        Kind::Keyword("start" | "end") => {
                            self.i += 1;
                            self.eat(Kind::LParen, "\"(\"")?;
                            self.eat(Kind::RParen, "\")\"")?;
                        }
                        _ => return self.fail("a timestamp after @"),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn primary(&mut self) -> RResult {
        match self.kind() {
            Kind::Number | Kind::Duration | Kind::Str => {
                self.i += 1;
                Ok(())
            }
            Kind::LParen => {
                self.i += 1;
                self.expr()?;
                self.eat(Kind::RParen, "\")\"")
            }
            Kind::LBrace => self.braces(),
            Kind::Keyword(k) if lex::AGGREGATORS.contains(&k) => {
                self.i += 1;
                if matches!(self.kind(), Kind::Keyword("by" | "without")) {
                    self.i += 1;
                    self.paren_group()?;
                }
                if self.kind() == Kind::LBrace {
                    // An aggregator name used as a metric name.
                    return self.braces();
                }
                self.call_body()?;
                if matches!(self.kind(), Kind::Keyword("by" | "without")) {
                    self.i += 1;
                    self.paren_group()?;
                }
                Ok(())
            }
            Kind::Ident | Kind::MetricIdent | Kind::Keyword(_) => {
                self.i += 1;
                match self.kind() {
                    Kind::LParen => self.call_body(),
                    Kind::LBrace => self.braces(),
                    _ => Ok(()),
                }
            }
            _ => self.fail("an expression"),
        }
    }

    fn call_body(&mut self) -> RResult {
        self.eat(Kind::LParen, "\"(\"")?;
        if self.kind() == Kind::RParen {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.expr()?;
            match self.kind() {
                Kind::Comma => {
                    self.i += 1;
                    if self.kind() == Kind::RParen {
                        // promql-parser: "trailing commas not allowed in function call args"
                        // (aggregations accept one); let the parser's message speak.
                        self.i += 1;
                        return Ok(());
                    }
                }
                Kind::RParen => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.fail("\",\" or \")\""),
            }
        }
    }

    fn braces(&mut self) -> RResult {
        self.eat(Kind::LBrace, "\"{\"")?;
        loop {
            match self.kind() {
                Kind::RBrace => {
                    self.i += 1;
                    return Ok(());
                }
                Kind::Ident | Kind::Str => {
                    self.i += 1;
                    if matches!(self.kind(), Kind::Comma | Kind::RBrace | Kind::Op(Op::Or))
                        && self
                            .toks
                            .get(self.i - 1)
                            .is_some_and(|t| t.kind == Kind::Str)
                    {
                        // A quoted metric name: {"my.metric"}.
                    } else {
                        if !matches!(
                            self.kind(),
                            Kind::Op(Op::Eql | Op::Neq | Op::EqlRegex | Op::NeqRegex)
                        ) {
                            return self.fail("a matcher operator (=, !=, =~, !~)");
                        }
                        self.i += 1;
                        if self.kind() != Kind::Str {
                            return self.fail("a quoted label value");
                        }
                        self.i += 1;
                    }
                    match self.kind() {
                        Kind::Comma | Kind::Op(Op::Or) => self.i += 1,
                        Kind::RBrace => {}
                        _ => return self.fail("\",\" or \"}\""),
                    }
                }
                _ => return self.fail("a label name or \"}\""),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'q>(q: &'q Query, r: &Option<Range<usize>>) -> &'q str {
        &q.text()[r.clone().unwrap()]
    }

    /// promql-parser panics in `Duration::from_secs_f64` on a number of seconds that is not
    /// finite or reaches 2^64 (a fuzz find); such durations are parse errors at the number.
    #[test]
    fn out_of_range_number_durations_are_errors_not_panics() {
        for (text, number) in [
            ("x[99999919991999949999]", "99999919991999949999"),
            ("x[5m:1e400]", "1e400"),
            ("rate(x[1e20:])", "1e20"),
            ("x offset 1e20", "1e20"),
            ("x offset -Inf", "Inf"),
            (
                "histile(0e3@08, sum by (le) (ratextexbc_uk(et9[99999919991999949999:8h]))) > 1e400",
                "99999919991999949999",
            ),
        ] {
            let e = Query::parse(text).expect_err(text);
            assert_eq!(&text[e.span.clone()], number, "{text}: {e:?}");
            assert_eq!(e.kind, ParseErrorKind::Invalid);
        }
        // Numbers elsewhere, and durations in range, are left to promql-parser.
        for text in [
            "x[300]",
            "x offset 60",
            "x[5m:30]",
            "x > 1e400",
            "x @ 1e20",
            "x[Inf]",
        ] {
            let _ = Query::parse(text);
        }
        assert!(Query::parse("x > 1e400").is_ok());
    }

    #[test]
    fn locates_everything() {
        let text = "histogram_quantile(0.99, sum by (le) (rate(http_bucket{job=\"a\", pod=~\"p-.*\"}[5m])))\n  / ignoring(x) -(sum(rate(y[1m] offset 5m)) + 1)";
        let q = Query::parse(text).unwrap();
        assert!(q.located());
        let sels = q.selectors();
        assert_eq!(sels.len(), 2);
        let l = sels[0].loc.unwrap();
        assert_eq!(&text[l.head.clone()], "http_bucket");
        assert_eq!(l.matchers.len(), 2);
        assert_eq!(&text[l.matchers[1].span.clone()], "pod=~\"p-.*\"");
        assert_eq!(l.matchers[1].value, "p-.*");
        assert_eq!(at(&q, &sels[0].range_span), "[5m]");
        assert_eq!(sels[0].function, Some("rate"));
        let hq = q.histogram_quantiles();
        assert_eq!(hq[0].phi, Some(0.99));
        let Expr::Aggregate(agg) = hq[0].arg else {
            panic!()
        };
        let al = q.loc(hq[0].arg).unwrap();
        assert_eq!(&text[al.head.clone()], "sum");
        assert_eq!(at(&q, &al.grouping), "by (le)");
        assert_eq!(aggregate_name(agg), "sum");
        let w = q.range_windows();
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].range, Duration::from_secs(60));
        let Expr::Binary(b) = q.expr() else { panic!() };
        let bl = q.loc(q.expr()).unwrap();
        assert_eq!(&text[bl.head.clone()], "/");
        assert_eq!(at(&q, &bl.grouping), "ignoring(x)");
        assert_eq!(binary_op(b), Some(Op::Div));
    }

    #[test]
    fn locates_odd_shapes() {
        for text in [
            "sum(x) by (le)",
            "topk(5, x)",
            "count_values(\"v\", x)",
            "x[5m:1m] offset 1m",
            "(rate(x[5m]))[30m:]",
            "+x - -1",
            "x @ start()",
            "-x",
            "{__name__=\"x\"}",
            "x > bool 0.5",
            "a * on(b) group_left(c) d",
            "vector(1)",
            "time()",
            "1 + 2 * 3 ^ 4",
            "a or b and c unless d",
            "\"str\"",
            "x{a=\"1\" or b=\"2\"}",
            "# comment\nx",
        ] {
            let q = Query::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert!(q.located(), "{text}");
        }
    }

    #[test]
    fn errors_are_located() {
        let e = Query::parse("rate(x[5m]) by (le)").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Invalid);
        let e = Query::parse("sum(rate(x[]))").unwrap_err();
        assert_eq!(e.span, 10..12, "{e:?}");
        let e = Query::parse("foo(x)").unwrap_err();
        assert_eq!(e.span, 0..6, "{e:?}");
        let e = Query::parse("sum(x y)").unwrap_err();
        assert_eq!(e.span, 6..7, "{e:?}");
        assert!(e.message.contains("\"y\""), "{e:?}");
        let e = Query::parse("x{a=~\"(\"}").unwrap_err();
        assert_eq!(e.span, 5..8, "{e:?}");
        let e = Query::parse("rate(x)").unwrap_err();
        assert_eq!(e.span, 0..7, "{e:?}");
        let e = Query::parse("").unwrap_err();
        assert_eq!(e.message, "no expression found in input");
    }

    #[test]
    fn regex_matchers_are_restored() {
        let q =
            Query::parse(r#"x{a=~"b.*", a="c", d!~"e|f"} / {g=~"h", __name__=~"x|y"}"#).unwrap();
        assert!(q.located());
        let sels = q.selectors();
        let ops: Vec<String> = sels[0]
            .vs
            .matchers
            .matchers
            .iter()
            .map(|m| format!("{}{}", m.name, match_op_text(&m.op)))
            .collect();
        assert_eq!(ops, ["a=~", "a=", "d!~"]);
        let MatchOp::Re(r) = &sels[0].vs.matchers.matchers[0].op else {
            panic!()
        };
        assert!(r.is_match("bzz") && !r.is_match("xb"));
        assert!(matches!(sels[1].vs.matchers.matchers[0].op, MatchOp::Re(_)));
        // As promql-parser: a selector that matches everything, and an invalid regex.
        let e = Query::parse(r#"{a=~".*"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "vector selector must contain at least one non-empty matcher"
        );
        let e = Query::parse(r#"x{a=~"("}"#).unwrap_err();
        assert_eq!(
            e.message,
            promql_parser::parser::parse(r#"x{a=~"("}"#).unwrap_err()
        );
        // Go's literal braces.
        assert!(Query::parse(r#"x{a=~"a{b}"}"#).is_ok());
        // Same AST as promql-parser's own parse.
        for t in [
            r#"sum(rate(x{a=~"b", c!~"d"}[5m])) by (le)"#,
            r#"x{a=~"1" or b!~"2"}"#,
            r#"histogram_quantile(0.9, sum by (le) (rate(x_bucket{pod=~"p-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[1m])))"#,
        ] {
            let ours = Query::parse(t).unwrap();
            let theirs = promql_parser::parser::parse(t).unwrap();
            assert_eq!(ours.expr().to_string(), theirs.to_string(), "{t}");
        }
    }

    #[test]
    fn non_utf8_escapes() {
        let e = Query::parse(r#"x{a="b\xff"}"#).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotAnalysed);
        assert_eq!(e.span, 6..10);
        // Two escapes that together are UTF-8 are fine.
        assert!(Query::parse(r#"x{a="\xc3\xbf"}"#).is_ok());
        assert!(Query::parse(r#"x{a="\u00ff\101"}"#).is_ok());
        let e = Query::parse(r#"x{a="\377"}"#).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotAnalysed);
    }

    #[test]
    fn limits() {
        let deep = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
        let e = Query::parse(&deep).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotAnalysed);
        let long = "a + ".repeat(100_000) + "a";
        let e = Query::parse(&long).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotAnalysed);
        let big = format!("x{{a=\"{}\"}}", "b".repeat(1 << 20));
        let e = Query::parse(&big).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NotAnalysed);
    }
}
