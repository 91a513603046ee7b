//! Argo Rollouts metric conditions (`successCondition`, `failureCondition`): a parser for the
//! subset of the expr language (github.com/expr-lang/expr) that conditions use, and an evaluator
//! that follows Argo's semantics (`utils/evaluate/evaluate.go`), so rules can ask "what does this
//! condition do when the query returns nothing, NaN, or a vector?".
//!
//! Argo compiles the condition with an environment holding `result` (a `float64` for a scalar
//! query result, a `[]float64` with one element per series for a vector,
//! `metricproviders/prometheus/prometheus.go` `processResponse`) and the helpers `asInt`,
//! `asFloat`, `isNaN`, `isInf`, `isNil`, `default`. The condition must evaluate to a bool
//! (`EvalCondition`: "expected bool, but got …"); any other outcome is a measurement Error.
//!
//! Anything outside the subset (`map`, `filter`, member access, string functions, `default`, …)
//! evaluates to [`Eval::Unknown`]: rules then say nothing ("not analysed"). Parsing never panics
//! and is bounded in depth.

use std::ops::Range;

use promql_parser::parser::Expr as PExpr;

use super::lex::Op;
use super::query::{Query, binary_op};

use crate::engine::inventory::ValueAt as _;

/// A parsed condition node with its byte range in the condition text.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub node: Node,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Num(f64),
    Str(String),
    Bool(bool),
    Nil,
    /// `#`, the element inside an `all`/`any`/`none`/`one` predicate.
    Elem,
    /// `result`.
    Result,
    /// Any other identifier.
    Ident(String),
    Index(Box<Cond>, Box<Cond>),
    Call(String, Vec<Cond>),
    Not(Box<Cond>),
    Neg(Box<Cond>),
    Binary(BinOp, Box<Cond>, Box<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// Why a condition was not parsed (it is then "not analysed"; Argo itself reports a compile
/// error as a measurement Error).
#[derive(Debug, Clone, PartialEq)]
pub struct CondError {
    pub span: Range<usize>,
    pub message: String,
}

const MAX_DEPTH: usize = 64;
/// Most tokens in a condition that is analysed (real ones have a few dozen).
const MAX_TOKENS: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Hash,
    Punct(&'static str),
}

fn lex(src: &str) -> Result<Vec<(Tok, Range<usize>)>, CondError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    const PUNCT: &[&str] = &[
        "||", "&&", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "(", ")", "[", "]",
        ",", "{", "}", "%",
    ];
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || b[i] == b'.'
                    || b[i] == b'_'
                    || b[i] == b'e'
                    || b[i] == b'E'
                    || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            let text: String = src[start..i].chars().filter(|&c| c != '_').collect();
            let n: f64 = text.parse().map_err(|_| CondError {
                span: start..i,
                message: format!("`{}` is not a number", &src[start..i]),
            })?;
            out.push((Tok::Num(n), start..i));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_owned()), start..i));
            continue;
        }
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            let mut s = String::new();
            let mut closed = false;
            while i < b.len() {
                if b[i] == c {
                    closed = true;
                    i += 1;
                    break;
                }
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                if let Some(ch) = src.get(i..).and_then(|r| r.chars().next()) {
                    s.push(ch);
                    i += ch.len_utf8();
                } else {
                    break;
                }
            }
            if !closed {
                return Err(CondError {
                    span: start..src.len(),
                    message: "unterminated string".into(),
                });
            }
            out.push((Tok::Str(s), start..i));
            continue;
        }
        if c == b'#' {
            i += 1;
            out.push((Tok::Hash, start..i));
            continue;
        }
        if let Some(p) = PUNCT.iter().find(|p| src[i..].starts_with(**p)) {
            i += p.len();
            out.push((Tok::Punct(p), start..i));
            continue;
        }
        let ch = src[i..].chars().next().map_or(1, char::len_utf8);
        return Err(CondError {
            span: start..start + ch,
            message: format!("unexpected character `{}`", &src[start..start + ch]),
        });
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    len: usize,
    _src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn span_here(&self) -> Range<usize> {
        self.toks
            .get(self.pos)
            .map_or(self.len..self.len, |(_, s)| s.clone())
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, CondError> {
        Err(CondError {
            span: self.span_here(),
            message: message.into(),
        })
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(q)) if q == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), CondError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.err(format!("expected `{p}`"))
        }
    }

    fn start(&self) -> usize {
        self.span_here().start
    }

    fn end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|p| self.toks.get(p))
            .map_or(0, |(_, s)| s.end)
    }

    fn binary(&mut self, depth: usize, level: usize) -> Result<Cond, CondError> {
        if depth > MAX_DEPTH {
            return self.err("condition nested too deeply");
        }
        if level == 5 {
            return self.unary(depth + 1);
        }
        let start = self.start();
        let mut lhs = self.binary(depth + 1, level + 1)?;
        loop {
            let op = match level {
                0 if self.eat_punct("||") || self.eat_word("or") => BinOp::Or,
                1 if self.eat_punct("&&") || self.eat_word("and") => BinOp::And,
                2 => {
                    let op = [
                        ("==", BinOp::Eq),
                        ("!=", BinOp::Ne),
                        ("<=", BinOp::Le),
                        (">=", BinOp::Ge),
                        ("<", BinOp::Lt),
                        (">", BinOp::Gt),
                    ]
                    .into_iter()
                    .find(|(p, _)| self.eat_punct(p));
                    match op {
                        Some((_, op)) => op,
                        None => break,
                    }
                }
                3 if self.eat_punct("+") => BinOp::Add,
                3 if self.eat_punct("-") => BinOp::Sub,
                4 if self.eat_punct("*") => BinOp::Mul,
                4 if self.eat_punct("/") => BinOp::Div,
                4 if matches!(self.peek(), Some(Tok::Punct("%"))) => {
                    return self.err("`%` is not analysed");
                }
                _ => break,
            };
            let rhs = self.binary(depth + 1, level + 1)?;
            let span = start..self.end();
            lhs = Cond {
                node: Node::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self, depth: usize) -> Result<Cond, CondError> {
        if depth > MAX_DEPTH {
            return self.err("condition nested too deeply");
        }
        let start = self.start();
        if self.eat_punct("!") || self.eat_word("not") {
            let e = self.unary(depth + 1)?;
            return Ok(Cond {
                node: Node::Not(Box::new(e)),
                span: start..self.end(),
            });
        }
        if self.eat_punct("-") {
            let e = self.unary(depth + 1)?;
            return Ok(Cond {
                node: Node::Neg(Box::new(e)),
                span: start..self.end(),
            });
        }
        if self.eat_punct("+") {
            return self.unary(depth + 1);
        }
        self.postfix(depth + 1)
    }

    fn postfix(&mut self, depth: usize) -> Result<Cond, CondError> {
        let start = self.start();
        let mut e = self.primary(depth + 1)?;
        while self.eat_punct("[") {
            let idx = self.binary(depth + 1, 0)?;
            self.expect("]")?;
            e = Cond {
                node: Node::Index(Box::new(e), Box::new(idx)),
                span: start..self.end(),
            };
        }
        Ok(e)
    }

    fn primary(&mut self, depth: usize) -> Result<Cond, CondError> {
        if depth > MAX_DEPTH {
            return self.err("condition nested too deeply");
        }
        let Some((tok, span)) = self.toks.get(self.pos).cloned() else {
            return self.err("unexpected end of condition");
        };
        self.pos += 1;
        let node = match tok {
            Tok::Num(n) => Node::Num(n),
            Tok::Str(s) => Node::Str(s),
            Tok::Hash => Node::Elem,
            Tok::Punct("(") => {
                let e = self.binary(depth + 1, 0)?;
                self.expect(")")?;
                return Ok(Cond {
                    node: e.node,
                    span: span.start..self.end(),
                });
            }
            Tok::Punct(p) => {
                self.pos -= 1;
                return self.err(format!("unexpected `{p}`"));
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Node::Bool(true),
                "false" => Node::Bool(false),
                "nil" => Node::Nil,
                "result" => Node::Result,
                _ if self.eat_punct("(") => {
                    let mut args = Vec::new();
                    if !self.eat_punct(")") {
                        loop {
                            // A predicate may be written `{ # < 1 }`.
                            let arg = if self.eat_punct("{") {
                                let a = self.binary(depth + 1, 0)?;
                                self.expect("}")?;
                                a
                            } else {
                                self.binary(depth + 1, 0)?
                            };
                            args.push(arg);
                            if self.eat_punct(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Node::Call(name, args)
                }
                _ => Node::Ident(name),
            },
        };
        Ok(Cond {
            node,
            span: span.start..self.end(),
        })
    }
}

/// Parse a condition.
pub fn parse(src: &str) -> Result<Cond, CondError> {
    let toks = lex(src)?;
    // Operator chains (`a && b && …`) are parsed in a loop, so depth alone does not bound the
    // tree; dropping or visiting a 75,000-term chain overflowed the stack.
    if toks.len() > MAX_TOKENS {
        return Err(CondError {
            span: 0..src.len(),
            message: format!(
                "condition has {} tokens; rollgate does not analyse conditions over {MAX_TOKENS}",
                toks.len()
            ),
        });
    }
    if toks.is_empty() {
        return Err(CondError {
            span: 0..src.len(),
            message: "empty condition".into(),
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        len: src.len(),
        _src: src,
    };
    let e = p.binary(0, 0)?;
    if p.pos < p.toks.len() {
        return p.err("unexpected text after the condition");
    }
    Ok(e)
}

/// What Argo passes as `result`.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Scalar(f64),
    Vector(Vec<f64>),
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Bool(bool),
    Str(String),
    Nil,
    Vec(Vec<f64>),
}

/// The outcome of evaluating a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Eval {
    Value(bool),
    /// The condition does not evaluate to a bool, or compares/indexes values of the wrong type:
    /// expr-lang rejects it (at compile time, against the type of `result`) every time.
    TypeError(String),
    /// An index outside the result (`result[0]` on an empty vector): a runtime error.
    IndexError(String),
    /// Outside the analysed subset.
    Unknown,
}

enum Fail {
    Type(String),
    Index(String),
    Unknown,
}

fn type_name(v: &Val) -> &'static str {
    match v {
        Val::Num(_) => "float64",
        Val::Bool(_) => "bool",
        Val::Str(_) => "string",
        Val::Nil => "nil",
        Val::Vec(_) => "[]float64",
    }
}

/// Evaluate `c` with `result` bound to `input`, as Argo's `EvalCondition` does.
pub fn eval(c: &Cond, input: &Input) -> Eval {
    let result = match input {
        Input::Scalar(x) => Val::Num(*x),
        Input::Vector(v) => Val::Vec(v.clone()),
    };
    match ev(c, &result, None, 0) {
        Ok(Val::Bool(b)) => Eval::Value(b),
        Ok(other) => Eval::TypeError(format!("expected bool, but got {}", type_name(&other))),
        Err(Fail::Type(m)) => Eval::TypeError(m),
        Err(Fail::Index(m)) => Eval::IndexError(m),
        Err(Fail::Unknown) => Eval::Unknown,
    }
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::Num(x) => Some(*x),
        _ => None,
    }
}

fn ev(c: &Cond, result: &Val, elem: Option<f64>, depth: usize) -> Result<Val, Fail> {
    if depth > MAX_DEPTH {
        return Err(Fail::Unknown);
    }
    let d = depth + 1;
    Ok(match &c.node {
        Node::Num(x) => Val::Num(*x),
        Node::Str(s) => Val::Str(s.clone()),
        Node::Bool(b) => Val::Bool(*b),
        Node::Nil => Val::Nil,
        Node::Result => result.clone(),
        Node::Elem => Val::Num(elem.ok_or(Fail::Unknown)?),
        Node::Ident(_) => return Err(Fail::Unknown),
        Node::Not(e) => match ev(e, result, elem, d)? {
            Val::Bool(b) => Val::Bool(!b),
            other => {
                return Err(Fail::Type(format!(
                    "invalid operation: ! ({})",
                    type_name(&other)
                )));
            }
        },
        Node::Neg(e) => match ev(e, result, elem, d)? {
            Val::Num(x) => Val::Num(-x),
            other => {
                return Err(Fail::Type(format!(
                    "invalid operation: - ({})",
                    type_name(&other)
                )));
            }
        },
        Node::Index(base, idx) => {
            let b = ev(base, result, elem, d)?;
            let i = ev(idx, result, elem, d)?;
            let Val::Vec(v) = b else {
                return Err(Fail::Type(format!(
                    "cannot fetch index from {}",
                    type_name(&b)
                )));
            };
            let Some(i) = num(&i).filter(|x| x.fract() == 0.0) else {
                return Err(Fail::Type("non-integer slice index".into()));
            };
            let len = v.len() as f64;
            let at = if i < 0.0 { len + i } else { i };
            if at < 0.0 || at >= len {
                return Err(Fail::Index(format!(
                    "index out of range: {i} (array length is {})",
                    v.len()
                )));
            }
            Val::Num(v[at as usize])
        }
        Node::Call(name, args) => call(name, args, result, elem, d)?,
        Node::Binary(op, l, r) => {
            let lv = ev(l, result, elem, d)?;
            match op {
                BinOp::Or | BinOp::And => {
                    let Val::Bool(a) = lv else {
                        return Err(Fail::Type(format!(
                            "invalid operation: {} ({})",
                            op.text(),
                            type_name(&lv)
                        )));
                    };
                    // expr type-checks the other side at compile time even when it is not run.
                    if (matches!(op, BinOp::Or) && a) || (matches!(op, BinOp::And) && !a) {
                        if let Err(Fail::Type(m)) = ev(r, result, elem, d) {
                            return Err(Fail::Type(m));
                        }
                        return Ok(Val::Bool(a));
                    }
                    match ev(r, result, elem, d)? {
                        Val::Bool(b) => Val::Bool(b),
                        other => {
                            return Err(Fail::Type(format!(
                                "invalid operation: {} ({})",
                                op.text(),
                                type_name(&other)
                            )));
                        }
                    }
                }
                _ => {
                    let rv = ev(r, result, elem, d)?;
                    arith(*op, &lv, &rv)?
                }
            }
        }
    })
}

fn arith(op: BinOp, l: &Val, r: &Val) -> Result<Val, Fail> {
    if let (Some(a), Some(b)) = (num(l), num(r)) {
        return Ok(match op {
            BinOp::Eq => Val::Bool(a == b),
            BinOp::Ne => Val::Bool(a != b),
            BinOp::Lt => Val::Bool(a < b),
            BinOp::Le => Val::Bool(a <= b),
            BinOp::Gt => Val::Bool(a > b),
            BinOp::Ge => Val::Bool(a >= b),
            BinOp::Add => Val::Num(a + b),
            BinOp::Sub => Val::Num(a - b),
            BinOp::Mul => Val::Num(a * b),
            BinOp::Div => Val::Num(a / b),
            BinOp::Or | BinOp::And => return Err(Fail::Unknown),
        });
    }
    match (op, l, r) {
        // Equality between values of any types is defined in expr.
        (BinOp::Eq | BinOp::Ne, Val::Vec(_), _) | (BinOp::Eq | BinOp::Ne, _, Val::Vec(_)) => {
            Err(Fail::Unknown)
        }
        (BinOp::Eq, a, b) if !matches!(a, Val::Vec(_)) => Ok(Val::Bool(a == b)),
        (BinOp::Ne, a, b) if !matches!(a, Val::Vec(_)) => Ok(Val::Bool(a != b)),
        (_, Val::Vec(_), _) | (_, _, Val::Vec(_)) | (_, Val::Bool(_), _) | (_, _, Val::Bool(_))
            if op.is_comparison()
                || matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) =>
        {
            Err(Fail::Type(format!(
                "invalid operation: {} (mismatched types {} and {})",
                op.text(),
                type_name(l),
                type_name(r)
            )))
        }
        _ => Err(Fail::Unknown),
    }
}

fn call(name: &str, args: &[Cond], result: &Val, elem: Option<f64>, d: usize) -> Result<Val, Fail> {
    match (name, args) {
        ("len", [a]) => match ev(a, result, elem, d)? {
            Val::Vec(v) => Ok(Val::Num(v.len() as f64)),
            Val::Str(s) => Ok(Val::Num(s.chars().count() as f64)),
            other => Err(Fail::Type(format!(
                "invalid argument for len (type {})",
                type_name(&other)
            ))),
        },
        ("all" | "any" | "none" | "one", [a, pred]) => {
            let v = match ev(a, result, elem, d)? {
                Val::Vec(v) => v,
                other => {
                    return Err(Fail::Type(format!(
                        "builtin {name} takes only array (got {})",
                        type_name(&other)
                    )));
                }
            };
            // Type-check the predicate even when the array is empty (expr compiles it).
            if v.is_empty() {
                if let Err(Fail::Type(m)) = ev(pred, result, Some(0.0), d) {
                    return Err(Fail::Type(m));
                }
            }
            let mut hits = 0usize;
            for x in &v {
                match ev(pred, result, Some(*x), d)? {
                    Val::Bool(true) => hits += 1,
                    Val::Bool(false) => {}
                    other => {
                        return Err(Fail::Type(format!(
                            "predicate should return boolean (got {})",
                            type_name(&other)
                        )));
                    }
                }
            }
            Ok(Val::Bool(match name {
                "all" => hits == v.len(),
                "any" => hits > 0,
                "none" => hits == 0,
                _ => hits == 1,
            }))
        }
        ("isNaN" | "isInf", [a]) => match ev(a, result, elem, d)? {
            Val::Num(x) => Ok(Val::Bool(if name == "isNaN" {
                x.is_nan()
            } else {
                x.is_infinite()
            })),
            // Argo's helpers take a float64; anything else panics inside expr → Error.
            other => Err(Fail::Type(format!(
                "{name} takes a float64, not {}",
                type_name(&other)
            ))),
        },
        ("asFloat", [a]) => match ev(a, result, elem, d)? {
            Val::Num(x) => Ok(Val::Num(x)),
            Val::Str(s) => s.trim().parse().map(Val::Num).map_err(|_| Fail::Unknown),
            other => Err(Fail::Type(format!(
                "asFloat cannot convert {}",
                type_name(&other)
            ))),
        },
        ("asInt", [a]) => match ev(a, result, elem, d)? {
            Val::Num(x) => Ok(Val::Num(x.trunc())),
            Val::Str(s) => s
                .trim()
                .parse::<i64>()
                .map(|i| Val::Num(i as f64))
                .map_err(|_| Fail::Unknown),
            other => Err(Fail::Type(format!(
                "asInt cannot convert {}",
                type_name(&other)
            ))),
        },
        ("abs", [a]) => match ev(a, result, elem, d)? {
            Val::Num(x) => Ok(Val::Num(x.abs())),
            _ => Err(Fail::Unknown),
        },
        _ => Err(Fail::Unknown),
    }
}

/// Whether the condition mentions `len(result)` (a guard against the empty vector).
pub fn guards_len(c: &Cond) -> bool {
    let mut found = false;
    visit(c, &mut |n| {
        if let Node::Call(name, args) = &n.node {
            if name == "len" && matches!(args.first().map(|a| &a.node), Some(Node::Result)) {
                found = true;
            }
        }
    });
    found
}

/// The first `result[…]` in the condition.
pub fn first_index(c: &Cond) -> Option<Range<usize>> {
    let mut found = None;
    visit(c, &mut |n| {
        if found.is_none() {
            if let Node::Index(b, _) = &n.node {
                if matches!(b.node, Node::Result) {
                    found = Some(n.span.clone());
                }
            }
        }
    });
    found
}

/// The first `all(result, …)` in the condition.
pub fn first_all(c: &Cond) -> Option<Range<usize>> {
    let mut found = None;
    visit(c, &mut |n| {
        if found.is_none() {
            if let Node::Call(name, args) = &n.node {
                if name == "all" && matches!(args.first().map(|a| &a.node), Some(Node::Result)) {
                    found = Some(n.span.clone());
                }
            }
        }
    });
    found
}

/// Whether the condition calls `isNaN`.
pub fn mentions_nan(c: &Cond) -> bool {
    let mut found = false;
    visit(c, &mut |n| {
        if matches!(&n.node, Node::Call(name, _) if name == "isNaN") {
            found = true;
        }
    });
    found
}

fn visit(c: &Cond, f: &mut dyn FnMut(&Cond)) {
    f(c);
    match &c.node {
        Node::Index(a, b) | Node::Binary(_, a, b) => {
            visit(a, f);
            visit(b, f);
        }
        Node::Not(a) | Node::Neg(a) => visit(a, f),
        Node::Call(_, args) => {
            for a in args {
                visit(a, f);
            }
        }
        _ => {}
    }
}

/// What an instant query returns, as far as Argo's conditions care.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A scalar: `result` is a float64 (NaN when e.g. `scalar()` of an empty vector).
    Scalar,
    /// A vector: `result` is a []float64. `may_be_empty`: some input can make it empty (a
    /// selector that matches nothing, a filter); `filter`: the outermost operation is a
    /// comparison without `bool`, which drops the series that fail it.
    Vector {
        may_be_empty: bool,
        filter: Option<Range<usize>>,
    },
}

