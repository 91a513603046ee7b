//! A PromQL tokenizer with byte positions.
//!
//! promql-parser's AST carries no positions and its lexer reports errors without them, so this
//! is a port of its state machine (`promql-parser` 0.11.1 `src/parser/lex.rs`, itself a port of
//! Prometheus `promql/parser/lex.go`) that keeps the span of every token and of the first error.
//! It must accept exactly what promql-parser's lexer accepts, with the same messages: the tests
//! compare the two.

use std::ops::Range;

/// Operators (outside braces) and matcher operators (inside braces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`
    EqlC,
    /// `=` (a matcher inside braces; an error elsewhere)
    Eql,
    /// `!=` (a comparison, or a matcher inside braces)
    Neq,
    Lss,
    Gtr,
    Lte,
    Gte,
    /// `=~` (matcher)
    EqlRegex,
    /// `!~` (matcher)
    NeqRegex,
    And,
    Or,
    Unless,
    Atan2,
}

impl Op {
    pub fn text(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Mod => "%",
            Op::Pow => "^",
            Op::EqlC => "==",
            Op::Eql => "=",
            Op::Neq => "!=",
            Op::Lss => "<",
            Op::Gtr => ">",
            Op::Lte => "<=",
            Op::Gte => ">=",
            Op::EqlRegex => "=~",
            Op::NeqRegex => "!~",
            Op::And => "and",
            Op::Or => "or",
            Op::Unless => "unless",
            Op::Atan2 => "atan2",
        }
    }

    /// Whether this operator can be a binary operator between expressions.
    pub fn is_binary(self) -> bool {
        !matches!(self, Op::Eql | Op::EqlRegex | Op::NeqRegex)
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Op::EqlC | Op::Neq | Op::Lss | Op::Gtr | Op::Lte | Op::Gte
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A plain identifier (metric name, label name, function name).
    Ident,
    /// An identifier with a colon (recording-rule style metric name).
    MetricIdent,
    /// A keyword, lower-cased: aggregators (`sum`, `topk`, …) and `by`, `without`, `on`,
    /// `ignoring`, `group_left`, `group_right`, `bool`, `offset`, `start`, `end`, `smoothed`,
    /// `anchored`, `fill`, `fill_left`, `fill_right`.
    Keyword(&'static str),
    Op(Op),
    Number,
    Duration,
    /// A quoted string, quotes included in the span.
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// Where the problem is (at least one character when the input has one there).
    pub span: Range<usize>,
    /// promql-parser's message.
    pub message: String,
}

const KEYWORDS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "smoothed",
    "anchored",
    "fill",
    "fill_left",
    "fill_right",
    "start",
    "end",
];

