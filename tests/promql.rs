//! Gate queries end to end: every query of the upstream corpus, generated templates (property
//! tests: the position of every matcher and function, mapped back through rendering and the YAML
//! scalar style), and bad input (huge, deep, unbalanced, non-UTF-8) with time bounds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use rollgate::engine::lint::{LintRun, lint, objects_of};
use rollgate::engine::{Config, Engine, MemoryInventory, Origin, Settings};
use rollgate::manifest::input::{DEFAULT_MAX_FILE_SIZE, expand_paths, from_bytes, read_file};
use rollgate::manifest::{Limits, Source, load, locate};
use rollgate::promql::analysis::Analysis;
use rollgate::promql::query::{ParseErrorKind, Query};
use rollgate::promql::template::{ArgoArgs, Binding, Env, FlaggerModel, ValueSource};
use rollgate::promql::{gates, lex};

#[path = "common/skip.rs"]
mod skip;

/// Every object of the corpus, and the corpus-relative name of each source.
fn corpus() -> Option<(MemoryInventory, Vec<String>)> {
    let dir = skip::corpus_dir()?;
    let (files, _) = expand_paths(std::slice::from_ref(&dir));
    let mut objects = Vec::new();
    let mut names = Vec::new();
    for f in &files {
        let Ok(input) = read_file(f, DEFAULT_MAX_FILE_SIZE) else {
            continue;
        };
        let si = names.len();
        names.push(f.strip_prefix(&dir).unwrap_or(f).display().to_string());
        for d in load(&input.source.text, Limits::default()).documents {
            if let Ok(objs) = objects_of(d.value, si, d.index, "default") {
                objects.extend(objs);
            }
        }
    }
    Some((MemoryInventory::new(objects, "the corpus", false), names))
}

/// Queries in the corpus that are invalid upstream, checked by reading them: (file, why).
const KNOWN_INVALID: &[(&str, &str)] = &[
    (
        "fluxcd__flagger/docs/gitbook/tutorials/gloo-progressive-delivery.md__block3.yaml",
        "no comma between the kubernetes_pod_name and status matchers",
    ),
    (
        "fluxcd__flagger/docs/gitbook/tutorials/kubernetes-blue-green.md__block2.yaml",
        "no comma between the kubernetes_pod_name and status matchers",
    ),
];

