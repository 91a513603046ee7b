//! Parity with the peers' own test suites (issue 20): cases ported from Argo Rollouts'
//! `pkg/apis/rollouts/validation/validation_test.go` and `validation_references_test.go`,
//! Istio's `pkg/config/validation/validation_test.go` (unreachable / ineffective routes,
//! IST0130/IST0131), Kiali's `business/checkers/virtualservices/` tests (KIA1104), rewritten as
//! manifests. Each case names its source; the expected rule ids are what rollgate must report
//! (none for the peers' valid inputs). Bad inputs (10,000 steps, 10,000 routes, explosive regexes)
//! must finish in bounded time without panicking.

use std::time::{Duration, Instant};

use rollgate::engine::lint::lint;
use rollgate::engine::{Config, Engine, Settings, Severity};
use rollgate::manifest::Limits;
use rollgate::manifest::input::from_bytes;

const RULES: &[&str] = &[
    "argo-invalid-spec",
    "argo-service-selector-mismatch",
    "argo-virtualservice-mismatch",
    "istio-route-unreachable",
    "istio-weights-not-100",
    "gate-cannot-measure",
];

/// (rule, severity, line, message) of every finding of the new rules.
fn run_settings(text: &str, settings: &Settings) -> Vec<(&'static str, Severity, u32, String)> {
    let only: Vec<String> = RULES.iter().map(|s| (*s).to_owned()).collect();
    let engine = Engine::new(rollgate::rules::REGISTRY, &Config::default(), Some(&only));
    let run = lint(
        vec![from_bytes("case.yaml".into(), text.as_bytes().to_vec())],
        &engine,
        settings,
        Limits::default(),
    );
    run.diagnostics
        .iter()
        .map(|d| {
            (
                d.finding.rule,
                d.finding.severity,
                d.span.map_or(0, |s| s.start.line),
                d.finding.message.clone(),
            )
        })
        .collect()
}

fn run(text: &str) -> Vec<(&'static str, Severity, u32, String)> {
    run_settings(text, &Settings::default())
}

/// A Rollout with `canary` (indented under `strategy:`) and the usual selector/template.
fn rollout(strategy: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: guestbook
  namespace: default
spec:
  selector:
    matchLabels: {{app: guestbook}}
  template:
    metadata:
      labels: {{app: guestbook}}
    spec:
      containers: [{{name: guestbook, image: guestbook:1}}]
  strategy:
{strategy}"
    )
}

struct Case {
    /// Upstream test and case.
    source: &'static str,
    yaml: String,
    /// Rule ids and a fragment of Argo's / Istio's message each finding must carry.
    expect: Vec<(&'static str, &'static str)>,
}

fn case(source: &'static str, yaml: String, expect: &[(&'static str, &'static str)]) -> Case {
    Case {
        source,
        yaml,
        expect: expect.to_vec(),
    }
}

