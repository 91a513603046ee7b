//! The adversarial input suite (testdata/adversarial/README.md): hostile inputs run through the
//! real `rollgate` binary under a time limit and an address-space limit, with the child's wall
//! time and peak RSS measured (wait4) and checked against a bound per case, and the hostile
//! objects run through the admission decision (`webhook::review`) in-process.
//!
//! Peak RSS is the child's `VmHWM` (/proc/<pid>/status), read every 2 ms while it runs: wait4's
//! `ru_maxrss` cannot be used, because Linux carries the high-water mark of the process image
//! replaced by exec (here: the forked test process, holding 100 MB of generated input) into it.
//!
//! Every case must end with exit code 0, 1 or 2, no "panicked" on stderr, and the finding or
//! error it is about (rule id and message). Small inputs are files in testdata/adversarial/; the
//! big ones are generated here into a temporary folder. Cases marked heavy (the 32 MiB document
//! and the 100,000-object input) run only when ROLLGATE_ADVERSARIAL_HEAVY=1 (`.ci/run` sets it).
//! Bounds are for a debug build on a shared 2-core machine; a release build is 5-20x faster.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollgate::engine::{Config, Engine, Settings};
use rollgate::manifest::{Limits, load};
use rollgate::webhook::{NoCluster, Verdict, review};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_rollgate");
/// Address space of the child: a runaway allocation fails instead of taking the machine down.
const AS_LIMIT: u64 = 4 << 30;

fn heavy() -> bool {
    std::env::var("ROLLGATE_ADVERSARIAL_HEAVY").is_ok_and(|v| v == "1")
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/adversarial")
        .join(name)
}

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "rollgate-adversarial-{name}-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    secs: f64,
    rss_mb: f64,
    stdout: String,
    stderr: String,
}

