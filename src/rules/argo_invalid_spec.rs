//! argo-invalid-spec: what Argo Rollouts' own spec validation rejects.
//!
//! The controller validates every Rollout before reconciling it
//! (`pkg/apis/rollouts/validation/validation.go` `ValidateRolloutSpec`,
//! `ValidateRolloutStrategyCanary`, `ValidateRolloutStrategyBlueGreen`, and
//! `validation_references.go` `ValidateRolloutVirtualServicesConfig`,
//! `ValidateRolloutAlbIngressesConfig`, `ValidateRolloutNginxIngressesConfig`). Any error sets the
//! `InvalidSpec` condition and the controller does nothing else with the Rollout: nothing rolls
//! out. The CRD schema accepts all of these, so `kubectl apply` succeeds. Each finding quotes
//! Argo's message and sits at the field Argo names.

use serde_json::Value;

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::selector::LabelSelector;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};
use crate::timeline::duration::{parse_go, templated};

pub struct ArgoInvalidSpec;

static META: RuleMeta = RuleMeta {
    id: "argo-invalid-spec",
    severity: Severity::Error,
    kinds: &[("argoproj.io", "Rollout")],
    doc: include_str!("../../rules/argo-invalid-spec.md"),
    options: &[],
    builtin: false,
};

/// Steps checked at most (a Rollout with more is reported for its first steps only; each step is
/// checked in constant time, so this only bounds the findings).
const MAX_STEP_FINDINGS: usize = 100;

/// A Go pointer field that is set: present and not null.
fn set<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn nonempty_str<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Appends Argo's diagnosis for one field.
struct Out<'o> {
    object: &'o Object,
    out: &'o mut Vec<Finding>,
    count: usize,
    /// A fragment (no selector, template or workloadRef: a documentation excerpt, a patch):
    /// fields it omits may be set elsewhere, so only contradictions are reported.
    fragment: bool,
}

impl Out<'_> {
    fn push(&mut self, pointer: String, what: String, argo: &str, help: &str) {
        self.count += 1;
        let mut f = finding(
            &META,
            self.object,
            pointer,
            format!(
                "{what}: Argo Rollouts rejects the spec (\"{argo}\"), marks the Rollout InvalidSpec and does not roll it out"
            ),
        );
        if !help.is_empty() {
            f = f.with_help(help);
        }
        self.out.push(f);
    }
}

/// `intstr.IntOrString` as `getIntOrPercentValue` reads it: a number, an `N%` string, or a string
/// through `strconv.Atoi` (0 when it does not parse). `None` for templated strings.
fn int_or_percent(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s.contains("{{") => None,
        Value::String(s) => {
            if let Some(p) = s.strip_suffix('%') {
                if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                    return Some(p.parse().unwrap_or(i64::MAX));
                }
            }
            Some(s.parse().unwrap_or(0))
        }
        _ => None,
    }
}

/// `RolloutPause.DurationSeconds`: an integer number of seconds, else a Go duration; -1 when
/// neither parses (`pkg/apis/rollouts/v1alpha1/types.go`).
fn pause_seconds(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if templated(v) => {
            let _ = s;
            None
        }
        Value::String(s) => match s.parse::<i64>() {
            Ok(i) => Some(i as f64),
            Err(_) => Some(parse_go(s).unwrap_or(-1.0)),
        },
        _ => None,
    }
}

/// An `int32` field as the controller decodes it; values outside int32 cannot be decoded at all
/// (the schema rule reports them), so no claim is made about them here.
fn int_field(spec: &Value, key: &str) -> Option<i64> {
    spec.get(key)
        .and_then(Value::as_i64)
        .filter(|n| i32::try_from(*n).is_ok())
}

