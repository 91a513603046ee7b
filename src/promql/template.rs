//! Rendering gate queries exactly as the controllers do, keeping a map from the rendered text
//! back to the template.
//!
//! - Flagger: Go `text/template` with `missingkey=error`, no data (`Execute(b, nil)`), and one
//!   function per model field (`pkg/metrics/observers/render.go` `RenderQuery`,
//!   `pkg/apis/flagger/v1beta1/metric.go` `TemplateFunctions`). So `{{ target }}` and
//!   `{{target}}` call a function, `{{ .target }}` reads a field of nil data (execution error
//!   "nil data; no entry for key"), an unknown function fails parsing, `{{ variables.k }}` is a
//!   map lookup that fails for a missing key.
//! - Argo Rollouts: `valyala/fasttemplate` with `{{`/`}}` over the JSON of the metric; each tag,
//!   white space trimmed, must be `args.NAME` of a resolved argument, else "failed to resolve
//!   {{tag}}" (`utils/template/template.go` `resolve`); a `{{` without `}}` fails the whole
//!   template ("Cannot find end tag").
//!
//! Only the subset of Go templates seen in gate queries is evaluated: actions that print a
//! pipeline of model functions, `variables` lookups, literals, `print`/`printf`/`println`/`len`/
//! `index`, variables declared with `:=`, comments and trim markers. Control structures (`if`,
//! `range`, `with`, `define`, …) make the text "unsupported": it is not analysed rather than
//! guessed.

use std::collections::BTreeMap;
use std::ops::Range;

use super::srcmap::SourceMap;

/// Which controller renders (and then runs) the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Flagger,
    Argo,
    /// A bare query (`rollgate check-query`): no templating.
    Plain,
}

/// Where a substituted value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueSource {
    /// A Flagger model function (`target`, `namespace`, `interval`, …) bound from a Canary.
    Model(&'static str),
    /// A Flagger `templateVariables` entry.
    Variable(String),
    /// An Argo argument with a literal `value`.
    ArgValue,
    /// An Argo argument from `valueFrom.podTemplateHashValue` (`Latest` or `Stable`).
    PodTemplateHash(String),
    /// An Argo argument from `valueFrom.fieldRef` (the field path).
    FieldRef(String),
    /// An Argo argument from `valueFrom.secretKeyRef`.
    SecretKeyRef,
    /// Nothing binds it here (a template analysed on its own): rollgate chose a placeholder.
    Placeholder,
}

/// A value a template may substitute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Binding {
    pub value: String,
    pub source: ValueSource,
    /// The value is what the controller will substitute (not a placeholder).
    pub exact: bool,
}

impl Binding {
    pub fn known(value: impl Into<String>, source: ValueSource) -> Binding {
        Binding {
            value: value.into(),
            source,
            exact: true,
        }
    }

    /// A value rollgate does not know; the text it renders to is chosen per position.
    pub fn unknown(source: ValueSource) -> Binding {
        Binding {
            value: String::new(),
            source,
            exact: false,
        }
    }
}

/// The Flagger template model (`MetricTemplateModel`), one binding per function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlaggerModel {
    pub name: Binding,
    pub namespace: Binding,
    pub target: Binding,
    pub service: Binding,
    pub ingress: Binding,
    pub route: Binding,
    pub interval: Binding,
    /// `templateVariables` of the Canary metric; `None` when no Canary binds the template (every
    /// key then renders a placeholder).
    pub variables: Option<BTreeMap<String, String>>,
    /// Who binds it, for messages: `Canary test/podinfo metric "latency"`.
    pub binder: Option<String>,
}

impl FlaggerModel {
    /// A model with placeholders only (a MetricTemplate no Canary in the input references).
    pub fn placeholders() -> FlaggerModel {
        let p = || Binding::unknown(ValueSource::Placeholder);
        FlaggerModel {
            name: p(),
            namespace: p(),
            target: p(),
            service: p(),
            ingress: p(),
            route: p(),
            interval: p(),
            variables: None,
            binder: None,
        }
    }

    fn field(&self, name: &str) -> Option<&Binding> {
        Some(match name {
            "name" => &self.name,
            "namespace" => &self.namespace,
            "target" => &self.target,
            "service" => &self.service,
            "ingress" => &self.ingress,
            "route" => &self.route,
            "interval" => &self.interval,
            _ => return None,
        })
    }
}

/// The model functions Flagger defines, in the order its docs list them.
pub const FLAGGER_FUNCTIONS: &[&str] = &[
    "name",
    "namespace",
    "target",
    "service",
    "ingress",
    "route",
    "interval",
    "variables",
];

/// Functions every Go template has (`text/template/funcs.go` `builtins`).
const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Argo arguments in scope for a metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArgoArgs {
    /// Declared arguments (`spec.args`), in order, with their value when one is known or
    /// supplied; `None` = declared without a value.
    pub args: Vec<(String, Option<Binding>)>,
    /// The arguments are final (an AnalysisRun, or a template bound to the Rollout/Experiment
    /// that runs it): an argument without a value is an error, not a placeholder.
    pub complete: bool,
    /// Who binds them, for messages.
    pub binder: Option<String>,
}

/// What a template is rendered with.
// Built once per gate and hashed as a memo key; boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Env {
    Flagger(FlaggerModel),
    Argo(ArgoArgs),
    Plain,
}

impl Env {
    pub fn dialect(&self) -> Dialect {
        match self {
            Env::Flagger(_) => Dialect::Flagger,
            Env::Argo(_) => Dialect::Argo,
            Env::Plain => Dialect::Plain,
        }
    }
}

/// One substituted value in the rendered text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// The variable as written, normalised: `target`, `variables.canary`, `args.service-name`.
    pub name: String,
    /// The whole action/tag in the template (`{{ target }}`).
    pub src: Range<usize>,
    /// The value in the rendered text.
    pub out: Range<usize>,
    pub source: ValueSource,
    /// The rendered value is what the controller substitutes; `false` for placeholders.
    pub exact: bool,
    /// Where in the query the value landed (decides the placeholder text).
    pub context: Context,
}

/// The syntactic place of a substitution inside the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Inside a quoted string (a label value, a regex).
    String,
    /// Inside `[…]` or after `offset`: a duration.
    Duration,
    /// Anywhere else: it may change the structure of the query.
    Bare,
}

