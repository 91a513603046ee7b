//! istio-route-unreachable: VirtualService routes (and matches) that never run.
//!
//! Envoy tries a VirtualService's `http` (`tcp`, `tls`) routes in order and takes the first whose
//! match accepts the request. A route after one with no match (a catch-all) never runs, nor one
//! whose every match an earlier match already accepts. istiod's validation reports the simplest
//! cases as warnings (`pkg/config/validation/validation.go` `analyzeUnreachableHTTPRules`,
//! `analyzeUnreachableTCPRules`, `analyzeUnreachableTLSRules`; `istioctl analyze` IST0130 and
//! IST0131 from `pkg/config/analysis/analyzers/virtualservice/`): a second route without match,
//! a match equal to an earlier one, a URI prefix under an earlier prefix with the same other
//! conditions. Here a match is covered when every condition of the earlier match is implied by
//! the later one's (a superset of istiod's cases, and sound: istiod's method comparison, which
//! takes "no method" for `exact: GET`, is not copied).
//!
//! The classic mistake is a canary split written as two `http` entries (`weight: 90` then
//! `weight: 10`, neither with a match): the first takes every request and its lone destination
//! gets 100% (a single destination's weight is ignored), the canary gets nothing.

use serde_json::{Map, Value};

use crate::engine::rule::finding;
use crate::engine::{Context, Finding, Object, Rule, RuleMeta, Severity};

pub struct IstioRouteUnreachable;

static META: RuleMeta = RuleMeta {
    id: "istio-route-unreachable",
    severity: Severity::Warning,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-route-unreachable.md"),
    options: &[],
    builtin: false,
};

/// Match-versus-match comparisons per VirtualService section. The check is quadratic in the
/// number of matches; past this budget the remaining routes are only checked against catch-alls
/// (linear), and an info finding says so.
pub const MAX_COMPARISONS: usize = 200_000;

/// Routes after a catch-all reported one by one; the rest are counted in one finding.
const MAX_AFTER_CATCH_ALL: usize = 10;

/// Longest regex compiled to compare with an exact value (Istio rejects longer ones).
const MAX_REGEX_LEN: usize = 1024;

impl Rule for IstioRouteUnreachable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(spec) = object.spec() else { return };
        for section in ["http", "tcp", "tls"] {
            if let Some(routes) = spec.get(section).and_then(Value::as_array) {
                check_section(object, section, routes, out);
            }
        }
    }
}

/// How a route is named in messages: `http[2]` or `http[2] ("canary")`.
fn route_name(section: &str, i: usize, route: &Value) -> String {
    match route.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => format!("{section}[{i}] (\"{n}\")"),
        _ => format!("{section}[{i}]"),
    }
}

