//! Exact decisions about the languages of Prometheus label matchers.
//!
//! The question this module answers: *is there a label value that satisfies all of these
//! matchers (`=`, `!=`, `=~`, `!~`) and lies in a given language* (say, the names of Flagger's
//! primary pods) — and if so, which is the shortest? That decides whether a canary gate also
//! measures primary pods (`canary-query-includes-primary`) or sees no canary at all.
//!
//! Semantics, in short (details in the submodules):
//! - Regexes are read as Prometheus reads them: Go RE2 syntax, fully anchored, `.` matching
//!   newline (`^(?s:re)$`, Prometheus ≥ 3.0; label values that are names never contain a
//!   newline, so 2.x gives the same answers here). Where RE2 and the Rust parser disagree, the
//!   pattern is rewritten to RE2's meaning (`\d \w \s \b` are ASCII) or, for a few rare
//!   constructs, reported as undecided; patterns Go would reject are a [`PatternError`].
//! - `=`/`!=` compare the whole value; `!~`/`!=` are complements of the value's language.
//! - A witness is a shortest string in bytes (it is valid UTF-8, a `String`).
//! - Every step is bounded by [`Limits`]: past a bound the answer is [`Verdict::Undecided`],
//!   never a panic, a hang or unbounded memory.
//!
//! Entry points: [`Checker::decide`] (cached; [`Checker::shared`] for the process-wide one),
//! [`Checker::isolation`] for the canary/primary question, [`decide`] and [`intersect`]
//! uncached, and the name languages in [`names`].

pub mod names;
mod product;
mod syntax;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

pub use names::{FlaggerNames, NameKind, TargetKind, argo_rollout_pods};

/// Bounds on every stage. The defaults keep one decision under a few milliseconds and a few
/// megabytes on adversarial input (see `benches/regexlang.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Longest regex (bytes) analysed at all.
    pub max_pattern_len: usize,
    /// Deepest nesting of groups, classes and repetitions (`regex-syntax` nest limit).
    pub nest_limit: u32,
    /// Heap bytes for one Thompson NFA (`nfa_size_limit`).
    pub nfa_size_limit: usize,
    /// Heap bytes for one lazy DFA's state cache; never cleared, so this bounds its states.
    pub dfa_cache_bytes: usize,
    /// Product states visited by the search.
    pub max_product_states: usize,
    /// Product transitions taken by the search (states × joint byte classes).
    pub max_steps: usize,
    /// Matchers in one question.
    pub max_matchers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pattern_len: 16 * 1024,
            nest_limit: 100,
            nfa_size_limit: 1 << 20,
            dfa_cache_bytes: 1 << 20,
            max_product_states: 20_000,
            max_steps: 1_000_000,
            max_matchers: 8,
        }
    }
}

/// A label matcher's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// `"="`, `"!="`, `"=~"`, `"!~"`.
    pub fn parse(op: &str) -> Option<MatchOp> {
        match op {
            "=" => Some(MatchOp::Equal),
            "!=" => Some(MatchOp::NotEqual),
            "=~" => Some(MatchOp::Regex),
            "!~" => Some(MatchOp::NotRegex),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// True for `!=` and `!~`.
    pub fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::NotRegex)
    }
}

/// One matcher's operator and value (the value after template substitution).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Matcher {
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    pub fn new(op: MatchOp, value: impl Into<String>) -> Self {
        Matcher {
            op,
            value: value.into(),
        }
    }

    /// The matcher as an RE2 pattern and whether it is negated.
    fn as_regex(&self) -> (Cow<'_, str>, bool) {
        match self.op {
            MatchOp::Equal => (Cow::Owned(regex_syntax::escape(&self.value)), false),
            MatchOp::NotEqual => (Cow::Owned(regex_syntax::escape(&self.value)), true),
            MatchOp::Regex => (Cow::Borrowed(&self.value), false),
            MatchOp::NotRegex => (Cow::Borrowed(&self.value), true),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.op.as_str(), self.value)
    }
}