/// The high-water mark of a running process's resident memory, in KiB.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run the binary with `args` (and `stdin`), killing it after `limit`; wall time from wait4,
/// peak RSS from `VmHWM` (see the module comment).
// The child is reaped with wait4 (for its status without `Child::wait`'s blocking).
#[allow(clippy::zombie_processes)]
fn run(args: &[&str], stdin: Option<Vec<u8>>, limit: Duration, dir: &Path) -> Run {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: AS_LIMIT,
                rlim_max: AS_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn rollgate");
    let writer = stdin.map(|bytes| {
        let mut w = child.stdin.take().expect("stdin");
        // The child may stop reading (input over the size limit): a broken pipe is expected.
        std::thread::spawn(move || {
            let _ = w.write_all(&bytes);
        })
    });
    let pid = child.id() as libc::pid_t;
    let mut hwm_kib = 0u64;
    let status = loop {
        let mut status = 0;
        // SAFETY: plain syscall with out-pointers to locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break status;
        }
        if let Some(k) = vm_hwm_kib(pid) {
            hwm_kib = hwm_kib.max(k);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            // SAFETY: our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            panic!("rollgate {args:?} still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let secs = start.elapsed().as_secs_f64();
    if let Some(w) = writer {
        let _ = w.join();
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Run {
        code,
        secs,
        rss_mb: hwm_kib as f64 / 1024.0,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// What a case must produce.
struct Expect {
    /// Exit code.
    code: i32,
    /// (rule id, message fragment): each must match at least one finding.
    findings: &'static [(&'static str, &'static str)],
    /// Wall-time bound (seconds) and peak-RSS bound (MiB) of the child.
    secs: f64,
    rss_mb: f64,
}

/// Lint `input` (a path; `-` reads `stdin`) with `--format json` and check the outcome.
fn lint_case(
    name: &str,
    input: &Path,
    stdin: Option<Vec<u8>>,
    extra: &[&str],
    expect: Expect,
) -> Value {
    let dir = TempDir::new(&format!("{name}-run"));
    let input = input.to_str().expect("utf-8 path");
    let mut args = vec![
        "lint",
        "--no-config",
        "--no-context",
        "--format",
        "json",
        input,
    ];
    args.extend_from_slice(extra);
    let limit = Duration::from_secs_f64(expect.secs * 2.0 + 5.0);
    let r = run(&args, stdin, limit, &dir.0);
    println!(
        "adversarial {name}: exit {}, {:.2} s (bound {} s), peak RSS {:.0} MiB (bound {} MiB)",
        r.code, r.secs, expect.secs, r.rss_mb, expect.rss_mb
    );
    assert!(
        !r.stderr.contains("panicked"),
        "{name}: panic:\n{}",
        r.stderr
    );
    assert!(
        matches!(r.code, 0..=2),
        "{name}: exit {} (killed by a signal when negative)\n{}",
        r.code,
        r.stderr
    );
    assert_eq!(r.code, expect.code, "{name}: exit code\n{}", r.stderr);
    assert!(
        r.secs <= expect.secs,
        "{name}: {:.2} s, over the {} s bound",
        r.secs,
        expect.secs
    );
    assert!(
        r.rss_mb <= expect.rss_mb,
        "{name}: peak RSS {:.0} MiB, over the {} MiB bound",
        r.rss_mb,
        expect.rss_mb
    );
    let out: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: output is not JSON ({e}): {}",
            &r.stdout[..r.stdout.len().min(500)]
        )
    });
    let findings = out["findings"].as_array().cloned().unwrap_or_default();
    for (rule, fragment) in expect.findings {
        assert!(
            findings.iter().any(|f| f["rule"] == *rule
                && f["message"].as_str().is_some_and(|m| m.contains(fragment))),
            "{name}: no {rule} finding containing {fragment:?}; got:\n{}",
            summarize(&findings)
        );
    }
    out
}

fn summarize(findings: &[Value]) -> String {
    let mut s = String::new();
    for f in findings.iter().take(20) {
        let m = f["message"].as_str().unwrap_or("");
        let _ = writeln!(
            s,
            "  {}:{} {} {}",
            f["line"],
            f["column"],
            f["rule"],
            cut(m, 200)
        );
    }
    if findings.len() > 20 {
        let _ = writeln!(s, "  … {} more", findings.len() - 20);
    }
    s
}

/// The first `n` characters of `s`.
fn cut(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

fn count(out: &Value, rule: &str) -> usize {
    out["findings"]
        .as_array()
        .map_or(0, |f| f.iter().filter(|f| f["rule"] == rule).count())
}

/// Write a generated input into a fresh temporary folder.
fn generated(name: &str, file: &str, bytes: &[u8]) -> (TempDir, PathBuf) {
    let dir = TempDir::new(name);
    let path = dir.0.join(file);
    std::fs::write(&path, bytes).expect("write input");
    (dir, path)
}

// ---------------------------------------------------------------------------------------------
// Generators

fn metric_template(name: &str, query: &str) -> String {
    // A single-quoted YAML scalar: double the quotes.
    format!(
        "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {{name: {name}, namespace: adv}}\nspec:\n  provider: {{type: prometheus, address: http://prometheus:9090}}\n  query: '{}'\n",
        query.replace('\'', "''")
    )
}

fn alias_bomb() -> String {
    let mut t = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n");
    t.push_str("  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = format!("*a{}", i - 1);
        let items = [p.as_str(); 10].join(", ");
        let _ = writeln!(t, "  a{i}: &a{i} [{items}]");
    }
    t
}

fn alias_long_text() -> String {
    // 40 aliases of a 1 MiB string: few nodes (go-yaml's guards pass), 40 MiB of copies.
    let mut t = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: copies}}\ndata:\n  a: &a {}\n  b:\n",
        "x".repeat(1 << 20)
    );
    t.push_str(&"  - *a\n".repeat(40));
    t
}

fn virtual_service(name: &str, route: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: adv}}\nspec:\n  hosts: [{name}]\n  http:\n  - route:\n{route}"
    )
}

fn destinations(n: usize) -> String {
    let mut route = String::new();
    for i in 0..n {
        let _ = write!(
            route,
            "    - destination: {{host: d{i}}}\n      weight: 1\n"
        );
    }
    virtual_service("many", &route)
}