pub const AGGREGATORS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
];

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte position of the next character.
    pos: usize,
    paren_depth: usize,
    in_braces: bool,
    in_brackets: bool,
    got_colon: bool,
    /// Position of the `[` that opened the current brackets.
    bracket_open: usize,
    /// Positions of the `(` not closed yet.
    open_parens: Vec<usize>,
    tokens: Vec<Token>,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn pop(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn accept(&mut self, f: impl Fn(char) -> bool) -> bool {
        match self.peek() {
            Some(c) if f(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, f: impl Fn(char) -> bool) {
        while self.accept(&f) {}
    }

    fn emit(&mut self, kind: Kind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: start..self.pos,
        });
    }

    fn err(&self, start: usize, message: impl Into<String>) -> LexError {
        // Point at the offending character when there is one.
        let end = if self.pos > start {
            self.pos
        } else {
            self.pos + self.peek().map_or(0, char::len_utf8)
        };
        LexError {
            span: start..end,
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Vec<Token>, LexError> {
        loop {
            if self.in_braces {
                self.inside_braces()?;
                continue;
            }
            if self.in_brackets {
                self.inside_brackets()?;
                continue;
            }
            let start = self.pos;
            let Some(c) = self.pop() else {
                if self.paren_depth > 0 {
                    // Point at the innermost `(` left open.
                    let at = self.open_parens.last().copied().unwrap_or(self.text.len());
                    return Err(LexError {
                        span: at..(at + 1).min(self.text.len()),
                        message: "unclosed left parenthesis".into(),
                    });
                }
                self.emit(Kind::Eof, start);
                return Ok(self.tokens);
            };
            match c {
                '#' => self.comment(),
                '@' => self.emit(Kind::At, start),
                ',' => self.emit(Kind::Comma, start),
                '*' => self.emit(Kind::Op(Op::Mul), start),
                '/' => self.emit(Kind::Op(Op::Div), start),
                '%' => self.emit(Kind::Op(Op::Mod), start),
                '+' => self.emit(Kind::Op(Op::Add), start),
                '-' => self.emit(Kind::Op(Op::Sub), start),
                '^' => self.emit(Kind::Op(Op::Pow), start),
                '=' => match self.peek() {
                    Some('=') => {
                        self.pop();
                        self.emit(Kind::Op(Op::EqlC), start);
                    }
                    Some('~') => {
                        return Err(self.err(start, "unexpected character after '=': '~'"));
                    }
                    _ => self.emit(Kind::Op(Op::Eql), start),
                },
                '!' => match self.pop() {
                    Some('=') => self.emit(Kind::Op(Op::Neq), start),
                    Some(ch) => {
                        return Err(
                            self.err(start, format!("unexpected character after '!': '{ch}'"))
                        );
                    }
                    None => return Err(self.err(start, "'!' can not be at the end")),
                },
                '<' => {
                    if self.accept(|c| c == '=') {
                        self.emit(Kind::Op(Op::Lte), start);
                    } else {
                        self.emit(Kind::Op(Op::Lss), start);
                    }
                }
                '>' => {
                    if self.accept(|c| c == '=') {
                        self.emit(Kind::Op(Op::Gte), start);
                    } else {
                        self.emit(Kind::Op(Op::Gtr), start);
                    }
                }
                c if c.is_ascii_whitespace() => self.accept_run(|c| c.is_ascii_whitespace()),
                c if c.is_ascii_digit() => self.number_or_duration(start)?,
                '.' => match self.peek() {
                    Some(d) if d.is_ascii_digit() => self.number_or_duration(start)?,
                    Some(d) => {
                        return Err(
                            self.err(start, format!("unexpected character after '.': '{d}'"))
                        );
                    }
                    None => return Err(self.err(start, "unexpected character: '.'")),
                },
                c if is_alpha(c) || c == ':' => self.keyword_or_identifier(start),
                '"' | '\'' | '`' => self.string(start, c)?,
                '(' => {
                    self.paren_depth += 1;
                    self.open_parens.push(start);
                    self.emit(Kind::LParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err(self.err(start, "unexpected right parenthesis ')'"));
                    }
                    self.paren_depth -= 1;
                    self.open_parens.pop();
                    self.emit(Kind::RParen, start);
                }
                '{' => {
                    self.in_braces = true;
                    self.emit(Kind::LBrace, start);
                }
                '}' => return Err(self.err(start, "unexpected right brace '}'")),
                '[' => {
                    self.got_colon = false;
                    self.in_brackets = true;
                    self.bracket_open = start;
                    self.emit(Kind::LBracket, start);
                }
                ']' => return Err(self.err(start, "unexpected right bracket ']'")),
                ch => return Err(self.err(start, format!("unexpected character: {ch:?}"))),
            }
        }
    }

    fn comment(&mut self) {
        while let Some(c) = self.pop() {
            if c == '\r' || c == '\n' {
                break;
            }
        }
    }

    /// The first character was consumed; back up and scan a number, else a duration.
    fn number_or_duration(&mut self, start: usize) -> Result<(), LexError> {
        self.pos = start;
        if self.scan_number() {
            self.emit(Kind::Number, start);
            return Ok(());
        }
        if self.remaining_duration() {
            self.emit(Kind::Duration, start);
            return Ok(());
        }
        self.pop();
        let text = &self.text[start..self.pos];
        Err(self.err(start, format!("bad number or duration syntax: {text}")))
    }

    fn scan_number(&mut self) -> bool {
        let mut hex = false;
        if self.peek() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X')) {
            self.pos += 2;
            hex = true;
        } else {
            // promql-parser accepts the 0 alone even when no x follows.
            self.accept(|c| c == '0');
        }
        let digit = move |c: char| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        };
        self.accept_run(digit);
        if self.accept(|c| c == '.') {
            self.accept_run(digit);
        }
        if self.accept(|c| c == 'e' || c == 'E') {
            self.accept(|c| c == '+' || c == '-');
            self.accept_run(|c| c.is_ascii_digit());
        }
        !matches!(self.peek(), Some(c) if is_alpha(c) || c == '.')
    }

    fn remaining_duration(&mut self) -> bool {
        if !self.accept(|c| "smhdwy".contains(c)) {
            return false;
        }
        self.accept(|c| c == 's');
        while self.accept(|c| c.is_ascii_digit()) {
            self.accept_run(|c| c.is_ascii_digit());
            if !self.accept(|c| "smhdw".contains(c)) {
                return false;
            }
            self.accept(|c| c == 's');
        }
        !matches!(self.peek(), Some(c) if is_alnum(c))
    }

    fn keyword_or_identifier(&mut self, start: usize) {
        self.accept_run(|c| is_alnum(c) || c == ':');
        let word = &self.text[start..self.pos];
        let lower = word.to_ascii_lowercase();
        let kind = match lower.as_str() {
            "and" => Kind::Op(Op::And),
            "or" => Kind::Op(Op::Or),
            "unless" => Kind::Op(Op::Unless),
            "atan2" => Kind::Op(Op::Atan2),
            "inf" | "nan" => Kind::Number,
            w => match KEYWORDS.iter().find(|k| **k == w) {
                Some(k) => {
                    // fill, fill_left, fill_right name metrics unless a '(' follows.
                    if matches!(*k, "fill" | "fill_left" | "fill_right")
                        && !self.text[self.pos..]
                            .trim_start_matches(|c: char| c.is_ascii_whitespace())
                            .starts_with('(')
                    {
                        Kind::Ident
                    } else {
                        Kind::Keyword(k)
                    }
                }
                None if word.contains(':') => Kind::MetricIdent,
                None => Kind::Ident,
            },
        };
        self.emit(kind, start);
    }

    fn string(&mut self, start: usize, quote: char) -> Result<(), LexError> {
        while let Some(c) = self.pop() {
            if c == '\\' {
                let at = self.pos - 1;
                match self.pop() {
                    Some(e) if e == quote || r"abfnrtv\01234567xuU".contains(e) => continue,
                    Some(e) => {
                        return Err(LexError {
                            span: at..self.pos,
                            message: format!("unknown escape sequence '{e}'"),
                        });
                    }
                    None => {
                        return Err(LexError {
                            span: at..self.pos,
                            message: "escape sequence not terminated".into(),
                        });
                    }
                }
            }
            if c == quote {
                self.emit(Kind::Str, start);
                return Ok(());
            }
        }
        Err(LexError {
            span: start..self.text.len(),
            message: format!("unterminated quoted string {quote}"),
        })
    }

    fn inside_braces(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        match self.pop() {
            Some('#') => self.comment(),
            Some(',') => self.emit(Kind::Comma, start),
            Some(c @ ('o' | 'O')) => {
                let _ = c;
                if matches!(self.peek(), Some('r' | 'R')) {
                    self.pop();
                    if self.peek() == Some(' ') {
                        self.emit(Kind::Op(Op::Or), start);
                        return Ok(());
                    }
                }
                self.accept_run(is_alnum);
                self.emit(Kind::Ident, start);
            }
            Some(c) if c.is_ascii_whitespace() => self.accept_run(|c| c.is_ascii_whitespace()),
            Some(c) if is_alpha(c) => {
                self.accept_run(is_alnum);
                self.emit(Kind::Ident, start);
            }
            Some(q @ ('"' | '\'' | '`')) => self.string(start, q)?,
            Some('=') => {
                if self.accept(|c| c == '~') {
                    self.emit(Kind::Op(Op::EqlRegex), start);
                } else {
                    self.emit(Kind::Op(Op::Eql), start);
                }
            }
            Some('!') => match self.pop() {
                Some('~') => self.emit(Kind::Op(Op::NeqRegex), start),
                Some('=') => self.emit(Kind::Op(Op::Neq), start),
                Some(ch) => {
                    return Err(self.err(
                        start,
                        format!("unexpected character after '!' inside braces: '{ch}'"),
                    ));
                }
                None => return Err(self.err(start, "'!' can not be at the end")),
            },
            Some('{') => return Err(self.err(start, "unexpected left brace '{' inside braces")),
            Some('}') => {
                self.in_braces = false;
                self.emit(Kind::RBrace, start);
            }
            Some(ch) => {
                return Err(self.err(start, format!("unexpected character inside braces: '{ch}'")));
            }
            None => {
                return Err(LexError {
                    span: start..start,
                    message: "unexpected end of input inside braces".into(),
                });
            }
        }
        Ok(())
    }

    fn inside_brackets(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        match self.pop() {
            Some(c) if c.is_ascii_whitespace() => self.accept_run(|c| c.is_ascii_whitespace()),
            Some(':') => {
                if self.got_colon {
                    return Err(self.err(start, "unexpected second colon(:) in brackets"));
                }
                if self.bracket_open + 1 == start {
                    return Err(
                        self.err(start, "expect duration before first colon(:) in brackets")
                    );
                }
                self.got_colon = true;
                self.emit(Kind::Colon, start);
            }
            Some(c) if c.is_ascii_digit() => self.number_or_duration(start)?,
            Some(']') => {
                self.in_brackets = false;
                self.got_colon = false;
                self.emit(Kind::RBracket, start);
            }
            Some('[') => return Err(self.err(start, "unexpected left brace '[' inside brackets")),
            Some(ch) => {
                return Err(self.err(
                    start,
                    format!("unexpected character inside brackets: '{ch}'"),
                ));
            }
            None => {
                return Err(LexError {
                    span: start..start,
                    message: "unexpected end of input inside brackets".into(),
                });
            }
        }
        Ok(())
    }
}