/// A set of names, as an RE2 regex (fully anchored), with a noun for messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Language {
    pattern: String,
    typical: Option<String>,
    noun: Cow<'static, str>,
}

impl Language {
    /// `pattern` is RE2 syntax; `typical`, when given, is a sub-language whose strings make
    /// better examples (a witness is taken from it when it has one).
    pub fn new(
        pattern: String,
        typical: Option<String>,
        noun: impl Into<Cow<'static, str>>,
    ) -> Self {
        Language {
            pattern,
            typical,
            noun: noun.into(),
        }
    }

    /// Exactly the string `value`.
    pub fn literal(value: &str, noun: impl Into<Cow<'static, str>>) -> Self {
        Language::new(regex_syntax::escape(value), None, noun)
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn typical(&self) -> Option<&str> {
        self.typical.as_deref()
    }

    /// What the strings are, for messages: `primary pod`.
    pub fn noun(&self) -> &str {
        &self.noun
    }
}

/// The answer to "is there a string satisfying all of these?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No string satisfies all constraints (decided exactly).
    Empty,
    /// A shortest string (in bytes) satisfying all constraints.
    Witness(String),
    /// A bound was hit or a construct is not modelled; nothing is known.
    Undecided(Undecided),
}

impl Verdict {
    pub fn witness(&self) -> Option<&str> {
        match self {
            Verdict::Witness(w) => Some(w),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Verdict::Empty)
    }

    pub fn undecided(&self) -> Option<&Undecided> {
        match self {
            Verdict::Undecided(u) => Some(u),
            _ => None,
        }
    }
}

/// Why no decision was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided {
    pub kind: UndecidedKind,
    /// Lowercase, no trailing period: `regex nests deeper than 100 levels`.
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UndecidedKind {
    /// A [`Limits`] bound.
    Limit,
    /// A construct whose RE2 meaning is not modelled.
    Unsupported,
    /// Should not happen; reported rather than panicking.
    Internal,
}

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not decide: {}", self.reason)
    }
}

/// Which input a [`PatternError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatternOrigin {
    /// Index into the matcher slice.
    Matcher(usize),
    /// The language the matchers were intersected with.
    Language,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatternErrorKind {
    /// The regex does not parse (with the Rust parser, which the PromQL parser also uses).
    Syntax,
    /// The regex parses here but Go's `regexp` rejects it, so Prometheus rejects the query.
    NotRe2,
}

/// A regex that is not a valid Prometheus regex.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PatternError {
    pub origin: PatternOrigin,
    pub kind: PatternErrorKind,
    /// Lowercase, no trailing period.
    pub message: String,
}

fn undecided(kind: UndecidedKind, reason: impl Into<String>) -> Verdict {
    Verdict::Undecided(Undecided {
        kind,
        reason: reason.into(),
    })
}

