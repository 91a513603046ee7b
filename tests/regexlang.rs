//! The regex-language decisions: concrete canary/primary cases from issue 5 and rules.md D, and
//! property tests against brute-force enumeration with the `regex` crate as the oracle.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use rollgate::regexlang::{
    Checker, FlaggerNames, Limits, MatchOp, Matcher, NameKind, PatternErrorKind, TargetKind,
    UndecidedKind, Verdict, argo_rollout_pods, decide, decide_in, intersect,
};

fn re(v: &str) -> Matcher {
    Matcher::new(MatchOp::Regex, v)
}

fn nre(v: &str) -> Matcher {
    Matcher::new(MatchOp::NotRegex, v)
}

/// Prometheus' reading of a regex, with the `regex` crate: `^(?s:re)$`.
fn anchored(v: &str) -> regex::Regex {
    match regex::Regex::new(&format!("^(?s:{v})$")) {
        Ok(r) => r,
        Err(e) => panic!("oracle regex {v:?} does not compile: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Canary isolation, the cases of issue 5

#[test]
fn alphanumeric_plus_dot_star_includes_primary_pods() {
    let names = FlaggerNames::new("checkout");
    let iso = Checker::shared()
        .isolation(&[re("checkout-[0-9a-zA-Z]+.*")], &names, NameKind::Pod)
        .expect("valid regex");
    let w = iso.includes_primary().expect("includes primary");
    assert!(w.starts_with("checkout-primary-"), "{w}");
    assert!(anchored(iso.primary_language.pattern()).is_match(w));
    assert!(anchored("checkout-[0-9a-zA-Z]+.*").is_match(w));
    // The witness comes from the typical sub-language: a 9-character pod-template-hash.
    let hash = w.trim_start_matches("checkout-primary-");
    assert_eq!(hash.len(), 9 + 1 + 5, "{w}");
    assert!(!iso.misses_canary());
    assert_eq!(iso.primary_language.noun(), "primary pod");
}

#[test]
fn flagger_builtin_pod_regex_excludes_primary_because_anchored() {
    let names = FlaggerNames::new("checkout");
    let iso = Checker::shared()
        .isolation(
            &[re("checkout-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)")],
            &names,
            NameKind::Pod,
        )
        .expect("valid regex");
    assert_eq!(iso.primary, Verdict::Empty);
    let w = iso.canary.witness().expect("matches canary pods");
    assert!(anchored(iso.canary_language.pattern()).is_match(w), "{w}");
    // Unanchored (as `regex` would search) the same regex finds a primary pod name inside.
    let unanchored = regex::Regex::new("checkout-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)").expect("ok");
    assert!(unanchored.is_match("checkout-primary-6b9f7c8d5-x2kqz"));
}

#[test]
fn negative_matcher_excludes_primary() {
    let names = FlaggerNames::new("checkout");
    let iso = Checker::shared()
        .isolation(
            &[re("checkout-.*"), nre("checkout-primary-.*")],
            &names,
            NameKind::Pod,
        )
        .expect("valid");
    assert_eq!(iso.primary, Verdict::Empty);
    assert!(iso.canary.witness().is_some());
    // `!=` of one name does not.
    let iso = Checker::shared()
        .isolation(
            &[
                re("checkout-.*"),
                Matcher::new(MatchOp::NotEqual, "checkout-primary-6b9f7c8d5-x2kqz"),
            ],
            &names,
            NameKind::Pod,
        )
        .expect("valid");
    let w = iso.includes_primary().expect("other primary pods remain");
    assert_ne!(w, "checkout-primary-6b9f7c8d5-x2kqz");
}

#[test]
fn matcher_matching_no_canary_name() {
    let names = FlaggerNames::new("checkout");
    let iso = Checker::shared()
        .isolation(&[re("checkout-canary-.*")], &names, NameKind::Pod)
        .expect("valid");
    assert!(iso.misses_canary(), "{iso:?}");
    assert_eq!(iso.primary, Verdict::Empty);
    // A typo in the target matches nothing either.
    let iso = Checker::shared()
        .isolation(&[re("chekout-.*")], &names, NameKind::Pod)
        .expect("valid");
    assert!(iso.misses_canary());
}

#[test]
fn workload_labels() {
    let names = FlaggerNames::new("checkout");
    let c = Checker::shared();
    let iso = c
        .isolation(&[re("checkout")], &names, NameKind::Workload)
        .expect("valid");
    assert_eq!(iso.primary, Verdict::Empty);
    assert_eq!(iso.canary, Verdict::Witness("checkout".into()));
    let iso = c
        .isolation(&[re("checkout.*")], &names, NameKind::Workload)
        .expect("valid");
    assert_eq!(iso.includes_primary(), Some("checkout-primary"));
    let iso = c
        .isolation(
            &[Matcher::new(MatchOp::Equal, "checkout-primary")],
            &names,
            NameKind::Workload,
        )
        .expect("valid");
    assert!(iso.misses_canary());
}

#[test]
fn services_and_selector_labels() {
    let names = FlaggerNames::new("checkout")
        .with_service("shop")
        .with_label_value("checkout-app");
    let c = Checker::shared();
    let iso = c
        .isolation(
            &[Matcher::new(MatchOp::Equal, "shop-canary")],
            &names,
            NameKind::Service,
        )
        .expect("valid");
    assert_eq!(iso.primary, Verdict::Empty);
    assert!(!iso.misses_canary());
    // The apex Service selects the primary pods.
    let iso = c
        .isolation(
            &[Matcher::new(MatchOp::Equal, "shop")],
            &names,
            NameKind::Service,
        )
        .expect("valid");
    assert_eq!(iso.includes_primary(), Some("shop"));
    assert!(iso.misses_canary());
    let iso = c
        .isolation(&[re("checkout-app.*")], &names, NameKind::SelectorLabel)
        .expect("valid");
    assert_eq!(iso.includes_primary(), Some("checkout-app-primary"));
}

#[test]
fn dotted_target_is_escaped() {
    // `.` in a name is literal in the name language, and still a wildcard in the user's regex.
    let names = FlaggerNames::new("api.v2");
    let iso = Checker::shared()
        .isolation(&[re("api.v2-[a-z0-9]+-[a-z0-9]+")], &names, NameKind::Pod)
        .expect("valid");
    assert_eq!(iso.primary, Verdict::Empty);
    let w = iso.canary.witness().expect("canary");
    assert!(w.starts_with("api.v2-"), "{w}");
    let iso = Checker::shared()
        .isolation(&[re("apixv2-.*")], &names, NameKind::Pod)
        .expect("valid");
    assert!(iso.misses_canary());
}

#[test]
fn daemonset_primary_pods_defeat_the_builtin_regex() {
    // DaemonSet pods have no hash segment: `agent-primary-x2kqz` has exactly two segments.
    let names = FlaggerNames::new("agent").with_kind(TargetKind::DaemonSet);
    let iso = Checker::shared()
        .isolation(
            &[re("agent-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)")],
            &names,
            NameKind::Pod,
        )
        .expect("valid");
    let w = iso.includes_primary().expect("primary daemonset pod");
    assert!(
        w.starts_with("agent-primary-") && w.len() == "agent-primary-".len() + 5,
        "{w}"
    );
}

#[test]
fn long_targets_are_indistinguishable_by_pod_name() {
    // 60 bytes: every pod name is the first 58 bytes of `T-…` plus 5 random characters.
    let t = format!("payments-{}", "x".repeat(51));
    let names = FlaggerNames::new(&t);
    let head = &t[..58];
    let canary_regex = format!("{}[a-z0-9]{{5}}", regex::escape(head));
    let iso = Checker::shared()
        .isolation(&[re(&canary_regex)], &names, NameKind::Pod)
        .expect("valid");
    assert!(iso.includes_primary().is_some());
    assert!(!iso.misses_canary());
}

#[test]
fn hash_values_beyond_uint32_are_not_pod_names() {
    // `f` encodes the digit 9: a 10-character hash starting with it exceeds 4294967295. The
    // quick superset finds a witness, the exact language has none.
    let names = FlaggerNames::new("checkout");
    let lang = names.primary(NameKind::Pod);
    let over = [re("checkout-primary-f[4-9bcdf]{9}-.*")];
    assert_eq!(
        decide_in(&over, &lang, &Limits::default()),
        Ok(Verdict::Empty)
    );
    assert_eq!(
        Checker::shared().decide(&over, Some(&lang)),
        Ok(Verdict::Empty)
    );
    // `8` encodes 4: 4xxxxxxxxx can be within the bound.
    let under = [re("checkout-primary-8[4-9bcdf]{9}-.*")];
    let w = decide_in(&under, &lang, &Limits::default()).expect("valid");
    let w = w.witness().expect("a real hash");
    assert!(anchored(lang.pattern()).is_match(w), "{w}");
}

#[test]
fn argo_canary_and_stable_share_pod_names() {
    let pods = argo_rollout_pods("checkout");
    let v = Checker::shared()
        .decide(&[re("checkout-[0-9a-zA-Z]+-[0-9a-zA-Z]+")], Some(&pods))
        .expect("valid");
    assert!(v.witness().is_some_and(|w| w.starts_with("checkout-")));
}

// ---------------------------------------------------------------------------------------------
// RE2 semantics

#[test]
fn perl_classes_are_ascii_like_re2() {
    let l = Limits::default();
    assert_eq!(intersect(r"\w", "é", &l), Ok(Verdict::Empty));
    assert_eq!(intersect(r"\d", "٣", &l), Ok(Verdict::Empty));
    // RE2 `\s` is `[\t\n\f\r ]`: no vertical tab.
    assert_eq!(intersect(r"\s", "\x0B", &l), Ok(Verdict::Empty));
    assert_eq!(
        intersect(r"[\s]", "\x0C", &l),
        Ok(Verdict::Witness("\x0C".into()))
    );
    assert_eq!(
        intersect(r"[^\W]", "_", &l),
        Ok(Verdict::Witness("_".into()))
    );
    // `\b` is an ASCII word boundary.
    assert_eq!(
        intersect(r"a\b-", "a-", &l),
        Ok(Verdict::Witness("a-".into()))
    );
    assert_eq!(
        intersect(r"a\bé", "aé", &l),
        Ok(Verdict::Witness("aé".into()))
    );
    assert_eq!(intersect(r"a\bb", "ab", &l), Ok(Verdict::Empty));
    // Escaped backslash before `d` stays literal.
    assert_eq!(
        intersect(r"\\d", r"\\d", &l),
        Ok(Verdict::Witness(r"\d".into()))
    );
    // Rust-only escapes read as RE2 reads them.
    assert_eq!(
        intersect(r"\<a\>", "<a>", &l),
        Ok(Verdict::Witness("<a>".into()))
    );
}

#[test]
fn dot_matches_newline_and_case_folding() {
    let l = Limits::default();
    assert_eq!(
        intersect("a.b", "a\nb", &l),
        Ok(Verdict::Witness("a\nb".into()))
    );
    let names = FlaggerNames::new("checkout");
    let iso = Checker::shared()
        .isolation(&[re("(?i)CHECKOUT-PRIMARY-.*")], &names, NameKind::Pod)
        .expect("valid");
    assert!(iso.includes_primary().is_some());
}

#[test]
fn invalid_prometheus_regexes_are_errors() {
    let l = Limits::default();
    for (p, kind) in [
        ("a**", PatternErrorKind::NotRe2),
        ("a{1000}{1000}", PatternErrorKind::NotRe2),
        ("(a{100}){100}", PatternErrorKind::NotRe2),
        ("(?x) a", PatternErrorKind::NotRe2),
        ("(", PatternErrorKind::Syntax),
        ("a)|(b", PatternErrorKind::Syntax),
        (r"\1", PatternErrorKind::Syntax),
    ] {
        match decide(&[re(p)], None, &l) {
            Err(e) => assert_eq!(e.kind, kind, "{p}: {e}"),
            Ok(v) => panic!("{p}: expected an error, got {v:?}"),
        }
    }
}

#[test]
fn limits_give_undecided() {
    let l = Limits::default();
    let long = "a|".repeat(50_000);
    let v = intersect(&long, "a", &l).expect("not an error");
    assert_eq!(
        v.undecided().map(|u| u.kind),
        Some(UndecidedKind::Limit),
        "{v:?}"
    );
    let deep = format!("{}a{}", "(".repeat(300), ")".repeat(300));
    let v = intersect(&deep, "a", &l).expect("not an error");
    assert_eq!(v.undecided().map(|u| u.kind), Some(UndecidedKind::Limit));
    let nested = format!("{}a{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(
        intersect(&nested, "a", &l),
        Ok(Verdict::Witness("a".into()))
    );
    let v = intersect("(a|b)*a(a|b){20}", "(a|b)*", &l).expect("not an error");
    assert!(
        v.witness().is_some_and(|w| w.len() == 21) || v.undecided().is_some(),
        "{v:?}"
    );
    let v = intersect("[ab]*a[ab]{20}", "[ab]*b[ab]{20}", &l).expect("not an error");
    assert!(v.undecided().is_some() || v.witness().is_some(), "{v:?}");
    let unsupported = decide(&[re("[a&&b]")], None, &l).expect("not an error");
    assert_eq!(
        unsupported.undecided().map(|u| u.kind),
        Some(UndecidedKind::Unsupported)
    );
}

#[test]
fn the_checker_caches() {
    let c = Checker::new(Limits::default());
    let m = [re("checkout-[0-9a-zA-Z]+.*")];
    let names = FlaggerNames::new("checkout");
    let a = c.isolation(&m, &names, NameKind::Pod).expect("valid");
    let b = c.isolation(&m, &names, NameKind::Pod).expect("valid");
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------------------------
// Property tests: product search == brute force

/// A small regex grammar over `a`, `b`, `-`, rendered twice: as the RE2 text under test and as
/// an oracle text for the `regex` crate with RE2's ASCII Perl classes spelled out.
#[derive(Clone, Debug)]
enum Node {
    Lit(char),
    Class(bool, Vec<Item>),
    Dot,
    Perl(char),
    WordBoundary(bool),
    Empty,
    Cat(Vec<Node>),
    Alt(Vec<Node>),
    Rep(Box<Node>, Rep),
}

#[derive(Clone, Debug)]
enum Item {
    Char(char),
    Range(char, char),
    Perl(char),
}

#[derive(Clone, Debug)]
enum Rep {
    Star,
    Plus,
    Quest,
    Range(u32, Option<u32>, bool),
}

fn perl_oracle(c: char, inside: bool) -> String {
    let (items, neg) = match c {
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        's' => (r"\t\n\x0C\r ", false),
        _ => (r"\t\n\x0C\r ", true),
    };
    match (neg, inside) {
        (false, true) => items.to_string(),
        (false, false) => format!("[{items}]"),
        (true, _) => format!("[^{items}]"),
    }
}

fn lit(c: char) -> String {
    if c == '-' {
        r"\-".into()
    } else {
        c.to_string()
    }
}

impl Node {
    fn render(&self, oracle: bool) -> String {
        match self {
            Node::Lit(c) => c.to_string(),
            Node::Class(neg, items) => {
                let body: String = items
                    .iter()
                    .map(|i| match i {
                        Item::Char(c) => lit(*c),
                        Item::Range(a, b) => format!("{}-{}", lit(*a), lit(*b)),
                        Item::Perl(p) if oracle => perl_oracle(*p, true),
                        Item::Perl(p) => format!("\\{p}"),
                    })
                    .collect();
                format!("[{}{body}]", if *neg { "^" } else { "" })
            }
            Node::Dot => ".".into(),
            Node::Perl(p) if oracle => perl_oracle(*p, false),
            Node::Perl(p) => format!("\\{p}"),
            Node::WordBoundary(neg) => {
                let b = if *neg { r"\B" } else { r"\b" };
                if oracle {
                    format!("(?-u:{b})")
                } else {
                    b.to_string()
                }
            }
            Node::Empty => String::new(),
            Node::Cat(v) => v.iter().map(|n| n.render(oracle)).collect(),
            Node::Alt(v) => format!(
                "(?:{})",
                v.iter()
                    .map(|n| n.render(oracle))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            Node::Rep(n, r) => {
                let op = match r {
                    Rep::Star => "*".to_string(),
                    Rep::Plus => "+".to_string(),
                    Rep::Quest => "?".to_string(),
                    Rep::Range(m, None, _) => format!("{{{m},}}"),
                    Rep::Range(m, Some(n), true) if m == n => format!("{{{m}}}"),
                    Rep::Range(m, Some(n), _) => format!("{{{m},{n}}}"),
                };
                format!("({}){op}", n.render(oracle))
            }
        }
    }
}

fn node(perl: bool) -> impl Strategy<Value = Node> {
    let chars = prop_oneof![Just('a'), Just('b'), Just('-')];
    let perl_kind = prop_oneof![
        Just('d'),
        Just('D'),
        Just('w'),
        Just('W'),
        Just('s'),
        Just('S')
    ];
    let item = {
        let mut items = vec![
            chars.clone().prop_map(Item::Char).boxed(),
            Just(Item::Range('a', 'b')).boxed(),
        ];
        if perl {
            items.push(perl_kind.clone().prop_map(Item::Perl).boxed());
        }
        proptest::strategy::Union::new(items)
    };
    let mut leaves = vec![
        (4, chars.prop_map(Node::Lit).boxed()),
        (
            2,
            (any::<bool>(), proptest::collection::vec(item, 1..3))
                .prop_map(|(n, i)| Node::Class(n, i))
                .boxed(),
        ),
        (1, Just(Node::Dot).boxed()),
        (1, Just(Node::Empty).boxed()),
    ];
    if perl {
        leaves.push((1, perl_kind.prop_map(Node::Perl).boxed()));
        leaves.push((1, any::<bool>().prop_map(Node::WordBoundary).boxed()));
    }
    let leaf = proptest::strategy::Union::new_weighted(leaves);
    let rep = prop_oneof![
        Just(Rep::Star),
        Just(Rep::Plus),
        Just(Rep::Quest),
        (0u32..3, proptest::option::of(0u32..3), any::<bool>())
            .prop_map(|(m, n, exact)| { Rep::Range(m, n.map(|n| n.max(m)), exact) }),
    ];
    leaf.prop_recursive(4, 24, 3, move |inner| {
        prop_oneof![
            2 => proptest::collection::vec(inner.clone(), 2..5).prop_map(Node::Cat),
            1 => proptest::collection::vec(inner.clone(), 2..3).prop_map(Node::Alt),
            1 => (inner, rep.clone()).prop_map(|(n, r)| Node::Rep(Box::new(n), r)),
        ]
    })
}

/// Every string over `alphabet` of length ≤ `max_len`, shortest first.
fn strings(alphabet: &[char], max_len: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..max_len {
        let mut next = Vec::with_capacity(layer.len() * alphabet.len());
        for s in &layer {
            for &c in alphabet {
                let mut t = s.clone();
                t.push(c);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

/// One representative of every class of characters the grammar can tell apart: `a`, `b`, `-`,
/// another word letter, a digit, RE2 whitespace, anything else. Single bytes, so the shortest
/// string in bytes over all of Unicode is among these when it is this short.
const REPS: &[char] = &['a', 'b', '-', 'c', '0', ' ', '%'];

/// Compare `decide(matchers)` with brute force over `universe` (strings of length ≤ `max_len`).
fn check_against_brute_force(
    constraints: &[(Node, bool)],
    universe: &[String],
    max_len: usize,
) -> Result<(), TestCaseError> {
    let matchers: Vec<Matcher> = constraints
        .iter()
        .map(|(n, neg)| {
            Matcher::new(
                if *neg {
                    MatchOp::NotRegex
                } else {
                    MatchOp::Regex
                },
                n.render(false),
            )
        })
        .collect();
    let oracles: Vec<(regex::Regex, bool)> = constraints
        .iter()
        .map(|(n, neg)| (anchored(&n.render(true)), *neg))
        .collect();
    let accepts = |s: &str| oracles.iter().all(|(r, neg)| r.is_match(s) != *neg);
    let brute = universe.iter().find(|s| accepts(s));
    let verdict = decide(&matchers, None, &Limits::default())
        .map_err(|e| TestCaseError::fail(format!("{matchers:?}: {e}")))?;
    match (&verdict, brute) {
        (Verdict::Undecided(u), _) => {
            return Err(TestCaseError::fail(format!("{matchers:?}: {u}")));
        }
        (Verdict::Empty, Some(s)) => {
            return Err(TestCaseError::fail(format!(
                "{matchers:?}: said empty, but {s:?} matches"
            )));
        }
        (Verdict::Empty, None) => {}
        (Verdict::Witness(w), found) => {
            prop_assert!(accepts(w), "{:?}: witness {:?} does not match", matchers, w);
            match found {
                Some(s) => prop_assert_eq!(
                    w.len(),
                    s.len(),
                    "{:?}: witness {:?} is not shortest ({:?})",
                    matchers,
                    w,
                    s
                ),
                None => prop_assert!(
                    w.len() > max_len,
                    "{:?}: witness {:?} missed by brute force",
                    matchers,
                    w
                ),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Pairs of regexes with Perl classes and word boundaries, over 7 representative characters.
    #[test]
    fn pairs_agree_with_brute_force(a in node(true), b in node(true)) {
        thread_local! {
            static UNIVERSE: Vec<String> = strings(REPS, 4);
        }
        UNIVERSE.with(|u| check_against_brute_force(&[(a, false), (b, false)], u, 4))?;
    }

    /// Two positive and one negative regex over {a, b, -, c}, longer strings.
    #[test]
    fn with_complement_agrees_with_brute_force(
        a in node(false), b in node(false), n in node(false)
    ) {
        thread_local! {
            static UNIVERSE: Vec<String> = strings(&['a', 'b', '-', 'c'], 6);
        }
        UNIVERSE.with(|u| check_against_brute_force(&[(a, false), (b, false), (n, true)], u, 6))?;
    }
}

// ---------------------------------------------------------------------------------------------
// The two rules, on cases their docs do not show

mod rules {
    use rollgate::engine::lint::lint;
    use rollgate::engine::{Config, Engine, Settings};
    use rollgate::manifest::Limits;
    use rollgate::manifest::input::from_bytes;

    /// (line, severity, message) of the findings of `rule` in `yaml`.
    fn findings(rule: &str, yaml: &str) -> Vec<(usize, String, String)> {
        let input = from_bytes("t.yaml".to_owned(), yaml.as_bytes().to_vec());
        let only = [rule.to_owned()];
        let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
        let run = lint(
            vec![input],
            &engine,
            &Settings::default(),
            Limits::default(),
        );
        run.diagnostics
            .iter()
            .filter(|d| d.finding.rule == rule)
            .map(|d| {
                (
                    d.span.map_or(0, |s| s.start.line as usize),
                    format!("{:?}", d.finding.severity),
                    d.finding.message.clone(),
                )
            })
            .collect()
    }

    fn canary(target_kind: &str, target: &str, metric: &str) -> String {
        format!(
            r#"apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: {target}, namespace: shop}}
spec:
  provider: kubernetes
  targetRef: {{apiVersion: apps/v1, kind: {target_kind}, name: {target}}}
  service: {{port: 8080}}
  analysis:
    interval: 1m
    threshold: 5
    iterations: 10
    metrics:
{metric}
"#
        )
    }

    const INCLUDES: &str = "canary-query-includes-primary";
    const ISOLATED: &str = "canary-query-not-isolated";

    #[test]
    fn builtin_kubernetes_queries_miss_daemonset_canaries() {
        // Flagger's builtin `{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)` assumes a hash segment;
        // DaemonSet pods have none, so it matches the primary's pods and no canary pod.
        let y = canary(
            "DaemonSet",
            "agent",
            "    - name: request-success-rate\n      thresholdRange: {min: 99}",
        );
        let f = findings(INCLUDES, &y);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].2.contains("agent-primary-") && f[0].2.contains("no canary pod"),
            "{f:?}"
        );
        let y = canary(
            "Deployment",
            "agent",
            "    - name: request-success-rate\n      thresholdRange: {min: 99}",
        );
        assert_eq!(findings(INCLUDES, &y), vec![]);
    }

    #[test]
    fn or_branches_are_checked_separately() {
        let y = canary(
            "Deployment",
            "checkout",
            r#"    - name: errors
      thresholdRange: {max: 1}
      query: sum(rate(http_requests_total{pod=~"{{ target }}-[0-9a-z]+-[0-9a-z]+" or pod="{{ target }}-primary-x"}[1m]))"#,
        );
        let f = findings(INCLUDES, &y);
        assert!(
            f.iter().any(|(_, _, m)| m.contains("checkout-primary-x")),
            "{f:?}"
        );
    }

    #[test]
    fn long_targets_get_a_workload_suggestion() {
        let t = "payments-settlement-reconciliation-worker-eu-west";
        let y = canary(
            "Deployment",
            t,
            r#"    - name: errors
      thresholdRange: {max: 1}
      query: sum(rate(http_requests_total{kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[1m]))"#,
        );
        let f = findings(INCLUDES, &y);
        // 49 bytes + `-primary-` is exactly 58: the hash and its dash are cut off, so primary
        // pods are `T-primary-<suffix>`, which the builtin regex (two segments) matches.
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].2.contains(&format!("`{t}-primary-")), "{f:?}");
    }

    /// Issue 20: a MetricTemplate no Canary references is decided for every target name (the
    /// `{{ target }}` placeholder is a symbol): `{{ target }}-.*` matches `T-primary-…` for any T.
    /// The isolation rule still needs a bound Canary.
    #[test]
    fn unbound_templates_are_decided_for_every_target() {
        let y = r#"apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: shop}
spec:
  provider: {type: prometheus, address: http://prometheus:9090}
  query: sum(rate(http_requests_total{namespace="{{ namespace }}", pod=~"{{ target }}-.*"}[1m]))
"#;
        let f = findings(INCLUDES, y);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].1, "Error", "{f:?}");
        assert!(f[0].2.contains("for every Deployment target T"), "{f:?}");
        assert!(f[0].2.contains("`T-primary-"), "{f:?}");
        assert_eq!(findings(ISOLATED, y), vec![]);
    }

    fn rollout(strategy_extra: &str, args: &str) -> String {
        format!(
            r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: errors, namespace: shop}}
spec:
  args:
  - name: svc
  - name: hash
  metrics:
  - name: errors
    successCondition: len(result) > 0 && result[0] < 0.01
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(http_requests_total{{service="{{{{args.svc}}}}", rollouts_pod_template_hash=~"{{{{args.hash}}}}", role="canary"}}[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: checkout, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: checkout}}}}
  template:
    metadata: {{labels: {{app: checkout}}}}
    spec: {{containers: [{{name: c, image: x}}]}}
  strategy:
    canary:
{strategy_extra}
      steps:
      - setWeight: 10
      - analysis:
          templates: [{{templateName: errors}}]
          args:
{args}
"#
        )
    }

    #[test]
    fn argo_ties() {
        let stable =
            "          - {name: svc, value: checkout}\n          - {name: hash, value: '.*'}";
        let f = findings(ISOLATED, &rollout("", stable));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].1, "Warning");
        // The canary-only Service, the Latest hash, canaryMetadata labels: each ties it.
        let svc = rollout(
            "      canaryService: checkout-canary",
            &stable.replace("value: checkout}", "value: checkout-canary}"),
        );
        assert_eq!(findings(ISOLATED, &svc), vec![]);
        let latest = "          - {name: svc, value: checkout}\n          - name: hash\n            valueFrom: {podTemplateHashValue: Latest}";
        assert_eq!(findings(ISOLATED, &rollout("", latest)), vec![]);
        let stable_hash = latest.replace("Latest", "Stable");
        assert_eq!(findings(ISOLATED, &rollout("", &stable_hash)).len(), 1);
        let meta = "      canaryMetadata: {labels: {role: canary}}";
        assert_eq!(findings(ISOLATED, &rollout(meta, stable)), vec![]);
    }
}