fn objects(n: usize) -> String {
    // Services, VirtualServices (one in 100 with weights 95/10) and ServiceMonitors.
    let mut t = String::with_capacity(n * 200);
    for i in 0..n {
        match i % 3 {
            0 => {
                let _ = write!(
                    t,
                    "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: adv, labels: {{app: s{i}}}}}\nspec:\n  selector: {{app: s{i}}}\n  ports: [{{name: http, port: 80}}]\n"
                );
            }
            1 => {
                let w = if i % 100 == 1 { (95, 10) } else { (90, 10) };
                let _ = write!(
                    t,
                    "---\n{}",
                    virtual_service(
                        &format!("v{i}"),
                        &format!(
                            "    - destination: {{host: s{}}}\n      weight: {}\n    - destination: {{host: s{}}}\n      weight: {}\n",
                            i - 1,
                            w.0,
                            i - 1,
                            w.1
                        )
                    )
                );
            }
            _ => {
                let _ = write!(
                    t,
                    "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {{name: m{i}, namespace: adv}}\nspec:\n  selector: {{matchLabels: {{app: s{}}}}}\n  endpoints: [{{port: http}}]\n",
                    i - 2
                );
            }
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Cases through the binary

#[test]
fn alias_bomb_is_refused() {
    let (_d, p) = generated("alias-bomb", "bomb.yaml", alias_bomb().as_bytes());
    lint_case(
        "alias-bomb",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[("parse-error", "excessive aliasing (alias bomb?)")],
            secs: 5.0,
            rss_mb: 100.0,
        },
    );
}

#[test]
fn aliases_copying_long_text_are_refused() {
    let (_d, p) = generated("alias-text", "copies.yaml", alias_long_text().as_bytes());
    lint_case(
        "alias-long-text",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[(
                "parse-error",
                "copies more than 33554432 bytes of text through aliases",
            )],
            secs: 15.0,
            rss_mb: 200.0,
        },
    );
}

#[test]
fn deep_nesting_is_refused() {
    let cases: [(&str, String); 5] = [
        ("nesting-block-seq", "- ".repeat(100_000) + "x\n"),
        (
            "nesting-block-map",
            (0..1000).fold(String::new(), |mut t, i| {
                let _ = writeln!(t, "{}k{i}:", " ".repeat(i));
                t
            }),
        ),
        ("nesting-flow-seq", "[".repeat(100_000)),
        (
            "nesting-flow-map",
            "{a: ".repeat(100_000) + &"}".repeat(100_000),
        ),
        (
            "nesting-json",
            "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000),
        ),
    ];
    for (name, text) in cases {
        let (_d, p) = generated(name, "deep.yaml", text.as_bytes());
        lint_case(
            name,
            &p,
            None,
            &[],
            Expect {
                code: 1,
                findings: &[("parse-error", "nesting too deep")],
                secs: 10.0,
                rss_mb: 100.0,
            },
        );
    }
}

#[test]
fn documents_over_the_size_limit_are_refused() {
    // 100 MB, over the 32 MiB cap: a file (its size is known before reading) and standard input
    // (read up to one byte past the cap).
    let chunk = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: v}\n---\n";
    let text = chunk.repeat(100_000_000 / chunk.len() + 1);
    let (_d, p) = generated("100mb", "big.yaml", text.as_bytes());
    lint_case(
        "100mb-file",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[("parse-error", "over the 33554432-byte limit")],
            secs: 5.0,
            rss_mb: 100.0,
        },
    );
    lint_case(
        "100mb-stdin",
        Path::new("-"),
        Some(text.into_bytes()),
        &[],
        Expect {
            code: 1,
            findings: &[("parse-error", "input is over the 33554432-byte limit")],
            secs: 10.0,
            rss_mb: 150.0,
        },
    );
}

#[test]
fn document_just_under_the_size_limit_is_linted() {
    if !heavy() {
        println!("SKIPPED: a heavy case; ROLLGATE_ADVERSARIAL_HEAVY=1 runs it");
        return;
    }
    // One ConfigMap holding a 31 MiB literal block, then a VirtualService with weights 95/10.
    let mut t =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  k: |\n");
    let line = format!("    {}\n", "y".repeat(1020));
    while t.len() < (31 << 20) {
        t.push_str(&line);
    }
    t.push_str("---\n");
    t.push_str(&virtual_service(
        "after",
        "    - destination: {host: a}\n      weight: 95\n    - destination: {host: b}\n      weight: 10\n",
    ));
    let (_d, p) = generated("31mb", "big.yaml", t.as_bytes());
    lint_case(
        "31mib-document",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[("istio-weights-not-100", "weights sum to 105")],
            secs: 60.0,
            rss_mb: 400.0,
        },
    );
}