impl Rule for ArgoInvalidSpec {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(spec) = object.spec().filter(|s| s.is_object()) else {
            return;
        };
        let fragment = ["selector", "template", "workloadRef"]
            .iter()
            .all(|k| set(spec, k).is_none());
        let mut o = Out {
            object,
            out,
            count: 0,
            fragment,
        };
        check_spec(spec, &mut o);
        let strategy = spec.get("strategy");
        let canary = strategy.and_then(|s| set(s, "canary"));
        let blue_green = strategy.and_then(|s| set(s, "blueGreen"));
        match (canary, blue_green) {
            (Some(_), Some(_)) => o.push(
                "/spec/strategy".into(),
                "spec.strategy sets both canary and blueGreen".into(),
                "Multiple Strategies can not be listed",
                "keep one strategy",
            ),
            (Some(c), None) => check_canary(spec, c, &mut o),
            (None, Some(b)) => check_blue_green(spec, b, &mut o),
            // A Rollout without strategy: a patch or an overlay more often than a whole object
            // (kustomize, Helm values); the schema rule reports the required field.
            (None, None) => {}
        }
    }
}

fn check_spec(spec: &Value, o: &mut Out<'_>) {
    let workload_ref = set(spec, "workloadRef").is_some();
    if !workload_ref {
        if let Some(sel) = set(spec, "selector") {
            let empty = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
                && sel
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.is_empty());
            if empty {
                o.push(
                    "/spec/selector".into(),
                    "spec.selector is empty".into(),
                    "empty selector is invalid for deployment",
                    "select the pods with `matchLabels` equal to the template's labels",
                );
            } else if let Ok(selector) = LabelSelector::parse(sel) {
                // `ValidatePodTemplateSpecForReplicaSet`: the template's labels must be selected.
                let labels = spec.at("/template/metadata/labels");
                let has_template = spec.get("template").is_some_and(Value::is_object);
                let templated_labels = labels
                    .and_then(Value::as_object)
                    .is_some_and(|m| m.values().any(templated));
                if has_template
                    && !templated_labels
                    && !selector.matches(labels.and_then(Value::as_object))
                {
                    o.push(
                        "/spec/template/metadata/labels".into(),
                        format!(
                            "spec.selector ({selector}) does not select the pod template's labels"
                        ),
                        "`selector` does not match template `labels`",
                        "give the template the labels the selector requires",
                    );
                }
            }
        }
    } else if spec.get("template").is_some_and(|t| {
        t.as_object()
            .is_some_and(|m| m.values().any(non_empty_value))
    }) {
        // Only `kubectl argo rollouts lint` rejects this: the controller replaces the template
        // with the workload's (`TemplateResolvedFromRef`), so the written one is ignored.
        let mut f = finding(
            &META,
            o.object,
            "/spec/template",
            "spec.template is set while spec.workloadRef names the workload: the controller ignores it and uses the workload's pod template, and `kubectl argo rollouts lint` rejects it (\"template must be empty for workload reference rollout\")",
        )
        .with_help("remove spec.template, or spec.workloadRef");
        f.severity = Severity::Warning;
        o.out.push(f);
    }
    for key in [
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ] {
        if let Some(n) = int_field(spec, key).filter(|n| *n < 0) {
            o.push(
                format!("/spec/{key}"),
                format!("spec.{key} is {n}"),
                "must be greater than or equal to 0",
                "",
            );
        }
    }
    let min_ready = int_field(spec, "minReadySeconds").unwrap_or(0);
    let deadline = int_field(spec, "progressDeadlineSeconds").unwrap_or(600);
    if deadline >= 0 && deadline <= min_ready {
        let ptr = if spec.get("progressDeadlineSeconds").is_some() {
            "/spec/progressDeadlineSeconds"
        } else {
            "/spec/minReadySeconds"
        };
        o.push(
            ptr.into(),
            format!(
                "spec.progressDeadlineSeconds {deadline} is not greater than spec.minReadySeconds {min_ready}"
            ),
            "must be greater than minReadySeconds",
            "raise progressDeadlineSeconds (default 600) above minReadySeconds",
        );
    }
}