fn argo_cases() -> Vec<Case> {
    let tr_istio = "      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio:\n          virtualService: {name: vs}\n";
    vec![
        case(
            "validation_test.go TestValidateRollout: valid canary",
            rollout("    canary:\n      steps:\n      - setWeight: 10\n      - pause: {duration: 10}\n"),
            &[],
        ),
        case(
            "validation_test.go TestValidateRollout: empty selector",
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  selector: {}\n  template:\n    metadata: {labels: {app: a}}\n  strategy:\n    canary: {}\n".into(),
            &[("argo-invalid-spec", "empty selector is invalid for deployment")],
        ),
        case(
            "validation_test.go TestValidateRollout: selector does not match template labels",
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  selector: {matchLabels: {key: value}}\n  template:\n    metadata: {labels: {other: value}}\n  strategy:\n    canary: {}\n".into(),
            &[("argo-invalid-spec", "`selector` does not match template `labels`")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategy: multiple strategies",
            rollout("    canary: {}\n    blueGreen: {activeService: active}\n"),
            &[("argo-invalid-spec", "Multiple Strategies can not be listed")],
        ),
        case(
            "validation_test.go TestInvalidMaxSurgeMaxUnavailable: both 0",
            rollout("    canary:\n      maxSurge: 0\n      maxUnavailable: 0\n"),
            &[("argo-invalid-spec", "MaxSurge and MaxUnavailable both can not be zero")],
        ),
        case(
            "validation_test.go TestInvalidMaxSurgeMaxUnavailable: both 0%",
            rollout("    canary:\n      maxSurge: \"0%\"\n      maxUnavailable: \"0%\"\n"),
            &[("argo-invalid-spec", "MaxSurge and MaxUnavailable both can not be zero")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: setWeight -1",
            rollout("    canary:\n      steps:\n      - setWeight: -1\n"),
            &[("argo-invalid-spec", "SetWeight needs to be between 0 and 100")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: setWeight 102",
            rollout("    canary:\n      steps:\n      - setWeight: 102\n"),
            &[("argo-invalid-spec", "SetWeight needs to be between 0 and 100")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: multiple step types",
            rollout("    canary:\n      steps:\n      - setWeight: 10\n        pause: {duration: 1}\n"),
            &[("argo-invalid-spec", "Step must have one of the following set")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: no step type",
            rollout("    canary:\n      steps:\n      - {}\n"),
            &[("argo-invalid-spec", "Step must have one of the following set")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: negative pause",
            rollout("    canary:\n      steps:\n      - pause: {duration: -1}\n"),
            &[("argo-invalid-spec", "Duration needs to be greater than 0")],
        ),
        case(
            "types_test.go TestRolloutPauseDuration: invalid unit (DurationSeconds -1)",
            rollout("    canary:\n      steps:\n      - pause: {duration: 1d}\n"),
            &[("argo-invalid-spec", "Duration needs to be greater than 0")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: setCanaryScale without trafficRouting",
            rollout("    canary:\n      steps:\n      - setCanaryScale: {replicas: 1}\n"),
            &[("argo-invalid-spec", "SetCanaryScale requires TrafficRouting to be set")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: stable == canary service",
            rollout("    canary:\n      canaryService: same\n      stableService: same\n      trafficRouting:\n        istio:\n          virtualService: {name: vs}\n"),
            &[("argo-invalid-spec", "same service for the stable and canary services")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: traffic routing without stableService",
            rollout("    canary:\n      canaryService: canary\n      trafficRouting:\n        smi: {}\n"),
            &[("argo-invalid-spec", "Canary service and Stable service must to be set to use Traffic Routing")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: istio destinationRule needs no services",
            rollout("    canary:\n      trafficRouting:\n        istio:\n          virtualService: {name: vs}\n          destinationRule: {name: dr, canarySubsetName: canary, stableSubsetName: stable}\n"),
            &[],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyBlueGreen: active == preview",
            rollout("    blueGreen:\n      activeService: svc\n      previewService: svc\n"),
            &[("argo-invalid-spec", "same service for the active and preview services")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyBlueGreen: scaleDownDelayRevisionLimit > revisionHistoryLimit",
            rollout("    blueGreen:\n      activeService: a\n      scaleDownDelayRevisionLimit: 11\n"),
            &[("argo-invalid-spec", "revision history limit can not be smaller")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyAntiAffinity: both",
            rollout("    canary:\n      antiAffinity:\n        preferredDuringSchedulingIgnoredDuringExecution: {weight: 10}\n        requiredDuringSchedulingIgnoredDuringExecution: {}\n"),
            &[("argo-invalid-spec", "AntiAffinity must have exactly one strategy listed")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyAntiAffinity: weight 0",
            rollout("    canary:\n      antiAffinity:\n        preferredDuringSchedulingIgnoredDuringExecution: {weight: 0}\n"),
            &[("argo-invalid-spec", "AntiAffinity weight must be between 1-100")],
        ),
        case(
            "validation_test.go TestValidateRollout: progressDeadlineSeconds <= minReadySeconds",
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  minReadySeconds: 1000\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n  strategy:\n    canary: {}\n".into(),
            &[("argo-invalid-spec", "must be greater than minReadySeconds")],
        ),
        case(
            "validation_test.go TestCanaryScaleDownDelaySeconds: without trafficRouting",
            rollout("    canary:\n      scaleDownDelaySeconds: 30\n"),
            &[("argo-invalid-spec", "Canary scaleDownDelaySeconds can only be used with traffic routing")],
        ),
        case(
            "validation_test.go TestCanaryDynamicStableScale: without trafficRouting",
            rollout("    canary:\n      dynamicStableScale: true\n"),
            &[("argo-invalid-spec", "Canary dynamicStableScale can only be used with traffic routing")],
        ),
        case(
            "validation_test.go TestCanaryDynamicStableScale: with scaleDownDelaySeconds",
            rollout(&format!("    canary:\n      dynamicStableScale: true\n      scaleDownDelaySeconds: 30\n{tr_istio}")),
            &[("argo-invalid-spec", "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds")],
        ),
        case(
            "validation_test.go TestCanaryMaxTrafficWeight: with istio",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        maxTrafficWeight: 1000\n        istio:\n          virtualService: {name: vs}\n"),
            &[("argo-invalid-spec", "Canary maxTrafficWeight in traffic routing only supported in Nginx and Plugins")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: setWeight up to maxTrafficWeight with nginx",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        maxTrafficWeight: 1000\n        nginx: {stableIngress: ing}\n      steps:\n      - setWeight: 500\n      - setWeight: 1001\n"),
            &[("argo-invalid-spec", "SetWeight needs to be between 0 and 1000")],
        ),
        case(
            "validation_test.go TestSetHeaderRoute: without trafficRouting",
            rollout("    canary:\n      steps:\n      - setHeaderRoute: {name: agent, match: [{headerName: agent, headerValue: {exact: chrome}}]}\n"),
            &[("argo-invalid-spec", "SetHeaderRoute requires TrafficRouting")],
        ),
        case(
            "validation_test.go TestSetHeaderRoute: ALB with regex",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        alb: {ingress: ing}\n        managedRoutes: [{name: agent}]\n      steps:\n      - setHeaderRoute: {name: agent, match: [{headerName: agent, headerValue: {regex: chrome}}]}\n"),
            &[("argo-invalid-spec", "ALB supports 'exact' value only")],
        ),
        case(
            "validation_test.go TestSetHeaderRoute: istio with two match values",
            rollout(&format!("    canary:\n{tr_istio}        managedRoutes: [{{name: agent}}]\n      steps:\n      - setHeaderRoute: {{name: agent, match: [{{headerName: agent, headerValue: {{exact: a, prefix: b}}}}]}}\n")),
            &[("argo-invalid-spec", "StringMatch match value must have exactly one")],
        ),
        case(
            "validation_test.go TestSetHeaderRoute: managedRoutes missing",
            rollout(&format!("    canary:\n{tr_istio}      steps:\n      - setHeaderRoute: {{name: agent, match: [{{headerName: agent, headerValue: {{exact: chrome}}}}]}}\n")),
            &[("argo-invalid-spec", "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'")],
        ),
        case(
            "validation_test.go TestSetHeaderRoute: route not in managedRoutes",
            rollout(&format!("    canary:\n{tr_istio}        managedRoutes: [{{name: other}}]\n      steps:\n      - setHeaderRoute: {{name: agent, match: [{{headerName: agent, headerValue: {{exact: chrome}}}}]}}\n")),
            &[("argo-invalid-spec", "Steps define a route that does not exist")],
        ),
        case(
            "validation_test.go TestSetMirrorRoute: without istio",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        nginx: {stableIngress: ing}\n        managedRoutes: [{name: mirror}]\n      steps:\n      - setMirrorRoute: {name: mirror, match: [{method: {exact: GET}}]}\n"),
            &[("argo-invalid-spec", "SetMirrorRoute requires TrafficRouting, supports Istio and Plugins")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: experiment weight without trafficRouting",
            rollout("    canary:\n      steps:\n      - experiment:\n          templates: [{name: t, specRef: canary, weight: 10}]\n"),
            &[("argo-invalid-spec", "Experiment template weight cannot be set unless TrafficRouting is enabled")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: experiment weight with nginx",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        nginx: {stableIngress: ing}\n      steps:\n      - experiment:\n          templates: [{name: t, specRef: canary, weight: 10}]\n"),
            &[("argo-invalid-spec", "only available for TrafficRouting with SMI, ALB, Istio and Plugins")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: ping-pong with nginx",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      pingPong: {pingService: ping, pongService: pong}\n      trafficRouting:\n        nginx: {stableIngress: ing}\n"),
            &[("argo-invalid-spec", "Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers only")],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: ping-pong with istio (valid since v1.8)",
            rollout("    canary:\n      pingPong: {pingService: ping, pongService: pong}\n      trafficRouting:\n        istio:\n          virtualService: {name: vs}\n"),
            &[],
        ),
        case(
            "validation_test.go TestValidateRolloutStrategyCanary: ping == pong, ALB root service",
            rollout("    canary:\n      pingPong: {pingService: ping, pongService: ping}\n      trafficRouting:\n        alb: {ingress: ing}\n"),
            &[
                ("argo-invalid-spec", "same service for the ping and pong services"),
                ("argo-invalid-spec", "Root service field is required"),
            ],
        ),
        case(
            "validation_references_test.go TestValidateRolloutVirtualServicesConfig: both",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio:\n          virtualService: {name: vs}\n          virtualServices: [{name: vs2}]\n"),
            &[("argo-invalid-spec", "either VirtualService or VirtualServices must be configured")],
        ),
        case(
            "validation_references_test.go TestValidateRolloutVirtualServicesConfig: neither",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio: {}\n"),
            &[("argo-invalid-spec", "either VirtualService or VirtualServices must be configured")],
        ),
        case(
            "validation_references_test.go TestValidateRolloutAlbIngressesConfig: both",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        alb: {ingress: a, ingresses: [b]}\n"),
            &[("argo-invalid-spec", "Either Ingress or Ingresses must be configured. Both are configured.")],
        ),
        case(
            "validation_references_test.go TestValidateRolloutNginxIngressesConfig: neither",
            rollout("    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        nginx: {}\n"),
            &[("argo-invalid-spec", "Either StableIngress or StableIngresses must be configured. Neither are configured.")],
        ),
    ]
}

const SERVICES: &str = "apiVersion: v1
kind: Service
metadata: {name: stable, namespace: default}
spec:
  selector: {app: guestbook, rollouts-pod-template-hash: abc}
---
";

fn vs(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {{name: vsvc, namespace: default}}
spec:
  hosts: [guestbook]
  http:
{http}---
"
    )
}

fn references_cases() -> Vec<Case> {
    let istio = "    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio:\n          virtualService:\n            name: vsvc\n            routes: [primary]\n";
    let two_dest = "  - name: primary\n    route:\n    - destination: {host: stable}\n      weight: 100\n    - destination: {host: canary}\n      weight: 0\n";
    vec![
        case(
            "validation_references_test.go TestValidateService: selector label not in template",
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: canary, namespace: default}}\nspec:\n  selector: {{app: other}}\n---\n{SERVICES}{}",
                rollout("    canary:\n      canaryService: canary\n      stableService: stable\n")
            ),
            &[(
                "argo-service-selector-mismatch",
                "has unmatch label \\\"app\\\" in rollout",
            )],
        ),
        case(
            "validation_references_test.go TestValidateService: rollouts-pod-template-hash ignored",
            format!(
                "{SERVICES}{}",
                rollout("    canary:\n      stableService: stable\n")
            ),
            &[],
        ),
        case(
            "validation_references_test.go TestValidateService: label from canaryMetadata",
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: canary, namespace: default}}\nspec:\n  selector: {{app: guestbook, role: canary}}\n---\n{SERVICES}{}",
                rollout(
                    "    canary:\n      canaryService: canary\n      stableService: stable\n      canaryMetadata: {labels: {role: canary}}\n"
                )
            ),
            &[],
        ),
        case(
            "validation_references_test.go TestValidateService: managed by another rollout",
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: canary\n  namespace: default\n  annotations: {{argo-rollouts.argoproj.io/managed-by-rollouts: other}}\nspec:\n  selector: {{app: guestbook}}\n---\n{}",
                rollout("    canary:\n      canaryService: canary\n      stableService: stable2\n")
            ),
            &[(
                "argo-service-selector-mismatch",
                "already managed by Rollout \"other\"",
            )],
        ),
        case(
            "validation_references_test.go TestValidateVirtualService: valid",
            format!("{}{}", vs(two_dest), rollout(istio)),
            &[],
        ),
        case(
            "validation_references_test.go TestValidateVirtualService: route not found",
            format!(
                "{}{}",
                vs(two_dest),
                rollout(
                    "    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio:\n          virtualService:\n            name: vsvc\n            routes: [route-not-found]\n"
                )
            ),
            &[(
                "argo-virtualservice-mismatch",
                "HTTP Route 'route-not-found' is not found in the defined Virtual Service.",
            )],
        ),
        case(
            "validation_references_test.go TestValidateVirtualService: canary service not in route",
            format!(
                "{}{}",
                vs(
                    "  - name: primary\n    route:\n    - destination: {host: stable}\n      weight: 100\n"
                ),
                rollout(istio)
            ),
            &[(
                "argo-virtualservice-mismatch",
                "Canary Service 'canary' not found in route",
            )],
        ),
        case(
            "validation_references_test.go TestValidateVirtualService: routes omitted, several routes",
            format!(
                "{}{}",
                vs(
                    "  - match: [{uri: {prefix: /a}}]\n    route:\n    - destination: {host: stable}\n      weight: 100\n    - destination: {host: canary}\n      weight: 0\n  - route:\n    - destination: {host: stable}\n"
                ),
                rollout(
                    "    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio:\n          virtualService: {name: vsvc}\n"
                )
            ),
            &[(
                "argo-virtualservice-mismatch",
                "must have exactly one route when omitting",
            )],
        ),
        case(
            "istio_test.go TestValidateHTTPRoutes: destinationRule subsets",
            format!(
                "{}{}",
                vs(
                    "  - name: primary\n    route:\n    - destination: {host: guestbook, subset: stable}\n      weight: 100\n"
                ),
                rollout(
                    "    canary:\n      trafficRouting:\n        istio:\n          virtualService: {name: vsvc, routes: [primary]}\n          destinationRule: {name: dr, canarySubsetName: canary, stableSubsetName: stable}\n"
                )
            ),
            &[(
                "argo-virtualservice-mismatch",
                "Canary DestinationRule subset 'canary' not found in route",
            )],
        ),
        case(
            "validation_references_test.go TestValidateVirtualService: VirtualService not in the input (not complete)",
            rollout(istio),
            &[],
        ),
    ]
}

fn istio_cases() -> Vec<Case> {
    let vsm = |http: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: r, namespace: default}}
spec:
  hosts: [r]
  http:
{http}"
        )
    };
    vec![
        case(
            "validation_test.go TestValidateVirtualService: catch-all before a route (\"only the last rule can have no matches\")",
            vsm("  - route:\n    - destination: {host: a}\n  - route:\n    - destination: {host: b}\n"),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "IST0130 docs example: fault and mirror in two entries",
            vsm("  - fault: {delay: {fixedDelay: 5s, percentage: {value: 100}}}\n    route:\n    - destination: {host: a}\n  - mirror: {host: b}\n    route:\n    - destination: {host: b, subset: v1}\n"),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "validation_test.go: route with matches after one without (\"route without matches defined before\")",
            vsm("  - route:\n    - destination: {host: a}\n  - match: [{uri: {prefix: /x}}]\n    route:\n    - destination: {host: b}\n"),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "validation_test.go: duplicate match (\"all matches used by prior rules\")",
            vsm("  - match: [{uri: {exact: /a}}]\n    route:\n    - destination: {host: a}\n  - match: [{uri: {exact: /a}}]\n    route:\n    - destination: {host: b}\n"),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "validation_test.go: duplicate match with a different name (names are ignored)",
            vsm("  - match: [{name: one, uri: {exact: /a}}]\n    route:\n    - destination: {host: a}\n  - match: [{name: two, uri: {exact: /a}}]\n    route:\n    - destination: {host: b}\n"),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "validation_test.go: one of two matches duplicated (ineffective match, IST0131)",
            vsm("  - match: [{uri: {exact: /a}}]\n    route:\n    - destination: {host: a}\n  - match: [{uri: {exact: /a}}, {uri: {exact: /b}}]\n    route:\n    - destination: {host: b}\n"),
            &[("istio-route-unreachable", "is never used")],
        ),
        case(
            "validation_test.go coveredValidation: prefix /debug covers /debugs",
            vsm("  - match: [{uri: {prefix: /debug}}]\n    route:\n    - destination: {host: a}\n  - match: [{uri: {prefix: /debugs}}]\n    route:\n    - destination: {host: b}\n"),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "validation_test.go coveredValidation: different headers do not cover",
            vsm("  - match: [{uri: {prefix: /debug}, headers: {a: {exact: '1'}}}]\n    route:\n    - destination: {host: a}\n  - match: [{uri: {prefix: /debugs}, headers: {a: {exact: '2'}}}]\n    route:\n    - destination: {host: b}\n"),
            &[],
        ),
        case(
            "validation_test.go coveredValidation: different ports do not cover",
            vsm("  - match: [{uri: {prefix: /debug}, port: 80}]\n    route:\n    - destination: {host: a}\n  - match: [{uri: {prefix: /debugs}, port: 81}]\n    route:\n    - destination: {host: b}\n"),
            &[],
        ),
        case(
            "validation_test.go: catch-all last is valid",
            vsm("  - match: [{uri: {prefix: /a}}]\n    route:\n    - destination: {host: a}\n  - route:\n    - destination: {host: b}\n"),
            &[],
        ),
        case(
            "issue 20: canary split written as two http entries",
            vsm("  - route:\n    - destination: {host: r, subset: stable}\n      weight: 90\n  - route:\n    - destination: {host: r, subset: canary}\n      weight: 10\n"),
            &[
                ("istio-route-unreachable", "gets no traffic"),
                ("istio-weights-not-100", "taken as 100%"),
                ("istio-weights-not-100", "taken as 100%"),
            ],
        ),
        case(
            "validation_test.go: tcp routes, second catch-all",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: t}\nspec:\n  hosts: [t]\n  tcp:\n  - route: [{destination: {host: a}}]\n  - route: [{destination: {host: b}}]\n".into(),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "validation_test.go: tls routes, duplicate sni match",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: t}\nspec:\n  hosts: [t.example.com]\n  tls:\n  - match: [{sniHosts: [t.example.com]}]\n    route: [{destination: {host: a}}]\n  - match: [{sniHosts: [t.example.com]}]\n    route: [{destination: {host: b}}]\n".into(),
            &[("istio-route-unreachable", "never runs")],
        ),
        case(
            "Kiali route_checker_test.go: single destination with weight (KIA1104)",
            vsm("  - route:\n    - destination: {host: r}\n      weight: 55\n"),
            &[("istio-weights-not-100", "taken as 100%")],
        ),
        case(
            "Kiali route_checker_test.go: single destination with weight 100 is valid",
            vsm("  - route:\n    - destination: {host: r}\n      weight: 100\n"),
            &[],
        ),
    ]
}

fn gate_cases() -> Vec<Case> {
    let tpl = |q: &str| {
        format!(
            "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {{name: t, namespace: default}}\nspec:\n  provider: {{type: prometheus, address: 'http://prom:9090'}}\n  query: '{q}'\n"
        )
    };
    vec![
        case(
            "issue 20: vector(100)",
            tpl("vector(100)"),
            &[("gate-cannot-measure", "reads no series")],
        ),
        case(
            "issue 20: constant comparison",
            tpl("100 - 0"),
            &[("gate-cannot-measure", "reads no series")],
        ),
        case(
            "issue 20: or on() vector(0)",
            tpl("sum(rate(requests_total{app=\"a\"}[1m])) or on() vector(0)"),
            &[("gate-cannot-measure", "turns no data into a value")],
        ),
        case(
            "issue 20: or absent()",
            tpl("sum(rate(errors_total{app=\"a\"}[1m])) or absent(errors_total{app=\"a\"})"),
            &[("gate-cannot-measure", "turns no data into a value")],
        ),
        case(
            "issue 20: a real query is fine",
            tpl(
                "sum(rate(requests_total{app=\"a\"}[1m])) or sum(rate(other_total{app=\"a\"}[1m]))",
            ),
            &[],
        ),
    ]
}

fn check_cases(cases: &[Case]) -> (usize, Vec<String>) {
    let mut caught = 0;
    let mut failures = Vec::new();
    for c in cases {
        let found = run(&c.yaml);
        let mut unmatched: Vec<&(&'static str, Severity, u32, String)> = found.iter().collect();
        let mut ok = true;
        for (rule, fragment) in &c.expect {
            match unmatched
                .iter()
                .position(|(r, _, _, m)| r == rule && m.contains(fragment))
            {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => ok = false,
            }
        }
        if !unmatched.is_empty() {
            ok = false;
        }
        if ok {
            caught += 1;
        } else {
            failures.push(format!(
                "{}\n  expected {:?}\n  found {:?}\n{}",
                c.source, c.expect, found, c.yaml
            ));
        }
    }
    (caught, failures)
}

#[test]
fn peers_cases_are_reported() {
    let mut all = argo_cases();
    all.extend(references_cases());
    all.extend(istio_cases());
    all.extend(gate_cases());
    let (caught, failures) = check_cases(&all);
    eprintln!("parity: {caught}/{} ported cases match", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn classic_split_is_an_error_and_other_unreachable_routes_warn() {
    let split = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [r]\n  http:\n  - route:\n    - destination: {host: r, subset: stable}\n      weight: 90\n  - route:\n    - destination: {host: r, subset: canary}\n      weight: 10\n";
    let f: Vec<_> = run(split)
        .into_iter()
        .filter(|f| f.0 == "istio-route-unreachable")
        .collect();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, Severity::Error);
    assert_eq!(f[0].2, 10, "at the second entry: {f:?}");
    let plain = split
        .replace("      weight: 90\n", "")
        .replace("      weight: 10\n", "");
    let f: Vec<_> = run(&plain)
        .into_iter()
        .filter(|f| f.0 == "istio-route-unreachable")
        .collect();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, Severity::Warning);
}

#[test]
fn missing_referents_are_errors_only_in_a_complete_world() {
    let r = rollout(
        "    canary:\n      canaryService: canary\n      stableService: stable\n      trafficRouting:\n        istio:\n          virtualService: {name: vsvc, routes: [primary]}\n",
    );
    assert!(run(&r).is_empty());
    let strict = Settings {
        strict_references: true,
        ..Settings::default()
    };
    let f = run_settings(&r, &strict);
    let rules: Vec<&str> = f.iter().map(|x| x.0).collect();
    assert!(rules.contains(&"argo-virtualservice-mismatch"), "{f:?}");
    assert!(rules.contains(&"argo-service-selector-mismatch"), "{f:?}");
    assert!(f.iter().all(|x| x.1 == Severity::Error), "{f:?}");
}

fn bounded(what: &str, text: &str, limit: Duration) -> Vec<(&'static str, Severity, u32, String)> {
    let t = Instant::now();
    let f = run(text);
    let took = t.elapsed();
    assert!(took < limit, "{what} took {took:?}");
    f
}

#[test]
fn rollout_with_10000_steps_is_bounded() {
    let mut steps = String::new();
    for i in 0..10_000 {
        steps.push_str(if i % 2 == 0 {
            "      - setWeight: 120\n        pause: {}\n"
        } else {
            "      - {}\n"
        });
    }
    let f = bounded(
        "10,000 steps",
        &rollout(&format!("    canary:\n      steps:\n{steps}")),
        Duration::from_secs(20),
    );
    let n = f.iter().filter(|x| x.0 == "argo-invalid-spec").count();
    assert!(n > 0 && n <= 102, "findings are capped: {n}");
}

#[test]
fn virtualservice_with_10000_routes_is_bounded_and_says_so() {
    let mut http = String::new();
    for i in 0..10_000 {
        http.push_str(&format!(
            "  - match: [{{uri: {{prefix: /p{i}/}}, headers: {{x-{i}: {{regex: \"(a|b|c)*{{1000}}\"}}}}}}]\n    route: [{{destination: {{host: r}}}}]\n"
        ));
    }
    let text = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: big}}\nspec:\n  hosts: [r]\n  http:\n{http}"
    );
    let f = bounded("10,000 routes", &text, Duration::from_secs(30));
    assert!(
        f.iter().any(|x| x.0 == "istio-route-unreachable"
            && x.1 == Severity::Info
            && x.3.contains("too many matches")),
        "the cap is reported: {:?}",
        f.iter().take(3).collect::<Vec<_>>()
    );
}