/// Is there a string matching every matcher and, when given, the language `within` (an RE2
/// pattern)? Uncached; see [`Checker::decide`].
pub fn decide(
    matchers: &[Matcher],
    within: Option<&str>,
    limits: &Limits,
) -> Result<Verdict, PatternError> {
    if matchers.len() > limits.max_matchers {
        return Ok(undecided(
            UndecidedKind::Limit,
            format!("more than {} matchers on one label", limits.max_matchers),
        ));
    }
    // Parse everything first, so that an invalid pattern is reported even when another one
    // would have been undecided.
    let mut prepared = Vec::with_capacity(matchers.len() + 1);
    let mut first_undecided: Option<Verdict> = None;
    let inputs = matchers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (p, neg) = m.as_regex();
            (PatternOrigin::Matcher(i), p, neg)
        })
        .chain(within.map(|w| (PatternOrigin::Language, Cow::Borrowed(w), false)));
    for (origin, pattern, negated) in inputs {
        match syntax::prepare(&pattern, limits) {
            Ok(hir) => prepared.push((hir, negated)),
            Err(syntax::Prep::Syntax(message)) => {
                return Err(PatternError {
                    origin,
                    kind: PatternErrorKind::Syntax,
                    message,
                });
            }
            Err(syntax::Prep::NotRe2(message)) => {
                return Err(PatternError {
                    origin,
                    kind: PatternErrorKind::NotRe2,
                    message,
                });
            }
            Err(syntax::Prep::Unsupported(reason)) => {
                first_undecided.get_or_insert(undecided(UndecidedKind::Unsupported, reason));
            }
            Err(syntax::Prep::Limit(reason)) => {
                first_undecided.get_or_insert(undecided(UndecidedKind::Limit, reason));
            }
        }
    }
    if let Some(u) = first_undecided {
        return Ok(u);
    }
    if prepared.iter().all(|(_, negated)| *negated) {
        // Only complements: intersect with "any UTF-8 string" so the witness is UTF-8.
        match syntax::prepare(".*", limits) {
            Ok(hir) => prepared.push((hir, false)),
            Err(_) => {
                return Ok(undecided(
                    UndecidedKind::Internal,
                    "universe did not compile",
                ));
            }
        }
    }
    let mut autos = Vec::with_capacity(prepared.len());
    for (hir, negated) in &prepared {
        match product::build(hir, *negated, limits) {
            Ok(a) => autos.push(a),
            Err(reason) => return Ok(undecided(UndecidedKind::Limit, reason)),
        }
    }
    Ok(match product::search(&autos, limits) {
        Ok(None) => Verdict::Empty,
        Ok(Some(bytes)) => match String::from_utf8(bytes) {
            Ok(s) => Verdict::Witness(s),
            Err(_) => undecided(UndecidedKind::Internal, "witness is not UTF-8"),
        },
        Err(product::Exhausted(reason)) => undecided(UndecidedKind::Limit, reason),
    })
}

/// Do two regexes (Prometheus semantics) share a string? Uncached.
pub fn intersect(a: &str, b: &str, limits: &Limits) -> Result<Verdict, PatternError> {
    decide(
        &[
            Matcher::new(MatchOp::Regex, a),
            Matcher::new(MatchOp::Regex, b),
        ],
        None,
        limits,
    )
}

/// The canary/primary question for the matchers on one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Isolation {
    /// Matchers ∩ primary names: a witness means the gate also measures the primary.
    pub primary: Verdict,
    /// Matchers ∩ canary names: empty means the gate sees no canary data.
    pub canary: Verdict,
    pub primary_language: Language,
    pub canary_language: Language,
}

impl Isolation {
    /// A primary name the matchers accept.
    pub fn includes_primary(&self) -> Option<&str> {
        self.primary.witness()
    }

    /// True when (exactly) no canary name is accepted.
    pub fn misses_canary(&self) -> bool {
        self.canary.is_empty()
    }

    /// The first undecided half, if any.
    pub fn undecided(&self) -> Option<&Undecided> {
        self.primary.undecided().or_else(|| self.canary.undecided())
    }
}

const CACHE_ENTRIES: usize = 1024;
const CACHE_KEY_BYTES: usize = 4 << 20;

type Key = (Vec<Matcher>, Option<String>);
type Answer = Result<Verdict, PatternError>;

/// Least-recently-used results, bounded in entries and in key bytes.
#[derive(Default)]
struct Lru {
    map: HashMap<Key, (Answer, u64)>,
    tick: u64,
    key_bytes: usize,
}

fn key_size(k: &Key) -> usize {
    k.0.iter().map(|m| m.value.len() + 32).sum::<usize>() + k.1.as_ref().map_or(0, String::len)
}

impl Lru {
    fn get(&mut self, k: &Key) -> Option<Answer> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(k).map(|(a, t)| {
            *t = tick;
            a.clone()
        })
    }

    fn put(&mut self, k: Key, a: Answer) {
        let size = key_size(&k);
        if size > CACHE_KEY_BYTES / 4 {
            return;
        }
        while !self.map.is_empty()
            && (self.map.len() >= CACHE_ENTRIES || self.key_bytes + size > CACHE_KEY_BYTES)
        {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone());
            match oldest.and_then(|o| self.map.remove_entry(&o)) {
                Some((o, _)) => self.key_bytes = self.key_bytes.saturating_sub(key_size(&o)),
                None => break,
            }
        }
        self.tick += 1;
        if self.map.insert(k, (a, self.tick)).is_none() {
            self.key_bytes += size;
        }
    }
}