/// Why rendering fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderErrorKind {
    /// The template does not parse (Flagger: "template parsing failed"; Argo: no end tag).
    Syntax,
    /// An unknown function (Flagger) or a tag that is not a declared argument (Argo).
    Unknown,
    /// `{{ .field }}` on Flagger's nil data.
    NilData,
    /// A `templateVariables` key the Canary metric does not set.
    MissingVariable,
    /// An Argo argument with no value.
    MissingArgument,
    /// A function called with arguments it does not take, or a similar execution error.
    Execution,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// Bytes of the template the error is about.
    pub src: Range<usize>,
    pub kind: RenderErrorKind,
    pub message: String,
    /// A suggested fix, if there is an obvious one.
    pub help: Option<String>,
}

/// The result of rendering a template.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub text: String,
    /// Rendered text → template.
    pub map: SourceMap,
    pub substitutions: Vec<Substitution>,
    pub errors: Vec<RenderError>,
    /// A construct rollgate does not evaluate (range in the template, and what it is); the
    /// rendered text must then not be analysed.
    pub unsupported: Option<(Range<usize>, String)>,
}

impl Rendered {
    /// Whether `out` (a range of the rendered text) is exactly what the controller will see:
    /// no placeholder value overlaps it.
    pub fn is_exact(&self, out: &Range<usize>) -> bool {
        self.map
            .substitutions_in(out)
            .all(|i| self.substitutions.get(i).is_none_or(|s| s.exact))
    }

    /// Whether some placeholder sits outside a string and outside a duration: the structure of
    /// the query may then differ from what the controller parses, so structural findings are
    /// not safe.
    pub fn has_bare_placeholder(&self) -> bool {
        self.substitutions
            .iter()
            .any(|s| !s.exact && s.context == Context::Bare)
    }

    /// Whether rendering succeeded and the text can be analysed.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.unsupported.is_none()
    }
}

/// Errors reported per rendered template (the rest are counted in the last one's message).
pub const MAX_RENDER_ERRORS: usize = 10;

/// Render `template` in `env`.
pub fn render(template: &str, env: &Env) -> Rendered {
    match env {
        Env::Plain => Rendered {
            text: template.to_owned(),
            map: SourceMap::identity(template.len()),
            ..Rendered::default()
        },
        Env::Argo(args) => render_argo(template, args),
        Env::Flagger(model) => render_flagger(template, model),
    }
}

/// Tracks the PromQL context of the text rendered so far (inside a string? inside brackets?),
/// to choose placeholder values that keep the query's shape.
#[derive(Debug, Default, Clone)]
struct ContextScanner {
    quote: Option<u8>,
    escape: bool,
    brackets: i32,
    /// The last word outside strings (to see `offset`).
    word: String,
    word_done: bool,
}

impl ContextScanner {
    fn feed(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if let Some(q) = self.quote {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' && q != b'`' {
                    self.escape = true;
                } else if b == q {
                    self.quote = None;
                }
                continue;
            }
            match b {
                b'"' | b'\'' | b'`' => self.quote = Some(b),
                b'[' => self.brackets += 1,
                b']' => self.brackets -= 1,
                _ => {}
            }
            if b.is_ascii_alphanumeric() || b == b'_' {
                if self.word_done {
                    self.word.clear();
                    self.word_done = false;
                }
                if self.word.len() < 16 {
                    self.word.push(b as char);
                }
            } else if b.is_ascii_whitespace() {
                self.word_done = true;
            } else {
                self.word.clear();
                self.word_done = false;
            }
        }
    }

    fn context(&self) -> Context {
        if self.quote.is_some() {
            Context::String
        } else if self.brackets > 0 || (self.word_done && self.word.eq_ignore_ascii_case("offset"))
        {
            Context::Duration
        } else {
            Context::Bare
        }
    }
}

/// The text a placeholder renders to at a given place: valid there whatever the real value's
/// shape, so the query keeps the structure it has for real values.
pub fn placeholder_text(name: &str, context: Context) -> String {
    match context {
        Context::Duration => "1m".to_owned(),
        Context::String => {
            let base: String = name
                .rsplit('.')
                .next()
                .unwrap_or(name)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if base == "interval" {
                "1m".to_owned()
            } else {
                format!("rollgate-{}", if base.is_empty() { "value" } else { &base })
            }
        }
        Context::Bare => "rollgate_placeholder".to_owned(),
    }
}

struct Out<'t> {
    template: &'t str,
    text: String,
    map: SourceMap,
    subs: Vec<Substitution>,
    scanner: ContextScanner,
}

impl<'t> Out<'t> {
    fn new(template: &'t str) -> Self {
        Out {
            template,
            text: String::with_capacity(template.len()),
            map: SourceMap::default(),
            subs: Vec::new(),
            scanner: ContextScanner::default(),
        }
    }

    fn verbatim(&mut self, src: Range<usize>) {
        if let Some(s) = self.template.get(src.clone()) {
            self.text.push_str(s);
            self.scanner.feed(s);
            self.map.push_verbatim(src);
        }
    }

    /// Substitute `value` (or, for an unknown one, a placeholder fitting the context).
    fn substitute(&mut self, name: &str, src: Range<usize>, binding: &Binding) {
        let context = self.scanner.context();
        let value = if binding.exact {
            binding.value.clone()
        } else {
            placeholder_text(name, context)
        };
        let start = self.text.len();
        self.text.push_str(&value);
        self.scanner.feed(&value);
        let idx = self.subs.len();
        self.map.push_replaced(src.clone(), value.len(), Some(idx));
        self.subs.push(Substitution {
            name: name.to_owned(),
            src,
            out: start..self.text.len(),
            source: binding.source.clone(),
            exact: binding.exact,
            context,
        });
    }

    /// An action that renders nothing (a comment, a declaration).
    fn nothing(&mut self, src: Range<usize>) {
        self.map.push_replaced(src, 0, None);
    }

