//! Templating (Flagger Go templates, Argo `{{args.x}}`) + PromQL parsing and analysis, and the
//! bare-query rules of `rollgate check-query`: never a panic, and every range mapped back to the
//! template lies inside it on character boundaries.
//!
//! The first byte chooses the environment; the rest is the template.
#![no_main]

use std::collections::BTreeMap;
use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use rollgate::promql::analysis::Analysis;
use rollgate::promql::template::{ArgoArgs, Binding, Env, FlaggerModel, ValueSource};
use rollgate::promql::{ScrapeInterval, Thresholds, check_bare};

fn env(selector: u8) -> Env {
    match selector % 5 {
        0 => Env::Plain,
        1 => Env::Flagger(FlaggerModel::placeholders()),
        2 => {
            let k = |v: &str, f| Binding::known(v, ValueSource::Model(f));
            let mut m = FlaggerModel::placeholders();
            m.name = k("podinfo", "name");
            m.namespace = k("test", "namespace");
            m.target = k("podinfo", "target");
            m.service = k("podinfo", "service");
            m.interval = k("1m", "interval");
            m.variables = Some(BTreeMap::from([
                ("app".to_owned(), "podinfo".to_owned()),
                ("q".to_owned(), "\"}{{".to_owned()),
            ]));
            m.binder = Some("Canary test/podinfo metric \"m\"".into());
            Env::Flagger(m)
        }
        s => Env::Argo(ArgoArgs {
            args: vec![
                (
                    "service-name".into(),
                    Some(Binding::known("podinfo-canary", ValueSource::ArgValue)),
                ),
                (
                    "hash".into(),
                    Some(Binding::unknown(ValueSource::PodTemplateHash(
                        "Latest".into(),
                    ))),
                ),
                ("unset".into(), None),
            ],
            complete: s == 4,
            binder: None,
        }),
    }
}

fn check(text: &str, r: &Range<usize>, what: &str) {
    assert!(
        r.start <= r.end
            && r.end <= text.len()
            && text.is_char_boundary(r.start)
            && text.is_char_boundary(r.end),
        "{what}: {r:?} in {} bytes: {text:?}",
        text.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(template) = std::str::from_utf8(rest) else {
        return;
    };
    let env = env(sel);
    let a = Analysis::new(template, &env, true);
    for s in &a.rendered.substitutions {
        check(template, &s.src, "substitution source");
        check(&a.rendered.text, &s.out, "substitution output");
    }
    for e in &a.rendered.errors {
        check(template, &e.src, &e.message);
    }
    if let Some((r, m)) = &a.rendered.unsupported {
        check(template, r, m);
    }
    if let Some(e) = a.parse_error() {
        check(&a.sent, &e.span, &e.message);
        check(template, &a.to_template(&e.span), &e.message);
    }
    if let Some(q) = a.query() {
        for s in q.selectors() {
            let _ = s.metric();
            if let Some(loc) = s.loc {
                check(&a.sent, &loc.span, "selector");
                check(template, &a.to_template(&loc.span), "selector");
                for m in &loc.matchers {
                    check(&a.sent, &m.value_span, "matcher value");
                    check(template, &a.to_template(&m.value_span), "matcher value");
                    let _ = a.is_exact(&m.value_span);
                }
            }
        }
        for w in q.range_windows() {
            if let Some(r) = &w.span {
                check(template, &a.to_template(r), "range");
            }
        }
        let _ = q.histogram_quantiles();
    }
    if matches!(env, Env::Plain) {
        let thresholds = Thresholds::Bare {
            threshold: Some(1.0),
            op: Some("lt".into()),
        };
        for f in check_bare(template, ScrapeInterval::assumed_default(), thresholds) {
            check(template, &f.issue.span, f.rule);
        }
    }
});
