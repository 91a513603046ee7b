//! Hover, go to definition, document symbols and code actions, answered from the workspace.

use lsp_types::{Diagnostic, NumberOrString, Url};
use serde_json::{Value, json};

use super::range;
use crate::engine::fix::{Applicability, TextFix};
use crate::engine::inventory::Inventory as _;
use crate::engine::workspace::{FileId, Workspace};
use crate::engine::{LabelSelector, Object, Origin};
use crate::manifest::{Pos, Span};

/// The reason a suppression code action writes, for the user to replace.
pub const REASON_PLACEHOLDER: &str = "TODO: say why this finding does not apply";

fn contains(span: Span, pos: Pos) -> bool {
    span.start <= pos && pos <= span.end
}

/// The object at `pos` and the JSON pointer (relative to the object) of the deepest node
/// there: a key or a value under the cursor.
pub fn node_at(ws: &Workspace, file: FileId, pos: Pos) -> Option<(&Object, String)> {
    let slot = ws.slot(file)?;
    let (doc, full) = slot
        .documents()
        .flat_map(|(d, idx)| {
            idx.entries()
                .filter(|(_, n)| {
                    contains(n.value, pos) && n.value.start != n.value.end
                        || n.key.is_some_and(|k| contains(k, pos))
                })
                .map(move |(p, _)| (d, p))
        })
        .max_by_key(|(_, p)| p.len())?;
    let object = ws
        .world()
        .objects()
        .iter()
        .filter(|o| match &o.origin {
            Origin::File {
                source,
                document,
                base,
            } => *source == file.source() && *document == doc && full.starts_with(base.as_str()),
            _ => false,
        })
        .max_by_key(|o| match &o.origin {
            Origin::File { base, .. } => base.len(),
            _ => 0,
        })?;
    let Origin::File { base, .. } = &object.origin else {
        return None;
    };
    Some((object, full[base.len()..].to_owned()))
}

/// Where `pointer` of `o` is written.
fn span_of(ws: &Workspace, o: &Object, pointer: &str) -> Option<(FileId, Span)> {
    let Origin::File {
        source,
        document,
        base,
    } = &o.origin
    else {
        return None;
    };
    let file = FileId(*source as u32);
    let idx = ws.slot(file)?.spans(*document)?;
    let (_, n) = idx.locate(&format!("{base}{pointer}"))?;
    Some((file, n.primary()))
}

/// The text from "## What it does" up to the example: what the rule checks and why.
fn rule_explanation(doc: &str) -> String {
    let start = doc.find("## What it does").unwrap_or(0);
    let rest = &doc[start..];
    let end = rest.find("\n## Example").unwrap_or(rest.len());
    rest[..end].trim().to_owned()
}

pub fn hover(ws: &Workspace, file: FileId, pos: Pos) -> Option<Value> {
    let slot = ws.slot(file)?;
    let mut parts: Vec<String> = Vec::new();
    for d in ws.diagnostics(file) {
        if !d.span.is_some_and(|s| contains(s, pos)) {
            continue;
        }
        let f = &d.finding;
        let mut text = format!("**{}** ({})\n\n{}", f.rule, f.severity, f.message);
        if let Some(h) = &f.help {
            text.push_str(&format!("\n\nhelp: {h}"));
        }
        for r in &d.related {
            let at = match (r.source, r.span) {
                (Some(s), Some(span)) => ws
                    .slot(FileId(s as u32))
                    .map(|sl| format!(" ({}:{})", sl.path.display(), span.start.line))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            text.push_str(&format!("\n- {}{at}", r.message));
        }
        if let Some(meta) = crate::engine::meta(f.rule) {
            text.push_str("\n\n");
            text.push_str(&rule_explanation(meta.doc));
        }
        parts.push(text);
    }
    if let Some((object, pointer)) = node_at(ws, file, pos) {
        parts.extend(gate_hover(ws, object, &pointer));
    }
    if parts.is_empty() {
        return None;
    }
    let _ = slot;
    Some(json!({
        "contents": { "kind": "markdown", "value": parts.join("\n\n---\n\n") },
    }))
}

/// The query at `pointer` as each Canary/Rollout that uses it renders it.
fn gate_hover(ws: &Workspace, object: &Object, pointer: &str) -> Option<String> {
    let world = ws.world();
    let refs = crate::promql::gates::Referrers::new(world);
    let gates = crate::promql::gates::gates_with(object, &refs);
    let mut lines = Vec::new();
    for g in &gates {
        let Some(site) = &g.query_site else { continue };
        if !std::ptr::eq(site.object, object) || site.pointer != pointer {
            continue;
        }
        let who = g
            .binder_label
            .clone()
            .unwrap_or_else(|| "no referrer in the workspace (placeholders)".into());
        lines.push(format!(
            "rendered for {who}:\n\n```promql\n{}\n```",
            g.analysis.sent
        ));
    }
    (!lines.is_empty()).then(|| lines.join("\n\n"))
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The prefix of `pointer` up to and including the segment `name` (the last such segment).
fn prefix_through<'p>(pointer: &'p str, name: &str) -> Option<&'p str> {
    let needle = format!("/{name}");
    let mut at = None;
    for (i, _) in pointer.match_indices(&needle) {
        let end = i + needle.len();
        if pointer[end..].is_empty() || pointer[end..].starts_with('/') {
            at = Some(end);
        }
    }
    at.map(|end| &pointer[..end])
}