    fn finish(
        self,
        mut errors: Vec<RenderError>,
        unsupported: Option<(Range<usize>, String)>,
    ) -> Rendered {
        // The controller stops at the first error; listing a few helps fix them together, but
        // a template of 50,000 bad actions must not become 50,000 findings.
        if errors.len() > MAX_RENDER_ERRORS {
            let more = errors.len() - MAX_RENDER_ERRORS;
            errors.truncate(MAX_RENDER_ERRORS);
            if let Some(last) = errors.last_mut() {
                last.message.push_str(&format!(
                    " ({more} more errors in this template are not listed)"
                ));
            }
        }
        Rendered {
            text: self.text,
            map: self.map,
            substitutions: self.subs,
            errors,
            unsupported,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Argo: fasttemplate.

fn render_argo(template: &str, args: &ArgoArgs) -> Rendered {
    let mut out = Out::new(template);
    let mut errors = Vec::new();
    let mut pos = 0;
    while let Some(rel) = template[pos..].find("{{") {
        let open = pos + rel;
        out.verbatim(pos..open);
        let Some(close_rel) = template[open + 2..].find("}}") else {
            errors.push(RenderError {
                src: open..template.len(),
                kind: RenderErrorKind::Syntax,
                message: "\"{{\" has no closing \"}}\": Argo Rollouts cannot parse the metric's template (\"Cannot find end tag\") and the AnalysisRun fails".into(),
                help: Some("close the tag, e.g. {{args.service-name}}".into()),
            });
            out.verbatim(open..template.len());
            pos = template.len();
            break;
        };
        let close = open + 2 + close_rel + 2;
        let tag = &template[open + 2..close - 2];
        let name = tag.trim();
        let src = open..close;
        let declared = name
            .strip_prefix("args.")
            .and_then(|n| args.args.iter().find(|(a, _)| a == n));
        match declared {
            Some((arg, Some(binding))) => {
                let binding = binding.clone();
                out.substitute(&format!("args.{arg}"), src, &binding);
            }
            Some((arg, None)) if !args.complete => {
                out.substitute(
                    &format!("args.{arg}"),
                    src,
                    &Binding::unknown(ValueSource::Placeholder),
                );
            }
            Some((arg, None)) => {
                let who = args
                    .binder
                    .as_deref()
                    .map(|b| format!(" and {b} does not pass it"))
                    .unwrap_or_default();
                errors.push(RenderError {
                    src: src.clone(),
                    kind: RenderErrorKind::MissingArgument,
                    message: format!(
                        "argument \"{arg}\" has no value: it is declared without one{who}; Argo Rollouts does not create the AnalysisRun (\"args.{arg} was not resolved\")"
                    ),
                    help: Some(format!("give \"{arg}\" a value or pass it from the Rollout's analysis args")),
                });
                out.nothing(src);
            }
            None => {
                let (message, help) = argo_unresolved(name, tag, args);
                errors.push(RenderError {
                    src: src.clone(),
                    kind: RenderErrorKind::Unknown,
                    message,
                    help,
                });
                // fasttemplate writes "" for the tag.
                out.nothing(src);
            }
        }
        pos = close;
    }
    out.verbatim(pos..template.len());
    out.finish(errors, None)
}

fn argo_unresolved(name: &str, tag: &str, args: &ArgoArgs) -> (String, Option<String>) {
    let runtime = format!(
        "Argo Rollouts fails to resolve {{{{{tag}}}}} and every measurement of this metric errors"
    );
    if let Some(arg) = name.strip_prefix("args.") {
        let declared: Vec<&str> = args.args.iter().map(|(n, _)| n.as_str()).collect();
        let hint = crate::engine::config::suggest(arg, &declared)
            .map(|s| format!("did you mean {{{{args.{s}}}}}?"));
        return (
            format!("argument \"{arg}\" is not declared in spec.args; {runtime}"),
            hint.or_else(|| Some(format!("declare it: spec.args: [{{name: {arg}}}]"))),
        );
    }
    let bare = name.trim_start_matches('.');
    if FLAGGER_FUNCTIONS.contains(&bare.split('.').next().unwrap_or(bare)) {
        return (
            format!("{{{{{tag}}}}} is Flagger template syntax; {runtime}"),
            Some(format!(
                "declare an argument and write {{{{args.{}}}}}",
                bare.replace('.', "-")
            )),
        );
    }
    (
        format!(
            "{{{{{tag}}}}} is not an argument (Argo substitutes only {{{{args.NAME}}}}); {runtime}"
        ),
        None,
    )
}

// ---------------------------------------------------------------------------------------------
// Flagger: Go text/template.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `.name` (a field on dot, or a chained field after an operand).
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Num(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Space,
    Keyword(String),
    Char(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Bytes of the template.
    span: Range<usize>,
}

/// A template action, lexed.
struct Action {
    /// The whole action, delimiters and trim markers included.
    span: Range<usize>,
    tokens: Vec<Token>,
    comment: bool,
}

enum Piece {
    Text(Range<usize>),
    Action(Action),
}

/// Go's `isSpace`: space, tab, CR, LF.
fn go_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Split a template into text and actions, applying trim markers. Mirrors Go's
/// `text/template/parse/lex.go`.
fn lex_go(t: &str) -> Result<Vec<Piece>, RenderError> {
    let b = t.as_bytes();
    let mut pieces = Vec::new();
    let mut pos = 0;
    let syntax = |span: Range<usize>, message: String| RenderError {
        src: span,
        kind: RenderErrorKind::Syntax,
        message,
        help: None,
    };
    loop {
        let Some(rel) = t[pos..].find("{{") else {
            pieces.push(Piece::Text(pos..t.len()));
            break;
        };
        let open = pos + rel;
        let mut inner = open + 2;
        let left_trim = b.len() >= inner + 2 && b[inner] == b'-' && go_space(b[inner + 1]);
        let mut text_end = open;
        if left_trim {
            while text_end > pos && go_space(b[text_end - 1]) {
                text_end -= 1;
            }
            inner += 2;
        }
        pieces.push(Piece::Text(pos..text_end));
        let at_right = |p: usize| -> Option<(usize, bool)> {
            if b.len() >= p + 4 && go_space(b[p]) && b[p + 1] == b'-' && &b[p + 2..p + 4] == b"}}" {
                Some((p + 4, true))
            } else if t[p..].starts_with("}}") {
                Some((p + 2, false))
            } else {
                None
            }
        };
        // Comment: {{/* … */}}.
        if t[inner..].starts_with("/*") {
            let Some(end_rel) = t[inner + 2..].find("*/") else {
                return Err(syntax(open..t.len(), "unclosed comment".into()));
            };
            let after = inner + 2 + end_rel + 2;
            let Some((close, right_trim)) = at_right(after) else {
                return Err(syntax(
                    open..after,
                    "comment ends before closing delimiter".into(),
                ));
            };
            pieces.push(Piece::Action(Action {
                span: open..close,
                tokens: Vec::new(),
                comment: true,
            }));
            pos = close;
            if right_trim {
                while pos < b.len() && go_space(b[pos]) {
                    pos += 1;
                }
            }
            continue;
        }
        // Inside the action.
        let mut tokens = Vec::new();
        let mut p = inner;
        let mut depth = 0i32;
        let close;
        let right_trim;
        loop {
            if let Some((c, rt)) = at_right(p) {
                if depth == 0 {
                    close = c;
                    right_trim = rt;
                    break;
                }
                return Err(syntax(open..c, "unclosed left paren".into()));
            }
            let Some(&c) = b.get(p) else {
                return Err(syntax(open..t.len(), "unclosed action".into()));
            };
            let start = p;
            let tok = match c {
                _ if go_space(c) => {
                    while p < b.len() && go_space(b[p]) && at_right(p).is_none_or(|(_, rt)| !rt) {
                        p += 1;
                    }
                    if p == start {
                        // Unreachable (a trim-marker space is seen as the delimiter above); move
                        // on anyway so the loop always advances.
                        p += 1;
                    }
                    Tok::Space
                }
                b'=' => {
                    p += 1;
                    Tok::Assign
                }
                b':' => {
                    if b.get(p + 1) != Some(&b'=') {
                        return Err(syntax(start..p + 1, "expected :=".into()));
                    }
                    p += 2;
                    Tok::Declare
                }
                b'|' => {
                    p += 1;
                    Tok::Pipe
                }
                b'"' => {
                    p += 1;
                    let mut s = String::new();
                    loop {
                        match b.get(p) {
                            None | Some(b'\n') => {
                                return Err(syntax(start..p, "unterminated quoted string".into()));
                            }
                            Some(b'\\') => {
                                let Some(e) = t[p + 1..].chars().next() else {
                                    return Err(syntax(
                                        start..p,
                                        "unterminated quoted string".into(),
                                    ));
                                };
                                s.push(match e {
                                    'n' => '\n',
                                    't' => '\t',
                                    'r' => '\r',
                                    other => other,
                                });
                                p += 1 + e.len_utf8();
                            }
                            Some(b'"') => {
                                p += 1;
                                break;
                            }
                            Some(_) => {
                                let ch = t[p..].chars().next().unwrap_or('\u{fffd}');
                                s.push(ch);
                                p += ch.len_utf8();
                            }
                        }
                    }
                    Tok::Str(s)
                }
                b'`' => {
                    let Some(end) = t[p + 1..].find('`') else {
                        return Err(syntax(
                            start..t.len(),
                            "unterminated raw quoted string".into(),
                        ));
                    };
                    let s = t[p + 1..p + 1 + end].to_owned();
                    p += end + 2;
                    Tok::Str(s)
                }
                b'\'' => {
                    let Some(end) = t[p + 1..].find('\'') else {
                        return Err(syntax(
                            start..t.len(),
                            "unterminated character constant".into(),
                        ));
                    };
                    let s = t[p + 1..p + 1 + end].to_owned();
                    p += end + 2;
                    Tok::Num(s)
                }
                b'$' => {
                    p += 1;
                    while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'_') {
                        p += 1;
                    }
                    Tok::Var(t[start..p].to_owned())
                }
                b'.' if b.get(p + 1).is_some_and(|n| !n.is_ascii_digit()) => {
                    p += 1;
                    if b.get(p)
                        .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_')
                    {
                        while p < b.len() && (b[p].is_ascii_alphanumeric() || b[p] == b'_') {
                            p += 1;
                        }
                        Tok::Field(t[start + 1..p].to_owned())
                    } else {
                        Tok::Dot
                    }
                }
                b'+' | b'-' | b'.' | b'0'..=b'9' => {
                    p += 1;
                    while p < b.len()
                        && (b[p].is_ascii_alphanumeric()
                            || matches!(b[p], b'.' | b'_' | b'+' | b'-'))
                    {
                        p += 1;
                    }
                    Tok::Num(t[start..p].to_owned())
                }
                _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                    while p < b.len()
                        && (b[p].is_ascii_alphanumeric() || b[p] == b'_' || b[p] >= 0x80)
                    {
                        p += 1;
                    }
                    let word = &t[start..p];
                    // Go's atTerminator: an identifier must be followed by one of these.
                    let next = b.get(p).copied();
                    let terminated = match next {
                        None => true,
                        Some(n) => {
                            go_space(n)
                                || matches!(n, b'.' | b',' | b'|' | b':' | b')' | b'(')
                                || t[p..].starts_with("}}")
                        }
                    };
                    if !terminated {
                        let ch = t[p..].chars().next().unwrap_or('?');
                        return Err(syntax(
                            start..p + ch.len_utf8(),
                            format!("bad character {ch:?} after {word:?}"),
                        ));
                    }
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        "block" | "break" | "continue" | "define" | "else" | "end" | "if"
                        | "range" | "template" | "with" => Tok::Keyword(word.to_owned()),
                        _ => Tok::Ident(word.to_owned()),
                    }
                }
                b'(' => {
                    p += 1;
                    depth += 1;
                    Tok::LParen
                }
                b')' => {
                    p += 1;
                    depth -= 1;
                    if depth < 0 {
                        return Err(syntax(start..p, "unexpected right paren".into()));
                    }
                    Tok::RParen
                }
                _ if c.is_ascii_graphic() => {
                    p += 1;
                    Tok::Char(c as char)
                }
                _ => {
                    let ch = t[p..].chars().next().unwrap_or('?');
                    return Err(syntax(
                        start..p + ch.len_utf8().max(1),
                        format!("unrecognized character in action: {ch:?}"),
                    ));
                }
            };
            tokens.push(Token {
                tok,
                span: start..p,
            });
        }
        pieces.push(Piece::Action(Action {
            span: open..close,
            tokens,
            comment: false,
        }));
        pos = close;
        if right_trim {
            while pos < b.len() && go_space(b[pos]) {
                pos += 1;
            }
        }
    }
    Ok(pieces)
}

/// A value during execution.
#[derive(Debug, Clone)]
enum Val {
    Str { s: String, exact: bool },
    Map,
    Nil,
    Other(String),
}

impl Val {
    fn print(&self, model: &FlaggerModel) -> (String, bool) {
        match self {
            Val::Str { s, exact } => (s.clone(), *exact),
            Val::Map => match &model.variables {
                Some(v) => {
                    let items: Vec<String> = v.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    (format!("map[{}]", items.join(" ")), true)
                }
                None => ("map[]".into(), false),
            },
            Val::Nil => ("<no value>".into(), true),
            Val::Other(s) => (s.clone(), true),
        }
    }
}

struct FlaggerExec<'a> {
    template: &'a str,
    model: &'a FlaggerModel,
    errors: Vec<RenderError>,
    unsupported: Option<(Range<usize>, String)>,
    vars: BTreeMap<String, Val>,
    /// Name of the (single) model binding the last value came from, for substitution records.
    source: Option<(String, ValueSource)>,
}