#[test]
fn explosive_regex_against_exact_value_is_not_claimed() {
    // A regex whose DFA blows up: compiled under a size limit, and nothing is claimed when it
    // does not fit.
    let re = format!("(a|b)*a{}", "(a|b)".repeat(200));
    let text = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: re}}\nspec:\n  hosts: [r]\n  http:\n  - match: [{{uri: {{regex: \"{re}\"}}}}]\n    route: [{{destination: {{host: a}}}}]\n  - match: [{{uri: {{exact: /x}}}}]\n    route: [{{destination: {{host: b}}}}]\n  - route: [{{destination: {{host: c}}}}]\n"
    );
    let f = bounded("explosive regex", &text, Duration::from_secs(10));
    assert!(f.iter().all(|x| x.0 != "istio-route-unreachable"), "{f:?}");
}

#[test]
fn weights_and_ports_of_every_type_do_not_panic() {
    for w in [
        "\"90\"",
        "9.5",
        "-1",
        "99999999999999999999",
        "null",
        "[1]",
        "{a: 1}",
        "true",
    ] {
        let text = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: w}}\nspec:\n  hosts: [r]\n  http:\n  - match: [{{port: {w}, uri: {w}}}]\n    route: [{{destination: {{host: a, port: {{number: {w}}}}}, weight: {w}}}]\n  - match: [{{port: {w}}}]\n    route: [{{destination: {{host: a}}, weight: {w}}}]\n"
        );
        let _ = run(&text);
        let r = rollout(&format!(
            "    canary:\n      maxSurge: {w}\n      maxUnavailable: {w}\n      scaleDownDelaySeconds: {w}\n      steps:\n      - setWeight: {w}\n      - pause: {{duration: {w}}}\n      - experiment: {{templates: [{{name: a, weight: {w}}}]}}\n"
        ));
        let _ = run(&r);
    }
}

