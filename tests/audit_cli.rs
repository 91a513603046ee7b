//! `rollgate audit` without a cluster: bad arguments, an unreachable apiserver, and every output
//! format on audit findings (objects named by apiVersion/kind/namespace/name and JSON pointer,
//! no file lines). The real-apiserver runs are in tests/e2e_apiserver.rs (`real_apiserver_audit`).

use std::process::Command;

use rollgate::engine::{ObjectRef, Severity};
use rollgate::report::{self, Format};
use rollgate::webhook::audit::{Audit, Row};
use rollgate::webhook::audit_cli::to_lint_run;

const BIN: &str = env!("CARGO_BIN_EXE_rollgate");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("rollgate runs");
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!se.contains("panicked"), "{se}");
    (out.status.code().unwrap_or(-1), so, se)
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    let (code, _, err) = run(&["audit", "--no-config", "-l", "app in (web"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--selector") && err.contains("parenthesis"),
        "{err}"
    );
    let (code, _, err) = run(&["audit", "--no-config", "--select", "istio-weights-not-10"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("did you mean \"istio-weights-not-100\""),
        "{err}"
    );
    let (code, _, err) = run(&[
        "audit",
        "--no-config",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/kubeconfig"), "{err}");
}

/// A kubeconfig pointing at a port nobody listens on: every kind fails, exit 2, no panic.
#[test]
fn unreachable_apiserver_exits_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = std::env::temp_dir().join(format!("rollgate-audit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}}}]\n\
             users: [{{name: u, user: {{token: t}}}}]\n\
             contexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n"
        ),
    )
    .expect("write");
    let (code, out, err) = run(&[
        "audit",
        "--no-config",
        "--request-timeout",
        "5",
        "--kubeconfig",
        kc.to_str().expect("path"),
    ]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("could not read any kind"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn audit_with_rows() -> Audit {
    let mut a = Audit::default();
    let row = |ns: Option<&str>, kind: &str, name: &str, sev, rule, pointer: &str| Row {
        object: std::sync::Arc::new(ObjectRef {
            api_version: if kind == "VirtualService" {
                "networking.istio.io/v1".into()
            } else {
                "argoproj.io/v1alpha1".into()
            },
            kind: kind.into(),
            namespace: ns.map(str::to_owned),
            name: name.into(),
        }),
        uid: None,
        rule,
        severity: sev,
        message: "weights sum to 90, not 100".into(),
        pointer: pointer.into(),
        help: Some("make them add up to 100".into()),
        related: Vec::new(),
    };
    a.rows.insert(
        Some("shop".into()),
        vec![row(
            Some("shop"),
            "VirtualService",
            "web",
            Severity::Error,
            "istio-weights-not-100",
            "/spec/http/0/route",
        )],
    );
    a.rows.insert(
        None,
        vec![row(
            None,
            "ClusterAnalysisTemplate",
            "success",
            Severity::Warning,
            "rate-window-too-short",
            "/spec/metrics/0",
        )],
    );
    a.objects = 2;
    a
}

fn render(format: Format, a: &Audit) -> String {
    let run = to_lint_run(a);
    let mut out = Vec::new();
    report::write(format, &run, &report::Options { color: false }, &mut out).expect("write");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn every_format_names_the_object_and_the_field() {
    let a = audit_with_rows();
    let gcc = render(Format::Gcc, &a);
    assert!(
        gcc.contains("networking.istio.io/v1/VirtualService/shop/web:1:1: error: weights sum to 90, not 100 (at spec.http[0].route) [istio-weights-not-100]"),
        "{gcc}"
    );
    assert!(
        gcc.contains("argoproj.io/v1alpha1/ClusterAnalysisTemplate/success:"),
        "cluster-scoped: no namespace segment: {gcc}"
    );
    let human = render(Format::Human, &a);
    assert!(
        human.contains("VirtualService shop/web at /spec/http/0/route"),
        "{human}"
    );
    assert!(
        human.contains("1 error, 1 warning in the cluster (2 objects checked)"),
        "{human}"
    );
    let github = render(Format::Github, &a);
    assert!(
        github.contains("::error file=networking.istio.io/v1/VirtualService/shop/web,title=istio-weights-not-100::"),
        "{github}"
    );
    assert!(!github.contains("line="), "no lines: {github}");
    let json: serde_json::Value = serde_json::from_str(&render(Format::Json, &a)).expect("json");
    // Cluster-scoped objects first, then namespaces in order.
    let f = &json["findings"][0];
    assert!(f["line"].is_null());
    assert_eq!(f["pointer"], "/spec/metrics/0");
    assert_eq!(f["object"]["kind"], "ClusterAnalysisTemplate");
    assert!(f["object"].get("namespace").is_none(), "{f}");
    assert_eq!(
        json["findings"][1]["file"],
        "networking.istio.io/v1/VirtualService/shop/web"
    );
    assert_eq!(json["summary"]["objects"], 2);
    let sarif: serde_json::Value = serde_json::from_str(&render(Format::Sarif, &a)).expect("sarif");
    let loc = &sarif["runs"][0]["results"][0]["locations"][0];
    assert!(loc.get("physicalLocation").is_none(), "{loc}");
    assert!(loc["logicalLocations"].is_array(), "{loc}");
    let junit = render(Format::Junit, &a);
    assert_eq!(
        junit.matches("<testsuite ").count(),
        2,
        "one suite per object: {junit}"
    );
}