/// Tokenize `text` (the final token is `Eof`).
pub fn lex(text: &str) -> Result<Vec<Token>, LexError> {
    Lexer {
        text,
        pos: 0,
        paren_depth: 0,
        in_braces: false,
        in_brackets: false,
        got_colon: false,
        bracket_open: 0,
        open_parens: Vec::new(),
        tokens: Vec::new(),
    }
    .run()
}

/// The bytes Go's `strconv.Unquote` (Prometheus' parser) makes of a quoted string token:
/// `\xNN` and octal escapes are raw bytes, which may not form UTF-8. Returns the span of the
/// first escape that leaves the string invalid UTF-8, if any.
pub fn invalid_utf8_escape(token: &str) -> Option<Range<usize>> {
    let b = token.as_bytes();
    if b.len() < 2 || b[0] == b'`' {
        return None;
    }
    let mut bytes = Vec::with_capacity(b.len());
    // Where each produced byte came from.
    let mut from: Vec<Range<usize>> = Vec::with_capacity(b.len());
    let mut i = 1;
    let end = b.len() - 1;
    while i < end {
        if b[i] != b'\\' {
            bytes.push(b[i]);
            from.push(i..i + 1);
            i += 1;
            continue;
        }
        let start = i;
        let e = *b.get(i + 1)?;
        let hex = |s: &[u8]| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
        };
        match e {
            b'x' => {
                let v = hex(b.get(i + 2..i + 4)?)?;
                bytes.push(v as u8);
                from.push(start..i + 4);
                i += 4;
            }
            b'0'..=b'7' => {
                let s = std::str::from_utf8(b.get(i + 1..i + 4)?).ok()?;
                let v = u32::from_str_radix(s, 8).ok()?;
                bytes.push(v.min(255) as u8);
                from.push(start..i + 4);
                i += 4;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let v = hex(b.get(i + 2..i + 2 + n)?)?;
                let mut buf = [0u8; 4];
                let c = char::from_u32(v)?;
                for x in c.encode_utf8(&mut buf).bytes() {
                    bytes.push(x);
                    from.push(start..i + 2 + n);
                }
                i += 2 + n;
            }
            _ => {
                bytes.push(b'?');
                from.push(start..i + 2);
                i += 2;
            }
        }
    }
    match std::str::from_utf8(&bytes) {
        Ok(_) => None,
        Err(err) => from.get(err.valid_up_to()).cloned(),
    }
}

