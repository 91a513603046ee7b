//! `cargo bench --bench regexlang`: how long one regex-language decision takes.
//!
//! 1. Typical matchers (issue 5 target: well under 1 ms each), uncached: each case is the full
//!    `decide_in` (parse, RE2 checks, automata, product search; a witness from the typical
//!    sub-language) against one of Flagger's name languages,
//!    `ROLLGATE_BENCH_ROUNDS` times (default 200); median and max in µs. Then the cached path
//!    (`Checker::isolation`, both halves) for the same inputs.
//! 2. Adversarial regexes (target: undecided or a clear error within 100 ms each, bounded
//!    memory): wall time of one decision and the growth of the process's peak RSS (`VmHWM`,
//!    reset before each case through `/proc/self/clear_refs` when the kernel allows it).
//!
//! Figures are printed, never asserted: wall time on a shared 2-core machine is noisy.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use rollgate::regexlang::{
    Checker, FlaggerNames, Language, Limits, MatchOp, Matcher, NameKind, Verdict, decide, decide_in,
};
use support::env_usize;

fn re(v: &str) -> Matcher {
    Matcher::new(MatchOp::Regex, v)
}

/// Peak resident set size in KiB (`VmHWM`), if readable.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reset the peak RSS to the current RSS (Linux ≥ 4.0: write 5 to clear_refs).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn summary(v: &Result<Verdict, rollgate::regexlang::PatternError>) -> String {
    match v {
        Ok(Verdict::Empty) => "empty".into(),
        Ok(Verdict::Witness(w)) if w.len() > 48 => format!("witness {}… ({} B)", &w[..40], w.len()),
        Ok(Verdict::Witness(w)) => format!("witness {w:?}"),
        Ok(Verdict::Undecided(u)) => format!("undecided: {}", u.reason),
        Err(e) => format!("error: {e}"),
    }
}

