//! `cargo bench --bench schema`: what rule `schema` adds to linting the corpus (target: at most
//! 30%), measured in one process run.
//!
//! The corpus (`../shared/corpus`, or `ROLLGATE_CORPUS`) is read into memory once. Then, for
//! `ROLLGATE_BENCH_ROUNDS` rounds (default 30), the same inputs are linted with every rule
//! enabled and with every rule but `schema`, alternating which goes first. Reported: medians of
//! wall and process CPU time of both, and the added percentage.
//!
//! The first lint with the rule pays for parsing the built-in schemas it needs and compiling the
//! CustomResourceDefinitions of the input (the corpus has seven, 2 MB); it is reported on its own
//! ("cold"). Also reported: the cost of compiling each corpus CRD and of parsing every built-in
//! schema file. Figures are printed, never asserted: wall time on a shared machine is noisy.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use rollgate::engine::config::RuleConfig;
use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine};
use rollgate::manifest::input::{DEFAULT_MAX_FILE_SIZE, Input, expand_paths, read_file};
use rollgate::manifest::{Limits, load};
use support::{measure, median, ms};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let corpus = std::env::var_os("ROLLGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    if !corpus.is_dir() {
        eprintln!("no corpus at {} (set ROLLGATE_CORPUS)", corpus.display());
        return;
    }
    let rounds = std::env::var("ROLLGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(30);
    let (files, _) = expand_paths(std::slice::from_ref(&corpus));
    let inputs: Vec<Input> = files
        .iter()
        .filter_map(|f| read_file(f, DEFAULT_MAX_FILE_SIZE).ok())
        .collect();
    let bytes: usize = inputs.iter().map(|i| i.source.text.len()).sum();
    println!(
        "corpus: {} files, {:.1} MB, {rounds} rounds",
        inputs.len(),
        bytes as f64 / 1e6
    );

    let with = Config::default();
    let mut without = Config::default();
    without.rules.insert(
        "schema".into(),
        RuleConfig {
            severity: None,
            options: Default::default(),
        },
    );
    let rules = rollgate::rules::REGISTRY;
    let engine_with = Engine::new(rules, &with, None);
    let engine_without = Engine::new(rules, &without, None);
    let run = |engine: &Engine, cfg: &Config| {
        measure(|| {
            let r = lint(inputs.clone(), engine, &cfg.settings, Limits::default());
            black_box(r.diagnostics.len())
        })
    };

    // Warm the loader's and the other rules' one-time state first, then the schema rule cold.
    let _ = run(&engine_without, &without);
    let (cold_w, cold_c, _) = run(&engine_with, &with);

    let (mut w_with, mut c_with, mut w_without, mut c_without) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order: [bool; 2] = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for schema_on in order {
            if schema_on {
                let (w, c, _) = run(&engine_with, &with);
                w_with.push(w);
                c_with.push(c);
            } else {
                let (w, c, _) = run(&engine_without, &without);
                w_without.push(w);
                c_without.push(c);
            }
        }
    }
    let (mw, mwo) = (median(&w_with), median(&w_without));
    let (mc, mco) = (median(&c_with), median(&c_without));
    let pct = |a: Duration, b: Duration| (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0;
    println!(
        "lint without schema: wall {:.2} ms, cpu {:.2} ms (median)",
        ms(mwo),
        ms(mco)
    );
    println!(
        "lint with schema:    wall {:.2} ms, cpu {:.2} ms (median)",
        ms(mw),
        ms(mc)
    );
    println!(
        "schema adds:         {:+.1}% wall, {:+.1}% cpu (target <= 30%): {}",
        pct(mw, mwo),
        pct(mc, mco),
        if pct(mc, mco) <= 30.0 {
            "meets target"
        } else {
            "MISSES target"
        }
    );
    println!(
        "cold first lint with schema (parses built-ins, compiles input CRDs): wall {:.2} ms, cpu {:.2} ms ({:+.1}% cpu over the warm median without)",
        ms(cold_w),
        ms(cold_c),
        pct(cold_c, mco)
    );

    // One-time costs in detail.
    let crds = corpus.join("_crds");
    if let Ok(entries) = std::fs::read_dir(&crds) {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let docs = load(&text, Limits::default()).documents;
            let (w, _, n) = measure(|| {
                docs.iter()
                    .filter_map(|d| rollgate::schema::node::compile_crd(&d.value, false))
                    .map(|a| a.nodes.len())
                    .sum::<usize>()
            });
            println!(
                "compile {:<100} {:>6} nodes {:>7.2} ms",
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                n,
                ms(w)
            );
        }
    }
    let (w, _, n) = measure(|| {
        rollgate::schema::builtin::FILES
            .iter()
            .filter_map(|f| rollgate::schema::builtin::file_text(f))
            .filter_map(|t| serde_json::from_str::<rollgate::schema::Arena>(t).ok())
            .map(|a| a.nodes.len())
            .sum::<usize>()
    });
    println!(
        "parse every built-in schema file: {n} nodes in {:.2} ms",
        ms(w)
    );
}
