//! `cargo bench --bench corpus`: the performance targets of the foundation issue, measured in one
//! process run.
//!
//! 1. Corpus (`../shared/corpus`, or `ROLLGATE_CORPUS`), read into memory once, then for each of
//!    `ROLLGATE_BENCH_ROUNDS` rounds (default 20), interleaved (the order alternates per round):
//!    - parse: `rollgate::manifest::load` over every file (the loader the linter uses);
//!    - lint: `rollgate::engine::lint::lint_with_threads` over the same inputs with every rule
//!      enabled (parse + objects + world + rules + placing findings), on one thread (the work
//!      itself: CPU ratio, documents per CPU-second) and on every core as `rollgate lint` runs
//!      (what a user waits for: wall ratio against the one-thread parse). As `rollgate lint`,
//!      the timed lint does not free the objects it built (the command exits right after
//!      reporting, see `LintRun::world`): the freeing at the end of each round is timed apart and
//!      reported on its own and in `lint+freeing/parse`;
//!    - events (for information): the bare `saphyr_parser` event stream over every file;
//!    - parse, documents kept (for information): `load` over every file keeping all documents
//!      until the end, as the lint keeps its world (what holding it costs the loader).
//!
//!    Reported: medians of wall and process CPU time; lint/parse in CPU (one thread) and in wall
//!    time (every core) against the target <= 1.3, documents per CPU-second of the one-thread
//!    lint (target >= 10,000); then what each rule adds on its own.
//! 2. Whole processes (for information; `ROLLGATE_BENCH_PROCESS_RUNS`, default 10): the CPU
//!    time of `rollgate lint CORPUS --format json` on one thread against this benchmark re-run
//!    as a process that reads and parses the corpus once. Each starts cold, as a user's command
//!    does (page faults, one-time tables), which the in-process rounds above amortize.
//! 3. Editor path: `testdata/bench/vs-200-lines.yaml` (200 lines) piped into the release binary,
//!    `rollgate lint --format gcc --stdin-filename x.yaml -`, `ROLLGATE_BENCH_EDITOR_RUNS` times
//!    (default 200): median and p90 wall time of the whole process (target median <= 5 ms), and
//!    its CPU time (less sensitive to a loaded machine). Three worlds (docs/worlds.md): no
//!    context (`--no-context`); the buffer named inside a project folder of 20 manifests (the
//!    context is loaded, target median <= 5 ms); inside a project of 1,000 manifests (what a large
//!    context costs; `ROLLGATE_BENCH_EDITOR_RUNS / 10` runs). Each context case runs with the
//!    context cache of the previous run (`manifest::cache`, as an editor linting one project
//!    again and again), and with the cache off (every context file parsed).
//!
//! `ROLLGATE_BENCH_PROFILE=parse|lint|norules` repeats one step of part 1 and prints nothing,
//! for a profiler.
//!
//! Figures are printed, never asserted: wall time on a shared 2-core machine is noisy.

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollgate::engine::lint::{default_threads, lint_with_threads};
use rollgate::engine::{Config, Engine};
use rollgate::manifest::input::{DEFAULT_MAX_FILE_SIZE, Input, expand_paths, read_file};
use rollgate::manifest::{Limits, load};
use support::{cpu_time, env_usize, ms};

/// The allocator of the `rollgate` binary, so in-process figures match the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Wall and CPU time of `f`, run on a new thread: per-thread memos (the PromQL analyses keep
/// one) start empty, as in a `rollgate lint` process, instead of staying warm across rounds.
fn measure<T: Send>(f: impl FnOnce() -> T + Send) -> (Duration, Duration, T) {
    std::thread::scope(|scope| {
        let (w0, c0) = (Instant::now(), cpu_time());
        let out = scope.spawn(f).join().expect("measured code panicked");
        let (c1, w1) = (cpu_time(), Instant::now());
        (w1 - w0, c1.saturating_sub(c0), out)
    })
}

fn median(v: &[Duration]) -> Duration {
    percentile(v, 0.5)
}

/// Nearest-rank percentile.
fn percentile(v: &[Duration], p: f64) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets target" } else { "MISSES target" }
}

#[derive(Default)]
struct Samples {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, (wall, cpu): (Duration, Duration)) {
        self.wall.push(wall);
        self.cpu.push(cpu);
    }
}