/// The shape of a parsed query's result.
pub fn shape(q: &Query) -> Shape {
    let e = q.expr();
    if is_scalar(e) {
        return Shape::Scalar;
    }
    let mut top = e;
    while let PExpr::Paren(p) = top {
        top = &p.expr;
    }
    let filter = match top {
        PExpr::Binary(b) if is_filter(b) => Some(q.span(top)),
        _ => None,
    };
    Shape::Vector {
        may_be_empty: may_be_empty(e, 0),
        filter,
    }
}

fn is_filter(b: &promql_parser::parser::BinaryExpr) -> bool {
    let returns_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let cmp = matches!(
        binary_op(b),
        Some(Op::EqlC | Op::Neq | Op::Lss | Op::Gtr | Op::Lte | Op::Gte)
    );
    cmp && !returns_bool
}

/// Whether the expression is a scalar (`scalar(…)`, `time()`, literals and arithmetic on them).
pub fn is_scalar(e: &PExpr) -> bool {
    match e {
        PExpr::NumberLiteral(_) | PExpr::StringLiteral(_) => true,
        PExpr::Paren(p) => is_scalar(&p.expr),
        PExpr::Unary(u) => is_scalar(&u.expr),
        PExpr::Call(c) => matches!(c.func.name, "scalar" | "time" | "pi"),
        PExpr::Binary(b) => is_scalar(&b.lhs) && is_scalar(&b.rhs),
        _ => false,
    }
}