fn non_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => m.values().any(non_empty_value),
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn check_blue_green(spec: &Value, bg: &Value, o: &mut Out<'_>) {
    let active = nonempty_str(bg, "activeService");
    let preview = nonempty_str(bg, "previewService");
    if active == preview && !active.is_empty() {
        o.push(
            "/spec/strategy/blueGreen/activeService".into(),
            format!("activeService and previewService are both \"{active}\""),
            "This rollout uses the same service for the active and preview services, but two different services are required.",
            "give the preview its own Service",
        );
    }
    let history = int_field(spec, "revisionHistoryLimit").unwrap_or(10);
    if let Some(limit) = int_field(bg, "scaleDownDelayRevisionLimit").filter(|l| *l > history) {
        o.push(
            "/spec/strategy/blueGreen/scaleDownDelayRevisionLimit".into(),
            format!("scaleDownDelayRevisionLimit {limit} exceeds revisionHistoryLimit {history}"),
            "This rollout's revision history limit can not be smaller than the rollout's scale down limit",
            "",
        );
    }
    anti_affinity(bg, "/spec/strategy/blueGreen/antiAffinity", o);
}

fn anti_affinity(strategy: &Value, base: &str, o: &mut Out<'_>) {
    let Some(aa) = set(strategy, "antiAffinity") else {
        return;
    };
    let preferred = set(aa, "preferredDuringSchedulingIgnoredDuringExecution");
    let required = set(aa, "requiredDuringSchedulingIgnoredDuringExecution");
    if preferred.is_some() == required.is_some() {
        o.push(
            base.into(),
            if preferred.is_some() {
                "antiAffinity sets both preferred and required".into()
            } else {
                "antiAffinity sets neither preferred nor required".into()
            },
            "AntiAffinity must have exactly one strategy listed",
            "",
        );
    }
    if let Some(w) = preferred
        .and_then(|p| p.get("weight"))
        .and_then(Value::as_i64)
        .filter(|w| !(1..=100).contains(w))
    {
        o.push(
            format!("{base}/preferredDuringSchedulingIgnoredDuringExecution/weight"),
            format!("antiAffinity weight {w}"),
            "AntiAffinity weight must be between 1-100",
            "",
        );
    }
}

/// Traffic routers in `trafficRouting` that need both Services (`requireCanaryStableServices`).
fn requires_services(tr: &Value, ping_pong: bool) -> Option<&'static str> {
    if set(tr, "alb").is_some() && !ping_pong {
        return Some("alb");
    }
    if let Some(istio) = set(tr, "istio") {
        if set(istio, "destinationRule").is_none() && !ping_pong {
            return Some("istio");
        }
    }
    ["smi", "apisix", "ambassador", "nginx", "appMesh", "traefik"]
        .into_iter()
        .find(|k| set(tr, k).is_some())
}