/// The prefix of `pointer` through `…/<name>/<index>`.
fn prefix_item<'p>(pointer: &'p str, name: &str) -> Option<&'p str> {
    let p = prefix_through(pointer, name)?;
    let rest = &pointer[p.len()..];
    let rest = rest.strip_prefix('/')?;
    let idx = rest.split('/').next()?;
    idx.parse::<usize>().ok()?;
    Some(&pointer[..p.len() + 1 + idx.len()])
}

pub fn definition(ws: &Workspace, file: FileId, pos: Pos) -> Option<Vec<(FileId, Span)>> {
    let (o, ptr) = node_at(ws, file, pos)?;
    let world = ws.world();
    let ns = o.ns();
    let s = |p: &str| o.at(p).and_then(Value::as_str);
    let mut found: Vec<(FileId, Span)> = Vec::new();
    let to_name = |objs: Vec<&Object>, found: &mut Vec<(FileId, Span)>| {
        found.extend(objs.iter().filter_map(|t| span_of(ws, t, "/metadata/name")));
    };
    let last = ptr.rsplit('/').next().unwrap_or("");
    if let Some(p) = prefix_through(&ptr, "templateRef") {
        // Flagger: a Canary metric's MetricTemplate (`pkg/controller/scheduler_metrics.go`).
        if let Some(name) = s(&format!("{p}/name")) {
            let tns = s(&format!("{p}/namespace")).filter(|n| !n.is_empty());
            let objs = world.get(
                "flagger.app",
                "MetricTemplate",
                Some(tns.unwrap_or(ns)),
                name,
            );
            to_name(objs, &mut found);
        }
    } else if let Some(p) = prefix_item(&ptr, "templates").filter(|_| o.group == "argoproj.io") {
        // Argo: an analysis' templates (`templateName`, `clusterScope`).
        if let Some(name) = s(&format!("{p}/templateName")) {
            let cluster = o
                .at(&format!("{p}/clusterScope"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let objs = if cluster {
                world.get("argoproj.io", "ClusterAnalysisTemplate", None, name)
            } else {
                world.get("argoproj.io", "AnalysisTemplate", Some(ns), name)
            };
            to_name(objs, &mut found);
        }
    } else if let Some(p) = [
        "targetRef",
        "scaleTargetRef",
        "workloadRef",
        "autoscalerRef",
    ]
    .iter()
    .find_map(|k| prefix_through(&ptr, k))
    {
        if let (Some(kind), Some(name)) = (s(&format!("{p}/kind")), s(&format!("{p}/name"))) {
            let group = group_of(s(&format!("{p}/apiVersion")).unwrap_or(""));
            let mut objs = world.get(group, kind, Some(ns), name);
            if objs.is_empty() {
                // An apiVersion left out or of another group: the kind and name decide.
                objs = world
                    .objects()
                    .iter()
                    .filter(|t| t.kind == kind && t.name == name && t.ns() == ns)
                    .collect();
            }
            to_name(objs, &mut found);
        }
    } else if matches!(
        last,
        "canaryService" | "stableService" | "previewService" | "activeService"
    ) {
        if let Some(name) = s(&ptr) {
            to_name(world.get("", "Service", Some(ns), name), &mut found);
        }
    } else if let Some(p) = prefix_through(&ptr, "destinationRule") {
        // Argo's Istio routing: the DestinationRule, and its canary/stable subsets.
        if let Some(dr) = s(&format!("{p}/name")) {
            let objs = world.get("networking.istio.io", "DestinationRule", Some(ns), dr);
            if matches!(last, "canarySubsetName" | "stableSubsetName") {
                let subset = s(&ptr).unwrap_or("");
                for d in objs {
                    found.extend(subset_span(ws, d, subset));
                }
            } else {
                to_name(objs, &mut found);
            }
        }
    } else if let Some(p) = prefix_through(&ptr, "virtualService")
        .or_else(|| prefix_item(&ptr, "virtualServices"))
        .filter(|_| o.group == "argoproj.io")
    {
        if let Some(name) = s(&format!("{p}/name")) {
            let objs = world.get("networking.istio.io", "VirtualService", Some(ns), name);
            to_name(objs, &mut found);
        }
    } else if let Some(p) = prefix_through(&ptr, "destination").filter(|_| {
        o.group == "networking.istio.io" && matches!(last, "subset" | "host" | "destination")
    }) {
        // Istio: a route destination's host (a Service) and subset (a DestinationRule's).
        if let Some(host) = s(&format!("{p}/host")) {
            let mut parts = host.split('.');
            let short = parts.next().unwrap_or("");
            let hns = parts.next().unwrap_or(ns);
            if last == "subset" {
                let subset = s(&ptr).unwrap_or("");
                for d in world.list("networking.istio.io", "DestinationRule", None) {
                    let dhost = d.at("/spec/host").and_then(Value::as_str).unwrap_or("");
                    let mut dp = dhost.split('.');
                    let dshort = dp.next().unwrap_or("");
                    let dns = dp.next().unwrap_or(d.ns());
                    if dshort == short && dns == hns {
                        found.extend(subset_span(ws, d, subset));
                    }
                }
            } else {
                to_name(world.get("", "Service", Some(hns), short), &mut found);
            }
        }
    } else if ptr.starts_with("/spec/selector")
        && o.group == "monitoring.coreos.com"
        && matches!(o.kind.as_str(), "ServiceMonitor" | "PodMonitor")
    {
        // Prometheus Operator: the Services (Pods' workloads) a monitor selects, in the
        // namespaces it watches (`spec.namespaceSelector`: `any`, `matchNames`, else its own).
        let sel = o
            .at("/spec/selector")
            .and_then(|v| LabelSelector::parse(v).ok())?;
        let nsel = o.at("/spec/namespaceSelector");
        let any = nsel
            .and_then(|n| n.get("any"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let names: Vec<Option<&str>> = if any {
            vec![None]
        } else {
            match nsel
                .and_then(|n| n.get("matchNames"))
                .and_then(Value::as_array)
            {
                Some(a) if !a.is_empty() => a.iter().map(Value::as_str).collect(),
                _ => vec![Some(ns)],
            }
        };
        for n in names {
            let objs = if o.kind == "ServiceMonitor" {
                world.select("", "Service", n, &sel)
            } else {
                world
                    .select_pods(n, &sel)
                    .into_iter()
                    .map(|t| t.workload)
                    .collect()
            };
            to_name(objs, &mut found);
        }
    } else if o.group.is_empty() && o.kind == "Service" && ptr.starts_with("/spec/selector") {
        let map = o.at("/spec/selector").and_then(Value::as_object)?;
        let sel = LabelSelector::from_map(map);
        let objs = world
            .select_pods(Some(ns), &sel)
            .into_iter()
            .map(|t| t.workload)
            .collect();
        to_name(objs, &mut found);
    }
    found.sort_by_key(|(f, s)| (*f, s.start));
    found.dedup();
    (!found.is_empty()).then_some(found)
}

fn subset_span(ws: &Workspace, dr: &Object, subset: &str) -> Option<(FileId, Span)> {
    let subsets = dr.at("/spec/subsets")?.as_array()?;
    let i = subsets
        .iter()
        .position(|s| s.get("name").and_then(Value::as_str) == Some(subset))?;
    span_of(ws, dr, &format!("/spec/subsets/{i}/name"))
}

pub fn symbols(ws: &Workspace, file: FileId) -> Value {
    let Some(slot) = ws.slot(file) else {
        return json!([]);
    };
    let symbols: Vec<Value> = slot
        .objects()
        .iter()
        .filter_map(|o| {
            let Origin::File { document, base, .. } = &o.origin else {
                return None;
            };
            let idx = slot.spans(*document)?;
            let root = idx.get(base)?;
            let mut end = root.value.end;
            for (p, n) in idx.entries() {
                if p.starts_with(base.as_str()) && n.value.end > end {
                    end = n.value.end;
                }
            }
            let whole = Span::new(root.key.map_or(root.value.start, |k| k.start), end);
            let name = span_of(ws, o, "/metadata/name")
                .map(|(_, s)| s)
                .filter(|s| s.start >= whole.start && s.end <= whole.end)
                .unwrap_or(Span::point(whole.start));
            Some(json!({
                "name": format!("{} {}", o.kind, o.name),
                "detail": match &o.namespace {
                    Some(ns) => format!("{} in {ns}", o.api_version),
                    None => o.api_version.clone(),
                },
                "kind": 23, // Struct
                "range": range(&slot.source, whole),
                "selectionRange": range(&slot.source, name),
            }))
        })
        .collect();
    Value::Array(symbols)
}

pub fn code_actions(
    ws: &Workspace,
    file: FileId,
    uri: &Url,
    wanted: lsp_types::Range,
    context: &[Diagnostic],
) -> Value {
    let Some(slot) = ws.slot(file) else {
        return json!([]);
    };
    let mut actions = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in ws.diagnostics(file) {
        let Some(span) = d.span else { continue };
        let r = range(&slot.source, span);
        // A client may send back the diagnostic re-encoded (Neovim 0.7 turns its byte columns
        // into `character`s): the rule and the lines decide.
        let code = Some(NumberOrString::String(d.finding.rule.to_owned()));
        let in_context = context.iter().find(|c| {
            c.code == code && c.range.start.line <= r.end.line && r.start.line <= c.range.end.line
        });
        let ours = context
            .iter()
            .any(|c| c.source.as_deref() == Some("rollgate"));
        let overlaps = r.start.line <= wanted.end.line && wanted.start.line <= r.end.line;
        if in_context.is_none() && (ours || !overlaps) {
            continue;
        }
        // The TextEdits of a lowered fix, in UTF-16 positions of this file.
        let edits = |fix: &TextFix| -> Vec<Value> {
            fix.edits
                .iter()
                .map(|e| {
                    let at = |offset: usize| {
                        super::convert::to_lsp(&slot.source, slot.source.pos(offset))
                    };
                    json!({
                        "range": { "start": at(e.range.start), "end": at(e.range.end) },
                        "newText": e.content,
                    })
                })
                .collect()
        };
        let mut push = |title: String, fix: &TextFix, preferred: bool| {
            let mut action = json!({
                "title": title,
                "kind": "quickfix",
                "edit": { "changes": { uri.as_str(): edits(fix) } },
            });
            if preferred {
                action["isPreferred"] = json!(true);
            }
            if let Some(c) = in_context {
                action["diagnostics"] = json!([c]);
            }
            actions.push(action);
        };
        let Origin::File { document, base, .. } = &d.finding.origin else {
            continue;
        };
        // The rule's own fix (`engine::fix`, lowered as `rollgate lint --fix` lowers it): a
        // safe one is preferred (one key applies it), an unsafe one says so.
        if let Some(fix) = d
            .fix
            .as_ref()
            .filter(|f| f.refused.is_none() && !f.edits.is_empty())
        {
            let (title, preferred) = match fix.applicability {
                Applicability::Safe => (format!("Fix: {}", fix.message), true),
                Applicability::Unsafe => (
                    format!(
                        "Fix (unsafe: changes what runs, review it): {}",
                        fix.message
                    ),
                    false,
                ),
                Applicability::DisplayOnly => (
                    format!("Fix (review before applying): {}", fix.message),
                    false,
                ),
            };
            push(title, fix, preferred);
        }
        let Some(object) = d.finding.object.as_ref() else {
            continue;
        };
        if !seen.insert((d.finding.rule, *document, base.clone())) {
            continue;
        }
        // Suppress with a reason (`engine::suppression_fix`: the annotation, in the file's
        // style), the reason a placeholder to replace.
        let Some(target) = slot.objects().iter().find(|o| o.origin == d.finding.origin) else {
            continue;
        };
        let Some(fix) = crate::engine::suppression_fix(&d.finding, target, REASON_PLACEHOLDER)
        else {
            continue;
        };
        let lowered = ws.lower_fix(&d.finding.origin, &fix);
        if lowered.refused.is_some() || lowered.edits.is_empty() {
            continue;
        }
        push(
            format!(
                "Suppress {} on {} {} (with a reason)",
                d.finding.rule, object.kind, object.name
            ),
            &lowered,
            false,
        );
    }
    Value::Array(actions)
}