/// Whether some data makes the expression return no series.
fn may_be_empty(e: &PExpr, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    let d = depth + 1;
    match e {
        PExpr::NumberLiteral(_) | PExpr::StringLiteral(_) => false,
        PExpr::Paren(p) => may_be_empty(&p.expr, d),
        PExpr::Unary(u) => may_be_empty(&u.expr, d),
        PExpr::Aggregate(a) => may_be_empty(&a.expr, d),
        PExpr::Call(c) => match c.func.name {
            "vector" | "time" | "scalar" | "pi" => false,
            "absent" | "absent_over_time" => true,
            _ => c
                .args
                .args
                .iter()
                .filter(|a| !is_scalar(a))
                .any(|a| may_be_empty(a, d)),
        },
        PExpr::Binary(b) => {
            if is_filter(b) {
                return true;
            }
            match binary_op(b) {
                Some(Op::Or) => may_be_empty(&b.lhs, d) && may_be_empty(&b.rhs, d),
                _ if is_scalar(&b.lhs) => may_be_empty(&b.rhs, d),
                _ if is_scalar(&b.rhs) => may_be_empty(&b.lhs, d),
                // Vector matching, `and`, `unless`: series can fail to pair up.
                _ => true,
            }
        }
        _ => true,
    }
}

/// Providers whose measurements go through `EvaluateResult` (the Job, Kayenta and plugin
/// providers decide otherwise).
const EVALUATING_PROVIDERS: &[&str] = &[
    "prometheus",
    "datadog",
    "newRelic",
    "wavefront",
    "web",
    "cloudWatch",
    "graphite",
    "influxdb",
    "skywalking",
];