fn corpus_bench(corpus: &Path, rounds: usize) {
    let (files, errors) = expand_paths(&[corpus.to_path_buf()]);
    for (p, e) in &errors {
        eprintln!("warning: {}: {e}", p.display());
    }
    let inputs: Vec<Input> = files
        .iter()
        .filter_map(|f| read_file(f, DEFAULT_MAX_FILE_SIZE).ok())
        .collect();
    let bytes: usize = inputs.iter().map(|i| i.source.text.len()).sum();
    // The texts the loader sees: what `lint` loads (inputs it can read as text).
    let texts: Vec<&str> = inputs
        .iter()
        .filter(|i| i.unusable.is_none())
        .map(|i| i.source.text.as_str())
        .collect();

    let config = Config::default();
    let engine = Engine::new(rollgate::rules::REGISTRY, &config, None);
    let limits = Limits::default();

    let parse = |texts: &[&str]| {
        let mut docs = 0usize;
        for t in texts {
            let loaded = load(t, limits);
            docs += loaded.documents.len();
            black_box(&loaded);
        }
        docs
    };
    let events = |texts: &[&str]| {
        let mut n = 0usize;
        for t in texts {
            for ev in saphyr_parser::Parser::new_from_str(t) {
                if ev.is_err() {
                    break;
                }
                n += 1;
            }
        }
        n
    };

    // `ROLLGATE_BENCH_PROFILE=parse|lint|norules`: only repeat that step `rounds` times, for a
    // profiler (`perf record`, `valgrind --tool=callgrind`) to attribute its time; no figures.
    if let Ok(step) = std::env::var("ROLLGATE_BENCH_PROFILE") {
        let none = Engine::new(
            rollgate::rules::REGISTRY,
            &config,
            Some(&["parse-error".into()]),
        );
        for _ in 0..rounds {
            match step.as_str() {
                "parse" => drop(black_box(parse(&texts))),
                "parse-kept" => {
                    let kept: Vec<_> = texts.iter().map(|t| load(t, limits)).collect();
                    drop(black_box(kept));
                }
                "lint" => drop(black_box(lint_with_threads(
                    inputs.clone(),
                    &engine,
                    &config.settings,
                    limits,
                    1,
                ))),
                _ => drop(black_box(lint_with_threads(
                    inputs.clone(),
                    &none,
                    &config.settings,
                    limits,
                    1,
                ))),
            }
        }
        return;
    }

    // Warm-up (page cache, allocator, branch predictors), and the counts to report.
    let documents = parse(&texts);
    let n_events = events(&texts);
    let threads = default_threads();
    let lint = |b: Vec<Input>, n: usize| lint_with_threads(b, &engine, &config.settings, limits, n);
    let run = lint(inputs.clone(), 1);
    let summary = run.summary.clone();
    drop(run);

    let (mut p, mut l, mut lp, mut e, mut k, mut f) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    for round in 0..rounds {
        // Inputs are copied outside the timed regions.
        let (mut one, mut many) = (Some(inputs.clone()), Some(inputs.clone()));
        let order = if round % 2 == 0 {
            ["parse", "lint", "lint-par"]
        } else {
            ["lint-par", "lint", "parse"]
        };
        for step in order {
            match step {
                "parse" => {
                    let (w, c, d) = measure(|| parse(&texts));
                    black_box(d);
                    p.push((w, c));
                }
                // What `rollgate lint` does: the run's objects are not freed (the command exits
                // after reporting; `LintRun::world`), so they are dropped outside the timing.
                "lint" => {
                    let b = one.take().expect("one lint per round");
                    let (w, c, freeing) = measure(|| {
                        let run = black_box(lint(b, 1));
                        let (w0, c0) = (Instant::now(), cpu_time());
                        drop(run);
                        (w0.elapsed(), cpu_time().saturating_sub(c0))
                    });
                    l.push((w - freeing.0, c.saturating_sub(freeing.1)));
                    f.push(freeing);
                }
                _ => {
                    let b = many.take().expect("one parallel lint per round");
                    let (w, c, freeing) = measure(|| {
                        let run = black_box(lint(b, threads));
                        let w0 = Instant::now();
                        drop(run);
                        w0.elapsed()
                    });
                    // The freeing runs on one thread while the others are idle: its wall time.
                    lp.push((w - freeing, c.saturating_sub(freeing)));
                }
            }
        }
        let (w, c, n) = measure(|| events(&texts));
        black_box(n);
        e.push((w, c));
        // Parsing that keeps every document until the end, as a lint must (for information:
        // what holding the world in memory costs the loader, against `parse`, which drops each
        // file's documents before the next file and so reuses memory that is still in cache).
        let (w, c, ()) = measure(|| {
            let kept: Vec<_> = texts.iter().map(|t| load(t, limits)).collect();
            drop(black_box(kept));
        });
        k.push((w, c));
    }

    let (pw, pc) = (median(&p.wall), median(&p.cpu));
    let (lw, lc) = (median(&l.wall), median(&l.cpu));
    let (lpw, lpc) = (median(&lp.wall), median(&lp.cpu));
    let (ew, ec) = (median(&e.wall), median(&e.cpu));
    let (kw, kc) = (median(&k.wall), median(&k.cpu));
    let fc = median(&f.cpu);
    let ratio_cpu = lc.as_secs_f64() / pc.as_secs_f64();
    let ratio_par = lpw.as_secs_f64() / pw.as_secs_f64();
    let docs_per_cpu_s = summary.documents as f64 / lc.as_secs_f64();

    println!(
        "corpus: {} ({} files, {:.1} MB, {} documents, {} objects, {} YAML events), {rounds} rounds, medians:",
        corpus.display(),
        summary.files,
        bytes as f64 / 1e6,
        summary.documents,
        summary.objects,
        n_events
    );
    println!("  {:<40} {:>10} {:>10}", "", "wall ms", "CPU ms");
    println!(
        "  {:<40} {:>10.2} {:>10.2}",
        "events (saphyr_parser only, info)",
        ms(ew),
        ms(ec)
    );
    println!(
        "  {:<40} {:>10.2} {:>10.2}",
        "parse (rollgate::manifest::load)",
        ms(pw),
        ms(pc)
    );
    println!(
        "  {:<40} {:>10.2} {:>10.2}",
        "parse, documents kept (info)",
        ms(kw),
        ms(kc)
    );
    println!(
        "  {:<40} {:>10.2} {:>10.2}",
        "lint (all rules, 1 thread)",
        ms(lw),
        ms(lc)
    );
    println!(
        "  {:<40} {:>10} {:>10.2}",
        "freeing the lint's objects (info)",
        "",
        ms(fc)
    );
    println!(
        "  {:<40} {:>10.2} {:>10.2}",
        format!("lint (all rules, {threads} threads)"),
        ms(lpw),
        ms(lpc)
    );
    println!(
        "  lint/parse CPU      {ratio_cpu:.2} (1 thread: the work itself)   target <= 1.30: {}",
        verdict(ratio_cpu <= 1.3)
    );
    println!(
        "  lint/parse wall     {ratio_par:.2} ({threads} threads vs parse on 1: what a user waits)   target <= 1.30: {}",
        verdict(ratio_par <= 1.3)
    );
    println!(
        "  lint+freeing/parse  {:.2} (CPU)   (for information: a lint that also frees its objects, as a library user's would)",
        (lc + fc).as_secs_f64() / pc.as_secs_f64()
    );
    println!(
        "  lint/parse-kept     {:.2} (CPU)   (for information: the rules and the engine, memory aside)",
        lc.as_secs_f64() / kc.as_secs_f64()
    );
    println!(
        "  lint/events         {:.2} (CPU)   (for information)",
        lc.as_secs_f64() / ec.as_secs_f64()
    );
    println!(
        "  documents/CPU-s     {docs_per_cpu_s:.0}   target >= 10000: {}",
        verdict(docs_per_cpu_s >= 10_000.0)
    );
    per_rule_cost(&inputs, &config, limits, rounds.div_ceil(4).max(3));
    if documents != summary.documents {
        println!(
            "  (note: load() returned {documents} documents, lint counted {})",
            summary.documents
        );
    }
}