fn flagger_runtime() -> &'static str {
    "Flagger fails to render the query and the check fails every interval"
}

impl FlaggerExec<'_> {
    fn error(
        &mut self,
        span: Range<usize>,
        kind: RenderErrorKind,
        message: String,
        help: Option<String>,
    ) {
        self.errors.push(RenderError {
            src: span,
            kind,
            message,
            help,
        });
    }

    fn unsupported(&mut self, span: Range<usize>, what: &str) {
        if self.unsupported.is_none() {
            self.unsupported = Some((span, what.to_owned()));
        }
    }

    /// Parse and evaluate one action's tokens as a pipeline. Returns `None` when nothing can be
    /// printed (an error, an unsupported construct, a declaration).
    fn action(&mut self, a: &Action) -> Option<Val> {
        let toks: Vec<&Token> = a.tokens.iter().filter(|t| t.tok != Tok::Space).collect();
        let Some(first) = toks.first() else {
            self.error(
                a.span.clone(),
                RenderErrorKind::Syntax,
                format!(
                    "empty action {:?}; {}",
                    &self.template[a.span.clone()],
                    flagger_runtime()
                ),
                None,
            );
            return None;
        };
        if let Tok::Keyword(k) = &first.tok {
            self.unsupported(a.span.clone(), &format!("{{{{ {k} }}}}"));
            return None;
        }
        // Declaration: $x := pipeline.
        let mut rest: &[Token] = &a.tokens;
        let mut declare = None;
        if let Tok::Var(v) = &first.tok {
            let after: Vec<&Token> = toks.iter().skip(1).copied().collect();
            if let Some(t) = after.first() {
                if t.tok == Tok::Declare || t.tok == Tok::Assign {
                    declare = Some(v.clone());
                    let idx = a.tokens.iter().position(|x| x.span == t.span).unwrap_or(0);
                    rest = &a.tokens[idx + 1..];
                }
            }
        }
        let mut p = Parser { toks: rest, i: 0 };
        let val = self.pipeline(&mut p, a.span.clone())?;
        if let Some(t) = p.peek_non_space() {
            let span = t.span.clone();
            self.error(
                span.clone(),
                RenderErrorKind::Syntax,
                format!(
                    "unexpected {:?} in action; {}",
                    &self.template[span],
                    flagger_runtime()
                ),
                None,
            );
            return None;
        }
        if let Some(v) = declare {
            // A declaration prints nothing.
            self.vars.insert(v, val);
            return None;
        }
        Some(val)
    }

    /// pipeline := command ('|' command)*
    fn pipeline(&mut self, p: &mut Parser<'_>, span: Range<usize>) -> Option<Val> {
        let mut value: Option<Val> = None;
        loop {
            let cmd_start = p.i;
            let args = self.command(p)?;
            if args.is_empty() {
                let at = p
                    .toks
                    .get(cmd_start)
                    .map(|t| t.span.clone())
                    .unwrap_or(span.clone());
                self.error(
                    at,
                    RenderErrorKind::Syntax,
                    format!("missing value in pipeline; {}", flagger_runtime()),
                    None,
                );
                return None;
            }
            value = Some(self.eval_command(&args, value)?);
            match p.peek_non_space().map(|t| &t.tok) {
                Some(Tok::Pipe) => {
                    p.next_non_space();
                }
                _ => break,
            }
        }
        value
    }

    /// command := operand (space operand)*
    fn command(&mut self, p: &mut Parser<'_>) -> Option<Vec<Operand>> {
        let mut args = Vec::new();
        loop {
            match p.peek_non_space().map(|t| &t.tok) {
                None | Some(Tok::Pipe) | Some(Tok::RParen) => break,
                _ => {}
            }
            let op = self.operand(p)?;
            args.push(op);
            // Operands are separated by spaces; anything else ends the command.
            match p.peek().map(|t| &t.tok) {
                Some(Tok::Space) | None | Some(Tok::Pipe) | Some(Tok::RParen) => {}
                Some(_) => {
                    let Some(t) = p.peek() else { break };
                    let span = t.span.clone();
                    self.error(
                        span.clone(),
                        RenderErrorKind::Syntax,
                        format!(
                            "unexpected {:?} in operand; {}",
                            &self.template[span],
                            flagger_runtime()
                        ),
                        None,
                    );
                    return None;
                }
            }
        }
        Some(args)
    }

    fn operand(&mut self, p: &mut Parser<'_>) -> Option<Operand> {
        let Some(t) = p.next_non_space() else {
            return Some(Operand::Nil(0..0));
        };
        let span = t.span.clone();
        let mut op = match &t.tok {
            Tok::Ident(name) => {
                if !FLAGGER_FUNCTIONS.contains(&name.as_str())
                    && !GO_BUILTINS.contains(&name.as_str())
                {
                    let hint = crate::engine::config::suggest(name, FLAGGER_FUNCTIONS)
                        .map(|s| format!("did you mean {{{{ {s} }}}}?"));
                    self.error(
                        span.clone(),
                        RenderErrorKind::Unknown,
                        format!(
                            "function \"{name}\" is not defined; Flagger fails to parse the template and the check fails every interval (Flagger defines {})",
                            FLAGGER_FUNCTIONS.join(", ")
                        ),
                        hint,
                    );
                    return None;
                }
                Operand::Func(name.clone(), span.clone())
            }
            Tok::Field(f) => Operand::Field(vec![f.clone()], span.clone()),
            Tok::Dot => Operand::Dot(span.clone()),
            Tok::Var(v) => {
                if !self.vars.contains_key(v) && v != "$" {
                    self.error(
                        span.clone(),
                        RenderErrorKind::Syntax,
                        format!("undefined variable \"{v}\"; {}", flagger_runtime()),
                        None,
                    );
                    return None;
                }
                Operand::Var(v.clone(), span.clone())
            }
            Tok::Str(s) => Operand::Lit(Val::Other(s.clone()), span.clone()),
            Tok::Num(n) => Operand::Lit(Val::Other(n.clone()), span.clone()),
            Tok::Bool(b) => Operand::Lit(Val::Other(b.to_string()), span.clone()),
            Tok::Nil => Operand::Nil(span.clone()),
            Tok::LParen => {
                let v = self.pipeline(p, span.clone())?;
                match p.next_non_space().map(|t| &t.tok) {
                    Some(Tok::RParen) => {}
                    _ => {
                        self.error(
                            span.clone(),
                            RenderErrorKind::Syntax,
                            format!("unclosed left paren; {}", flagger_runtime()),
                            None,
                        );
                        return None;
                    }
                }
                Operand::Lit(v, span.clone())
            }
            Tok::Keyword(k) => {
                self.unsupported(span.clone(), &format!("{{{{ {k} }}}}"));
                return None;
            }
            other => {
                let shown = &self.template[span.clone()];
                let _ = other;
                self.error(
                    span.clone(),
                    RenderErrorKind::Syntax,
                    format!("unexpected {shown:?} in command; {}", flagger_runtime()),
                    None,
                );
                return None;
            }
        };
        // Chained fields: variables.direction, (pipeline).x
        while let Some(Token {
            tok: Tok::Field(f),
            span: fs,
        }) = p.peek()
        {
            let f = f.clone();
            let fs = fs.clone();
            p.i += 1;
            op = match op {
                Operand::Field(mut v, s) => {
                    v.push(f);
                    Operand::Field(v, s.start..fs.end)
                }
                Operand::Lit(Val::Other(_), s) | Operand::Nil(s) | Operand::Dot(s) => {
                    self.error(
                        s.start..fs.end,
                        RenderErrorKind::Syntax,
                        format!("unexpected . after term; {}", flagger_runtime()),
                        None,
                    );
                    return None;
                }
                other => Operand::Chain(Box::new(other), f, fs),
            };
        }
        Some(op)
    }

    fn eval_command(&mut self, args: &[Operand], fin: Option<Val>) -> Option<Val> {
        let first = &args[0];
        let rest = &args[1..];
        match first {
            Operand::Func(name, span) => {
                let mut vals = Vec::new();
                for a in rest {
                    vals.push(self.eval_arg(a)?);
                }
                if let Some(f) = fin {
                    vals.push(f);
                }
                self.call(name, span.clone(), vals)
            }
            Operand::Chain(base, field, fspan) => {
                if !rest.is_empty() || fin.is_some() {
                    self.error(
                        fspan.clone(),
                        RenderErrorKind::Execution,
                        format!(
                            "{field} is not a method and takes no arguments; {}",
                            flagger_runtime()
                        ),
                        None,
                    );
                    return None;
                }
                let b = self.eval_arg(base)?;
                self.field_of(b, field, base_span(base).start..fspan.end)
            }
            Operand::Field(fields, span) => {
                let key = fields.first().cloned().unwrap_or_default();
                let written = &self.template[span.clone()];
                let func = FLAGGER_FUNCTIONS.contains(&key.as_str());
                let help = func.then(|| {
                    format!(
                        "write {{{{ {} }}}}: Flagger's variables are functions, not fields",
                        written.trim_start_matches('.')
                    )
                });
                self.error(
                    span.clone(),
                    RenderErrorKind::NilData,
                    format!(
                        "{written} reads a field of the template data, which Flagger does not pass (nil): rendering fails (\"nil data; no entry for key \\\"{key}\\\"\") and the check fails every interval"
                    ),
                    help,
                );
                None
            }
            Operand::Var(v, span) => {
                if !rest.is_empty() || fin.is_some() {
                    self.error(
                        span.clone(),
                        RenderErrorKind::Execution,
                        format!(
                            "can't give argument to non-function {v}; {}",
                            flagger_runtime()
                        ),
                        None,
                    );
                    return None;
                }
                self.vars.get(v).cloned().or(Some(Val::Nil))
            }
            Operand::Dot(span) | Operand::Nil(span) | Operand::Lit(_, span) => {
                if !rest.is_empty() || fin.is_some() {
                    let shown = self.template[span.clone()].to_owned();
                    self.error(
                        span.clone(),
                        RenderErrorKind::Execution,
                        format!(
                            "can't give argument to non-function {shown}; {}",
                            flagger_runtime()
                        ),
                        None,
                    );
                    return None;
                }
                match first {
                    Operand::Nil(s) => {
                        self.error(
                            s.clone(),
                            RenderErrorKind::Execution,
                            format!("nil is not a command; {}", flagger_runtime()),
                            None,
                        );
                        None
                    }
                    Operand::Dot(_) => Some(Val::Nil),
                    Operand::Lit(v, _) => Some(v.clone()),
                    _ => None,
                }
            }
        }
    }

    fn eval_arg(&mut self, a: &Operand) -> Option<Val> {
        match a {
            Operand::Func(name, span) => self.call(name, span.clone(), Vec::new()),
            other => self.eval_command(std::slice::from_ref(other), None),
        }
    }

    fn field_of(&mut self, base: Val, field: &str, span: Range<usize>) -> Option<Val> {
        match base {
            Val::Map => match &self.model.variables {
                Some(vars) => match vars.get(field) {
                    Some(v) => {
                        self.source = Some((
                            format!("variables.{field}"),
                            ValueSource::Variable(field.to_owned()),
                        ));
                        Some(Val::Str {
                            s: v.clone(),
                            exact: true,
                        })
                    }
                    None => {
                        let who = self.model.binder.as_deref().unwrap_or("the Canary metric");
                        let keys: Vec<&str> = vars.keys().map(String::as_str).collect();
                        let help = crate::engine::config::suggest(field, &keys)
                            .map(|s| format!("did you mean {{{{ variables.{s} }}}}?"))
                            .or_else(|| {
                                Some(format!(
                                    "add templateVariables: {{{field}: …}} to the Canary metric"
                                ))
                            });
                        self.error(
                            span,
                            RenderErrorKind::MissingVariable,
                            format!(
                                "{who} sets no templateVariables key \"{field}\": rendering fails (\"map has no entry for key \\\"{field}\\\"\") and the check fails every interval"
                            ),
                            help,
                        );
                        None
                    }
                },
                None => {
                    self.source = Some((format!("variables.{field}"), ValueSource::Placeholder));
                    Some(Val::Str {
                        s: String::new(),
                        exact: false,
                    })
                }
            },
            Val::Str { .. } | Val::Other(_) => {
                self.error(
                    span,
                    RenderErrorKind::Execution,
                    format!(
                        "can't evaluate field {field} in type string; {}",
                        flagger_runtime()
                    ),
                    None,
                );
                None
            }
            Val::Nil => {
                self.error(
                    span,
                    RenderErrorKind::NilData,
                    format!("nil pointer evaluating .{field}; {}", flagger_runtime()),
                    None,
                );
                None
            }
        }
    }

    fn call(&mut self, name: &str, span: Range<usize>, args: Vec<Val>) -> Option<Val> {
        if let Some(b) = self.model.field(name) {
            if !args.is_empty() {
                self.error(
                    span,
                    RenderErrorKind::Execution,
                    format!(
                        "wrong number of args for {name}: want 0 got {}; {}",
                        args.len(),
                        flagger_runtime()
                    ),
                    None,
                );
                return None;
            }
            let src = match &b.source {
                ValueSource::Placeholder => ValueSource::Placeholder,
                s => s.clone(),
            };
            self.source = Some((name.to_owned(), src));
            return Some(Val::Str {
                s: b.value.clone(),
                exact: b.exact,
            });
        }
        match name {
            "variables" => {
                if !args.is_empty() {
                    self.error(
                        span,
                        RenderErrorKind::Execution,
                        format!(
                            "wrong number of args for variables: want 0 got {}; {}",
                            args.len(),
                            flagger_runtime()
                        ),
                        None,
                    );
                    return None;
                }
                Some(Val::Map)
            }
            "print" | "println" | "printf" => {
                let mut exact = true;
                let strs: Vec<String> = args
                    .iter()
                    .map(|a| {
                        let (s, e) = a.print(self.model);
                        exact &= e;
                        s
                    })
                    .collect();
                let s = match name {
                    "print" => strs.concat(),
                    "println" => format!("{}\n", strs.join(" ")),
                    _ => {
                        let Some((fmt, rest)) = strs.split_first() else {
                            self.error(
                                span,
                                RenderErrorKind::Execution,
                                format!(
                                    "wrong number of args for printf: want at least 1 got 0; {}",
                                    flagger_runtime()
                                ),
                                None,
                            );
                            return None;
                        };
                        match go_sprintf(fmt, rest) {
                            Some(s) => s,
                            None => {
                                self.unsupported(span, "printf verb");
                                return None;
                            }
                        }
                    }
                };
                self.source = None;
                Some(Val::Str { s, exact })
            }
            "len" => match args.as_slice() {
                [Val::Str { s, exact }] => Some(Val::Str {
                    s: s.len().to_string(),
                    exact: *exact,
                }),
                _ => {
                    self.unsupported(span, "len");
                    None
                }
            },
            "index" => match args.as_slice() {
                [Val::Map, Val::Other(k)] | [Val::Map, Val::Str { s: k, .. }] => {
                    // `index` yields the zero value for a missing key (no missingkey check).
                    match &self.model.variables {
                        Some(v) => Some(Val::Str {
                            s: v.get(k).cloned().unwrap_or_default(),
                            exact: true,
                        }),
                        None => Some(Val::Str {
                            s: String::new(),
                            exact: false,
                        }),
                    }
                }
                _ => {
                    self.unsupported(span, "index");
                    None
                }
            },
            _ => {
                self.unsupported(span, name);
                None
            }
        }
    }
}