#[test]
fn unreadable_text_is_reported() {
    let bounds = |findings| Expect {
        code: 1,
        findings,
        secs: 5.0,
        rss_mb: 100.0,
    };
    lint_case(
        "invalid-utf8",
        &testdata("invalid-utf8.yaml"),
        None,
        &[],
        bounds(&[("parse-error", "invalid UTF-8 at byte 72")]),
    );
    lint_case(
        "nul-bytes",
        &testdata("nul-bytes.yaml"),
        None,
        &[],
        bounds(&[("parse-error", "binary file (contains a NUL byte)")]),
    );
    // UTF-16 with a byte order mark (what some Windows editors write).
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(
            "apiVersion: v1\nkind: ConfigMap\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let (_d, p) = generated("utf16", "utf16.yaml", &utf16);
    lint_case(
        "utf16",
        &p,
        None,
        &[],
        bounds(&[("parse-error", "binary file (not UTF-8 text)")]),
    );
}

#[test]
fn duplicate_keys_are_reported_boundedly() {
    let mut t = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dups}\ndata:\n");
    t.push_str(&"  a: b\n".repeat(200_000));
    let (_d, p) = generated("dups", "dups.yaml", t.as_bytes());
    let out = lint_case(
        "duplicate-keys-200k",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[
                ("duplicate-key", "duplicate key \"a\""),
                (
                    "duplicate-key",
                    "further duplicate keys in this document are not listed",
                ),
            ],
            secs: 15.0,
            rss_mb: 200.0,
        },
    );
    assert_eq!(count(&out, "duplicate-key"), 100);
}

#[test]
fn huge_numbers_in_numeric_fields() {
    let out = lint_case(
        "huge-numbers",
        &testdata("huge-numbers.yaml"),
        None,
        &[],
        Expect {
            code: 1,
            findings: &[
                (
                    "istio-weights-not-100",
                    "weight 18446744073709551615 is out of range for an int32",
                ),
                (
                    "istio-weights-not-100",
                    "weight \"1e400\" is a string; the API field is an int32",
                ),
                (
                    "schema",
                    "spec.http[0].retries.attempts: 1e+20 is out of range for an int32",
                ),
                (
                    "schema",
                    "spec.http[0].route[0].destination.port.number: 1.8446744073709552e+19 is too large",
                ),
                ("schema", "spec.analysis.interval: \"9999999999999999999h\""),
                (
                    "schema",
                    "spec.analysis.stepWeights[4]: expected number, got string \".nan\"",
                ),
                (
                    "schema",
                    "spec.strategy.canary.steps[0].setWeight: 1e+30 is out of range for an int32",
                ),
                (
                    "schema",
                    "spec.replicas: 1e+20 is out of range for an int32",
                ),
                (
                    "schema",
                    "spec.ports[0].port: 1.8446744073709552e+19 is out of range for an int32",
                ),
                ("promql-parse-error", "not a valid duration string: 1e30m"),
                ("argo-pause-zero", "pause duration 0 is no pause"),
            ],
            secs: 10.0,
            rss_mb: 100.0,
        },
    );
    assert!(
        count(&out, "schema") >= 20,
        "{}",
        summarize(out["findings"].as_array().unwrap())
    );
}

/// flagger-weights-stall named the wrong step when `stepWeights` held values that are not
/// 64-bit integers: it dropped them before indexing, so for `[1e308, 1e308,
/// 18446744073709551615, -1, …]` it reported "stepWeights[0] is -1" at the first element,
/// whose value is 1e308. Such a Canary does not decode in Flagger at all (the schema rule
/// reports it); the stall rule now leaves it alone.
#[test]
fn weights_stall_names_the_step_it_reports() {
    let out = lint_case(
        "weights-stall-index",
        &testdata("huge-numbers.yaml"),
        None,
        &["--select", "flagger-weights-stall"],
        Expect {
            code: 0,
            findings: &[],
            secs: 10.0,
            rss_mb: 100.0,
        },
    );
    // stepWeights holds numbers that are not integers: Flagger cannot decode the Canary (the
    // schema rule says so); the stall rule must not name a step by a shifted index.
    for f in out["findings"].as_array().into_iter().flatten() {
        assert!(
            f["rule"] != "flagger-weights-stall",
            "unexpected finding: {f}"
        );
    }
}