/// What each rule adds to a lint with only the engine's syntax diagnostics on, to find the rule
/// to speed up when lint/parse grows: each round lints without the rule and with it, in
/// alternating order, and the median of the per-round differences is reported (a single
/// baseline would carry the machine's drift over the minute this takes into every rule).
fn per_rule_cost(inputs: &[Input], config: &Config, limits: Limits, rounds: usize) {
    let cpu_of = |engine: &Engine| -> f64 {
        let batch = inputs.to_vec();
        let (_, c, ()) = measure(|| {
            black_box(lint_with_threads(
                batch,
                engine,
                &config.settings,
                limits,
                1,
            ));
        });
        c.as_secs_f64() * 1e3
    };
    let only = |id: &str| Engine::new(rollgate::rules::REGISTRY, config, Some(&[id.to_owned()]));
    let none = only("parse-error");
    let mut base = Vec::new();
    let mut lines = Vec::new();
    for rule in rollgate::rules::REGISTRY {
        let id = rule.meta().id;
        let with = only(id);
        let mut added: Vec<f64> = (0..rounds)
            .map(|round| {
                let (b, w) = if round % 2 == 0 {
                    let b = cpu_of(&none);
                    (b, cpu_of(&with))
                } else {
                    let w = cpu_of(&with);
                    (cpu_of(&none), w)
                };
                base.push(b);
                w - b
            })
            .collect();
        added.sort_by(f64::total_cmp);
        lines.push(format!("    {id:<40} {:>8.2}", added[added.len() / 2]));
    }
    base.sort_by(f64::total_cmp);
    println!(
        "  per rule ({rounds} paired rounds, median CPU ms added to a lint with no rule, which takes {:.1}):",
        base.get(base.len() / 2).copied().unwrap_or_default()
    );
    for line in lines {
        println!("{line}");
    }
}