/// Every gate query of the corpus renders and parses (except the known upstream bugs), and
/// positions are recovered for every node of every parsed query.
#[test]
fn corpus_queries_render_and_parse() {
    let Some((world, names)) = corpus() else {
        return;
    };
    let mut gates_seen = 0;
    let mut parsed = 0;
    let mut failures = BTreeMap::<String, Vec<String>>::new();
    for o in world.objects() {
        let Origin::File { source, .. } = o.origin else {
            continue;
        };
        let file = names[source].clone();
        for g in gates(o, &world) {
            gates_seen += 1;
            let a = &g.analysis;
            let mut why = Vec::new();
            for e in &a.rendered.errors {
                why.push(format!("render: {}", e.message));
            }
            if let Some((_, what)) = &a.rendered.unsupported {
                why.push(format!("unsupported: {what}"));
            }
            if let Some(e) = a.parse_error() {
                why.push(format!("parse: {}", e.message));
            }
            if let Some(q) = a.query() {
                parsed += 1;
                if !q.located() {
                    why.push(format!("positions not recovered: {}", a.sent));
                }
            }
            if !why.is_empty() {
                failures.entry(file.clone()).or_default().extend(why);
            }
        }
    }
    let known: BTreeSet<&str> = KNOWN_INVALID.iter().map(|(f, _)| *f).collect();
    let unexpected: Vec<_> = failures
        .iter()
        .filter(|(f, _)| !known.contains(f.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected failures: {unexpected:#?}"
    );
    for f in &known {
        assert!(
            failures.contains_key(*f),
            "{f} is listed as invalid upstream but now parses"
        );
    }
    assert!(gates_seen > 100, "only {gates_seen} gates found");
    assert!(
        parsed + known.len() >= gates_seen - 10,
        "{parsed} of {gates_seen} parsed"
    );
}

/// rollgate's lexer accepts exactly what promql-parser's accepts, with the same message, on every
/// rendered corpus query and on its prefixes (which exercise the error paths).
#[test]
fn lexer_agrees_with_promql_parser_on_the_corpus() {
    let Some((world, _)) = corpus() else {
        return;
    };
    let mut texts = BTreeSet::new();
    for o in world.objects() {
        for g in gates(o, &world) {
            texts.insert(g.analysis.sent.clone());
        }
    }
    for t in &texts {
        let cuts = t.char_indices().map(|(i, _)| i).step_by(7).chain([t.len()]);
        for cut in cuts {
            let q = &t[..cut];
            let ours = lex::lex(q).err().map(|e| e.message);
            let theirs = promql_parser::parser::lexer(q)
                .err()
                .filter(|m| !m.starts_with("no expression found"));
            assert_eq!(ours, theirs, "{q:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property: positions through rendering and the YAML scalar.

/// One generated piece of a template, with what it names.
#[derive(Debug, Clone)]
enum Part {
    /// `name="value"` style matcher whose value mixes text and template variables.
    Matcher {
        label: String,
        op: &'static str,
        value: Vec<ValuePiece>,
    },
}

#[derive(Debug, Clone)]
enum ValuePiece {
    Text(String),
    Var(&'static str),
}

#[derive(Debug, Clone)]
struct Generated {
    /// The template text.
    template: String,
    /// (byte range in the template, label name) of every matcher.
    matchers: Vec<(std::ops::Range<usize>, String)>,
    /// (byte range in the template, function name) of every call.
    calls: Vec<(std::ops::Range<usize>, String)>,
    argo: bool,
}

fn value_piece(argo: bool) -> impl Strategy<Value = ValuePiece> {
    let vars: &'static [&'static str] = if argo {
        &["{{args.service-name}}", "{{ args.hash }}", "{{args.ns}}"]
    } else {
        &[
            "{{ target }}",
            "{{target}}",
            "{{ namespace }}",
            "{{ variables.direction }}",
            "{{- service -}}",
            "{{ printf \"%s-canary\" target }}",
        ]
    };
    prop_oneof![
        "[a-z0-9.\\-]{0,6}".prop_map(ValuePiece::Text),
        proptest::sample::select(vars).prop_map(ValuePiece::Var),
    ]
}

fn matcher(argo: bool) -> impl Strategy<Value = Part> {
    (
        "[a-z][a-z_]{0,6}",
        proptest::sample::select(&["=", "!=", "=~", "!~"][..]),
        proptest::collection::vec(value_piece(argo), 0..4),
    )
        .prop_map(|(label, op, value)| Part::Matcher { label, op, value })
}

/// A query: `F1(F2(metric{matchers}[window]))` with optional aggregation and a second operand,
/// separated by random white space (spaces and line breaks).
fn generated() -> impl Strategy<Value = Generated> {
    any::<bool>().prop_flat_map(|argo| {
        (
            proptest::collection::vec(matcher(argo), 1..4),
            proptest::collection::vec(matcher(argo), 0..3),
            proptest::sample::select(&["rate", "irate", "increase"][..]),
            proptest::sample::select(&["sum", "max", ""][..]),
            proptest::collection::vec(proptest::sample::select(&[" ", "\n  ", "", "\n"][..]), 12),
            any::<bool>(),
        )
            .prop_map(move |(m1, m2, f, agg, ws, quantile)| {
                build(argo, &m1, &m2, f, agg, &ws, quantile)
            })
    })
}

fn build(
    argo: bool,
    m1: &[Part],
    m2: &[Part],
    f: &str,
    agg: &str,
    ws: &[&str],
    quantile: bool,
) -> Generated {
    let mut t = String::new();
    let mut matchers = Vec::new();
    let mut calls = Vec::new();
    let mut w = ws.iter().cycle();
    let window = if argo { "[5m]" } else { "[{{ interval }}]" };
    let call = |t: &mut String, name: &str, calls: &mut Vec<(std::ops::Range<usize>, String)>| {
        calls.push((t.len()..t.len() + name.len(), name.to_owned()));
        t.push_str(name);
        t.push('(');
    };
    let selector = |t: &mut String,
                    metric: &str,
                    ms: &[Part],
                    matchers: &mut Vec<(std::ops::Range<usize>, String)>,
                    w: &mut dyn Iterator<Item = &&str>| {
        t.push_str(metric);
        t.push('{');
        for (i, Part::Matcher { label, op, value }) in ms.iter().enumerate() {
            if i > 0 {
                t.push(',');
                t.push_str(w.next().unwrap_or(&" "));
            }
            let start = t.len();
            t.push_str(label);
            t.push_str(op);
            t.push('"');
            for p in value {
                match p {
                    ValuePiece::Text(s) => t.push_str(s),
                    ValuePiece::Var(v) => t.push_str(v),
                }
            }
            t.push('"');
            matchers.push((start..t.len(), label.clone()));
        }
        t.push('}');
    };
    if quantile {
        call(&mut t, "histogram_quantile", &mut calls);
        t.push_str("0.99,");
        t.push_str(w.next().unwrap_or(&" "));
    }
    if !agg.is_empty() {
        t.push_str(agg);
        if quantile {
            t.push_str(" by (le)");
        }
        t.push('(');
        t.push_str(w.next().unwrap_or(&" "));
    }
    call(&mut t, f, &mut calls);
    selector(
        &mut t,
        if quantile { "x_bucket" } else { "x_total" },
        m1,
        &mut matchers,
        &mut w,
    );
    t.push_str(window);
    t.push(')');
    if !agg.is_empty() {
        t.push_str(w.next().unwrap_or(&" "));
        t.push(')');
    }
    if quantile {
        t.push(')');
    }
    if !m2.is_empty() {
        t.push_str(w.next().unwrap_or(&" "));
        t.push_str("/ ignoring(x)");
        t.push_str(w.next().unwrap_or(&" "));
        t.push_str("sum(");
        call(&mut t, "rate", &mut calls);
        selector(&mut t, "y_total", m2, &mut matchers, &mut w);
        t.push_str(window);
        t.push_str("))");
    }
    Generated {
        template: t,
        matchers,
        calls,
        argo,
    }
}

fn env(argo: bool) -> Env {
    if argo {
        let k = |v: &str| Some(Binding::known(v, ValueSource::ArgValue));
        Env::Argo(ArgoArgs {
            args: vec![
                ("service-name".into(), k("checkout")),
                (
                    "hash".into(),
                    Some(Binding::unknown(ValueSource::PodTemplateHash(
                        "Latest".into(),
                    ))),
                ),
                ("ns".into(), k("shop")),
            ],
            complete: true,
            binder: None,
        })
    } else {
        let k = |v: &str, f: &'static str| Binding::known(v, ValueSource::Model(f));
        Env::Flagger(FlaggerModel {
            name: k("podinfo", "name"),
            namespace: k("test", "namespace"),
            target: k("podinfo", "target"),
            service: k("podinfo-svc", "service"),
            ingress: k("podinfo", "ingress"),
            route: k("podinfo", "route"),
            interval: k("2m", "interval"),
            variables: Some([("direction".to_owned(), "inbound".to_owned())].into()),
            binder: None,
        })
    }
}

/// The YAML document holding `template` in one of five scalar styles, at `query:`.
fn yaml(template: &str, style: usize, indent: usize) -> Option<String> {
    let pad = " ".repeat(indent);
    let head = format!("apiVersion: v1\nkind: X\nmetadata: {{name: x}}\nspec:\n{pad}query: ");
    Some(match style {
        // Literal block, lines kept.
        0 => {
            let body: Vec<String> = template
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("{pad}  {l}")
                    }
                })
                .collect();
            if template.ends_with('\n')
                || template.starts_with(' ')
                || template.lines().any(|l| l.ends_with(' '))
            {
                return None;
            }
            format!("{head}|-\n{}\n", body.join("\n"))
        }
        // Double-quoted, escapes for `"`, `\` and line breaks.
        1 => {
            let mut s = String::new();
            for c in template.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    c => s.push(c),
                }
            }
            format!("{head}\"{s}\"\n")
        }
        // Single-quoted, one line.
        2 => {
            if template.contains('\n') {
                return None;
            }
            format!("{head}'{}'\n", template.replace('\'', "''"))
        }
        // Folded block: the template's spaces become line breaks that fold back.
        3 => {
            if template.contains('\n')
                || template.contains("  ")
                || template
                    .split(' ')
                    .any(|w| !w.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '/'))
            {
                return None;
            }
            let lines: Vec<String> = template.split(' ').map(|w| format!("{pad}  {w}")).collect();
            format!("{head}>-\n{}\n", lines.join("\n"))
        }
        // Plain, continued over lines at the template's spaces.
        _ => {
            if template.contains('\n')
                || template.contains("  ")
                || template.contains(": ")
                || template.contains(" #")
                || template
                    .split(' ')
                    .any(|w| !w.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '/'))
                || !template.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                return None;
            }
            let lines: Vec<&str> = template.split(' ').collect();
            let mut s = head.clone();
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    s.push('\n');
                    s.push_str(&pad);
                    s.push_str("  ");
                }
                s.push_str(l);
            }
            s.push('\n');
            s
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// Rendering + parsing + the maps back to the template + the YAML scalar: every matcher and
    /// every function the query names is found at exactly its place in the template, and at a
    /// source position that starts with its text.
    #[test]
    fn positions_point_at_what_they_name(g in generated(), style in 0usize..5, indent in 1usize..5) {
        let a = Analysis::new(&g.template, &env(g.argo), true);
        prop_assert!(a.rendered.ok(), "{:?}", a.rendered.errors);
        let q = match a.query() {
            Some(q) => q,
            None => return Err(TestCaseError::fail(format!("{:?}\n{}", a.parse_error(), a.sent))),
        };
        prop_assert!(q.located());
        // Matchers: each parsed matcher maps back to exactly its template text.
        let mut located = Vec::new();
        for sel in q.selectors() {
            for m in &sel.loc.expect("selector located").matchers {
                located.push(a.to_template(&m.span));
            }
        }
        let mut want: Vec<_> = g.matchers.iter().map(|(r, _)| r.clone()).collect();
        want.sort_by_key(|r| r.start);
        located.sort_by_key(|r| r.start);
        prop_assert_eq!(&located, &want, "template {:?}", g.template);
        // Calls: the function name maps to the name in the template.
        let mut calls = Vec::new();
        q.walk(&mut |e, _| {
            if let promql_parser::parser::Expr::Call(_) = e {
                if let Some(l) = q.loc(e) {
                    calls.push(a.to_template(&l.head));
                }
            }
        });
        calls.sort_by_key(|r| r.start);
        let mut want_calls: Vec<_> = g.calls.iter().map(|(r, _)| r.clone()).collect();
        want_calls.sort_by_key(|r| r.start);
        prop_assert_eq!(&calls, &want_calls);

        // Through the YAML scalar: the source position starts with the label/function name.
        let Some(doc) = yaml(&g.template, style, indent) else { return Ok(()) };
        let source = Source::new("t.yaml", &doc);
        let docs = load(&source.text, Limits::default()).documents;
        prop_assert_eq!(docs.len(), 1, "{}", doc);
        let d = &docs[0];
        let value = d.value.pointer("/spec/query").and_then(|v| v.as_str());
        prop_assert_eq!(value, Some(g.template.as_str()), "style {} did not round-trip:\n{}", style, doc);
        let node = d.spans.get("/spec/query").expect("span of the query");
        for (r, name) in g.matchers.iter().chain(&g.calls) {
            let span = locate::in_scalar(&source, node, r).expect("located in the scalar");
            let at = source.offset(span.start);
            prop_assert!(
                source.text[at..].starts_with(name.as_str()),
                "{name} expected at {:?} (style {style}), found {:?}\n{doc}",
                span.start,
                &source.text[at..(at + 20).min(source.text.len())]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: a finding, no panic, bounded time.

fn lint_text(text: &str) -> (LintRun, Duration) {
    let input = from_bytes("bad.yaml".to_owned(), text.as_bytes().to_vec());
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), None);
    let t = Instant::now();
    let run = lint(
        vec![input],
        &engine,
        &Settings::default(),
        Limits::default(),
    );
    (run, t.elapsed())
}

fn template(query_yaml: &str) -> String {
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {{name: t, namespace: test}}\nspec:\n  provider: {{type: prometheus, address: http://prom:9090}}\n  query: {query_yaml}\n"
    )
}

fn rules_of(run: &LintRun) -> Vec<(&'static str, String)> {
    run.diagnostics
        .iter()
        .map(|d| (d.finding.rule, d.finding.message.clone()))
        .collect()
}

#[test]
fn one_megabyte_query() {
    let q = format!("sum(rate(x{{a=~\"{}\"}}[5m]))", "b|".repeat(512 * 1024));
    let (run, took) = lint_text(&template(&format!("'{q}'")));
    let found = rules_of(&run);
    assert!(
        found
            .iter()
            .any(|(r, m)| *r == "promql-parse-error" && m.contains("KiB")),
        "{found:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn ten_thousand_nested_parentheses() {
    let q = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
    let t = Instant::now();
    let e = Query::parse(&q).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::NotAnalysed);
    assert!(t.elapsed() < Duration::from_secs(1));
    let (run, took) = lint_text(&template(&format!("'{q}'")));
    let found = rules_of(&run);
    assert!(
        found
            .iter()
            .any(|(r, m)| *r == "promql-parse-error" && m.contains("nests")),
        "{found:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Also unbalanced, and a long operator chain.
    for q in [
        "(".repeat(10_000),
        ")".repeat(10_000),
        format!("{}1", "-".repeat(100_000)),
        format!("{}1", "1 + ".repeat(100_000)),
        format!("{}x{}", "sum(".repeat(5_000), ")".repeat(5_000)),
        format!("x{}", "[5m]".repeat(10_000)),
    ] {
        let t = Instant::now();
        assert!(Query::parse(&q).is_err());
        assert!(t.elapsed() < Duration::from_secs(2), "{}", &q[..20]);
    }
}

#[test]
fn unbalanced_template_braces() {
    for q in [
        "sum(rate(x{pod=~\"{{ target\"}[1m]))",
        "sum(rate(x{pod=~\"{{ target }}\"}[{{ interval ]))",
        "{{",
        "{{ {{ }}",
        "}} x {{",
        "{{ \"unterminated }}",
        "{{ ( target }}",
        "{{ target ) }}",
        "{{/* open comment }}",
    ] {
        let (run, took) = lint_text(&template(&format!("'{}'", q.replace('\'', "''"))));
        let found = rules_of(&run);
        assert!(
            found.iter().any(|(r, _)| *r == "template-render-error"),
            "{q}: {found:?}"
        );
        assert!(took < Duration::from_secs(2));
    }
    // Argo: a `{{` without `}}`.
    let argo = "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: m\n    successCondition: result[0] < 1\n    provider:\n      prometheus: {query: 'sum(rate(x{a=\"{{args.a\"}[5m]))'}\n";
    let (run, _) = lint_text(argo);
    assert!(
        rules_of(&run)
            .iter()
            .any(|(r, _)| *r == "template-render-error")
    );
}

#[test]
fn non_utf8_escapes_in_label_values() {
    for (q, finding) in [
        (r#"sum(rate(x{a="\xff"}[5m]))"#, true),
        (r#"sum(rate(x{a="\377"}[5m]))"#, true),
        (r#"sum(rate(x{a="ok\xc3"}[5m]))"#, true),
        (r#"sum(rate(x{a="\xc3\xbf"}[5m]))"#, false),
    ] {
        let (run, _) = lint_text(&template(&format!("'{q}'")));
        let found = rules_of(&run);
        let hit = found
            .iter()
            .any(|(r, m)| *r == "promql-parse-error" && m.contains("UTF-8"));
        assert_eq!(hit, finding, "{q}: {found:?}");
    }
}

#[test]
fn hostile_queries_never_panic() {
    let inputs = [
        "\u{0}",
        "x{a=\"\\",
        "x{a=\"\\u12\"}",
        "x{a=\"\\U0011FFFF\"}",
        "x{a=\"\\x\"}",
        "x[99999999999999999999y]",
        "x offset -",
        "x @",
        "0x",
        ".5e",
        "{{",
        "é{é=\"é\"}",
        "sum by (é) (x)",
        "x{a=~\"(((((((((((((((((((((((((((((((((((((((((\"}",
        "x{a=~\"a{1000}{1000}\"}",
        "histogram_quantile(",
        "label_replace(x, \"le\", \"\", \"\", \"\")",
    ];
    for q in inputs {
        let _ = Query::parse(q);
        let a = Analysis::new(q, &env(false), true);
        let _ = a.parse_error();
        let _ = Analysis::new(q, &env(true), true);
    }
}

// ---------------------------------------------------------------------------------------------
// `rollgate check-query`

fn check_query(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .arg("check-query")
        .args(args)
        .output()
        .expect("run rollgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_query_reports_with_columns_and_exit_codes() {
    // Clean: exit 0, one line saying what was checked.
    let (code, out, _) = check_query(&[
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
        "--scrape-interval",
        "15s",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "ok: valid PromQL; no finding from quantile-without-le-aggregation, \
             query-returns-many-series, vector-match-never-matches, rate-window-too-short \
             (scrape interval from --scrape-interval 15s; no threshold given)\n"
        )
    );
    // An error finding: exit 1, gcc-like line with the column of `sum by (job)`.
    let (code, out, _) = check_query(&[
        "histogram_quantile(0.99, sum by (job) (rate(x_bucket[5m])))",
        "--threshold",
        "0.5",
        "--op",
        "lt",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("query:1:26: error: `sum by (job)` drops the `le` label"),
        "{out}"
    );
    assert!(out.contains("[quantile-without-le-aggregation]"), "{out}");
    // Warnings only: exit 0.
    let (code, out, _) = check_query(&["sum(rate(x[1m]))", "--scrape-interval", "30s"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: rate() window 1m"), "{out}");
    assert!(out.contains("--scrape-interval 30s"), "{out}");
    // Below twice the scrape interval: an error.
    let (code, out, _) = check_query(&["sum(rate(x[1m]))", "--scrape-interval", "1m"]);
    assert_eq!(code, 1, "{out}");
    // A parse error on the second line.
    let (code, out, _) = check_query(&["sum(\n  rate(x[5m]) by (le)"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("query:1:4: error: query is not valid PromQL"),
        "{out}"
    );
    // Usage errors: exit 2.
    let (code, _, err) = check_query(&["x", "--scrape-interval", "soon"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = check_query(&["x", "--threshold", "1"]);
    assert_eq!(code, 2);
    let (code, _, err) = check_query(&["  "]);
    assert_eq!(code, 2, "{err}");
}