#[test]
fn ten_thousand_destinations() {
    let (_d, p) = generated("dest", "dest.yaml", destinations(10_000).as_bytes());
    lint_case(
        "10k-destinations",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[("istio-weights-not-100", "weights sum to 10000, not 100")],
            secs: 20.0,
            rss_mb: 200.0,
        },
    );
}

#[test]
fn regexes_built_to_blow_up_automata() {
    lint_case(
        "regex-blowup",
        &testdata("regex-blowup.yaml"),
        None,
        &[],
        Expect {
            code: 1,
            findings: &[
                (
                    "canary-query-includes-primary",
                    "`pod=~\"(blowup|b)*-(a|b){20}.*\"` matches no canary pod",
                ),
                (
                    "canary-query-includes-primary",
                    "pod!~\"(a|b)*(a|b){13}b\", pod=~\".*blowup.*\"` matches no canary pod",
                ),
                (
                    "promql-parse-error",
                    "illegal regex for ((((blowup-){1,100}){1,100}){1,100}){1,100}",
                ),
                (
                    "promql-parse-error",
                    "illegal regex for blowup-primary-.{1000}{1000}",
                ),
            ],
            secs: 30.0,
            rss_mb: 300.0,
        },
    );
}

#[test]
fn megabyte_promql() {
    // 1 MB of a valid query, in a Flagger MetricTemplate and in an Argo AnalysisTemplate (with
    // a 1 MB successCondition).
    let q = "sum(rate(http_requests_total{app=\"x\"}[1m])) + ".repeat(25_000) + "1";
    let mut t = metric_template("big", &q);
    let cond = "result > 0 && ".repeat(75_000) + "true";
    let _ = write!(
        t,
        "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: big, namespace: adv}}\nspec:\n  metrics:\n  - name: big\n    successCondition: '{cond}'\n    provider:\n      prometheus:\n        address: http://prometheus:9090\n        query: '{q}'\n"
    );
    let (_d, p) = generated("promql", "big.yaml", t.as_bytes());
    let out = lint_case(
        "1mb-promql",
        &p,
        None,
        &[],
        Expect {
            code: 0,
            findings: &[(
                "promql-parse-error",
                "bytes long; rollgate does not analyse queries over 128 KiB",
            )],
            secs: 20.0,
            rss_mb: 200.0,
        },
    );
    assert_eq!(count(&out, "promql-parse-error"), 2);
    // Deeply nested parentheses: refused by the parser's nesting guard.
    let deep = "(".repeat(50_000) + "x" + &")".repeat(50_000);
    let (_d, p) = generated(
        "promql-deep",
        "deep.yaml",
        metric_template("deep", &deep).as_bytes(),
    );
    lint_case(
        "deep-promql",
        &p,
        None,
        &[],
        Expect {
            code: 0,
            findings: &[("promql-parse-error", "")],
            secs: 10.0,
            rss_mb: 100.0,
        },
    );
}

#[test]
fn template_storms() {
    let mut t = metric_template("open", &"{{".repeat(200_000));
    t.push_str("---\n");
    t.push_str(&metric_template(
        "bad-actions",
        &"{{ {{ {{ }} ".repeat(50_000),
    ));
    t.push_str("---\n");
    t.push_str(&metric_template(
        "placeholders",
        &"{{ target }}".repeat(50_000),
    ));
    t.push_str("---\n");
    let args = "{{args.nope}}".repeat(50_000);
    let _ = write!(
        t,
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: storm, namespace: adv}}\nspec:\n  metrics:\n  - name: storm\n    successCondition: result[0] < 1\n    provider:\n      prometheus:\n        address: http://prometheus:9090\n        query: '{args}'\n"
    );
    let (_d, p) = generated("storm", "storm.yaml", t.as_bytes());
    let out = lint_case(
        "template-storm",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[
                ("template-render-error", "unclosed action"),
                (
                    "template-render-error",
                    "(49990 more errors in this template are not listed)",
                ),
                ("template-render-error", "{{args.nope}}"),
                (
                    "promql-parse-error",
                    "bytes long; rollgate does not analyse queries over 128 KiB",
                ),
            ],
            secs: 30.0,
            rss_mb: 300.0,
        },
    );
    assert!(count(&out, "template-render-error") <= 21);
}

