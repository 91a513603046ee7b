//! `rollgate explain-rollout`: what a Flagger Canary or an Argo Rollout will do over time — its
//! steps with weights and durations, which gates run at which step, the fastest rollback of a
//! bad canary and the time to full promotion. Also the shared controller facts the analysis
//! rules use ([`duration`], [`flagger`], [`argo`]).

pub mod argo;
pub mod duration;
pub mod flagger;

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::engine::Object;
use crate::engine::inventory::ValueAt as _;
use crate::engine::inventory::{Inventory, MemoryInventory};
use crate::engine::lint::objects_of;
use crate::manifest::input::{self, DEFAULT_MAX_FILE_SIZE};
use crate::manifest::{Limits, load};
use duration::format;

/// One step of a timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Seconds after the new revision is detected when the step starts (`None`: unknown, e.g.
    /// after an indefinite pause).
    pub at_seconds: Option<f64>,
    pub action: String,
    /// Canary traffic weight after the step, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// What the weight really is (replica share without traffic routing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Gates evaluated during this step.
    pub gates: Vec<String>,
}

/// The timeline of one Canary or Rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub file: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub steps: Vec<Step>,
    /// Seconds from detection of a new revision to the earliest rollback of a canary failing
    /// every check.
    pub fastest_rollback_seconds: Option<f64>,
    pub fastest_rollback: String,
    /// Seconds from detection to full promotion when every check passes.
    pub promotion_seconds: Option<f64>,
    pub promotion: String,
    pub notes: Vec<String>,
}

fn at(t: f64) -> Option<f64> {
    Some(t)
}