fn main() {
    let rounds = env_usize("ROLLGATE_BENCH_ROUNDS", 200);
    let limits = Limits::default();
    let names = FlaggerNames::new("checkout");
    let primary_pods = names.primary(NameKind::Pod);
    let canary_pods = names.canary(NameKind::Pod);
    let primary_workload = names.primary(NameKind::Workload);

    println!(
        "typical matchers, uncached decide, {rounds} rounds (wall median / wall max / thread-CPU median, µs):"
    );
    let typical: Vec<(&str, Vec<Matcher>, &Language)> = vec![
        (
            "builtin pod regex ∩ primary pods",
            vec![re("checkout-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)")],
            &primary_pods,
        ),
        (
            "builtin pod regex ∩ canary pods",
            vec![re("checkout-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)")],
            &canary_pods,
        ),
        (
            "bad `-[0-9a-zA-Z]+.*` ∩ primary pods",
            vec![re("checkout-[0-9a-zA-Z]+.*")],
            &primary_pods,
        ),
        (
            "=~ `checkout-.*`, !~ `checkout-primary-.*` ∩ primary",
            vec![
                re("checkout-.*"),
                Matcher::new(MatchOp::NotRegex, "checkout-primary-.*"),
            ],
            &primary_pods,
        ),
        (
            "pod =~ `checkout-\\w+-\\w+` ∩ primary pods",
            vec![re(r"checkout-\w+-\w+")],
            &primary_pods,
        ),
        (
            "destination_workload =~ `checkout` ∩ primary",
            vec![re("checkout")],
            &primary_workload,
        ),
        (
            "deployment = `checkout` ∩ primary",
            vec![Matcher::new(MatchOp::Equal, "checkout")],
            &primary_workload,
        ),
    ];
    let only = std::env::var("ROLLGATE_BENCH_ONLY").unwrap_or_default();
    for (label, matchers, within) in &typical {
        if !label.contains(only.as_str()) {
            continue;
        }
        let mut times = Vec::with_capacity(rounds);
        let mut cpu = Vec::with_capacity(rounds);
        let mut last = None;
        for _ in 0..rounds {
            let (t, c) = (Instant::now(), thread_cpu());
            let v = decide_in(black_box(matchers), within, &limits);
            times.push(t.elapsed());
            cpu.push(thread_cpu().saturating_sub(c));
            last = Some(v);
        }
        times.sort();
        cpu.sort();
        let median = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
        println!(
            "  {label:<52} {:>6.1} / {:>7.1} / {:>6.1}   {}",
            us(median(&times)),
            us(times.last().copied().unwrap_or_default()),
            us(median(&cpu)),
            last.as_ref().map(summary).unwrap_or_default()
        );
    }

    // The rule's pattern: one Checker, many Canaries (distinct targets, so no answer is reused
    // across Canaries), each with a few pod matchers checked against primary and canary names.
    let checker = Checker::new(limits.clone());
    let canaries = rounds.clamp(1, 500);
    let (t, c) = (Instant::now(), thread_cpu());
    let mut calls = 0u32;
    for i in 0..canaries {
        let target = format!("svc{i}-api");
        let names = FlaggerNames::new(&target);
        let (primary, canary) = (names.primary(NameKind::Pod), names.canary(NameKind::Pod));
        for m in [
            vec![re(&format!("{target}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"))],
            vec![re(&format!("{target}-[0-9a-zA-Z]+.*"))],
            vec![
                re(&format!("{target}-.*")),
                Matcher::new(MatchOp::NotRegex, format!("{target}-primary-.*")),
            ],
        ] {
            black_box(
                checker
                    .isolation_in(&m, primary.clone(), canary.clone())
                    .ok(),
            );
            calls += 1;
        }
    }
    println!(
        "  Checker::isolation_in, {canaries} Canaries x 3 matcher sets (wall / CPU)  {:>7.1} / {:>7.1} µs each",
        us(t.elapsed()) / f64::from(calls.max(1)),
        us(thread_cpu().saturating_sub(c)) / f64::from(calls.max(1))
    );

    let checker = Checker::new(limits.clone());
    let m = [re("checkout-[0-9a-zA-Z]+.*")];
    let _ = checker.isolation(&m, &names, NameKind::Pod);
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(checker.isolation(black_box(&m), &names, NameKind::Pod).ok());
    }
    println!(
        "  Checker::isolation, same inputs again (answers cached)                        {:>7.1} µs each",
        us(t.elapsed()) / rounds as f64
    );

    println!("\nadversarial, one decision each (wall / thread-CPU ms, peak RSS growth):");
    let alternation: String = (0..10_000)
        .map(|i| format!("checkout-{i:05}"))
        .collect::<Vec<_>>()
        .join("|");
    let small_alternation: String = (0..1_000)
        .map(|i| format!("c{i:03}"))
        .collect::<Vec<_>>()
        .join("|");
    let nested = format!("{}a{}", "(".repeat(64), ")".repeat(64));
    let nested_stars = format!("{}a{}", "(?:".repeat(64), ")*".repeat(64));
    let nested_alts = format!("{}a{}", "(b|".repeat(64), ")".repeat(64));
    let too_deep = format!("{}a{}", "(".repeat(1000), ")".repeat(1000));
    let adversarial: Vec<(&str, Vec<Matcher>, Option<&str>)> = vec![
        (
            "(a|b)*a(a|b){20} ∩ (a|b)*b",
            vec![re("(a|b)*a(a|b){20}"), re("(a|b)*b")],
            None,
        ),
        (
            "(a|b)*a(a|b){20} ∩ primary pods",
            vec![re("(a|b)*a(a|b){20}")],
            Some(primary_pods.pattern()),
        ),
        (
            "[ab]*a[ab]{20} ∩ [ab]*b[ab]{20}",
            vec![re("[ab]*a[ab]{20}"), re("[ab]*b[ab]{20}")],
            None,
        ),
        ("a{1000}{1000}", vec![re("a{1000}{1000}")], None),
        ("(a{1000}){1000}", vec![re("(a{1000}){1000}")], None),
        (".{1000} ∩ .{999}", vec![re(".{1000}"), re(".{999}")], None),
        (
            "\\pL{1000} ∩ (?i)\\w{1000}",
            vec![re(r"\pL{1000}"), re(r"(?i)\w{1000}")],
            None,
        ),
        ("64 nested groups", vec![re(&nested)], None),
        ("64 nested starred groups", vec![re(&nested_stars)], None),
        ("64 nested alternations", vec![re(&nested_alts)], None),
        ("1000 nested groups", vec![re(&too_deep)], None),
        (
            "100 KB alternation",
            vec![re(&alternation)],
            Some(primary_pods.pattern()),
        ),
        (
            "5 KB alternation ∩ !~ itself",
            vec![
                re(&small_alternation),
                Matcher::new(MatchOp::NotRegex, &small_alternation),
            ],
            None,
        ),
    ];
    let resettable = reset_peak();
    for (label, matchers, within) in &adversarial {
        reset_peak();
        let before = peak_rss_kib();
        let (t, c) = (Instant::now(), thread_cpu());
        let v = decide(matchers, *within, &limits);
        let elapsed = t.elapsed();
        let cpu = thread_cpu().saturating_sub(c);
        let after = peak_rss_kib();
        let rss = match (before, after) {
            (Some(b), Some(a)) => format!("+{:.1} MiB", a.saturating_sub(b) as f64 / 1024.0),
            _ => "n/a".into(),
        };
        println!(
            "  {label:<36} {:>7.2} / {:>6.2} ms  {rss:>10}   {}",
            elapsed.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            summary(&v)
        );
    }
    if !resettable {
        println!("  (peak RSS could not be reset: growth is relative to the previous peak)");
    }
}

/// CPU time of this thread: on a loaded shared machine, wall time mostly measures the queue.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