#[test]
fn broken_document_streams() {
    // Every document broken: recovery restarts once per document (this was quadratic).
    let mut t = "---\na: [\n".repeat(20_000);
    t.push_str(&"---\na:\n  b: 'x\ny'\n   c: 1\n".repeat(5_000));
    t.push_str("---\n");
    t.push_str(&virtual_service(
        "last",
        "    - destination: {host: a}\n      weight: 95\n    - destination: {host: b}\n      weight: 10\n",
    ));
    let (_d, p) = generated("broken", "broken.yaml", t.as_bytes());
    let out = lint_case(
        "25k-broken-documents",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[
                (
                    "parse-error",
                    "invalid YAML: while parsing a node, did not find expected node content",
                ),
                ("parse-error", "did not find expected key"),
                ("istio-weights-not-100", "weights sum to 105"),
            ],
            secs: 20.0,
            rss_mb: 200.0,
        },
    );
    assert_eq!(count(&out, "parse-error"), 25_000);
    // 200,000 empty documents.
    let (_d, p) = generated("empty", "empty.yaml", "---\n".repeat(200_000).as_bytes());
    lint_case(
        "200k-empty-documents",
        &p,
        None,
        &["--show-info"],
        Expect {
            code: 0,
            findings: &[("not-kubernetes-object", "file has no YAML documents")],
            secs: 15.0,
            rss_mb: 200.0,
        },
    );
}

#[test]
fn long_keys_are_bounded() {
    // A 60 KB key over 100,000 children: every child's path repeats the key (6 GB of paths).
    let mut t = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: keys}}\n? {}\n:\n",
        "k".repeat(60_000)
    );
    for i in 0..100_000 {
        let _ = writeln!(t, "  a{i}: 1");
    }
    // A document further on still gets linted.
    t.push_str("---\n");
    t.push_str(&virtual_service(
        "after",
        "    - destination: {host: a}\n      weight: 95\n    - destination: {host: b}\n      weight: 10\n",
    ));
    let (_d, p) = generated("keys", "keys.yaml", t.as_bytes());
    lint_case(
        "long-key-many-children",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[
                ("parse-error", "document too large to index"),
                ("istio-weights-not-100", "weights sum to 105"),
            ],
            // The index stops at 128 MiB of paths; its buffer doubles on the way there.
            secs: 20.0,
            rss_mb: 600.0,
        },
    );
    let t = format!("? {}\n: {{a: {{b: 1}}}}\n", "k".repeat(70_000));
    let (_d, p) = generated("path", "path.yaml", t.as_bytes());
    lint_case(
        "long-path",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[(
                "parse-error",
                "keys nested too long (a path over 65536 bytes)",
            )],
            secs: 5.0,
            rss_mb: 100.0,
        },
    );
}

#[test]
fn one_line_json_with_many_findings_in_human_format() {
    // 2,000 VirtualServices with weights 95/10 on one 2.5 MB line: each finding's snippet is
    // cut out of that line (walking it per finding was quadratic: 1,000 findings took 25 s).
    let items: Vec<Value> = (0..2000)
        .map(|i| {
            json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": format!("v{i}"), "namespace": "adv"},
                "spec": {"hosts": ["h"], "http": [{"route": [
                    {"destination": {"host": "a"}, "weight": 95},
                    {"destination": {"host": "b"}, "weight": 10}]}]}})
        })
        .collect();
    let text = serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items}))
        .expect("json");
    let (d, p) = generated("oneline", "list.json", text.as_bytes());
    let path = p.to_str().expect("utf-8");
    let r = run(
        &["lint", "--no-config", "--format", "human", path],
        None,
        Duration::from_secs(60),
        &d.0,
    );
    println!(
        "adversarial one-line-json-human: exit {}, {:.2} s (bound 30 s), peak RSS {:.0} MiB (bound 200 MiB)",
        r.code, r.secs, r.rss_mb
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(
        r.stdout.matches("error[istio-weights-not-100]").count(),
        2000
    );
    assert!(r.secs <= 30.0 && r.rss_mb <= 200.0);
}

