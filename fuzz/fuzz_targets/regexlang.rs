//! Regex-language decisions: never a panic, and a witness really satisfies every matcher and
//! the language it was asked to lie in (checked with the `regex` crate, Prometheus semantics).
//!
//! Input: lines; the first line is a Flagger target name, each following line a matcher
//! (first character chooses the operator, the rest is the value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate::regexlang::{
    Checker, FlaggerNames, Limits, MatchOp, Matcher, NameKind, Verdict, decide,
};

/// Does `w` satisfy `m`, as Prometheus decides (`^(?s:re)$`)? `None` when the `regex` crate
/// cannot say (a pattern it reads differently from RE2, or rejects).
fn satisfies(m: &Matcher, w: &str) -> Option<bool> {
    match m.op {
        MatchOp::Equal => Some(w == m.value),
        MatchOp::NotEqual => Some(w != m.value),
        MatchOp::Regex | MatchOp::NotRegex => {
            // `\d`, `\w`, `\s`, `\b`, `(?i)` and Unicode classes differ between RE2 and Rust.
            if m.value.contains('\\') || m.value.contains("(?") || m.value.contains("[:") {
                return None;
            }
            let re = regex::Regex::new(&format!("^(?s:{})$", m.value)).ok()?;
            Some(re.is_match(w) == (m.op == MatchOp::Regex))
        }
    }
}

fn check_witness(ms: &[Matcher], v: &Verdict, what: &str) {
    if let Verdict::Witness(w) = v {
        for m in ms {
            if satisfies(m, w) == Some(false) {
                panic!(
                    "{what}: witness {w:?} does not satisfy {} {:?}",
                    m.op.as_str(),
                    m.value
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let target = lines.next().unwrap_or("");
    let matchers: Vec<Matcher> = lines
        .take(6)
        .filter_map(|l| {
            let mut cs = l.chars();
            let op = match cs.next()? {
                '=' => MatchOp::Equal,
                '!' => MatchOp::NotEqual,
                '~' => MatchOp::Regex,
                _ => MatchOp::NotRegex,
            };
            Some(Matcher::new(op, cs.as_str()))
        })
        .collect();
    if matchers.is_empty() {
        return;
    }
    let limits = Limits::default();
    if let Ok(v) = decide(&matchers, None, &limits) {
        check_witness(&matchers, &v, "decide");
    }
    if target.is_empty() || target.len() > 64 {
        return;
    }
    let names = FlaggerNames::new(target);
    let checker = Checker::shared();
    for kind in [NameKind::Pod, NameKind::Workload] {
        if let Ok(iso) = checker.isolation(&matchers, &names, kind) {
            check_witness(&matchers, &iso.primary, "primary");
            check_witness(&matchers, &iso.canary, "canary");
            // The witness lies in the language asked for.
            for (lang, v) in [
                (&iso.primary_language, &iso.primary),
                (&iso.canary_language, &iso.canary),
            ] {
                if let Verdict::Witness(w) = v {
                    let m = Matcher::new(MatchOp::Regex, lang.pattern());
                    let _ =
                        satisfies(&m, w).map(|ok| assert!(ok, "{w:?} not in {}", lang.pattern()));
                }
            }
        }
    }
});
