//! argo-web-jsonpath-invalid: an Argo web metric `jsonPath` that makes every measurement an
//! Error, or that never reads the response.
//!
//! Argo evaluates `provider.web.jsonPath` with the Kubernetes JSONPath template engine
//! (`k8s.io/client-go/util/jsonpath`, the `kubectl -o jsonpath` dialect), not with RFC 9535:
//! `metricproviders/webmetric/webmetric.go` `NewWebMetricJsonParser` does
//! `jsonpath.New("metrics").Parse(jsonPath)` (an empty path is `{$}`; `AllowMissingKeys` is never
//! set) and `metricproviders/metricproviders.go` `NewProvider` returns the parse error, which
//! `analysis/analysis.go` `runMeasurements` records as a measurement in phase Error, on every
//! run. `parseResponse` then calls `FindResults` on a JSON body (a non-JSON body skips the path)
//! and `getValue` takes the first value of the first non-empty result list.
//!
//! The template grammar is client-go's own (`util/jsonpath/parser.go`), which differs from RFC
//! 9535 both ways (`$["a"]` and `[?@.a]` are RFC 9535 but rejected; `{.a-b}` and text outside
//! braces are accepted). So the check is a port of that parser, kept iterative and bounded, and
//! anything it cannot decide exactly (a non-ASCII character where client-go classifies runes,
//! deep nesting) is not analysed. `jsonpath-rust` (an RFC 9535 parser) is used only to explain
//! a rejected path that is valid standard JSONPath.
//!
//! Findings (all error):
//! - the template does not parse (`unclosed action`, `invalid array index "a"`, …);
//! - no `{…}` at all, or text before the first one: the result is always that text;
//! - an identifier that is not `range`/`end` (`{data.ok}`), or `end` with no `range`: evaluation
//!   fails with `unrecognized identifier …` / `not in range, nothing to end` on every JSON body;
//! - a filter operator client-go does not know (`[?(@.name='x')]`), where every evaluation fails
//!   (see `operator_error`).

use std::ops::Range;

use serde_json::Value;

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::promql::condition::ARGO_ANALYSIS_KINDS;

pub struct ArgoWebJsonpathInvalid;

static META: RuleMeta = RuleMeta {
    id: "argo-web-jsonpath-invalid",
    severity: Severity::Error,
    kinds: ARGO_ANALYSIS_KINDS,
    doc: include_str!("../../rules/argo-web-jsonpath-invalid.md"),
    options: &[],
    builtin: false,
};

const CONSEQUENCE: &str = "every measurement is an Error; past consecutiveErrorLimit (4 by default) the analysis ends in Error and the rollout aborts";

impl Rule for ArgoWebJsonpathInvalid {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(metrics) = object.at("/spec/metrics").and_then(Value::as_array) else {
            return;
        };
        for (i, m) in metrics.iter().enumerate() {
            let Some(path) = m.at("/provider/web/jsonPath").and_then(Value::as_str) else {
                continue;
            };
            // Empty means `{$}`; `{{args.x}}` is rendered by Argo before the path is parsed.
            if path.is_empty() || path.contains("{{") {
                continue;
            }
            let pointer = format!("/spec/metrics/{i}/provider/web/jsonPath");
            if let Some(f) = diagnose(path) {
                let mut out_f = finding(&META, object, &pointer, f.message);
                if let Some(r) = f.range {
                    out_f = out_f.with_range(r);
                }
                out.push(out_f.with_help(f.help));
            }
        }
    }
}

/// What is wrong with a web metric's jsonPath, if anything certain.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub message: String,
    /// Bytes of the path the finding is about (`None`: the whole value).
    pub range: Option<Range<usize>>,
    pub help: String,
}

