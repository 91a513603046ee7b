//! servicemonitor-port-not-found: `endpoints[].port` that names no port of the selected Services,
//! or a `targetPort` that no selected pod declares.
//!
//! prometheus-operator keeps the targets whose endpoint port *name* equals `port`
//! (`pkg/prometheus/promcfg.go`: `keep` on `__meta_kubernetes_endpoint_port_name`), and, with
//! `targetPort` instead, those whose pod declares that container port
//! (`__meta_kubernetes_pod_container_port_name` / `_number`).

use serde_json::Value;

use crate::engine::rule::finding;

use super::common::at;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

use super::common::wiring::{self, Namespaces, Svc};

pub struct ServicemonitorPortNotFound;

static META: RuleMeta = RuleMeta {
    id: "servicemonitor-port-not-found",
    severity: Severity::Error,
    kinds: &[("monitoring.coreos.com", "ServiceMonitor")],
    doc: include_str!("../../rules/servicemonitor-port-not-found.md"),
    options: &[],
    builtin: false,
};

impl Rule for ServicemonitorPortNotFound {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check<'a>(&self, object: &'a Object, cx: &Context<'a>, out: &mut Vec<Finding>) {
        let Some(endpoints) = at(object, "/spec/endpoints").and_then(Value::as_array) else {
            return;
        };
        if wiring::monitor_selector(object).is_err() {
            return;
        }
        let services = cx.monitor_services(object);
        for (i, ep) in endpoints.iter().enumerate() {
            match (ep.get("port"), ep.get("targetPort")) {
                (Some(port), _) if !port.is_null() => {
                    check_port(object, i, port, &services, out);
                }
                (_, Some(tp)) if tp.is_string() || tp.is_number() => {
                    check_target_port(object, cx, i, tp, &services, out);
                }
                _ => {}
            }
        }
    }
}

fn check_port(
    object: &Object,
    i: usize,
    port: &Value,
    services: &[Svc<'_>],
    out: &mut Vec<Finding>,
) {
    let pointer = format!("/spec/endpoints/{i}/port");
    let number = match port {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::String(_) => None,
        _ => return,
    };
    if let Some(n) = number {
        // A Service port name must contain a letter (IANA_SVC_NAME), so a number never matches.
        let named = services.iter().find_map(|s| {
            let ports = at(s.object, "/spec/ports")?.as_array()?;
            ports.iter().find_map(|p| {
                let hit = p.get("port").and_then(Value::as_i64) == Some(n)
                    || p.get("targetPort").and_then(Value::as_i64) == Some(n);
                let name = p.get("name")?.as_str()?;
                hit.then(|| (name.to_owned(), s.describe()))
            })
        });
        let help = match named {
            Some((name, svc)) => format!("write `port: {name}` (the name {svc} gives port {n})"),
            None => format!(
                "write the name of the Service port, or `targetPort: {n}` to select the container port by number"
            ),
        };
        out.push(
            finding(
                &META,
                object,
                &pointer,
                format!(
                    "spec.endpoints[{i}].port is {}, but port takes the name of a Service port; it matches no port and Prometheus scrapes nothing for this endpoint",
                    if port.is_number() {
                        format!("the number {n}")
                    } else {
                        format!("\"{n}\", a number")
                    },
                ),
            )
            .with_help(help),
        );
        return;
    }
    let Some(name) = port.as_str() else { return };
    // `port` is a regex in the generated relabeling; only plain names are checked.
    if services.is_empty()
        || name.contains(|c: char| "\\.+*?()|[]{}^$".contains(c))
        || services.iter().any(|s| {
            s.port_names
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == name))
        })
    {
        return;
    }
    let mut known: Vec<String> = Vec::new();
    for s in services {
        for n in s.port_names.iter().flatten() {
            if !known.contains(n) {
                known.push(n.clone());
            }
        }
    }
    let shown: Vec<String> = services.iter().take(3).map(Svc::describe).collect();
    let mut f = finding(
        &META,
        object,
        &pointer,
        format!(
            "spec.endpoints[{i}].port \"{name}\" is not the name of a port of the selected {} ({}{}); Prometheus scrapes nothing for this endpoint",
            if services.len() == 1 { "Service" } else { "Services" },
            shown.join(", "),
            if services.len() > 3 { ", …" } else { "" },
        ),
    )
    .with_help(if known.is_empty() {
        "name the Service port (spec.ports[].name) and use that name here".to_owned()
    } else {
        format!(
            "use one of the port names: {}",
            known
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    for s in services.iter().take(3) {
        let p = if s.by_flagger {
            "/spec/service"
        } else {
            "/spec/ports"
        };
        f = f.with_related(s.object, p, format!("ports of {}", s.describe()));
    }
    out.push(f);
}

fn check_target_port(
    object: &Object,
    cx: &Context<'_>,
    i: usize,
    target_port: &Value,
    services: &[Svc<'_>],
    out: &mut Vec<Finding>,
) {
    let mut pods = Vec::new();
    for s in services {
        let Some(sel) = &s.pod_selector else { continue };
        pods.extend(wiring::pods(
            cx,
            &Namespaces::Names(vec![s.namespace.to_owned()]),
            sel,
        ));
    }
    if pods.is_empty() || pods.iter().any(|p| p.declares_port(target_port)) {
        return;
    }
    let shown = match target_port {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    let mut f = finding(
        &META,
        object,
        format!("/spec/endpoints/{i}/targetPort"),
        format!(
            "spec.endpoints[{i}].targetPort {shown} is not a container port of the selected pods ({}); Prometheus keeps only targets whose pod declares that port, so this endpoint may scrape nothing",
            pods.iter().take(3).map(|p| p.describe()).collect::<Vec<_>>().join(", ")
        ),
    )
    .with_help("declare the port in the container's `ports` (with a name), or use `port` with the Service port's name");
    f.severity = Severity::Warning;
    for p in pods.iter().take(3) {
        f = f.with_related(
            p.template.workload,
            format!("{}/spec/containers", p.template.pointer),
            format!("containers of {}", p.describe()),
        );
    }
    out.push(f);
}