/// Decides with fixed [`Limits`] and remembers answers (the same template regex comes back
/// once per Canary, and the webhook sees the same objects again and again).
pub struct Checker {
    limits: Limits,
    cache: Mutex<Lru>,
}

impl Checker {
    pub fn new(limits: Limits) -> Self {
        Checker {
            limits,
            cache: Mutex::new(Lru::default()),
        }
    }

    /// The process-wide checker with default limits.
    pub fn shared() -> &'static Checker {
        static SHARED: OnceLock<Checker> = OnceLock::new();
        SHARED.get_or_init(|| Checker::new(Limits::default()))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn cached(&self, matchers: &[Matcher], within: Option<&str>) -> Answer {
        let key: Key = (matchers.to_vec(), within.map(str::to_string));
        let hit = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key);
        if let Some(a) = hit {
            return a;
        }
        let answer = decide(matchers, within, &self.limits);
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, answer.clone());
        answer
    }

    /// Is there a string matching every matcher and, when given, lying in `within`? A witness
    /// is taken from `within`'s typical sub-language when that has one (still a shortest one
    /// there), else it is a shortest string overall.
    pub fn decide(&self, matchers: &[Matcher], within: Option<&Language>) -> Answer {
        let verdict = self.cached(matchers, within.map(Language::pattern))?;
        if let (Verdict::Witness(_), Some(typical)) = (&verdict, within.and_then(Language::typical))
        {
            if let Ok(Verdict::Witness(w)) = self.cached(matchers, Some(typical)) {
                return Ok(Verdict::Witness(w));
            }
        }
        Ok(verdict)
    }

    /// Intersect the matchers on one label with Flagger's primary and canary names of `what`.
    pub fn isolation(
        &self,
        matchers: &[Matcher],
        names: &FlaggerNames,
        what: NameKind,
    ) -> Result<Isolation, PatternError> {
        let primary_language = names.primary(what);
        let canary_language = names.canary(what);
        Ok(Isolation {
            primary: self.decide(matchers, Some(&primary_language))?,
            canary: self.decide(matchers, Some(&canary_language))?,
            primary_language,
            canary_language,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(v: &str) -> Matcher {
        Matcher::new(MatchOp::Regex, v)
    }

    #[test]
    fn lru_is_bounded() {
        let c = Checker::new(Limits::default());
        for i in 0..(CACHE_ENTRIES + 10) {
            let _ = c.cached(&[Matcher::new(MatchOp::Equal, format!("x{i}"))], None);
        }
        let lru = c.cache.lock().unwrap_or_else(|e| e.into_inner());
        assert!(lru.map.len() <= CACHE_ENTRIES);
    }

    #[test]
    fn only_negatives_gives_utf8_witness() {
        let v = decide(
            &[Matcher::new(MatchOp::NotRegex, ".+")],
            None,
            &Limits::default(),
        );
        assert_eq!(v, Ok(Verdict::Witness(String::new())));
        let v = decide(
            &[Matcher::new(MatchOp::NotRegex, "")],
            None,
            &Limits::default(),
        );
        assert!(
            matches!(v, Ok(Verdict::Witness(ref w)) if w.len() == 1),
            "{v:?}"
        );
    }

    #[test]
    fn equality_and_regex() {
        let l = Limits::default();
        let v = decide(&[Matcher::new(MatchOp::Equal, "a.b"), re("a.b")], None, &l);
        assert_eq!(v, Ok(Verdict::Witness("a.b".into())));
        let v = decide(
            &[Matcher::new(MatchOp::Equal, "a.b"), re("a\\.c")],
            None,
            &l,
        );
        assert_eq!(v, Ok(Verdict::Empty));
    }
}