/// The one finding for `path` (a jsonPath as Argo receives it), or `None` when it is fine or
/// cannot be decided.
pub fn diagnose(path: &str) -> Option<Diagnosis> {
    let pieces = match parse_template(path) {
        Ok(p) => p,
        Err(Fail::Unknown) => return None,
        Err(Fail::Error { msg, range }) => return Some(parse_error(path, msg, range)),
    };
    let first_action = pieces.iter().position(|p| matches!(p, Piece::Action(_)));
    let Some(first_action) = first_action else {
        let braced = format!("{{{path}}}");
        let help = if clean(&braced) {
            format!("put the path in braces: `{}`", short(&braced))
        } else {
            "put the path in braces, as `kubectl -o jsonpath` does: `{$.data.ok}`".to_owned()
        };
        return Some(Diagnosis {
            message: format!(
                "jsonPath {p:?} has no {{…}}: the Kubernetes JSONPath template Argo uses reads it as plain text, so for a JSON response the result is always the string {p:?}, not a value from it",
                p = short(path)
            ),
            range: None,
            help,
        });
    };
    if first_action > 0 {
        let end = match &pieces[first_action - 1] {
            Piece::Text(r) => r.end,
            Piece::Action(_) => 0,
        };
        let text = &path[..end];
        return Some(Diagnosis {
            message: format!(
                "text {t:?} before the first {{…}} of the jsonPath is a result of its own, and Argo takes the first result: whenever the path evaluates, the result is the string {t:?}, not a value from the response",
                t = short(text)
            ),
            range: Some(0..end),
            help: format!(
                "remove the text before the braces: `{}`",
                short(&path[end..])
            ),
        });
    }
    identifier_error(path, &pieces).or_else(|| operator_error(path, &pieces))
}

fn parse_error(path: &str, msg: String, range: Range<usize>) -> Diagnosis {
    let mut help = Vec::new();
    if let Some(fixed) = rewrites(path).into_iter().find(|f| f != path && clean(f)) {
        help.push(format!("write `{}`", short(&fixed)));
    }
    if let Some(std) = rfc9535_note(path) {
        help.push(std);
    }
    if help.is_empty() {
        help.push("write it in the Kubernetes (`kubectl -o jsonpath`) dialect: `{$.data.ok}`, `{.items[0].value}`, `{.items[?(@.name==\"x\")].value}`; escape `.` and spaces in a key with `\\` (`{.labels.app\\.kubernetes\\.io/name}`)".to_owned());
    }
    Diagnosis {
        message: format!(
            "jsonPath does not parse as a Kubernetes JSONPath template ({}): Argo cannot create the web provider, so {CONSEQUENCE}",
            short(&msg)
        ),
        range: Some(range),
        help: help.join("; "),
    }
}

/// Candidate corrections of a rejected path: the closing brace, and the RFC 9535 spellings that
/// have a Kubernetes one (`["k"]` → `['k']`, `[?expr]` → `[?(expr)]`). Only those that parse
/// cleanly are offered.
fn rewrites(path: &str) -> Vec<String> {
    let mut out = vec![format!("{path}}}")];
    let mut s = String::new();
    let mut rest = path;
    while let Some(i) = rest.find("[\"") {
        s.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("\"]") {
            // Only plain keys: client-go splits `['a.b']` into two fields.
            Some(j)
                if !after[..j].is_empty()
                    && after[..j]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/')) =>
            {
                s.push_str(&format!("['{}']", &after[..j]));
                rest = &after[j + 2..];
            }
            _ => {
                s.push_str("[\"");
                rest = after;
            }
        }
    }
    s.push_str(rest);
    out.push(s.clone());
    let mut t = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("[?") {
        t.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(']') {
            Some(j) if !after.starts_with('(') && !after[..j].contains(['(', ')', '[']) => {
                t.push_str(&format!("[?({})]", after[..j].trim()));
                rest = &after[j + 1..];
            }
            _ => {
                t.push_str("[?");
                rest = after;
            }
        }
    }
    t.push_str(rest);
    out.push(t);
    out
}

/// When the text of a rejected path (inside its outer braces) is standard JSONPath, say so: the
/// usual cause is RFC 9535 syntax (`$["a"]`, `[?@.x == 1]`) that client-go does not have.
fn rfc9535_note(path: &str) -> Option<String> {
    let t = path.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t)
        .trim();
    // Real paths are short; pest takes seconds on a 100 KB query.
    if inner.len() > 4096 {
        return None;
    }
    let query = if inner.starts_with('$') {
        inner.to_owned()
    } else if inner.starts_with('.') || inner.starts_with('[') {
        format!("${inner}")
    } else {
        return None;
    };
    jsonpath_rust::parser::parse_json_path(&query)
        .is_ok()
        .then(|| format!("`{query}` is standard JSONPath (RFC 9535), but Argo uses the Kubernetes dialect (`kubectl -o jsonpath`): keys in brackets take single quotes (`['a']`), filters are written `[?(@.a==1)]`, and there are no functions"))
}