#[test]
fn hundred_thousand_objects() {
    if !heavy() {
        println!("SKIPPED: a heavy case; ROLLGATE_ADVERSARIAL_HEAVY=1 runs it");
        return;
    }
    let (_d, p) = generated("100k", "objects.yaml", objects(100_000).as_bytes());
    let out = lint_case(
        "100k-objects",
        &p,
        None,
        &[],
        Expect {
            code: 1,
            findings: &[("istio-weights-not-100", "weights sum to 105")],
            secs: 120.0,
            rss_mb: 1500.0,
        },
    );
    assert_eq!(out["summary"]["objects"], 100_000);
    assert_eq!(count(&out, "istio-weights-not-100"), 334);
}

// ---------------------------------------------------------------------------------------------
// The same hostile objects through the admission decision, in-process

fn engine() -> Engine {
    Engine::new(rollgate::rules::REGISTRY, &Config::default(), None)
}

fn admission(object: &Value) -> Vec<u8> {
    let av = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
    let kind = object["kind"].as_str().unwrap_or("");
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "adversarial",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
            "namespace": "adv",
            "name": object.pointer("/metadata/name").cloned().unwrap_or(json!("x")),
            "operation": "CREATE",
            "userInfo": {"username": "adversarial"},
            "object": object,
            "dryRun": false,
        }
    }))
    .expect("json")
}

/// Review every document of `text`; returns (kind, verdict, seconds, deny message) per document.
fn review_all(engine: &Engine, text: &str) -> Vec<(String, Verdict, f64, String)> {
    let docs = load(text, Limits::default()).documents;
    docs.into_iter()
        .filter(|d| d.value.is_object())
        .map(|d| {
            let body = admission(&d.value);
            let start = Instant::now();
            let out = review(&body, engine, &Settings::default(), &NoCluster);
            let secs = start.elapsed().as_secs_f64();
            let r = serde_json::to_value(&out.review).expect("serializable");
            assert_eq!(r["response"]["uid"], "adversarial");
            let msg = r["response"]["status"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            (
                d.value["kind"].as_str().unwrap_or("").to_owned(),
                out.verdict,
                secs,
                msg,
            )
        })
        .collect()
}

/// (case, manifest text, kind → expected verdict, seconds bound per review).
type ReviewCase = (&'static str, String, Vec<(&'static str, Verdict)>, f64);

#[test]
fn hostile_objects_through_the_admission_decision() {
    let e = engine();
    let read = |n: &str| std::fs::read_to_string(testdata(n)).expect("testdata");
    // (case, text, kind → expected verdict, seconds bound per review)
    let q = "sum(rate(http_requests_total{app=\"x\"}[1m])) + ".repeat(25_000) + "1";
    let cases: Vec<ReviewCase> = vec![
        (
            "huge-numbers",
            read("huge-numbers.yaml"),
            vec![
                ("VirtualService", Verdict::Denied),
                ("Canary", Verdict::Denied),
                // Besides `schema` errors (which the apiserver rejects itself), Argo's own
                // validation rejects `setCanaryScale` without trafficRouting (argo-invalid-spec):
                // denied.
                ("Rollout", Verdict::Denied),
                ("AnalysisTemplate", Verdict::Denied),
                ("ServiceMonitor", Verdict::Warned),
                ("Service", Verdict::Allowed),
            ],
            5.0,
        ),
        (
            "regex-blowup",
            read("regex-blowup.yaml"),
            vec![("Canary", Verdict::Denied)],
            20.0,
        ),
        (
            "10k-destinations",
            destinations(10_000),
            vec![("VirtualService", Verdict::Denied)],
            20.0,
        ),
        (
            "1mb-promql",
            metric_template("big", &q),
            vec![("MetricTemplate", Verdict::Warned)],
            10.0,
        ),
        (
            "template-storm",
            metric_template("storm", &"{{ {{ {{ }} ".repeat(50_000)),
            vec![("MetricTemplate", Verdict::Denied)],
            10.0,
        ),
    ];
    for (name, text, expect, bound) in cases {
        let got = review_all(&e, &text);
        for (k, v, secs, msg) in &got {
            println!(
                "adversarial review {name} {k}: {v:?} in {secs:.2} s: {}",
                cut(msg, 150)
            );
        }
        for (kind, verdict) in &expect {
            let hit = got.iter().find(|(k, ..)| k == kind);
            let Some((_, v, secs, msg)) = hit else {
                panic!("{name}: no {kind} reviewed");
            };
            assert_eq!(v, verdict, "{name} {kind}: {msg}");
            assert!(*secs <= bound, "{name} {kind}: {secs:.2} s over {bound} s");
            // The apiserver shows the message to the user: bounded.
            assert!(
                msg.len() <= 64 * 1024,
                "{name} {kind}: {} byte message",
                msg.len()
            );
        }
    }
}