fn base_span(o: &Operand) -> Range<usize> {
    match o {
        Operand::Func(_, s)
        | Operand::Field(_, s)
        | Operand::Dot(s)
        | Operand::Var(_, s)
        | Operand::Lit(_, s)
        | Operand::Nil(s) => s.clone(),
        Operand::Chain(b, _, f) => base_span(b).start..f.end,
    }
}

/// Go's fmt.Sprintf for the verbs templates use in queries (%s %v %d %q %%); `None` for others.
fn go_sprintf(fmt: &str, args: &[String]) -> Option<String> {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            's' | 'v' | 'd' => match it.next() {
                Some(a) => out.push_str(a),
                None => out.push_str("%!v(MISSING)"),
            },
            'q' => match it.next() {
                Some(a) => out.push_str(&format!("{a:?}")),
                None => out.push_str("%!q(MISSING)"),
            },
            _ => return None,
        }
    }
    Some(out)
}

#[derive(Debug, Clone)]
enum Operand {
    Func(String, Range<usize>),
    Field(Vec<String>, Range<usize>),
    Chain(Box<Operand>, String, Range<usize>),
    Dot(Range<usize>),
    Var(String, Range<usize>),
    Lit(Val, Range<usize>),
    Nil(Range<usize>),
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.i)
    }

    fn peek_non_space(&mut self) -> Option<&'a Token> {
        while self.toks.get(self.i).is_some_and(|t| t.tok == Tok::Space) {
            self.i += 1;
        }
        self.toks.get(self.i)
    }

    fn next_non_space(&mut self) -> Option<&'a Token> {
        let t = self.peek_non_space()?;
        self.i += 1;
        Some(t)
    }
}