/// The timeline of a Flagger Canary.
pub fn flagger_timeline(c: &Object, file: &str) -> Timeline {
    let mut tl = Timeline {
        file: file.to_owned(),
        kind: c.kind.clone(),
        namespace: c.ns().to_owned(),
        name: c.name.clone(),
        steps: Vec::new(),
        fastest_rollback_seconds: None,
        fastest_rollback: String::new(),
        promotion_seconds: None,
        promotion: String::new(),
        notes: Vec::new(),
    };
    let Some((_, a)) = flagger::analysis(c) else {
        tl.notes
            .push("no spec.analysis: Flagger has nothing to run".into());
        tl.fastest_rollback = "never: no analysis".into();
        tl.promotion = "unknown: no analysis".into();
        return tl;
    };
    let iv = flagger::interval(a);
    let threshold = flagger::threshold(a);
    let gates: Vec<String> = a
        .get("metrics")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    let name = m.get("name").and_then(Value::as_str).unwrap_or("?");
                    match m.at("/templateRef/name").and_then(Value::as_str) {
                        Some(t) => format!("metric {name} (template {t})"),
                        None if m.get("query").is_some() => format!("metric {name} (inline query)"),
                        None => format!("metric {name} (builtin)"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let hooks = |types: &[&str]| -> Vec<String> {
        a.get("webhooks")
            .and_then(Value::as_array)
            .map(|ws| {
                ws.iter()
                    .filter(|w| {
                        let t = w.get("type").and_then(Value::as_str).unwrap_or("rollout");
                        types.contains(&t)
                    })
                    .map(|w| {
                        format!(
                            "webhook {} ({})",
                            w.get("name").and_then(Value::as_str).unwrap_or("?"),
                            w.get("type").and_then(Value::as_str).unwrap_or("rollout")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut check_gates = gates.clone();
    check_gates.extend(hooks(&["rollout"]));
    tl.steps.push(Step {
        at_seconds: at(0.0),
        action: "new revision detected; canary scaled up".into(),
        weight: Some(0),
        actual: None,
        duration_seconds: Some(iv),
        gates: hooks(&["confirm-rollout"]),
    });
    // Timelines list at most this many iterations.
    let iterations = flagger::int(a, "iterations")
        .filter(|i| *i > 0)
        .map(|i| i.min(1000));
    let n_steps: i64;
    if let Some(n) = iterations {
        // A/B testing and blue/green: `iterations` checks with no traffic shifting by weight.
        n_steps = n;
        for i in 0..n {
            tl.steps.push(Step {
                at_seconds: at((i + 1) as f64 * iv),
                action: format!("iteration {} of {n}", i + 1),
                weight: None,
                actual: None,
                duration_seconds: Some(iv),
                gates: if i == 0 {
                    hooks(&["pre-rollout"])
                } else {
                    check_gates.clone()
                },
            });
        }
    } else {
        match flagger::weights(a) {
            Some((ws, _max)) => {
                n_steps = ws.len() as i64;
                for (i, w) in ws.iter().enumerate() {
                    // At weight 0 Flagger runs the pre-rollout hooks instead of the analysis
                    // (`advanceCanary`: "skip check if no traffic is routed … to canary").
                    let mut g = if i == 0 {
                        tl.notes.push(
                            "no metric check runs at weight 0: the first check is one interval after the first traffic step".into(),
                        );
                        hooks(&["pre-rollout"])
                    } else {
                        check_gates.clone()
                    };
                    g.extend(hooks(&["confirm-traffic-increase"]));
                    tl.steps.push(Step {
                        at_seconds: at((i + 1) as f64 * iv),
                        action: format!("canary weight {w}%"),
                        weight: Some(*w),
                        actual: None,
                        duration_seconds: Some(iv),
                        gates: g,
                    });
                }
            }
            None => {
                if let flagger::Progress::Stalls(ws, at_w) = flagger::progress(a) {
                    for (i, w) in ws.iter().enumerate() {
                        tl.steps.push(Step {
                            at_seconds: at((i + 1) as f64 * iv),
                            action: format!("canary weight {w}%"),
                            weight: Some(*w),
                            actual: None,
                            duration_seconds: Some(iv),
                            gates: check_gates.clone(),
                        });
                    }
                    tl.notes.push(format!(
                        "the weight stops changing at {at_w}% and never reaches the promotion weight (see flagger-weights-stall): the canary is never promoted"
                    ));
                }
                tl.fastest_rollback_seconds = Some((threshold as f64 + 2.0) * iv);
                tl.fastest_rollback = format!(
                    "{} after detection: threshold {threshold} failed checks (cumulative), one every {}",
                    format((threshold as f64 + 2.0) * iv),
                    format(iv)
                );
                tl.promotion = "never".into();
                return tl;
            }
        }
    }
    let t_promote = (n_steps + 1) as f64 * iv;
    let mut pg = check_gates.clone();
    pg.extend(hooks(&["confirm-promotion"]));
    tl.steps.push(Step {
        at_seconds: at(t_promote),
        action: "last check; promote: copy the canary spec to the primary".into(),
        weight: None,
        actual: None,
        duration_seconds: Some(iv),
        gates: pg,
    });
    tl.steps.push(Step {
        at_seconds: at(t_promote + iv),
        action: "finalise: route all traffic to the primary, scale the canary to zero".into(),
        weight: Some(0),
        actual: None,
        duration_seconds: Some(iv),
        gates: hooks(&["post-rollout"]),
    });
    let rb = (threshold as f64 + 2.0) * iv;
    tl.fastest_rollback_seconds = Some(rb);
    tl.fastest_rollback = format!(
        "{} after detection ({} after the first failed check): rollback when {threshold} checks have failed (counted cumulatively, not consecutively), one check every {}",
        format(rb),
        format(threshold as f64 * iv),
        format(iv)
    );
    // The listed steps stop at 1000 iterations; the times count them all.
    let times = flagger::times(a);
    let promo = times.promotion.unwrap_or(t_promote + 2.0 * iv);
    tl.promotion_seconds = Some(promo);
    tl.promotion = format!(
        "about {} when every check passes ({} steps of {} plus ~3 intervals to promote and finalise)",
        format(promo),
        times.steps.unwrap_or(n_steps as f64),
        format(iv)
    );
    if gates.is_empty() {
        tl.notes.push(
            "no metrics: every check passes, a bad canary is never rolled back by analysis".into(),
        );
        tl.fastest_rollback_seconds = None;
        tl.fastest_rollback = "never by metrics (no metrics)".into();
    }
    tl
}

/// An Argo metric's timing: (interval, count, failureLimit, initialDelay).
struct ArgoMetric {
    interval: Option<f64>,
    count: Option<i64>,
    failure_limit: i64,
    initial_delay: f64,
}

fn argo_metrics(world: &dyn Inventory, ns: &str, names: &[String]) -> Vec<ArgoMetric> {
    let mut out = Vec::new();
    for n in names {
        let mut ts = world.get("argoproj.io", "AnalysisTemplate", Some(ns), n);
        if ts.is_empty() {
            ts = world.get("argoproj.io", "ClusterAnalysisTemplate", None, n);
        }
        let Some(t) = ts.first() else { continue };
        for m in t
            .at("/spec/metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(ArgoMetric {
                interval: m.get("interval").and_then(duration::parse_argo),
                count: m.get("count").and_then(Value::as_i64),
                failure_limit: m.get("failureLimit").and_then(Value::as_i64).unwrap_or(0),
                initial_delay: m
                    .get("initialDelay")
                    .and_then(duration::parse_argo)
                    .unwrap_or(0.0),
            });
        }
    }
    out
}

/// How long until a metric failing every measurement fails the run (`failureLimit + 1`
/// failed measurements).
fn metric_fail_after(m: &ArgoMetric) -> f64 {
    m.initial_delay + m.failure_limit as f64 * m.interval.unwrap_or(0.0)
}

/// How long an analysis step takes when every measurement passes (`None`: forever or unknown).
fn metric_duration(m: &ArgoMetric) -> Option<f64> {
    match (m.count, m.interval) {
        (Some(c), Some(i)) if c > 0 => Some(m.initial_delay + (c as f64 - 1.0) * i),
        (Some(_) | None, None) => Some(m.initial_delay),
        _ => None,
    }
}

/// The timeline of an Argo Rollout (canary strategy).
pub fn argo_timeline(r: &Object, world: &dyn Inventory, file: &str) -> Timeline {
    let mut tl = Timeline {
        file: file.to_owned(),
        kind: r.kind.clone(),
        namespace: r.ns().to_owned(),
        name: r.name.clone(),
        steps: Vec::new(),
        fastest_rollback_seconds: None,
        fastest_rollback: String::new(),
        promotion_seconds: None,
        promotion: String::new(),
        notes: Vec::new(),
    };
    if r.at("/spec/strategy/canary").is_none() {
        tl.notes
            .push("not a canary strategy (blue-green or none): no steps".into());
        tl.fastest_rollback = "not analysed".into();
        tl.promotion = "not analysed".into();
        return tl;
    }
    let routed = r.at("/spec/strategy/canary/trafficRouting").is_some();
    let replicas = r.at("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let surge =
        argo::scaled(r.at("/spec/strategy/canary/maxSurge"), replicas, 25, true).unwrap_or(1);
    let background: Option<(i64, Vec<String>)> = r.at("/spec/strategy/canary/analysis").map(|a| {
        (
            a.get("startingStep").and_then(Value::as_i64).unwrap_or(0),
            argo::template_names(a),
        )
    });
    let bg_metrics = background
        .as_ref()
        .map(|(_, names)| argo_metrics(world, r.ns(), names))
        .unwrap_or_default();
    let mut t = Some(0.0);
    let mut rollback: Option<f64> = None;
    let mut consider = |start: Option<f64>, ms: &[ArgoMetric]| {
        if let Some(s) = start {
            for m in ms {
                let when = s + metric_fail_after(m);
                if rollback.is_none_or(|r| when < r) {
                    rollback = Some(when);
                }
            }
        }
    };
    let steps = argo::steps(r);
    let mut indefinite = false;
    for (i, (_, step)) in steps.iter().enumerate() {
        let mut gates = Vec::new();
        if let Some((start, names)) = &background {
            if i as i64 >= *start {
                gates.extend(names.iter().map(|n| format!("background analysis {n}")));
            }
            if i as i64 == *start {
                consider(t, &bg_metrics);
            }
        }
        let (action, weight, actual, dur) = match step {
            argo::Step::SetWeight(w) => {
                let actual = match (w, routed) {
                    (Some(w), false) => {
                        let (c, s) = argo::approximate(replicas, *w, surge);
                        let share = if c + s > 0 {
                            c as f64 * 100.0 / (c + s) as f64
                        } else {
                            0.0
                        };
                        Some(format!(
                            "{c} canary + {s} stable pods ({share:.1}% of pods)"
                        ))
                    }
                    _ => None,
                };
                (
                    format!("setWeight {}", w.map_or("?".into(), |w| w.to_string())),
                    *w,
                    actual,
                    Some(0.0),
                )
            }
            argo::Step::Pause(None) => {
                indefinite = true;
                ("pause until promoted manually".to_owned(), None, None, None)
            }
            argo::Step::Pause(Some(d)) => (
                format!("pause {}", d.map_or("(templated)".into(), format)),
                None,
                None,
                *d,
            ),
            argo::Step::Analysis(names) => {
                let ms = argo_metrics(world, r.ns(), names);
                consider(t, &ms);
                gates.extend(names.iter().map(|n| format!("analysis {n}")));
                let d = if ms.is_empty() {
                    None
                } else {
                    ms.iter()
                        .map(metric_duration)
                        .try_fold(0.0f64, |acc, d| d.map(|d| acc.max(d)))
                };
                if d.is_none() {
                    tl.notes.push(format!(
                        "step {i}: analysis duration unknown (templates not in the input, or a metric runs until stopped)"
                    ));
                }
                (format!("analysis {}", names.join(", ")), None, None, d)
            }
            argo::Step::Experiment(d) => ("experiment".to_owned(), None, None, *d),
            argo::Step::SetCanaryScale => ("setCanaryScale".to_owned(), None, None, Some(0.0)),
            argo::Step::Other(k) => (k.clone(), None, None, Some(0.0)),
        };
        tl.steps.push(Step {
            at_seconds: t,
            action,
            weight,
            actual,
            duration_seconds: dur,
            gates,
        });
        t = match (t, dur) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    tl.steps.push(Step {
        at_seconds: t,
        action: "promote: the canary becomes stable (100%)".into(),
        weight: Some(100),
        actual: None,
        duration_seconds: None,
        gates: Vec::new(),
    });
    tl.fastest_rollback_seconds = rollback;
    tl.fastest_rollback = match rollback {
        Some(s) => format!(
            "{} after the update: the first analysis whose metric fails (failureLimit + 1) measurements aborts the rollout",
            format(s)
        ),
        None => "never by analysis (no analysis with known templates runs)".into(),
    };
    tl.promotion_seconds = t;
    tl.promotion = match (t, indefinite) {
        (Some(s), _) => format!(
            "about {} when every measurement passes (pauses and analysis steps)",
            format(s)
        ),
        (None, true) => "waits for a manual promotion (indefinite pause)".into(),
        (None, false) => "unknown (a step's duration is unknown)".into(),
    };
    if !routed {
        tl.notes.push(format!(
            "no trafficRouting: setWeight is approximated by replica counts of spec.replicas {replicas} (maxSurge {surge})"
        ));
    }
    tl
}

/// Render timelines for a terminal.
pub fn render_text(tls: &[Timeline], out: &mut dyn Write) -> io::Result<()> {
    for tl in tls {
        writeln!(
            out,
            "{} {}/{} ({})",
            tl.kind, tl.namespace, tl.name, tl.file
        )?;
        for s in &tl.steps {
            let t = s
                .at_seconds
                .map_or("?".into(), |x| format!("t+{}", format(x)));
            let d = s
                .duration_seconds
                .map(|d| format!(" for {}", format(d)))
                .unwrap_or_default();
            write!(out, "  {t:>10}  {}{d}", s.action)?;
            if let Some(a) = &s.actual {
                write!(out, " [actually {a}]")?;
            }
            writeln!(out)?;
            for g in &s.gates {
                writeln!(out, "              runs {g}")?;
            }
        }
        writeln!(out, "  fastest rollback: {}", tl.fastest_rollback)?;
        writeln!(out, "  full promotion:   {}", tl.promotion)?;
        for n in &tl.notes {
            writeln!(out, "  note: {n}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Render timelines as Markdown (a pull-request comment, a wiki page): a heading per object, a
/// table of its steps, then the rollback, promotion and notes as a list.
pub fn render_markdown(tls: &[Timeline], out: &mut dyn Write) -> io::Result<()> {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    for (i, tl) in tls.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(
            out,
            "### {} `{}/{}` ({})\n",
            tl.kind,
            tl.namespace,
            tl.name,
            cell(&tl.file)
        )?;
        writeln!(out, "| at | step | for | gates |")?;
        writeln!(out, "|---|---|---|---|")?;
        for s in &tl.steps {
            let t = s
                .at_seconds
                .map_or("?".into(), |x| format!("t+{}", format(x)));
            let mut action = cell(&s.action);
            if let Some(a) = &s.actual {
                action.push_str(&format!(" (actually {})", cell(a)));
            }
            let d = s.duration_seconds.map(format).unwrap_or_default();
            let gates: Vec<String> = s.gates.iter().map(|g| cell(g)).collect();
            writeln!(out, "| {t} | {action} | {d} | {} |", gates.join("<br>"))?;
        }
        writeln!(out)?;
        writeln!(out, "- fastest rollback: {}", cell(&tl.fastest_rollback))?;
        writeln!(out, "- full promotion: {}", cell(&tl.promotion))?;
        for n in &tl.notes {
            writeln!(out, "- note: {}", cell(n))?;
        }
    }
    Ok(())
}

/// How `rollgate explain-rollout` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    Markdown,
}

/// Timelines of every Canary and Rollout in `world` (objects with their file names).
pub fn timelines(world: &MemoryInventory, files: &[String]) -> Vec<Timeline> {
    let file_of = |o: &Object| match &o.origin {
        crate::engine::Origin::File { source, .. } => {
            files.get(*source).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    let mut out = Vec::new();
    for o in world.objects() {
        if o.is("flagger.app", "Canary") {
            out.push(flagger_timeline(o, &file_of(o)));
        } else if o.is("argoproj.io", "Rollout") {
            out.push(argo_timeline(o, world, &file_of(o)));
        }
    }
    out
}

/// `rollgate explain-rollout FILE…`.
pub fn run(paths: &[PathBuf], format: Output, out: &mut dyn Write) -> io::Result<u8> {
    let (files, errors) = input::expand_paths(paths);
    let mut code = 0;
    for (p, e) in &errors {
        eprintln!("rollgate: error: {}: {e}", p.display());
        code = 2;
    }
    let mut objects = Vec::new();
    let mut names = Vec::new();
    for f in &files {
        let inp = match input::read_file(f, DEFAULT_MAX_FILE_SIZE) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("rollgate: error: {}: {e}", f.display());
                code = 2;
                continue;
            }
        };
        let si = names.len();
        names.push(inp.source.name.clone());
        if inp.unusable.is_some() {
            continue;
        }
        let loaded = load(&inp.source.text, Limits::default());
        for d in loaded.documents {
            if let Ok(os) = objects_of(d.value, si, d.index, "default") {
                objects.extend(os);
            }
        }
    }
    let world = MemoryInventory::new(objects, "the input files", false);
    let tls = timelines(&world, &names);
    match format {
        Output::Json => {
            let s = serde_json::to_string_pretty(&tls).map_err(io::Error::other)?;
            writeln!(out, "{s}")?;
        }
        _ if tls.is_empty() => writeln!(out, "no Canary or Rollout in the input")?,
        Output::Text => render_text(&tls, out)?,
        Output::Markdown => render_markdown(&tls, out)?,
    }
    Ok(code)
}