/// The kinds whose `spec.metrics` Argo evaluates.
pub const ARGO_ANALYSIS_KINDS: &[(&str, &str)] = &[
    ("argoproj.io", "AnalysisTemplate"),
    ("argoproj.io", "ClusterAnalysisTemplate"),
    ("argoproj.io", "AnalysisRun"),
];

/// One rendering of a metric's conditions (with one referrer's arguments, or placeholders).
#[derive(Debug, Clone)]
pub struct Variant {
    pub success: Option<String>,
    pub failure: Option<String>,
    /// The query's result shape, when the query is PromQL and parsed.
    pub shape: Option<Shape>,
}

/// An Argo metric and how its conditions are evaluated.
#[derive(Debug, Clone)]
pub struct ArgoMetric<'w> {
    /// `/spec/metrics/N`.
    pub pointer: String,
    pub value: &'w serde_json::Value,
    pub provider: Option<&'w str>,
    /// Whether the provider's result goes through the conditions.
    pub evaluates: bool,
    pub variants: Vec<Variant>,
}

impl ArgoMetric<'_> {
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }
}

/// The metrics of an AnalysisTemplate, ClusterAnalysisTemplate or AnalysisRun, each with the
/// renderings of its conditions and query shapes (one per binding found in the world).
pub fn argo_metrics<'w>(
    object: &'w crate::engine::Object,
    cx: &crate::engine::Context<'w>,
) -> Vec<ArgoMetric<'w>> {
    use super::gates::{GateKind, Thresholds};
    use serde_json::Value;
    let Some(ms) = object.at("/spec/metrics").and_then(Value::as_array) else {
        return Vec::new();
    };
    let all = cx.gates(object);
    let nonempty = |s: Option<&'w str>| s.filter(|s| !s.trim().is_empty()).map(str::to_owned);
    ms.iter()
        .enumerate()
        .map(|(i, m)| {
            let pointer = format!("/spec/metrics/{i}");
            let provider = m
                .get("provider")
                .and_then(Value::as_object)
                .and_then(|p| p.keys().next())
                .map(String::as_str);
            let evaluates = provider.is_some_and(|p| EVALUATING_PROVIDERS.contains(&p));
            let mut variants: Vec<Variant> = all
                .iter()
                .filter(|g| {
                    g.kind == GateKind::Argo
                        && std::ptr::eq(g.metric.object, object)
                        && g.metric.pointer == pointer
                })
                .map(|g| {
                    let (success, failure) = match &g.thresholds {
                        Thresholds::Argo { success, failure } => (
                            success.clone().filter(|s| !s.trim().is_empty()),
                            failure.clone().filter(|s| !s.trim().is_empty()),
                        ),
                        _ => (None, None),
                    };
                    Variant {
                        success,
                        failure,
                        // A range query returns a matrix, which conditions see differently.
                        shape: if m.at("/provider/prometheus/rangeQuery").is_some() {
                            None
                        } else {
                            g.analysis.query().map(shape)
                        },
                    }
                })
                .collect();
            if variants.is_empty() {
                variants.push(Variant {
                    success: nonempty(m.get("successCondition").and_then(Value::as_str)),
                    failure: nonempty(m.get("failureCondition").and_then(Value::as_str)),
                    shape: None,
                });
            }
            ArgoMetric {
                pointer,
                value: m,
                provider,
                evaluates,
                variants,
            }
        })
        .collect()
}