/// For each opening `(`, `[`, `{` token index, the index of its closing token (and the
/// reverse), when they balance.
pub fn match_brackets(tokens: &[Token]) -> Vec<Option<usize>> {
    let mut out = vec![None; tokens.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t.kind {
            Kind::LParen | Kind::LBracket | Kind::LBrace => stack.push(i),
            Kind::RParen | Kind::RBracket | Kind::RBrace => {
                if let Some(open) = stack.pop() {
                    out[open] = Some(i);
                    out[i] = Some(open);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(q: &str) -> Vec<Kind> {
        lex(q).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens_and_spans() {
        let q = r#"sum by (le) (rate(x_bucket{pod=~"a.*", or="1"}[5m:1m])) > bool 0.5"#;
        let toks = lex(q).unwrap();
        let texts: Vec<&str> = toks.iter().map(|t| &q[t.span.clone()]).collect();
        assert_eq!(
            texts,
            [
                "sum", "by", "(", "le", ")", "(", "rate", "(", "x_bucket", "{", "pod", "=~",
                "\"a.*\"", ",", "or", "=", "\"1\"", "}", "[", "5m", ":", "1m", "]", ")", ")", ">",
                "bool", "0.5", ""
            ]
        );
        assert_eq!(toks[0].kind, Kind::Keyword("sum"));
        assert_eq!(toks[14].kind, Kind::Ident);
    }

    #[test]
    fn numbers_durations_keywords() {
        assert_eq!(
            kinds("x offset 1h30m @ 0x1F"),
            [
                Kind::Ident,
                Kind::Keyword("offset"),
                Kind::Duration,
                Kind::At,
                Kind::Number,
                Kind::Eof
            ]
        );
        assert_eq!(kinds("Inf"), [Kind::Number, Kind::Eof]);
        assert_eq!(kinds("fill"), [Kind::Ident, Kind::Eof]);
        assert_eq!(kinds("job:x:rate5m"), [Kind::MetricIdent, Kind::Eof]);
    }

    #[test]
    fn errors_have_positions() {
        let e = lex("sum(x{a=\"b}").unwrap_err();
        assert_eq!(e.message, "unterminated quoted string \"");
        assert_eq!(e.span.start, 8);
        let e = lex("x[1m").unwrap_err();
        assert_eq!(e.message, "unexpected end of input inside brackets");
        let e = lex("rate(x[1m]").unwrap_err();
        assert_eq!(e.message, "unclosed left parenthesis");
        assert_eq!(e.span, 4..5);
        let e = lex("sum(rate(x[5m]) by (le)").unwrap_err();
        assert_eq!(e.span, 3..4);
        let e = lex("a $ b").unwrap_err();
        assert_eq!(e.span, 2..3);
    }

    #[test]
    fn same_verdict_as_promql_parser() {
        for q in [
            "x{a=\"b\"}",
            "x{a=\"b}",
            "x[5m",
            "x{",
            "a ! b",
            "x{a!b}",
            "1.e",
            "x{a=\"\\q\"}",
            "x{a=\"\\xff\"}",
            "rate(x[5m])",
            "foo}",
            "a =~ b",
            "1.5.3",
            "x[:1m]",
            "x[1m::1m]",
            "x[1m:1m]",
            "{or=\"x\"}",
            "{order=\"x\"}",
            "# only a comment",
            "",
        ] {
            let ours = lex(q).err().map(|e| e.message);
            let theirs = promql_parser::parser::lexer(q).err();
            let theirs = theirs.filter(|m| !m.starts_with("no expression found"));
            assert_eq!(ours, theirs, "{q:?}");
        }
    }
}