fn check_canary(spec: &Value, c: &Value, o: &mut Out<'_>) {
    let base = "/spec/strategy/canary";
    // `invalidMaxSurgeMaxUnavailable`: both default to 25%.
    let surge = set(c, "maxSurge").map_or(Some(25), int_or_percent);
    let unavailable = set(c, "maxUnavailable").map_or(Some(25), int_or_percent);
    if surge == Some(0) && unavailable == Some(0) {
        o.push(
            format!("{base}/maxSurge"),
            "maxSurge and maxUnavailable are both 0".into(),
            "MaxSurge and MaxUnavailable both can not be zero",
            "let one of them be at least 1 (or 1%)",
        );
    }
    let stable = nonempty_str(c, "stableService");
    let canary_svc = nonempty_str(c, "canaryService");
    if !stable.is_empty() && stable == canary_svc {
        o.push(
            format!("{base}/stableService"),
            format!("stableService and canaryService are both \"{stable}\""),
            "This rollout uses the same service for the stable and canary services, but two different services are required.",
            "create a second Service for the canary pods",
        );
    }
    let tr = set(c, "trafficRouting");
    let ping_pong = set(c, "pingPong");
    if let Some(pp) = ping_pong {
        let plugins = tr
            .and_then(|t| t.get("plugins"))
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if tr.is_some_and(|t| set(t, "alb").is_none() && set(t, "istio").is_none() && !plugins) {
            o.push(
                format!("{base}/trafficRouting"),
                "pingPong is set with a traffic router other than alb, istio or a plugin".into(),
                "Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers only",
                "",
            );
        }
        let ping = nonempty_str(pp, "pingService");
        let pong = nonempty_str(pp, "pongService");
        for (key, v) in [("pingService", ping), ("pongService", pong)] {
            if v.is_empty() && !o.fragment {
                o.push(
                    format!("{base}/pingPong"),
                    format!("pingPong.{key} is not set"),
                    "Ping service and Pong service must to be set to use Ping-Pong feature",
                    "",
                );
            }
        }
        if ping == pong && !(ping.is_empty() && o.fragment) {
            o.push(
                format!("{base}/pingPong/pingService"),
                format!("pingService and pongService are both \"{ping}\""),
                "This rollout uses the same service for the ping and pong services, but two different services are required.",
                "",
            );
        }
        if let Some(alb) = tr.and_then(|t| set(t, "alb")) {
            if nonempty_str(alb, "rootService").is_empty() && !o.fragment {
                o.push(
                    format!("{base}/trafficRouting/alb"),
                    "trafficRouting.alb.rootService is not set with pingPong".into(),
                    "Root service field is required for the configuration with ALB and ping-pong feature enabled",
                    "",
                );
            }
        }
    }
    if let Some(t) = tr {
        if let Some(router) = requires_services(t, ping_pong.is_some()).filter(|_| !o.fragment) {
            for (key, v) in [("stableService", stable), ("canaryService", canary_svc)] {
                if v.is_empty() {
                    o.push(
                        if c.get(key).is_some() {
                            format!("{base}/{key}")
                        } else {
                            format!("{base}/trafficRouting/{router}")
                        },
                        format!("trafficRouting.{router} is set without canary.{key}"),
                        "Canary service and Stable service must to be set to use Traffic Routing",
                        "name the Services that select the canary and the stable pods",
                    );
                }
            }
        }
        traffic_router_config(t, &format!("{base}/trafficRouting"), o);
    }
    let delay = set(c, "scaleDownDelaySeconds").is_some();
    let dynamic = c
        .get("dynamicStableScale")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match tr {
        None => {
            if delay {
                o.push(
                    format!("{base}/scaleDownDelaySeconds"),
                    "scaleDownDelaySeconds is set without trafficRouting".into(),
                    "Canary scaleDownDelaySeconds can only be used with traffic routing",
                    "",
                );
            }
            if dynamic {
                o.push(
                    format!("{base}/dynamicStableScale"),
                    "dynamicStableScale is set without trafficRouting".into(),
                    "Canary dynamicStableScale can only be used with traffic routing",
                    "",
                );
            }
        }
        Some(t) => {
            if delay && dynamic {
                o.push(
                    format!("{base}/dynamicStableScale"),
                    "dynamicStableScale is set with scaleDownDelaySeconds".into(),
                    "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds",
                    "",
                );
            }
            if set(t, "maxTrafficWeight").is_some()
                && set(t, "nginx").is_none()
                && t.get("plugins")
                    .and_then(Value::as_object)
                    .is_none_or(|p| p.is_empty())
            {
                o.push(
                    format!("{base}/trafficRouting/maxTrafficWeight"),
                    "trafficRouting.maxTrafficWeight is set for a router other than nginx or a plugin".into(),
                    "Canary maxTrafficWeight in traffic routing only supported in Nginx and Plugins",
                    "",
                );
            }
        }
    }
    let max_weight = tr
        .and_then(|t| int_field(t, "maxTrafficWeight"))
        .unwrap_or(100);
    if let Some(steps) = c.get("steps").and_then(Value::as_array) {
        for (i, step) in steps.iter().enumerate() {
            if o.count >= MAX_STEP_FINDINGS {
                break;
            }
            check_step(step, &format!("{base}/steps/{i}"), tr, max_weight, o);
        }
    }
    anti_affinity(c, &format!("{base}/antiAffinity"), o);
    let _ = spec;
}