/// A representative `result` of a shape (one series for a vector).
pub fn sample(shape: &Shape, x: f64) -> Input {
    match shape {
        Shape::Scalar => Input::Scalar(x),
        Shape::Vector { .. } => Input::Vector(vec![x]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev_str(s: &str, input: Input) -> Eval {
        eval(&parse(s).expect("parses"), &input)
    }

    #[test]
    fn long_operator_chains_are_not_analysed() {
        // 75,000 `&&` terms (1 MB) overflowed the stack when the tree was dropped.
        let long = "result > 0 && ".repeat(75_000) + "true";
        let e = parse(&long).expect_err("too long");
        assert!(e.message.contains("over 1024"), "{e:?}");
        assert_eq!(e.span, 0..long.len());
        // Up to the limit it is parsed, evaluated and dropped on a small stack (webhook workers
        // have 2 MiB).
        let ok = "result > 0 && ".repeat(250) + "true";
        let c = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let c = parse(&ok).expect("parses");
                let v = eval(&c, &Input::Scalar(1.0));
                let _ = (guards_len(&c), mentions_nan(&c), first_index(&c));
                v
            })
            .expect("thread")
            .join()
            .expect("no overflow");
        // Deeper than the evaluator goes: not analysed.
        assert_eq!(c, Eval::Unknown);
    }

    #[test]
    fn argo_semantics() {
        use Input::*;
        assert_eq!(
            ev_str("result[0] < 0.5", Vector(vec![0.1])),
            Eval::Value(true)
        );
        assert!(matches!(
            ev_str("result[0] < 0.5", Vector(vec![])),
            Eval::IndexError(_)
        ));
        assert_eq!(
            ev_str("all(result, # < 2)", Vector(vec![])),
            Eval::Value(true)
        );
        assert_eq!(
            ev_str("any(result, {# < 2})", Vector(vec![])),
            Eval::Value(false)
        );
        assert!(matches!(
            ev_str("result >= 0.9", Vector(vec![1.0])),
            Eval::TypeError(_)
        ));
        assert_eq!(ev_str("result >= 0.9", Scalar(1.0)), Eval::Value(true));
        assert_eq!(
            ev_str("result[0] > 5", Vector(vec![f64::NAN])),
            Eval::Value(false)
        );
        assert_eq!(
            ev_str("isNaN(result[0]) || result[0] > 5", Vector(vec![f64::NAN])),
            Eval::Value(true)
        );
        assert_eq!(
            ev_str("len(result) > 0 && result[0] < 1", Vector(vec![])),
            Eval::Value(false)
        );
        assert_eq!(
            ev_str("asFloat(result) < 1", Scalar(0.5)),
            Eval::Value(true)
        );
        assert!(matches!(
            ev_str("result[0]", Vector(vec![1.0])),
            Eval::TypeError(_)
        ));
        assert_eq!(
            ev_str("result[-1] == 3", Vector(vec![1.0, 3.0])),
            Eval::Value(true)
        );
        assert_eq!(
            ev_str("default(result[0], 0) < 1", Vector(vec![])),
            Eval::Unknown
        );
        assert_eq!(
            ev_str("result[0] < 0.5 and not (result[0] > 1)", Vector(vec![0.2])),
            Eval::Value(true)
        );
    }

    #[test]
    fn bad_input_never_panics() {
        for s in [
            "",
            "(",
            "result[",
            "result[0",
            "\"abc",
            "#",
            "))",
            "result[0] <",
            "é",
            "1e",
            "[[[[",
            "all(result,",
            "{",
            "a.b.c",
            "result[0] % 2 == 0",
        ] {
            let _ = parse(s).map(|c| eval(&c, &Input::Vector(vec![])));
        }
        let deep = "(".repeat(10_000);
        assert!(parse(&deep).is_err());
        let deep = "!".repeat(10_000) + "true";
        assert!(parse(&deep).is_err());
    }

    /// Random strings over the condition alphabet: parsing and evaluating never panics.
    #[test]
    fn random_conditions_never_panic() {
        const PARTS: &[&str] = &[
            "result", "[", "]", "0", "-1", "1.5e3", "(", ")", "&&", "||", "!", "<", ">=", "==",
            "+", "/", "#", "all(", "any(", "len(", "isNaN(", "asFloat(", ",", "{", "}", " ", "\"",
            "'", "true", "nil", "é", "%", "default(", "x.y",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (seed >> 59) as usize + 1;
            for _ in 0..n {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push_str(PARTS[(seed >> 33) as usize % PARTS.len()]);
            }
            if let Ok(c) = parse(&s) {
                for input in [
                    Input::Vector(vec![]),
                    Input::Vector(vec![f64::NAN, 1.0]),
                    Input::Scalar(f64::INFINITY),
                ] {
                    let _ = eval(&c, &input);
                }
            }
        }
    }
}
