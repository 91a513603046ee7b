//! `cargo bench --bench lsp`: `rollgate lsp` measured through a real client process over stdio
//! (tests/lsp_client), on a generated workspace of 1,000 manifest files:
//! - initial load: `initialize` sent → the server's first diagnostics of an open buffer;
//! - edit-to-diagnostics for a 200-line buffer: a `didChange` sent → its `publishDiagnostics`
//!   received, for edits that change objects (re-check) and edits of a comment (positions only);
//! - the server's resident set (VmRSS, VmHWM) after the load and after the edits.
//!
//! Targets (README "Performance"): median ≤ 10 ms, p99 ≤ 30 ms, load ≤ 1 s, RSS ≤ 150 MB.
//! Printed, never failed: wall time on a shared machine is noisy. `ROLLGATE_LSP_EDITS` sets the
//! number of edits (default 300).

#[path = "../tests/lsp_client/mod.rs"]
mod lsp_client;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsp_client::{Client, uri};
use serde_json::json;

const APPS: usize = 250;

/// 250 applications × 4 files (Deployment + Service, Canary, MetricTemplate, ServiceMonitor).
fn generate(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..APPS {
        let app = format!("app{i}");
        let ns = format!("team{}", i % 10);
        let d = dir.join(&app);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("deploy.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  namespace: {ns}\n  labels: {{app: {app}}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n      - name: {app}\n        image: ghcr.io/example/{app}:1.0.{i}\n        ports: [{{name: http, containerPort: 8080}}]\n        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\n  namespace: {ns}\n  labels: {{app: {app}}}\nspec:\n  selector: {{app: {app}}}\n  ports: [{{name: http, port: 80, targetPort: 8080}}]\n"
            ),
        )
        .unwrap();
        std::fs::write(d.join("canary.yaml"), canary(&app, &ns, "latency", 0)).unwrap();
        std::fs::write(
            d.join("template.yaml"),
            format!(
                "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata:\n  name: latency-{app}\n  namespace: {ns}\nspec:\n  provider: {{type: prometheus, address: http://prometheus.monitoring:9090}}\n  query: |\n    histogram_quantile(0.99, sum by (le) (rate(\n      http_request_duration_seconds_bucket{{namespace=\"{{{{ namespace }}}}\", pod=~\"{{{{ target }}}}-canary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\"}}[{{{{ interval }}}}])))\n"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("monitor.yaml"),
            format!(
                "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: {app}}}\n  endpoints: [{{port: http, interval: 15s}}]\n"
            ),
        )
        .unwrap();
    }
}

/// A Canary of `lines`-ish length: padding metrics make the 200-line buffer.
fn canary(app: &str, ns: &str, template: &str, pad_metrics: usize) -> String {
    let mut s = format!(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: {app}}}\n  service: {{port: 80, targetPort: 8080}}\n  analysis:\n    interval: 1m\n    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n    metrics:\n    - name: latency\n      interval: 1m\n      thresholdRange: {{max: 0.5}}\n      templateRef: {{name: {template}-{app}}}\n"
    );
    for k in 0..pad_metrics {
        let _ = write!(
            s,
            "    # metric {k}: the error budget of route {k}\n    - name: errors-{k}\n      interval: 1m\n      thresholdRange:\n        max: 1\n      query: |\n        100 * sum(rate(http_requests_total{{namespace=\"{ns}\", pod=~\"{app}-canary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\", code=~\"5..\", route=\"r{k}\"}}[1m]))\n        /\n        sum(rate(http_requests_total{{namespace=\"{ns}\", pod=~\"{app}-canary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)\", route=\"r{k}\"}}[1m]))\n"
        );
    }
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rollgate-lsp-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    generate(&dir);
    let (files, _) = rollgate::manifest::input::expand_paths(std::slice::from_ref(&dir));
    // The edited buffer: app0's Canary, padded to 200 lines.
    let edited = dir.join("app0/canary.yaml");
    let mut pad = 0;
    let mut text = canary("app0", "team0", "latency", 0);
    while text.lines().count() < 200 {
        pad += 1;
        text = canary("app0", "team0", "latency", pad);
    }
    std::fs::write(&edited, &text).unwrap();
    let lines = text.lines().count();

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_rollgate"));
    let mut c = Client::spawn(&bin);
    let t0 = Instant::now();
    c.initialize(&dir, json!({}));
    let log = c.wait(Duration::from_secs(60), |v| {
        v["method"] == "window/logMessage"
    });
    c.open(&edited, 1, &text);
    let first = c.diagnostics(&uri(&edited));
    let load = t0.elapsed();
    let rss_load = c.rss_kib();
    println!(
        "workspace: {} files ({} manifests generated); buffer {} lines",
        files.len(),
        APPS * 4,
        lines
    );
    println!(
        "initial load (initialize → first diagnostics, through stdio): {:.0} ms  [target ≤ 1000 ms]",
        load.as_secs_f64() * 1e3
    );
    println!(
        "  server: {}",
        log["params"]["message"].as_str().unwrap_or("")
    );
    println!(
        "  first diagnostics of the buffer: {}",
        first["diagnostics"].as_array().map_or(0, Vec::len)
    );

    let edits: usize = std::env::var("ROLLGATE_LSP_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    // The line of the templateRef, toggled between the app's template and a missing one (the
    // Canary's findings change each time: a re-check of the Canary and what it names).
    let mut line = text
        .lines()
        .position(|l| l.contains("templateRef:"))
        .unwrap();
    let old_line = text.lines().nth(line).unwrap().to_owned();
    let new_line = old_line.replace("latency-app0", "missing-app0");
    let mut value = Vec::new();
    let mut comment = Vec::new();
    let mut version = 1;
    let mut current = old_line.clone();
    for i in 0..edits {
        version += 1;
        let (range, new_text, bucket) = if i % 2 == 0 {
            let next = if current == old_line {
                &new_line
            } else {
                &old_line
            };
            let r = json!({"start": {"line": line, "character": 0}, "end": {"line": line, "character": current.len()}});
            let t = next.clone();
            current = next.clone();
            (r, t, &mut value)
        } else {
            // A comment line added at the top: positions move, objects do not.
            let r =
                json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}});
            line += 1;
            (r, format!("# edit {i}\n"), &mut comment)
        };
        let start = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": uri(&edited), "version": version},
                "contentChanges": [{"range": range, "text": new_text}],
            }),
        );
        let d = c.wait(Duration::from_secs(30), |v| {
            v["method"] == "textDocument/publishDiagnostics"
                && v["params"]["uri"] == uri(&edited).as_str()
                && v["params"]["version"] == version
        });
        bucket.push(start.elapsed().as_secs_f64() * 1e3);
        let _ = d;
    }
    for (name, v) in [
        ("edit that changes objects (re-check)", &mut value),
        ("comment edit (positions only)", &mut comment),
    ] {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            continue;
        }
        println!(
            "edit-to-diagnostics, {name}: median {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} edits  [target median ≤ 10, p99 ≤ 30]",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v[v.len() - 1],
            v.len()
        );
    }
    println!(
        "RSS: {:.1} MiB after the load, {:.1} MiB now, peak {:.1} MiB  [target ≤ 150 MB]",
        rss_load as f64 / 1024.0,
        c.rss_kib() as f64 / 1024.0,
        c.peak_rss_kib() as f64 / 1024.0
    );
    let code = c.shutdown();
    assert_eq!(code, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