/// An identifier evaluation always rejects, in an action that is always evaluated.
fn identifier_error(path: &str, pieces: &[Piece]) -> Option<Diagnosis> {
    let mut ids = Vec::new();
    for p in pieces {
        if let Piece::Action(nodes) = p {
            collect_identifiers(nodes, &mut ids);
        }
    }
    // `range` … `end` blocks change which nodes run and how often: not analysed.
    let ranged = ids.iter().any(|(n, _)| n == "range");
    if ranged {
        return None;
    }
    let (name, r) = ids.into_iter().next()?;
    if name == "end" {
        return Some(Diagnosis {
            message: format!(
                "jsonPath {:?}: `end` without `range` makes evaluating the path fail on every JSON response (`not in range, nothing to end`, or an earlier step's error), so {CONSEQUENCE}",
                short(path)
            ),
            range: Some(r),
            help: "remove `{end}`, or open the block with `{range …}`".to_owned(),
        });
    }
    let fixed = format!("{}.{}", &path[..r.start], &path[r.start..]);
    let help = if clean(&fixed) {
        format!("fields start with `.` (or `$.`): `{}`", short(&fixed))
    } else {
        "fields start with `.` (or `$.`), as in `{$.data.ok}`".to_owned()
    };
    Some(Diagnosis {
        message: format!(
            "`{name}` in jsonPath {p:?} is read as a keyword, not a field: evaluating the path fails on every JSON response (`unrecognized identifier {name}`, or an earlier step's error), so {CONSEQUENCE}",
            name = short(&name),
            p = short(path)
        ),
        range: Some(r),
        help,
    })
}

/// A filter operator client-go does not know (`[?(@.name='x')]`), in a template that is one
/// action and nothing else. client-go checks the operator only per array element
/// (`evalFilter`: `unrecognized filter operator`), but every element fails there or earlier (a
/// missing field on the left or right is `… is not found`), and with no element the template
/// yields nothing, which Argo's `getValue` rejects (`result of web metric produced no value`).
/// So when the operands are fields and literals, and no union or quoted text could supply a value
/// after the filter, every evaluation fails.
fn operator_error(path: &str, pieces: &[Piece]) -> Option<Diagnosis> {
    const KNOWN: &[&str] = &["<", ">", "==", "!=", "<=", ">=", "exists"];
    let [Piece::Action(nodes)] = pieces else {
        return None;
    };
    let simple = |ns: &[Node]| {
        ns.iter().all(|n| {
            matches!(
                n,
                Node::Field(_) | Node::Text(_) | Node::Int | Node::Float | Node::Bool
            )
        })
    };
    let mut bad = None;
    for n in nodes {
        match n {
            Node::Identifier(..) | Node::Union(_) => return None,
            // After the filter, quoted text would be a value of its own.
            Node::Text(_) if bad.is_some() => return None,
            Node::Filter { left, right, op } if bad.is_none() && !KNOWN.contains(&op.as_str()) => {
                let fields_only = left.iter().all(|n| matches!(n, Node::Field(_)));
                if !fields_only || !simple(right) {
                    return None;
                }
                bad = Some(op.clone());
            }
            _ => {}
        }
    }
    let op = bad?;
    let range = path
        .find(op.as_str())
        .map(|i| i..i + op.len())
        .filter(|_| path.matches(op.as_str()).count() == 1);
    let fixed = match op.as_str() {
        "=" | "===" => Some("=="),
        "!==" => Some("!="),
        "=<" => Some("<="),
        "=>" => Some(">="),
        _ => None,
    };
    let help = match fixed {
        Some(f) => format!(
            "compare with `{f}`: client-go's filter operators are `==`, `!=`, `<`, `<=`, `>`, `>=`"
        ),
        None => "client-go's filter operators are `==`, `!=`, `<`, `<=`, `>`, `>=`".to_owned(),
    };
    Some(Diagnosis {
        message: format!(
            "filter operator `{op}` in jsonPath {p:?} is not one client-go knows: evaluating the path fails on every JSON response (`unrecognized filter operator {op}` at the first element, an earlier step's error, or no value at all), so {CONSEQUENCE}",
            op = short(&op),
            p = short(path)
        ),
        range,
        help,
    })
}