/// `ValidateRolloutVirtualServicesConfig`, `ValidateRolloutAlbIngressesConfig`,
/// `ValidateRolloutNginxIngressesConfig`: exactly one of the singular and plural fields.
fn traffic_router_config(t: &Value, base: &str, o: &mut Out<'_>) {
    let one_of = [
        (
            "istio",
            "virtualService",
            "virtualServices",
            "either VirtualService or VirtualServices must be configured",
        ),
        (
            "alb",
            "ingress",
            "ingresses",
            "Either Ingress or Ingresses must be configured.",
        ),
        (
            "nginx",
            "stableIngress",
            "stableIngresses",
            "Either StableIngress or StableIngresses must be configured.",
        ),
    ];
    for (router, single, plural, argo) in one_of {
        let Some(r) = set(t, router) else { continue };
        let has_single = match r.get(single) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        };
        let has_plural = r
            .get(plural)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if has_single == has_plural && (has_single || !o.fragment) {
            let both = if has_single {
                "Both are configured."
            } else {
                "Neither are configured."
            };
            let argo_msg = if router == "istio" {
                argo.to_owned()
            } else {
                format!("{argo} {both}")
            };
            o.push(
                format!("{base}/{router}"),
                format!(
                    "trafficRouting.{router} sets {} of {single} and {plural}",
                    if has_single { "both" } else { "neither" }
                ),
                &argo_msg,
                &format!("set exactly one of `{single}` and `{plural}`"),
            );
        }
    }
}

