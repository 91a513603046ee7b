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

/// Whether Go's `regexp` (Prometheus) rejects `pattern`: `Some(reason)` when it certainly does,
/// `None` when it accepts it or rollgate cannot tell.
pub fn go_rejects(pattern: &str) -> Option<String> {
    match syntax::prepare(pattern, &Limits::default()) {
        Err(syntax::Prep::Syntax(m) | syntax::Prep::NotRe2(m)) => Some(m),
        _ => None,
    }
}

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

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
            nest_limit: 200,
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
    quick: Option<names::Quick>,
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
            quick: None,
        }
    }

    fn with_quick(mut self, quick: names::Quick) -> Self {
        self.quick = Some(quick);
        self
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

/// Why one pattern yields no automaton.
#[derive(Clone, Debug)]
enum Fail {
    Error(PatternErrorKind, String),
    Undecided(UndecidedKind, String),
}

/// Parse, check and build the automaton for one pattern.
fn compile(pattern: &str, negated: bool, limits: &Limits) -> Result<product::Automaton, Fail> {
    let hir = syntax::prepare(pattern, limits).map_err(|p| match p {
        syntax::Prep::Syntax(m) => Fail::Error(PatternErrorKind::Syntax, m),
        syntax::Prep::NotRe2(m) => Fail::Error(PatternErrorKind::NotRe2, m),
        syntax::Prep::Unsupported(m) => Fail::Undecided(UndecidedKind::Unsupported, m),
        syntax::Prep::Limit(m) => Fail::Undecided(UndecidedKind::Limit, m),
    })?;
    product::build(&hir, negated, limits).map_err(|m| Fail::Undecided(UndecidedKind::Limit, m))
}

type Compile<'a> = dyn FnMut(&str, bool) -> Result<Arc<product::Automaton>, Fail> + 'a;

/// Is there a string matching every matcher and, when given, the language `within` (an RE2
/// pattern)? Uncached; see [`Checker::decide`].
pub fn decide(
    matchers: &[Matcher],
    within: Option<&str>,
    limits: &Limits,
) -> Result<Verdict, PatternError> {
    decide_with(matchers, within, limits, &mut |p, neg| {
        compile(p, neg, limits).map(Arc::new)
    })
}

fn decide_with(
    matchers: &[Matcher],
    within: Option<&str>,
    limits: &Limits,
    get: &mut Compile<'_>,
) -> Result<Verdict, PatternError> {
    if matchers.len() > limits.max_matchers {
        return Ok(undecided(
            UndecidedKind::Limit,
            format!("more than {} matchers on one label", limits.max_matchers),
        ));
    }
    // Every pattern is looked at, so that an invalid one is reported even when another one
    // is undecided.
    let mut autos = Vec::with_capacity(matchers.len() + 1);
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
        match get(&pattern, negated) {
            Ok(a) => autos.push(a),
            Err(Fail::Error(kind, message)) => {
                return Err(PatternError {
                    origin,
                    kind,
                    message,
                });
            }
            Err(Fail::Undecided(kind, reason)) => {
                first_undecided.get_or_insert(undecided(kind, reason));
            }
        }
    }
    if let Some(u) = first_undecided {
        return Ok(u);
    }
    if autos.iter().all(|a| a.negated()) {
        // Only complements: intersect with "any UTF-8 string" so the witness is UTF-8.
        match get(".*", false) {
            Ok(a) => autos.push(a),
            Err(_) => {
                return Ok(undecided(
                    UndecidedKind::Internal,
                    "universe did not compile",
                ));
            }
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

/// Is there a string matching every matcher in `lang`? Like [`decide`] with
/// `lang.pattern()`, plus: a witness is taken from the typical sub-language when that has one,
/// and a cheaper superset of the language is tried first when it has one. Uncached; see
/// [`Checker::decide`].
pub fn decide_in(matchers: &[Matcher], lang: &Language, limits: &Limits) -> Answer {
    decide_language(matchers, lang, &mut |m, p| decide(m, Some(p), limits))
}

/// `run(matchers, pattern)` answers one question; this combines the questions a `Language`
/// needs (see `names::Quick` for why the superset keeps the answer exact).
fn decide_language(
    matchers: &[Matcher],
    lang: &Language,
    run: &mut dyn FnMut(&[Matcher], &str) -> Answer,
) -> Answer {
    let quick = lang.quick.as_ref();
    let verdict = within(
        matchers,
        &lang.pattern,
        quick.map(|q| (q.pattern.as_str(), q.hash)),
        run,
    )?;
    if let (Verdict::Witness(_), Some(typical)) = (&verdict, &lang.typical) {
        let quick_typical = quick.and_then(|q| q.typical.as_deref().map(|t| (t, q.hash)));
        if let Ok(Verdict::Witness(w)) = within(matchers, typical, quick_typical, run) {
            return Ok(Verdict::Witness(w));
        }
    }
    Ok(verdict)
}

fn within(
    matchers: &[Matcher],
    exact: &str,
    quick: Option<(&str, names::HashSlot)>,
    run: &mut dyn FnMut(&[Matcher], &str) -> Answer,
) -> Answer {
    if let Some((superset, hash)) = quick {
        match run(matchers, superset)? {
            Verdict::Empty => return Ok(Verdict::Empty),
            Verdict::Witness(w) if hash.holds(&w) => return Ok(Verdict::Witness(w)),
            Verdict::Witness(_) | Verdict::Undecided(_) => {}
        }
    }
    run(matchers, exact)
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

/// Least-recently-used map, bounded in entries and in a cost the caller assigns (bytes).
struct Lru<K, V> {
    map: HashMap<K, (V, u64, usize)>,
    tick: u64,
    cost: usize,
    max_entries: usize,
    max_cost: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Lru<K, V> {
    fn new(max_entries: usize, max_cost: usize) -> Self {
        Lru {
            map: HashMap::new(),
            tick: 0,
            cost: 0,
            max_entries,
            max_cost,
        }
    }

    fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(k).map(|(v, t, _)| {
            *t = tick;
            v.clone()
        })
    }

    fn put(&mut self, k: K, v: V, cost: usize) {
        if cost > self.max_cost / 4 {
            return;
        }
        while !self.map.is_empty()
            && (self.map.len() >= self.max_entries || self.cost + cost > self.max_cost)
        {
            // O(entries) per eviction; only on a miss, which costs far more anyway.
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, t, _))| *t)
                .map(|(k, _)| k.clone());
            match oldest.and_then(|o| self.map.remove(&o)) {
                Some((_, _, c)) => self.cost = self.cost.saturating_sub(c),
                None => break,
            }
        }
        self.tick += 1;
        if let Some((_, _, old)) = self.map.insert(k, (v, self.tick, cost)) {
            self.cost = self.cost.saturating_sub(old);
        }
        self.cost += cost;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

type AnswerKey = (Vec<Matcher>, Option<String>);
type Answer = Result<Verdict, PatternError>;
type AutomatonKey = (String, bool);

fn answer_cost(k: &AnswerKey) -> usize {
    k.0.iter().map(|m| m.value.len() + 64).sum::<usize>()
        + k.1.as_ref().map_or(0, String::len)
        + 128
}

/// Decides with fixed [`Limits`] and remembers both answers and compiled automata: the same
/// template regex comes back once per Canary, a Canary's name languages serve all of its
/// queries, and the webhook sees the same objects again and again. Memory is bounded
/// (answers: 1024 entries / 4 MiB of keys; automata: 256 entries / 32 MiB, each with at most
/// one spare lazy-DFA cache of at most 256 KiB, so determinization work is reused too).
pub struct Checker {
    limits: Limits,
    answers: Mutex<Lru<AnswerKey, Answer>>,
    automata: Mutex<Lru<AutomatonKey, Arc<product::Automaton>>>,
}

impl Checker {
    pub fn new(limits: Limits) -> Self {
        Checker {
            limits,
            answers: Mutex::new(Lru::new(1024, 4 << 20)),
            automata: Mutex::new(Lru::new(256, 32 << 20)),
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

    fn automaton(&self, pattern: &str, negated: bool) -> Result<Arc<product::Automaton>, Fail> {
        let key: AutomatonKey = (pattern.to_string(), negated);
        let hit = self
            .automata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key);
        if let Some(a) = hit {
            return Ok(a);
        }
        let a = Arc::new(compile(pattern, negated, &self.limits)?);
        let cost = pattern.len() + a.memory_usage();
        self.automata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, Arc::clone(&a), cost);
        Ok(a)
    }

    fn cached(&self, matchers: &[Matcher], within: Option<&str>) -> Answer {
        let key: AnswerKey = (matchers.to_vec(), within.map(str::to_string));
        let hit = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key);
        if let Some(a) = hit {
            return a;
        }
        let answer = decide_with(matchers, within, &self.limits, &mut |p, neg| {
            self.automaton(p, neg)
        });
        let cost = answer_cost(&key);
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, answer.clone(), cost);
        answer
    }

    /// Is there a string matching every matcher and, when given, lying in `lang`? See
    /// [`decide_in`] for how a witness is chosen.
    pub fn decide(&self, matchers: &[Matcher], lang: Option<&Language>) -> Answer {
        match lang {
            None => self.cached(matchers, None),
            Some(lang) => decide_language(matchers, lang, &mut |m, p| self.cached(m, Some(p))),
        }
    }

    /// Intersect the matchers on one label with Flagger's primary and canary names of `what`.
    pub fn isolation(
        &self,
        matchers: &[Matcher],
        names: &FlaggerNames,
        what: NameKind,
    ) -> Result<Isolation, PatternError> {
        self.isolation_in(matchers, names.primary(what), names.canary(what))
    }

    /// [`isolation`](Self::isolation) with the languages already built (they are reused across
    /// the matchers of one Canary; building a pod language costs about as much as a cache hit).
    pub fn isolation_in(
        &self,
        matchers: &[Matcher],
        primary_language: Language,
        canary_language: Language,
    ) -> Result<Isolation, PatternError> {
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
    fn caches_are_bounded() {
        let c = Checker::new(Limits::default());
        for i in 0..1100 {
            let _ = c.cached(&[Matcher::new(MatchOp::Equal, format!("x{i}"))], None);
        }
        assert!(c.answers.lock().unwrap_or_else(|e| e.into_inner()).len() <= 1024);
        assert!(c.automata.lock().unwrap_or_else(|e| e.into_inner()).len() <= 256);
        let mut lru: Lru<u32, ()> = Lru::new(10, 100);
        for i in 0..50 {
            lru.put(i, (), 20);
        }
        assert!(lru.len() <= 5 && lru.cost <= 100);
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