/// `s` for a message: long paths (never real ones) are cut, so a finding stays readable.
fn short(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX - 40;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `text` parses and has no problem this rule reports.
fn clean(text: &str) -> bool {
    match parse_template(text) {
        Ok(p) => {
            matches!(p.first(), Some(Piece::Action(_))) && identifier_error(text, &p).is_none()
        }
        Err(_) => false,
    }
}

/// Identifiers of nodes that evaluation always visits: an action's own nodes and union members,
/// not filter operands (those run once per array element).
fn collect_identifiers(nodes: &[Node], out: &mut Vec<(String, Range<usize>)>) {
    for n in nodes {
        match n {
            Node::Identifier(name, r) => out.push((name.clone(), r.clone())),
            Node::Union(members) => {
                for m in members {
                    collect_identifiers(m, out);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A port of client-go `util/jsonpath/parser.go` (v0.34; unchanged since v0.20 apart from
// comments). Same decisions, same error texts; iterative where the Go code tail-recurses.

/// A top-level piece of a template: text outside braces, or one `{…}` action.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(Range<usize>),
    Action(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Field(String),
    Wildcard,
    Recursive,
    Array,
    Filter {
        left: Vec<Node>,
        right: Vec<Node>,
        op: String,
    },
    Union(Vec<Vec<Node>>),
    Int,
    Float,
    Bool,
    /// A keyword (`range`, `end`) or anything else that starts with a letter.
    Identifier(String, Range<usize>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fail {
    /// client-go's `Parse` returns this error; `range` is the part of the input it is about.
    Error { msg: String, range: Range<usize> },
    /// Not decided (see the module comment).
    Unknown,
}

const MAX_DEPTH: u8 = 8;

/// Parse `text` as `jsonpath.Parse` does.
pub fn parse_template(text: &str) -> Result<Vec<Piece>, Fail> {
    Parser::new(text, 0, None).template()
}

struct Parser<'s> {
    s: &'s str,
    pos: usize,
    depth: u8,
    /// For a sub-parse of synthesized text (`parseAction`): every position maps to this range
    /// of the original input.
    base: Option<Range<usize>>,
}

fn is_terminator(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}')
    )
}

/// Go `unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'`, decided for ASCII only.
fn alnum(c: char) -> Result<bool, Fail> {
    if c.is_ascii() {
        Ok(c == '_' || c.is_ascii_alphanumeric())
    } else {
        Err(Fail::Unknown)
    }
}

/// Go's `%#U`.
fn go_rune(c: char) -> String {
    let code = format!("U+{:04X}", c as u32);
    if c.is_ascii_graphic() || c == ' ' {
        format!("{code} '{c}'")
    } else {
        code
    }
}

impl<'s> Parser<'s> {
    fn new(s: &'s str, depth: u8, base: Option<Range<usize>>) -> Self {
        Parser {
            s,
            pos: 0,
            depth,
            base,
        }
    }

    fn err<T>(&self, msg: impl Into<String>, range: Range<usize>) -> Result<T, Fail> {
        let range = match &self.base {
            Some(b) => b.clone(),
            None => range,
        };
        Err(Fail::Error {
            msg: msg.into(),
            range,
        })
    }

    fn range(&self, r: Range<usize>) -> Range<usize> {
        self.base.clone().unwrap_or(r)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.s[self.pos..].chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn byte(&self, i: usize) -> u8 {
        self.s.as_bytes()[i]
    }

    /// `parseText` and everything it reaches.
    fn template(&mut self) -> Result<Vec<Piece>, Fail> {
        let mut pieces = Vec::new();
        let mut start = 0;
        while let Some(off) = self.s[self.pos..].find('{') {
            let open = self.pos + off;
            if open > start {
                pieces.push(Piece::Text(start..open));
            }
            self.pos = open + 1;
            pieces.push(Piece::Action(self.action(open)?));
            start = self.pos;
        }
        if self.s.len() > start {
            pieces.push(Piece::Text(start..self.s.len()));
        }
        Ok(pieces)
    }

    /// `parseInsideAction` until the closing `}` (consumed). `open` is the `{`.
    fn action(&mut self, open: usize) -> Result<Vec<Node>, Fail> {
        let mut cur: Vec<Node> = Vec::new();
        loop {
            let rest = &self.s[self.pos..];
            if rest.starts_with('}') {
                self.pos += 1;
                return Ok(cur);
            }
            if rest.starts_with("[?(") {
                self.filter(&mut cur)?;
                continue;
            }
            if rest.starts_with("..") {
                if matches!(cur.last(), Some(Node::Recursive)) {
                    return self.err("invalid multiple recursive descent", self.pos..self.pos + 2);
                }
                self.pos += 2;
                cur.push(Node::Recursive);
                if let Some(c) = self.peek() {
                    if alnum(c)? {
                        self.field(&mut cur);
                    }
                }
                continue;
            }
            let at = self.pos;
            match self.next() {
                None | Some('\r' | '\n') => {
                    return self.err("unclosed action", open..at.max(open + 1));
                }
                Some(' ' | '@' | '$') => {}
                Some('[') => self.array(&mut cur, at)?,
                Some(q @ ('"' | '\'')) => self.quote(&mut cur, q, at)?,
                Some('.') => self.field(&mut cur),
                Some('+' | '-' | '0'..='9') => {
                    self.pos = at;
                    self.number(&mut cur)?;
                }
                Some(c) if alnum(c)? => {
                    self.pos = at;
                    self.identifier(&mut cur);
                }
                Some(c) => {
                    return self.err(
                        format!("unrecognized character in action: {}", go_rune(c)),
                        at..self.pos,
                    );
                }
            }
        }
    }

    /// `parseIdentifier`.
    fn identifier(&mut self, cur: &mut Vec<Node>) {
        let start = self.pos;
        while !is_terminator(self.peek()) {
            self.next();
        }
        let value = &self.s[start..self.pos];
        if value == "true" || value == "false" {
            cur.push(Node::Bool);
        } else {
            cur.push(Node::Identifier(
                value.to_owned(),
                self.range(start..self.pos),
            ));
        }
    }

    /// `parseNumber`: a sign, then digits and dots; `strconv.Atoi` or `ParseFloat` must take it.
    fn number(&mut self, cur: &mut Vec<Node>) -> Result<(), Fail> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        while matches!(self.peek(), Some('.' | '0'..='9')) {
            self.next();
        }
        let value = &self.s[start..self.pos];
        let digits = value.bytes().filter(u8::is_ascii_digit).count();
        let dots = value.bytes().filter(|b| *b == b'.').count();
        if digits == 0 || dots > 1 {
            return self.err(format!("cannot parse number {value}"), start..self.pos);
        }
        cur.push(if dots == 0 { Node::Int } else { Node::Float });
        Ok(())
    }

    /// `parseField` (after the `.`, or at a name after `..`).
    fn field(&mut self, cur: &mut Vec<Node>) {
        let start = self.pos;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.next();
                    self.next();
                }
                c if is_terminator(c) => break,
                _ => {
                    self.next();
                }
            }
        }
        let value = &self.s[start..self.pos];
        if value == "*" {
            cur.push(Node::Wildcard);
        } else {
            cur.push(Node::Field(value.replace('\\', "")));
        }
    }

    /// `parseAction`: parse `{text}` on its own and take its first action's nodes.
    fn sub(&self, text: &str, outer: Range<usize>) -> Result<Vec<Node>, Fail> {
        if self.depth >= MAX_DEPTH {
            return Err(Fail::Unknown);
        }
        let wrapped = format!("{{{text}}}");
        let base = Some(self.range(outer));
        let pieces = Parser::new(&wrapped, self.depth + 1, base).template()?;
        match pieces.into_iter().next() {
            Some(Piece::Action(nodes)) => Ok(nodes),
            _ => Err(Fail::Unknown),
        }
    }

    /// `parseArray`; `open` is the `[`.
    fn array(&mut self, cur: &mut Vec<Node>, open: usize) -> Result<(), Fail> {
        loop {
            match self.next() {
                None | Some('\n') => return self.err("unterminated array", open..self.pos),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let whole = open..self.pos;
        let mut text = &self.s[open + 1..self.pos - 1];
        if text == "*" {
            text = ":";
        }
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() > 1 {
            let mut members = Vec::new();
            for p in parts {
                members.push(self.sub(&format!("[{}]", p.trim_matches(' ')), whole.clone())?);
            }
            cur.push(Node::Union(members));
            return Ok(());
        }
        // dict key `'k'`
        if text.len() >= 2
            && text.starts_with('\'')
            && text.ends_with('\'')
            && !text[1..text.len() - 1].contains('\'')
        {
            let nodes = self.sub(&format!(".{}", &text[1..text.len() - 1]), whole)?;
            cur.extend(nodes);
            return Ok(());
        }
        // slice `^(-?[\d]*)(:-?[\d]*)?(:-?[\d]*)?$`
        let Some(parts) = slice_parts(text) else {
            return self.err(format!("invalid array index {text}"), whole);
        };
        for (i, p) in parts.iter().enumerate() {
            let v = if i > 0 {
                p.strip_prefix(':').unwrap_or(p)
            } else {
                p
            };
            if p.is_empty() || (i > 0 && v.is_empty()) {
                continue;
            }
            if v.parse::<i64>().is_err() {
                return self.err(format!("array index {v} is not a number"), whole);
            }
        }
        cur.push(Node::Array);
        Ok(())
    }

    /// `parseFilter` at `[?(`.
    fn filter(&mut self, cur: &mut Vec<Node>) -> Result<(), Fail> {
        let open = self.pos;
        self.pos += 3;
        let body = self.pos;
        let (mut begin, mut end) = (false, false);
        let mut pair = '"';
        loop {
            match self.next() {
                None | Some('\n') => return self.err("unterminated filter", open..self.pos),
                Some(q @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = q;
                        continue;
                    }
                    if self.byte(self.pos - 2) != b'\\' && q == pair {
                        end = true;
                    }
                }
                Some(')') if begin == end => break,
                Some(_) => {}
            }
        }
        if self.next() != Some(']') {
            return self.err("unclosed array expect ]", open..self.pos);
        }
        let whole = open..self.pos;
        let text = &self.s[body..self.pos - 2];
        // `^([^!<>=]+)([!<>=]+)(.+?)$`
        let is_op = |c: char| matches!(c, '!' | '<' | '>' | '=');
        // (The operator run gives back its last character when nothing follows it.)
        let split = text.find(is_op).filter(|i| *i > 0).and_then(|i| {
            let mut op_len = text[i..].find(|c| !is_op(c)).unwrap_or(text.len() - i);
            if i + op_len == text.len() {
                op_len -= 1;
            }
            (op_len > 0).then(|| (&text[..i], &text[i..i + op_len], &text[i + op_len..]))
        });
        match split {
            None => {
                let left = self.sub(text, whole)?;
                cur.push(Node::Filter {
                    left,
                    right: Vec::new(),
                    op: "exists".to_owned(),
                });
            }
            Some((l, op, r)) => {
                let left = self.sub(l, whole.clone())?;
                let right = self.sub(r, whole)?;
                cur.push(Node::Filter {
                    left,
                    right,
                    op: op.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// `parseQuote`; `open` is the quote.
    fn quote(&mut self, cur: &mut Vec<Node>, q: char, open: usize) -> Result<(), Fail> {
        loop {
            match self.next() {
                None | Some('\n') => {
                    return self.err("unterminated quoted string", open..self.pos);
                }
                Some(c) if c == q && self.byte(self.pos - 2) != b'\\' => break,
                Some(_) => {}
            }
        }
        let value = &self.s[open..self.pos];
        match unquote_extend(value, q) {
            Some(s) => {
                cur.push(Node::Text(s));
                Ok(())
            }
            None => self.err(
                format!("unquote string {value} error invalid syntax"),
                open..self.pos,
            ),
        }
    }
}

/// The three groups of client-go's slice regex, or `None` when it does not match.
fn slice_parts(text: &str) -> Option<[&str; 3]> {
    fn num(s: &str) -> usize {
        let b = s.as_bytes();
        let mut i = usize::from(b.first() == Some(&b'-'));
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    }
    let n0 = num(text);
    let (g0, mut rest) = text.split_at(n0);
    let mut groups = [g0, "", ""];
    for g in groups.iter_mut().skip(1) {
        if let Some(r) = rest.strip_prefix(':') {
            let n = 1 + num(r);
            *g = &rest[..n];
            rest = &rest[n..];
        }
    }
    rest.is_empty().then_some(groups)
}

/// client-go `UnquoteExtend` (`strconv.UnquoteChar` semantics for the escapes); `None` is
/// `ErrSyntax`.
fn unquote_extend(value: &str, quote: char) -> Option<String> {
    let inner = &value[1..value.len() - 1];
    if !inner.contains('\\') && !inner.contains(quote) {
        return Some(inner.to_owned());
    }
    let mut out = String::new();
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next()?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' => {
                if e != quote {
                    return None;
                }
                out.push(e);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                for _ in 0..n {
                    v = v * 16 + it.next()?.to_digit(16)?;
                }
                if e == 'x' {
                    // A byte; Go keeps it raw (possibly invalid UTF-8): the text is never used.
                    out.push('?');
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + it.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push('?');
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &str) -> String {
        match parse_template(path) {
            Err(Fail::Error { msg, .. }) => msg,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn ok(path: &str) {
        assert!(
            parse_template(path).is_ok(),
            "{path}: {:?}",
            parse_template(path)
        );
        assert_eq!(diagnose(path), None, "{path}");
    }

    /// Accepted by client-go (its `parser_test.go` / `jsonpath_test.go` cases and the Argo docs).
    #[test]
    fn accepts_what_client_go_accepts() {
        for p in [
            "{$}",
            "{$.data.ok}",
            "{$.message}",
            "{$.results.ok}",
            "{$.key[0].key2.value}",
            "{.kind}",
            "{.items[*].metadata.name}",
            "{.items[0]}",
            "{.items[-1:]}",
            "{.items[1:3:2]}",
            "{.items[0,1].name}",
            "{.items['name']}",
            "{['book.price']}",
            "{..name}",
            "{$..book[?(@.price<10)].title}",
            "{.items[?(@.status.phase==\"Running\")].metadata.name}",
            "{.items[?(@.a=='b')]}",
            "{.items[?(@.isbn)]}",
            "{range .items[*]}{.metadata.name}{\"\\n\"}{end}",
            "{.metadata.labels.app\\.kubernetes\\.io/name}",
            "{.a-b}",
            "{$.data.ok}\n",
            "{true}",
            "{1.5}",
            "{.items[ 0 , 1 ]}",
            "{$.a}{$.b}",
            "{.a[]}",
        ] {
            ok(p);
        }
    }

    #[test]
    fn rejects_with_client_go_messages() {
        assert_eq!(err("{$.data.ok"), "unclosed action");
        assert_eq!(err("{.a\n}"), "unclosed action");
        assert_eq!(err("{$[\"data\"]}"), "invalid array index \"data\"");
        assert_eq!(err("{.a[?@.b==1]}"), "invalid array index ?@.b==1");
        assert_eq!(err("{.a[0}"), "unterminated array");
        assert_eq!(
            err("{.a == 1}"),
            "unrecognized character in action: U+003D '='"
        );
        assert_eq!(err("{.a\t}"), "unrecognized character in action: U+0009");
        assert_eq!(
            err("{{.a}}"),
            "unrecognized character in action: U+007B '{'"
        );
        assert_eq!(err("{....a}"), "invalid multiple recursive descent");
        assert_eq!(err("{.a[?(@.b==1]}"), "unterminated filter");
        assert_eq!(err("{.a[?(@.b==1)x]}"), "unclosed array expect ]");
        assert_eq!(err("{\"abc}"), "unterminated quoted string");
        assert_eq!(
            err("{\"a\\qb\"}"),
            "unquote string \"a\\qb\" error invalid syntax"
        );
        assert_eq!(err("{1.2.3}"), "cannot parse number 1.2.3");
        assert_eq!(err("{-}"), "cannot parse number -");
        assert_eq!(err("{.a[-]}"), "array index - is not a number");
        assert_eq!(
            err("{.a[99999999999999999999]}"),
            "array index 99999999999999999999 is not a number"
        );
        assert_eq!(err("{.a[1,\"x\"]}"), "invalid array index \"x\"");
        assert_eq!(err("{.a[?(@.b[0)]}"), "unterminated array");
    }

    #[test]
    fn non_ascii_where_runes_are_classified_is_unknown() {
        assert_eq!(parse_template("{é}"), Err(Fail::Unknown));
        assert!(parse_template("{.é}").is_ok());
        assert_eq!(diagnose("{é}"), None);
    }

    #[test]
    fn ranges_point_at_the_error() {
        let d = diagnose("{$[\"data\"]}").unwrap();
        assert_eq!(d.range, Some(2..10));
        assert!(d.help.contains("RFC 9535"), "{}", d.help);
        assert!(d.help.starts_with("write `{$['data']}`"), "{}", d.help);
        let d = diagnose("{$[\"a.b\"]}").unwrap();
        assert!(!d.help.contains("write `"), "{}", d.help);
        let d = diagnose("{.items[?@.name == 'x'].value}").unwrap();
        assert!(
            d.help
                .starts_with("write `{.items[?(@.name == 'x')].value}`"),
            "{}",
            d.help
        );
        let d = diagnose("{.items[?@.a==1 && @.b==2]}").unwrap();
        assert!(!d.help.contains("write `"), "{}", d.help);
        assert!(d.help.contains("RFC 9535"), "{}", d.help);
        let d = diagnose("{.a == 1}").unwrap();
        assert_eq!(d.range, Some(4..5));
        assert!(!d.help.contains("RFC 9535"));
        let d = diagnose("{$.data.ok").unwrap();
        assert_eq!(d.range, Some(0..10));
        assert_eq!(d.help, "write `{$.data.ok}`");
    }

    #[test]
    fn no_braces_and_leading_text() {
        let d = diagnose("$.data.ok").unwrap();
        assert!(d.message.contains("string \"$.data.ok\""), "{}", d.message);
        assert_eq!(d.range, None);
        assert!(d.help.contains("`{$.data.ok}`"));
        let d = diagnose("value: {$.x}").unwrap();
        assert_eq!(d.range, Some(0..7));
        assert!(d.help.contains("`{$.x}`"));
    }

    #[test]
    fn identifiers() {
        let d = diagnose("{data.ok}").unwrap();
        assert_eq!(d.range, Some(1..5));
        assert!(d.message.contains("unrecognized identifier data"));
        assert!(d.help.contains("`{.data.ok}`"), "{}", d.help);
        // a dict key with a space becomes a field and an identifier
        assert!(diagnose("{.a['b c']}").is_some());
        let d = diagnose("{.a}{end}").unwrap();
        assert!(d.message.contains("nothing to end"));
        // inside a filter: only evaluated per element
        assert_eq!(diagnose("{.a[?(@.b==x)]}"), None);
        // range blocks are not analysed
        assert_eq!(diagnose("{range .a[*]}{foo}{end}"), None);
    }

    #[test]
    fn filter_operators() {
        let d = diagnose("{.items[?(@.name='canary')].value}").unwrap();
        assert!(
            d.message.contains("unrecognized filter operator ="),
            "{}",
            d.message
        );
        assert_eq!(d.range, Some(16..17));
        assert!(d.help.starts_with("compare with `==`"), "{}", d.help);
        assert_eq!(diagnose("{.items[?(@.name=='canary')].value}"), None);
        // text after the action could be the value; a union too; an identifier operand errors anyway
        assert_eq!(diagnose("{.items[?(@.name='canary')].value}\n"), None);
        assert_eq!(diagnose("{.items[?(@.name='canary')][0,1]}"), None);
        assert_eq!(diagnose("{.items[?(@.name='a')]\"x\"}"), None);
        assert_eq!(diagnose("{.items[?(@.*='a')]}"), None);
    }

    #[test]
    fn deep_or_long_input_does_not_overflow() {
        let long = "{.a}".repeat(200_000);
        assert!(parse_template(&long).is_ok());
        let nested = format!("{}{}", "{.a[?(@.b".repeat(1000), ")]}".repeat(1000));
        let _ = parse_template(&nested);
        let unions = format!("{{.a{}}}", "[0,".repeat(10_000));
        let _ = parse_template(&unions);
        // rejected, and standard JSONPath: the RFC 9535 parser is not asked about huge paths
        let huge = format!("{{${}[\"x\"]}}", ".a".repeat(100_000));
        let d = diagnose(&huge).unwrap();
        assert!(!d.help.contains("RFC 9535"));
        assert!(d.message.len() + d.help.len() < 1000, "{d:?}");
        for p in [
            "$".repeat(100_000),
            format!("{}{{.a}}", "x".repeat(100_000)),
            format!("{{{}.a}}", "x".repeat(100_000)),
            format!("{{.a[?(@.b={})]}}", "1".repeat(100_000)),
            format!("{{.a[{}]}}", "x".repeat(100_000)),
        ] {
            let d = diagnose(&p).unwrap();
            assert!(d.message.len() + d.help.len() < 1000, "{d:?}");
        }
    }
}