#[test]
fn subsets_and_conflicting_hosts() {
    // istio analyzers_test.go DestinationRuleSubsetsNotSelectPods /
    // DestinationRuleSubsetsWithTopologyLabels, conflictingmeshgatewayhosts testdata.
    let base = "apiVersion: v1\nkind: Service\nmetadata: {name: r, namespace: default}\nspec:\n  selector: {app: r}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: r-v1, namespace: default}\nspec:\n  selector: {matchLabels: {app: r}}\n  template:\n    metadata: {labels: {app: r, version: v1}}\n---\n";
    let only = |text: &str, rule: &str| -> Vec<(Severity, String)> {
        let engine = Engine::new(
            rollgate::rules::REGISTRY,
            &Config::default(),
            Some(&[rule.to_owned()]),
        );
        let run = lint(
            vec![from_bytes("case.yaml".into(), text.as_bytes().to_vec())],
            &engine,
            &Settings::default(),
            Limits::default(),
        );
        run.diagnostics
            .iter()
            .map(|d| (d.finding.severity, d.finding.message.clone()))
            .collect()
    };
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r, namespace: default}\nspec:\n  host: r\n  subsets:\n  - name: v1\n    labels: {version: v1, topology.kubernetes.io/region: us-west}\n  - name: v2\n    labels: {version: v2}\n---\n";
    let f = only(&format!("{base}{dr}"), "istio-subset-no-pods");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, Severity::Info, "not routed to: {f:?}");
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: default}\nspec:\n  hosts: [r]\n  http:\n  - route:\n    - destination: {host: r.default.svc.cluster.local, subset: v2}\n";
    let typo = dr.replace("labels: {version: v2}", "labels: {versoin: v2}");
    let f = only(&format!("{base}{typo}{vs}"), "istio-subset-no-pods");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, Severity::Warning, "a label key no pod has: {f:?}");
    // Conflicting hosts: the same FQDN for the mesh; exportTo "." in another namespace is not.
    let other = "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r2, namespace: default}\nspec:\n  hosts: [r.default.svc.cluster.local]\n  http:\n  - route:\n    - destination: {host: r}\n";
    let f = only(&format!("{vs}{other}"), "istio-vs-conflicting-hosts");
    assert_eq!(f.len(), 2, "{f:?}");
    let gw = other.replace("  http:", "  gateways: [istio-system/gw]\n  http:");
    assert!(only(&format!("{vs}{gw}"), "istio-vs-conflicting-hosts").is_empty());
    let elsewhere = other
        .replace("namespace: default}", "namespace: team}\n")
        .replace("spec:\n", "spec:\n  exportTo: [\".\"]\n");
    let vs_local = vs.replace("spec:\n", "spec:\n  exportTo: [\".\"]\n");
    assert!(
        only(
            &format!("{vs_local}{elsewhere}"),
            "istio-vs-conflicting-hosts"
        )
        .is_empty()
    );
    // Exported everywhere, it still conflicts with the other namespace's local one (IST0109 adds
    // the all-namespaces VirtualServices to every scope).
    assert_eq!(
        only(&format!("{vs}{elsewhere}"), "istio-vs-conflicting-hosts").len(),
        2
    );
}