fn matches_of(route: &Value) -> &[Value] {
    route
        .get("match")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A lone destination with a weight below 100: the weight the author meant for a split.
fn lone_partial_weight(route: &Value) -> Option<i64> {
    let ds = route.get("route").and_then(Value::as_array)?;
    if ds.len() != 1 {
        return None;
    }
    ds[0]
        .get("weight")
        .and_then(Value::as_i64)
        .filter(|w| (0..100).contains(w))
}

fn check_section(object: &Object, section: &str, routes: &[Value], out: &mut Vec<Finding>) {
    let mut catch_all: Option<usize> = None;
    // Earlier matches: (route index, match index, the match).
    let mut earlier: Vec<(usize, usize, &Map<String, Value>)> = Vec::new();
    let mut budget = MAX_COMPARISONS;
    let mut capped_at: Option<usize> = None;
    let mut after_catch_all = 0usize;
    for (i, route) in routes.iter().enumerate() {
        if !route.is_object() {
            continue;
        }
        let base = format!("/spec/{section}/{i}");
        let name = route_name(section, i, route);
        let ms = matches_of(route);
        if let Some(c) = catch_all {
            after_catch_all += 1;
            if after_catch_all > MAX_AFTER_CATCH_ALL {
                continue;
            }
            let by = route_name(section, c, &routes[c]);
            let split = lone_partial_weight(&routes[c]).zip(lone_partial_weight(route));
            let (severity, message, help) = match split {
                Some((wc, wi)) => (
                    Severity::Error,
                    format!(
                        "{name} never runs: {by} has no match and takes every request first, so its single destination gets 100% (its weight {wc} is ignored) and this route's destination (weight {wi}) gets no traffic"
                    ),
                    "write the split as one route with both destinations: `route: [{destination: …, weight: 90}, {destination: …, weight: 10}]`",
                ),
                // The dead route sends traffic where the catch-all already does (Istio's
                // fault-injection samples add a plain fallback after a route that injects a
                // fault into every request): nothing is lost, it is only dead configuration.
                None if route.get("route").is_some()
                    && route.get("route") == routes[c].get("route") =>
                {
                    (
                        Severity::Info,
                        format!(
                            "{name} never runs: {by} has no match and takes every request before it; it routes to the same destinations, so no traffic is lost (dead configuration)"
                        ),
                        "remove the route, or give the route before it a match",
                    )
                }
                None => (
                    Severity::Warning,
                    format!(
                        "{name} never runs: {by} has no match and takes every request before it"
                    ),
                    "move the route without match to the end, or give it a match",
                ),
            };
            let mut f = finding(&META, object, &base, message)
                .with_help(help)
                .with_related(
                    object,
                    format!("/spec/{section}/{c}"),
                    format!("{by}: no match"),
                );
            f.severity = severity;
            out.push(f);
            continue;
        }
        if ms.is_empty() {
            catch_all = Some(i);
            continue;
        }
        let mut covered: Vec<(usize, usize, usize)> = Vec::new(); // (match, by route, by match)
        let mut live = 0usize;
        let mut own: Vec<(usize, usize, &Map<String, Value>)> = Vec::new();
        for (mi, m) in ms.iter().enumerate() {
            let Some(m) = m.as_object() else {
                live += 1;
                continue;
            };
            let mut by = None;
            if capped_at.is_none() {
                if budget < earlier.len() {
                    capped_at = Some(i);
                } else {
                    budget -= earlier.len();
                    by = earlier
                        .iter()
                        .find(|(_, _, a)| covers(section, a, m))
                        .map(|(r, k, _)| (*r, *k));
                }
            }
            match by {
                Some((r, k)) => covered.push((mi, r, k)),
                None => live += 1,
            }
            own.push((i, mi, m));
        }
        earlier.extend(own);
        if live == 0 && !covered.is_empty() {
            let (_, r, k) = covered[0];
            let by = route_name(section, r, &routes[r]);
            let what = if covered.len() == 1 {
                format!("its match is accepted first by {by} match[{k}]")
            } else {
                format!(
                    "each of its {} matches is accepted first by an earlier route",
                    covered.len()
                )
            };
            let mut f = finding(&META, object, &base, format!("{name} never runs: {what}"))
                .with_help("order routes from the most specific match to the least specific");
            for (mi, r, k) in covered.iter().take(3) {
                f = f.with_related(
                    object,
                    format!("/spec/{section}/{r}/match/{k}"),
                    format!("accepts every request of match[{mi}] first"),
                );
            }
            out.push(f);
        } else {
            for (mi, r, k) in covered {
                let by = route_name(section, r, &routes[r]);
                let mut f = finding(
                    &META,
                    object,
                    format!("{base}/match/{mi}"),
                    format!(
                        "match[{mi}] of {name} is never used: {by} match[{k}] accepts every request it accepts first"
                    ),
                )
                .with_help("remove the match, or move it to a route before the one that covers it")
                .with_related(object, format!("/spec/{section}/{r}/match/{k}"), "the covering match");
                f.severity = Severity::Info;
                out.push(f);
            }
        }
    }
    if after_catch_all > MAX_AFTER_CATCH_ALL {
        if let Some(c) = catch_all {
            let mut f = finding(
                &META,
                object,
                format!("/spec/{section}/{c}"),
                format!(
                    "{} more routes after {} never run either (the first {MAX_AFTER_CATCH_ALL} are reported one by one)",
                    after_catch_all - MAX_AFTER_CATCH_ALL,
                    route_name(section, c, &routes[c])
                ),
            );
            f.severity = Severity::Warning;
            out.push(f);
        }
    }
    if let Some(at) = capped_at {
        let mut f = finding(
            &META,
            object,
            format!("/spec/{section}/{at}"),
            format!(
                "{section} has too many matches to compare every pair: routes from {section}[{at}] on were only checked against routes without match (limit {MAX_COMPARISONS} comparisons)"
            ),
        );
        f.severity = Severity::Info;
        out.push(f);
    }
}

/// Whether every request `b` accepts is accepted by `a` (a, earlier, covers b).
fn covers(section: &str, a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let _ = section;
    for (k, av) in a {
        let bv = b.get(k);
        let ok = match k.as_str() {
            // Names are labels, not conditions.
            "name" | "statPrefix" => true,
            "uri" | "scheme" | "method" | "authority" => {
                // `ignoreUriCase` widens `uri`: compared below as a plain field.
                bv.is_some_and(|bv| implies(bv, av))
            }
            "headers" | "queryParams" => match (av.as_object(), bv.and_then(Value::as_object)) {
                (Some(am), Some(bm)) => am
                    .iter()
                    .all(|(h, hv)| bm.get(h).is_some_and(|bv| implies(bv, hv))),
                (Some(am), None) => am.is_empty(),
                _ => false,
            },
            "sniHosts" | "destinationSubnets" => {
                match (av.as_array(), bv.and_then(Value::as_array)) {
                    // `a` accepts any of its list: it covers `b` when `b`'s list is within it.
                    (Some(al), Some(bl)) => !bl.is_empty() && bl.iter().all(|x| al.contains(x)),
                    _ => false,
                }
            }
            "ignoreUriCase" => {
                av.as_bool() != Some(true) || bv.and_then(Value::as_bool) == Some(true)
            }
            // Other conditions (port, sourceLabels, gateways, sourceNamespace, withoutHeaders):
            // the same value.
            _ => bv == Some(av),
        };
        if !ok {
            return false;
        }
    }
    // `b` case-insensitive on uri while `a` is not: `b` accepts more.
    if b.get("ignoreUriCase").and_then(Value::as_bool) == Some(true)
        && a.get("ignoreUriCase").and_then(Value::as_bool) != Some(true)
        && a.contains_key("uri")
    {
        return false;
    }
    true
}

/// Whether StringMatch `b` accepts only values StringMatch `a` accepts.
fn implies(b: &Value, a: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return false;
    };
    if a.len() != 1 || b.len() != 1 {
        return a == b && !a.is_empty();
    }
    let (Some((ak, av)), Some((bk, bv))) = (a.iter().next(), b.iter().next()) else {
        return false;
    };
    let (Some(av), Some(bv)) = (av.as_str(), bv.as_str()) else {
        return false;
    };
    match (ak.as_str(), bk.as_str()) {
        ("exact", "exact") => av == bv,
        ("prefix", "exact" | "prefix") => bv.starts_with(av),
        ("regex", "regex") => av == bv || av == ".*",
        ("regex", "exact") => full_match(av, bv),
        ("regex", "prefix") => av == ".*",
        _ => false,
    }
}

/// RE2 full match (Envoy's `safe_regex`), with a bounded compiled size; `false` when the pattern
/// does not compile within the bound (then nothing is claimed).
fn full_match(pattern: &str, value: &str) -> bool {
    if pattern.len() > MAX_REGEX_LEN {
        return false;
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .is_ok_and(|re| re.is_match(value))
}