/// CPU time (user + system) of the children this process has waited for.
fn children_cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_CHILDREN) failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The `rollgate` binary the process measurements run (`ROLLGATE_BIN`, else the one cargo built).
fn rollgate_bin() -> PathBuf {
    std::env::var_os("ROLLGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rollgate")))
}

/// CPU time (user + system) of one child process run to its end, its output discarded.
fn child_cpu(cmd: &mut Command) -> Duration {
    let cpu0 = children_cpu_time();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "{cmd:?} exited {status}"
    );
    children_cpu_time().saturating_sub(cpu0)
}

/// Whole processes, one thread each, alternating: `rollgate lint CORPUS --format json` against
/// this benchmark re-run as a process that only reads and parses the corpus once
/// (`ROLLGATE_BENCH_PROFILE=parse`, one round). Unlike the rounds above, each process starts
/// cold: it faults in every page it touches and fills its one-time tables (built-in schemas,
/// lazily compiled patterns), as a user's `rollgate lint` does. Both include reading the files.
fn process_bench(corpus: &Path, runs: usize) {
    let bin = rollgate_bin();
    let me = std::env::current_exe().expect("current_exe");
    let (mut parse, mut lint) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        parse.push(child_cpu(
            Command::new(&me)
                .env("ROLLGATE_BENCH_PROFILE", "parse")
                .env("ROLLGATE_BENCH_ROUNDS", "1")
                .env("ROLLGATE_CORPUS", corpus),
        ));
        lint.push(child_cpu(
            Command::new(&bin)
                .args(["lint", "--no-config", "--format", "json"])
                .arg(corpus)
                .env("ROLLGATE_THREADS", "1")
                .current_dir(root()),
        ));
    }
    let (p, l) = (median(&parse), median(&lint));
    println!("whole processes, one thread, {runs} runs each, median CPU (information):");
    println!(
        "  read + parse once (this benchmark, profile parse)   {:>8.2} ms",
        ms(p)
    );
    println!(
        "  `{} lint --format json` on the corpus        {:>8.2} ms",
        bin.file_name().unwrap_or_default().to_string_lossy(),
        ms(l)
    );
    println!(
        "  lint/parse CPU, whole processes   {:.2}",
        l.as_secs_f64() / p.as_secs_f64()
    );
}

/// A project folder (`.git`) of `n` manifests, each a Deployment, a Service and a Flagger Canary
/// (about 60 lines), for the editor path with a context.
fn project_of(n: usize) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rollgate-bench-context-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
    for i in 0..n {
        let sub = dir.join(format!("apps/app{}", i / 10));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  namespace: shop\n  labels: {{app: app{i}}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app{i}}}\n  template:\n    metadata:\n      labels: {{app: app{i}}}\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/example/app{i}:1.0.0\n        ports:\n        - {{name: http, containerPort: 8080}}\n        resources:\n          requests: {{cpu: 100m, memory: 64Mi}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\n  namespace: shop\nspec:\n  selector: {{app: app{i}}}\n  ports:\n  - {{name: http, port: 80, targetPort: http}}\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: app{i}\n  namespace: shop\nspec:\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: app{i}}}\n  service: {{port: 80, targetPort: 8080}}\n  analysis:\n    interval: 1m\n    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n    metrics:\n    - name: request-success-rate\n      thresholdRange: {{min: 99}}\n      interval: 1m\n"
        );
        std::fs::write(sub.join(format!("app{i}.yaml")), text).expect("write");
    }
    dir
}