fn check_step(step: &Value, at: &str, tr: Option<&Value>, max_weight: i64, o: &mut Out<'_>) {
    if !step.is_object() {
        return;
    }
    const STEP_MSG: &str = "Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause";
    // `hasMultipleStepsType` looks at these four only.
    let kinds: Vec<&str> = ["setWeight", "pause", "experiment", "analysis"]
        .into_iter()
        .filter(|k| set(step, k).is_some())
        .collect();
    if kinds.len() > 1 {
        o.push(
            at.into(),
            format!("the step sets {}", kinds.join(" and ")),
            STEP_MSG,
            "write one list item per action: `- setWeight: 20` then `- pause: {}`",
        );
    }
    let any = [
        "experiment",
        "pause",
        "setWeight",
        "analysis",
        "setCanaryScale",
        "setHeaderRoute",
        "setMirrorRoute",
        "plugin",
    ]
    .into_iter()
    .any(|k| set(step, k).is_some());
    if !any {
        let keys: Vec<&str> = step
            .as_object()
            .map(|m| m.keys().map(String::as_str).take(5).collect())
            .unwrap_or_default();
        o.push(
            at.into(),
            if keys.is_empty() {
                "the step sets no action".into()
            } else {
                format!("the step sets no action (it has {})", keys.join(", "))
            },
            STEP_MSG,
            "",
        );
    }
    if let Some(w) = int_field(step, "setWeight") {
        if w < 0 || w > max_weight {
            o.push(
                format!("{at}/setWeight"),
                format!("setWeight {w} is outside 0..{max_weight}"),
                &format!("SetWeight needs to be between 0 and {max_weight}"),
                "",
            );
        }
    }
    if let Some(d) = set(step, "pause").and_then(|p| set(p, "duration")) {
        if let Some(secs) = pause_seconds(d).filter(|s| *s < 0.0) {
            let what = if secs == -1.0 && d.is_string() {
                format!(
                    "pause duration {d} is neither a number of seconds nor a Go duration (Argo reads it as -1)"
                )
            } else {
                format!("pause duration {d} is negative")
            };
            o.push(
                format!("{at}/pause/duration"),
                what,
                "Duration needs to be greater than 0",
                "write seconds (`30`) or a duration with units s, m or h (`10m`, `1h`); days are not a unit",
            );
        }
    }
    if set(step, "setCanaryScale").is_some() && tr.is_none() {
        o.push(
            format!("{at}/setCanaryScale"),
            "setCanaryScale is used without trafficRouting".into(),
            "SetCanaryScale requires TrafficRouting to be set",
            "",
        );
    }
    let router = |k: &str| tr.is_some_and(|t| set(t, k).is_some());
    let plugins = tr
        .and_then(|t| t.get("plugins"))
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if let Some(hr) = set(step, "setHeaderRoute") {
        if !(router("istio") || router("alb") || router("apisix") || plugins) {
            o.push(
                format!("{at}/setHeaderRoute"),
                "setHeaderRoute is used without an istio, alb, apisix or plugin traffic router"
                    .into(),
                "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix",
                "",
            );
        } else if let Some(ms) = hr.get("match").and_then(Value::as_array) {
            for (j, m) in ms.iter().enumerate() {
                let p = format!("{at}/setHeaderRoute/match/{j}");
                let hv = m.get("headerValue").filter(|v| !v.is_null());
                if router("alb") {
                    let ok = hv.is_some_and(|v| {
                        !nonempty_str(v, "exact").is_empty()
                            && nonempty_str(v, "regex").is_empty()
                            && nonempty_str(v, "prefix").is_empty()
                    });
                    if !ok {
                        o.push(
                            p,
                            "headerValue must be `exact` with alb".into(),
                            "SetHeaderRoute match value invalid. ALB supports 'exact' value only",
                            "",
                        );
                    }
                } else {
                    string_match(hv, &p, o);
                }
            }
        }
    }
    if let Some(mr) = set(step, "setMirrorRoute") {
        if !(router("istio") || plugins) {
            o.push(
                format!("{at}/setMirrorRoute"),
                "setMirrorRoute is used without the istio or a plugin traffic router".into(),
                "SetMirrorRoute requires TrafficRouting, supports Istio and Plugins",
                "",
            );
        }
        if let Some(ms) = mr.get("match").and_then(Value::as_array) {
            for (j, m) in ms.iter().enumerate() {
                let p = format!("{at}/setMirrorRoute/match/{j}");
                for k in ["method", "path"] {
                    if let Some(v) = set(m, k) {
                        string_match(Some(v), &p, o);
                    }
                }
            }
        }
    }
    if let Some(t) = tr {
        let managed = t.get("managedRoutes").and_then(Value::as_array);
        for key in ["setHeaderRoute", "setMirrorRoute"] {
            let Some(r) = set(step, key) else { continue };
            match managed {
                None => o.push(
                    format!("{at}/{key}"),
                    format!("{key} is used but trafficRouting.managedRoutes is not set"),
                    "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'",
                    "list the route under trafficRouting.managedRoutes",
                ),
                Some(list) => {
                    let name = nonempty_str(r, "name");
                    if !list.iter().any(|m| nonempty_str(m, "name") == name) {
                        o.push(
                            format!("{at}/{key}/name"),
                            format!("route \"{name}\" is not in trafficRouting.managedRoutes"),
                            "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes",
                            "add it to trafficRouting.managedRoutes",
                        );
                    }
                }
            }
        }
    }
    if let Some(templates) = step.at("/experiment/templates").and_then(Value::as_array) {
        for (j, tpl) in templates.iter().enumerate() {
            if set(tpl, "weight").is_none() {
                continue;
            }
            let p = format!("{at}/experiment/templates/{j}/weight");
            match tr {
                None => o.push(
                    p,
                    "an experiment template weight is set without trafficRouting".into(),
                    "Experiment template weight cannot be set unless TrafficRouting is enabled",
                    "",
                ),
                Some(_) if !(router("alb") || router("smi") || router("istio") || plugins) => o.push(
                    p,
                    "an experiment template weight is set with a router other than SMI, ALB, Istio or a plugin".into(),
                    "Experiment template weight is only available for TrafficRouting with SMI, ALB, Istio and Plugins at this time",
                    "",
                ),
                Some(_) => {}
            }
        }
    }
}

/// `hasMultipleMatchValues`: exactly one of exact, regex, prefix.
fn string_match(m: Option<&Value>, at: &str, o: &mut Out<'_>) {
    let n = m.map_or(0, |v| {
        ["exact", "regex", "prefix"]
            .into_iter()
            .filter(|k| !nonempty_str(v, k).is_empty())
            .count()
    });
    match n {
        0 => o.push(
            at.into(),
            "the match sets none of exact, regex, prefix".into(),
            "StringMatch value missed, match value must have one of the following: exact, regex, prefix",
            "",
        ),
        1 => {}
        _ => o.push(
            at.into(),
            "the match sets more than one of exact, regex, prefix".into(),
            "StringMatch match value must have exactly one of the following: exact, regex, prefix",
            "",
        ),
    }
}