#[test]
fn hostile_admission_bodies() {
    let e = engine();
    let base = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "x", "namespace": "adv"},
        "spec": {"hosts": ["x"], "http": []}
    });
    let mut wide = base.clone();
    wide["spec"]["http"] = Value::Array(
        (0..100_000)
            .map(|i| json!({"route": [{"destination": {"host": format!("h{i}")}, "weight": 100}]}))
            .collect(),
    );
    let mut bodies: Vec<(&str, Vec<u8>, Verdict)> = vec![
        (
            "deep-json",
            ("{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000)).into_bytes(),
            Verdict::Invalid,
        ),
        (
            "deep-object",
            admission(
                &json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "x"}, "spec": {"http": [{"route": []}]}}),
            )
            .into_iter()
            .collect(),
            Verdict::Allowed,
        ),
        (
            "invalid-utf8",
            b"{\"apiVersion\":\"\xff\"}".to_vec(),
            Verdict::Invalid,
        ),
        ("nul", b"\0\0\0\0".to_vec(), Verdict::Invalid),
        // 100,000 routes without match: every one after the first never runs
        // (istio-route-unreachable warns, ten one by one and one counting the rest).
        ("100k-routes", admission(&wide), Verdict::Warned),
    ];
    // An object nested 120 levels (serde_json's limit is 128 for the whole body).
    let mut deep = json!(1);
    for _ in 0..120 {
        deep = json!({ "a": deep });
    }
    let mut o = base.clone();
    o["spec"]["x"] = deep;
    // Istio's schema keeps unknown fields under spec: admitted, after walking all of it.
    bodies.push(("deep-unknown-field", admission(&o), Verdict::Allowed));
    // 20,000 routes that each break the weights rule: denied with a bounded response.
    let mut many = base.clone();
    many["spec"]["http"] = Value::Array(
        (0..20_000)
            .map(|i| {
                json!({"route": [
                    {"destination": {"host": format!("a{i}")}, "weight": 95},
                    {"destination": {"host": format!("b{i}")}, "weight": 10}]})
            })
            .collect(),
    );
    let out = review(&admission(&many), &e, &Settings::default(), &NoCluster);
    assert_eq!(out.verdict, Verdict::Denied);
    let bytes = serde_json::to_vec(&out.review).expect("serializable");
    let r: Value = serde_json::from_slice(&bytes).expect("json");
    let causes = r["response"]["status"]["details"]["causes"]
        .as_array()
        .map_or(0, Vec::len);
    println!(
        "adversarial body 20k-bad-routes: {} byte response, {causes} causes",
        bytes.len()
    );
    assert_eq!(causes, 101, "100 listed and one counting the rest");
    assert!(bytes.len() < 256 * 1024, "{} byte response", bytes.len());
    for (name, body, want) in bodies {
        let start = Instant::now();
        let out = review(&body, &e, &Settings::default(), &NoCluster);
        let secs = start.elapsed().as_secs_f64();
        let r = serde_json::to_value(&out.review).expect("serializable");
        println!("adversarial body {name}: {:?} in {secs:.2} s", out.verdict);
        assert_eq!(out.verdict, want, "{name}: {}", r["response"]);
        assert!(r["response"]["uid"].is_string(), "{name}");
        assert!(secs <= 20.0, "{name}: {secs:.2} s");
    }
}