fn editor_bench(runs: usize) {
    let file = root().join("testdata/bench/vs-200-lines.yaml");
    let text = std::fs::read(&file).expect("testdata/bench/vs-200-lines.yaml");
    let small = project_of(20);
    let large = project_of(1000);
    // The context cache of the runs (manifest/cache.rs), filled by each case's warm-up run as
    // an editor's first lint of the project fills it; `off` parses every context file.
    let cache = std::env::temp_dir().join(format!("rollgate-bench-cache-{}", std::process::id()));
    let cached = cache.to_string_lossy().into_owned();
    let worlds: [(&str, PathBuf, &[&str], &str, usize); 5] = [
        ("no context", root(), &["--no-context"], "off", runs),
        ("context of 20 manifests", small.clone(), &[], &cached, runs),
        (
            "context of 20 manifests, cache off",
            small.clone(),
            &[],
            "off",
            runs,
        ),
        (
            "context of 1,000 manifests",
            large.clone(),
            &[],
            &cached,
            (runs / 10).max(5),
        ),
        (
            "context of 1,000 manifests, cache off",
            large.clone(),
            &[],
            "off",
            (runs / 10).max(5),
        ),
    ];
    for (label, dir, extra, cache_dir, runs) in worlds {
        editor_case(&text, label, &dir, extra, cache_dir, runs);
    }
    let _ = std::fs::remove_dir_all(small);
    let _ = std::fs::remove_dir_all(large);
    let _ = std::fs::remove_dir_all(cache);
}

fn editor_case(text: &[u8], label: &str, dir: &Path, extra: &[&str], cache_dir: &str, runs: usize) {
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    let bin = rollgate_bin();
    let mut args = vec!["lint", "--format", "gcc", "--stdin-filename", "apps/x.yaml"];
    args.extend(extra);
    args.push("-");

    // Wall time, CPU time of the child (user + system), output, exit code.
    let once = || -> (Duration, Duration, Vec<u8>, Option<i32>) {
        let cpu0 = children_cpu_time();
        let start = Instant::now();
        let mut child = Command::new(&bin)
            .args(&args)
            .env("ROLLGATE_CACHE_DIR", cache_dir)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        let wall = start.elapsed();
        (
            wall,
            children_cpu_time().saturating_sub(cpu0),
            out.stdout,
            out.status.code(),
        )
    };

    let (_, _, stdout, code) = once(); // warm-up; check it really lints
    assert!(
        matches!(code, Some(0 | 1)),
        "{} {} exited {code:?}",
        bin.display(),
        args.join(" ")
    );
    let findings = stdout.iter().filter(|&&b| b == b'\n').count();

    let (times, cpus): (Vec<Duration>, Vec<Duration>) = (0..runs)
        .map(|_| {
            let (w, c, _, _) = once();
            (w, c)
        })
        .unzip();
    let med = median(&times);
    println!(
        "editor path, {label}: {} lines on stdin -> `{} {}` ({findings} finding(s)), {runs} runs:",
        lines,
        bin.file_name().unwrap_or_default().to_string_lossy(),
        args.join(" ")
    );
    println!(
        "  median {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms   target median <= 5 ms: {}",
        ms(med),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.0)),
        ms(percentile(&times, 1.0)),
        verdict(med <= Duration::from_millis(5))
    );
    println!(
        "  CPU of the rollgate process (user + system): median {:.2} ms, p90 {:.2} ms",
        ms(median(&cpus)),
        ms(percentile(&cpus, 0.9))
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing useful either.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rounds = env_usize("ROLLGATE_BENCH_ROUNDS", 20);
    let runs = env_usize("ROLLGATE_BENCH_EDITOR_RUNS", 200);
    let corpus = std::env::var_os("ROLLGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    if cfg!(debug_assertions) {
        println!("note: built without optimizations; run `cargo bench --bench corpus` for figures");
    }
    if corpus.is_dir() {
        corpus_bench(&corpus, rounds);
        if std::env::var_os("ROLLGATE_BENCH_PROFILE").is_none() {
            process_bench(&corpus, env_usize("ROLLGATE_BENCH_PROCESS_RUNS", 10));
        }
    } else {
        println!(
            "note: {} not found; corpus benchmark skipped",
            corpus.display()
        );
    }
    if std::env::var_os("ROLLGATE_BENCH_PROFILE").is_none() {
        editor_bench(runs);
    }
}