fn render_flagger(template: &str, model: &FlaggerModel) -> Rendered {
    let mut out = Out::new(template);
    let pieces = match lex_go(template) {
        Ok(p) => p,
        Err(mut e) => {
            e.message = format!(
                "{}; Flagger fails to parse the template and the check fails every interval",
                e.message
            );
            out.verbatim(0..template.len());
            return out.finish(vec![e], None);
        }
    };
    let mut ex = FlaggerExec {
        template,
        model,
        errors: Vec::new(),
        unsupported: None,
        vars: BTreeMap::new(),
        source: None,
    };
    for piece in &pieces {
        match piece {
            Piece::Text(r) => out.verbatim(r.clone()),
            Piece::Action(a) if a.comment => out.nothing(a.span.clone()),
            Piece::Action(a) => {
                ex.source = None;
                match ex.action(a) {
                    Some(v) => {
                        let (s, exact) = v.print(model);
                        let (name, source) = ex.source.take().unwrap_or_else(|| {
                            (
                                template[a.span.clone()]
                                    .trim_matches(|c| c == '{' || c == '}' || c == '-' || c == ' ')
                                    .to_owned(),
                                if exact {
                                    ValueSource::ArgValue
                                } else {
                                    ValueSource::Placeholder
                                },
                            )
                        });
                        let binding = Binding {
                            value: s,
                            source,
                            exact,
                        };
                        out.substitute(&name, a.span.clone(), &binding);
                    }
                    None => out.nothing(a.span.clone()),
                }
            }
        }
    }
    // Trimmed white space between pieces is simply absent from the output; the map only records
    // what was emitted.
    out.finish(ex.errors, ex.unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> FlaggerModel {
        let k = |v: &str, f: &'static str| Binding::known(v, ValueSource::Model(f));
        FlaggerModel {
            name: k("podinfo", "name"),
            namespace: k("test", "namespace"),
            target: k("podinfo", "target"),
            service: k("podinfo-svc", "service"),
            ingress: k("podinfo", "ingress"),
            route: k("podinfo", "route"),
            interval: k("1m", "interval"),
            variables: Some([("direction".to_owned(), "inbound".to_owned())].into()),
            binder: Some("Canary test/podinfo metric \"x\"".into()),
        }
    }

    fn flagger(t: &str) -> Rendered {
        render(t, &Env::Flagger(model()))
    }

    #[test]
    fn error_storms_are_bounded() {
        let r = flagger(&"{{ {{ {{ }} ".repeat(5000));
        assert_eq!(r.errors.len(), MAX_RENDER_ERRORS);
        assert!(
            r.errors[MAX_RENDER_ERRORS - 1]
                .message
                .ends_with("(4990 more errors in this template are not listed)"),
            "{:?}",
            r.errors.last()
        );
        let args = ArgoArgs {
            args: vec![],
            complete: true,
            binder: None,
        };
        let r = render(&"{{args.x}}".repeat(50), &Env::Argo(args));
        assert_eq!(r.errors.len(), MAX_RENDER_ERRORS);
        assert!(
            r.errors[9].message.contains("(40 more errors"),
            "{:?}",
            r.errors[9]
        );
        assert!(r.errors[8].message.find("more errors").is_none());
    }

    #[test]
    fn flagger_functions() {
        let r = flagger("x{pod=~\"{{ target }}-.*\",ns=\"{{namespace}}\"}[{{ interval }}]");
        assert!(r.ok(), "{:?}", r.errors);
        assert_eq!(r.text, "x{pod=~\"podinfo-.*\",ns=\"test\"}[1m]");
        assert_eq!(r.substitutions.len(), 3);
        let s = &r.substitutions[0];
        assert_eq!(s.name, "target");
        assert_eq!(&r.text[s.out.clone()], "podinfo");
        assert_eq!(s.context, Context::String);
        assert_eq!(r.substitutions[2].context, Context::Duration);
        // The map widens to the whole action.
        let at = r.text.find("podinfo").unwrap();
        assert_eq!(r.map.to_source(&(at..at + 7)), 8..20);
    }

    #[test]
    fn flagger_variables_and_errors() {
        let r = flagger("{{ variables.direction }}");
        assert_eq!(r.text, "inbound");
        let r = flagger("{{ variables.nope }}");
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].kind, RenderErrorKind::MissingVariable);
        assert_eq!(r.errors[0].src, 3..17);
        let r = flagger("a {{ .target }} b");
        assert_eq!(r.errors[0].kind, RenderErrorKind::NilData);
        assert_eq!(r.errors[0].src, 5..12);
        let r = flagger("{{ targte }}");
        assert_eq!(r.errors[0].kind, RenderErrorKind::Unknown);
        assert_eq!(
            r.errors[0].help.as_deref(),
            Some("did you mean {{ target }}?")
        );
        let r = flagger("x{a=\"{{ target\"}");
        assert_eq!(r.errors[0].kind, RenderErrorKind::Syntax);
        let r = flagger("{{ target \"x\" }}");
        assert_eq!(r.errors[0].kind, RenderErrorKind::Execution);
    }

    #[test]
    fn flagger_trim_comments_printf() {
        let r = flagger("a  {{- /* c */ -}}  b {{- target -}} c");
        assert!(r.ok(), "{:?}", r.errors);
        assert_eq!(r.text, "abpodinfoc");
        let r = flagger("{{ printf \"%s-%s\" namespace target }}");
        assert_eq!(r.text, "test-podinfo");
        let r = flagger("{{ target | printf \"%s-canary\" }}");
        assert_eq!(r.text, "podinfo-canary");
        let r = flagger("{{- $r := printf \"kube_%s\" namespace }}x{{ $r }}");
        assert!(r.ok(), "{:?}", r.errors);
        assert_eq!(r.text, "xkube_test");
        let r = flagger("{{ if true }}x{{ end }}");
        assert!(r.unsupported.is_some());
    }

    #[test]
    fn empty_interval_renders_nothing() {
        let mut m = model();
        m.interval = Binding::known("", ValueSource::Model("interval"));
        let r = render("x[{{ interval }}]", &Env::Flagger(m));
        assert!(r.ok());
        assert_eq!(r.text, "x[]");
        assert_eq!(r.map.to_source(&(1..3)), 1..17);
    }

    #[test]
    fn placeholders() {
        let r = render(
            "rate(x{a=\"{{ target }}\"}[{{ interval }}]) > {{ variables.t }}",
            &Env::Flagger(FlaggerModel::placeholders()),
        );
        assert!(r.ok(), "{:?}", r.errors);
        assert_eq!(
            r.text,
            "rate(x{a=\"rollgate-target\"}[1m]) > rollgate_placeholder"
        );
        assert!(r.has_bare_placeholder());
        assert!(!r.is_exact(&(0..r.text.len())));
        assert!(r.is_exact(&(0..5)));
    }

    #[test]
    fn argo() {
        let args = ArgoArgs {
            args: vec![
                (
                    "service-name".into(),
                    Some(Binding::known("web", ValueSource::ArgValue)),
                ),
                ("hash".into(), None),
            ],
            complete: false,
            binder: None,
        };
        let env = Env::Argo(args.clone());
        let r = render("x{s=\"{{args.service-name}}\",h=\"{{ args.hash }}\"}", &env);
        assert!(r.ok(), "{:?}", r.errors);
        assert_eq!(r.text, "x{s=\"web\",h=\"rollgate-hash\"}");
        let r = render("x{s=\"{{ target }}\"}", &env);
        assert_eq!(r.errors[0].kind, RenderErrorKind::Unknown);
        assert!(
            r.errors[0].message.contains("Flagger template syntax"),
            "{}",
            r.errors[0].message
        );
        let r = render("x{s=\"{{args.servce-name}}\"}", &env);
        assert_eq!(
            r.errors[0].help.as_deref(),
            Some("did you mean {{args.service-name}}?")
        );
        let r = render("x{s=\"{{args.service-name\"}", &env);
        assert_eq!(r.errors[0].kind, RenderErrorKind::Syntax);
        let mut complete = args;
        complete.complete = true;
        let r = render("{{args.hash}}", &Env::Argo(complete));
        assert_eq!(r.errors[0].kind, RenderErrorKind::MissingArgument);
    }
}
