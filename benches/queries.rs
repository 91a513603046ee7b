//! `cargo bench --bench queries`: what the gate-query rules add to the corpus lint.
//!
//! The corpus (`../shared/corpus`, or `ROLLGATE_CORPUS`) is read into memory once, then for each
//! of `ROLLGATE_BENCH_ROUNDS` rounds (default 20), in alternating order:
//! - lint with every rule (the query analyses' memo cleared first: a cold run, as one
//!   `rollgate lint` is);
//! - lint with every rule that reads gate queries turned off (no query is analysed at all).
//!
//! Both on one thread (`lint_with_threads(.., 1)`): the CPU the analyses add.
//!
//! Reported: medians of wall and process CPU time of both, and the added percentage (target
//! ≤ 20%); also the number of gates and the cost of rendering + parsing them alone. Figures are
//! printed, never asserted: wall time on a shared machine is noisy.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use rollgate::engine::config::RuleConfig;
use rollgate::engine::lint::{lint_with_threads, objects_of};
use rollgate::engine::{Config, Engine, MemoryInventory};
use rollgate::manifest::input::{DEFAULT_MAX_FILE_SIZE, Input, expand_paths, read_file};
use rollgate::manifest::{Limits, load};
use rollgate::promql::analysis::{Analysis, clear_memo};
use support::{measure, median, ms};

/// Every rule that reads gate queries (`Context::gates`): with all of them off, no query is
/// rendered, parsed or analysed.
const QUERY_RULES: &[&str] = &[
    "template-render-error",
    "promql-parse-error",
    "quantile-without-le-aggregation",
    "query-returns-many-series",
    "vector-match-never-matches",
    "rate-window-too-short",
    "threshold-not-on-bucket-boundary",
    "threshold-unreachable",
    "unit-mismatch",
    "argo-analysis-always-passes",
    "argo-result-index-unguarded",
    "argo-vacuous-all",
    "argo-nan-passes",
    "argo-condition-type-error",
    "canary-query-includes-primary",
    "canary-query-not-isolated",
];

fn main() {
    let corpus = std::env::var_os("ROLLGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !corpus.is_dir() {
        println!(
            "corpus not found at {}; nothing to measure",
            corpus.display()
        );
        return;
    }
    let rounds: usize = std::env::var("ROLLGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(20);
    let (files, _) = expand_paths(std::slice::from_ref(&corpus));
    let inputs: Vec<Input> = files
        .iter()
        .filter_map(|f| read_file(f, DEFAULT_MAX_FILE_SIZE).ok())
        .collect();

    let with = Config::default();
    let mut without = Config::default();
    for id in QUERY_RULES {
        without.rules.insert(
            (*id).to_owned(),
            RuleConfig {
                severity: None,
                options: Default::default(),
            },
        );
    }
    let e_with = Engine::new(rollgate::rules::REGISTRY, &with, None);
    let e_without = Engine::new(rollgate::rules::REGISTRY, &without, None);
    let limits = Limits::default();

    // The gates alone: render + parse every gate query once, cold.
    let mut objects = Vec::new();
    for (si, i) in inputs.iter().enumerate() {
        for d in load(&i.source.text, limits).documents {
            if let Ok(o) = objects_of(d.value, si, d.index, "default") {
                objects.extend(o);
            }
        }
    }
    let world = MemoryInventory::new(objects, "corpus", false);
    let mut work = Vec::new();
    for o in world.objects() {
        for g in rollgate::promql::gates(o, &world) {
            work.push((g.analysis.template.clone(), g.env.clone(), g.promql));
        }
    }
    let mut gate_samples = Vec::new();

    // Warm-up.
    clear_memo();
    black_box(lint_with_threads(
        inputs.clone(),
        &e_with,
        &with.settings,
        limits,
        1,
    ));
    black_box(lint_with_threads(
        inputs.clone(),
        &e_without,
        &without.settings,
        limits,
        1,
    ));

    let (mut w_with, mut c_with, mut w_without, mut c_without) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for on in order {
            let batch = inputs.clone();
            if on {
                clear_memo();
                let (w, c, run) =
                    measure(|| lint_with_threads(batch, &e_with, &with.settings, limits, 1));
                black_box(run);
                w_with.push(w);
                c_with.push(c);
            } else {
                let (w, c, run) =
                    measure(|| lint_with_threads(batch, &e_without, &without.settings, limits, 1));
                black_box(run);
                w_without.push(w);
                c_without.push(c);
            }
        }
        let (w, _, ()) = measure(|| {
            for (t, env, promql) in &work {
                black_box(Analysis::new(t, env, *promql));
            }
        });
        gate_samples.push(w);
    }
    let (ww, cw, wo, co) = (
        median(&w_with),
        median(&c_with),
        median(&w_without),
        median(&c_without),
    );
    let added = |a: Duration, b: Duration| (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0;
    println!(
        "corpus: {} ({} files, {} gates), {rounds} rounds, medians:",
        corpus.display(),
        inputs.len(),
        work.len()
    );
    println!("  {:<44} {:>9} {:>9}", "", "wall ms", "CPU ms");
    println!(
        "  {:<44} {:>9.2} {:>9.2}",
        "lint, query rules off",
        ms(wo),
        ms(co)
    );
    println!(
        "  {:<44} {:>9.2} {:>9.2}",
        "lint, every rule (query memo cold)",
        ms(ww),
        ms(cw)
    );
    println!(
        "  {:<44} {:>9.2}",
        "render + parse every gate once (info)",
        ms(median(&gate_samples))
    );
    let (aw, ac) = (added(ww, wo), added(cw, co));
    let verdict = if ac <= 20.0 { "meets" } else { "MISSES" };
    println!("  query rules add {aw:.1}% wall, {ac:.1}% CPU ({verdict} the 20% target)");
}
