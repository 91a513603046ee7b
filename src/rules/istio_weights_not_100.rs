//! istio-weights-not-100: route weights that are not percentages.
//!
//! Since Istio 1.15 (istio/istio#39544) weights are relative (`weight / sum`); istiod rejects only
//! negative weights and a multi-destination route whose total is 0
//! (`pkg/config/validation/validation.go` `validateWeight`, `validateHTTPRouteDestinations`).
//! Weights are `int32` in the API.

use serde_json::Value;

use crate::engine::inventory::ValueAt as _;
use crate::engine::rule::finding;
use crate::engine::{Context, Edit, Finding, Fix, Object, Rule, RuleMeta, Severity};

pub struct IstioWeightsNot100;

static META: RuleMeta = RuleMeta {
    id: "istio-weights-not-100",
    severity: Severity::Error,
    kinds: &[("networking.istio.io", "VirtualService")],
    doc: include_str!("../../rules/istio-weights-not-100.md"),
    options: &[],
    builtin: false,
};

/// One destination's weight as written.
enum Weight {
    Missing,
    Valid(i64),
}

/// Largest-remainder rounding of the shares `w / sum` to whole percentages adding up to 100
/// (Hamilton's method: floors first, the missing points to the largest remainders, ties to the
/// earlier destination). `sum` must be positive and no weight negative.
pub fn largest_remainder(weights: &[i64], sum: i64) -> Vec<i64> {
    let (sum, total) = (sum as i128, 100i128);
    let mut out: Vec<i64> = weights
        .iter()
        .map(|&w| (w as i128 * total / sum) as i64)
        .collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weights[i] as i128 * total % sum));
    let given: i64 = out.iter().sum();
    for &i in order.iter().take((100 - given).max(0) as usize) {
        out[i] += 1;
    }
    out
}

/// The fix of a route whose weights are not percentages: the shares Istio applies written out
/// as percentages (safe when exact, unsafe when they had to be rounded) and `weight: 0` for
/// destinations that have none (safe: they get no traffic either way).
fn weights_fix(base: &str, dests: &[Value], weights: &[Weight], sum: i64) -> Fix {
    let raw: Vec<i64> = weights
        .iter()
        .map(|w| match w {
            Weight::Valid(v) => *v,
            Weight::Missing => 0,
        })
        .collect();
    let new = largest_remainder(&raw, sum);
    let exact = raw.iter().all(|&w| (w as i128 * 100) % sum as i128 == 0);
    let mut edits = Vec::new();
    for (i, w) in weights.iter().enumerate() {
        match w {
            Weight::Valid(v) if *v != new[i] => {
                edits.push(Edit::set(format!("{base}/{i}/weight"), new[i]))
            }
            Weight::Valid(_) => {}
            Weight::Missing if dests[i].get("weight").is_some() => {
                edits.push(Edit::set(format!("{base}/{i}/weight"), 0))
            }
            Weight::Missing => edits.push(Edit::insert(format!("{base}/{i}"), "weight", 0)),
        }
    }
    let shown: Vec<String> = new.iter().take(MAX_LISTED).map(i64::to_string).collect();
    let message = format!("set the weights to {}", listed_of(&shown, new.len()));
    if exact {
        Fix::safe(message, edits)
    } else {
        Fix::unsafe_edits(
            format!("{message} (rounded: the shares change by less than one percentage point)"),
            edits,
        )
    }
}

impl Rule for IstioWeightsNot100 {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, object: &Object, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(spec) = object.spec() else { return };
        for section in ["http", "tcp", "tls"] {
            let Some(routes) = spec.get(section).and_then(Value::as_array) else {
                continue;
            };
            for (ri, route) in routes.iter().enumerate() {
                let Some(dests) = route.get("route").and_then(Value::as_array) else {
                    continue;
                };
                let base = format!("/spec/{section}/{ri}/route");
                check_route(object, &base, dests, out);
            }
        }
    }
}

fn check_route(object: &Object, base: &str, dests: &[Value], out: &mut Vec<Finding>) {
    let mut weights = Vec::with_capacity(dests.len());
    let mut typed_ok = true;
    for (di, d) in dests.iter().enumerate() {
        let ptr = format!("{base}/{di}/weight");
        match d.get("weight") {
            None | Some(Value::Null) => weights.push(Weight::Missing),
            Some(Value::Number(n)) => {
                let as_int = n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                        .map(|f| f as i64)
                });
                match as_int {
                    Some(w) if (i32::MIN as i64..=i32::MAX as i64).contains(&w) => {
                        if w < 0 {
                            out.push(
                                finding(
                                    &META,
                                    object,
                                    &ptr,
                                    format!("weight {w} is negative; istiod rejects the VirtualService (weight must be >= 0)"),
                                ),
                            );
                            typed_ok = false;
                        }
                        weights.push(Weight::Valid(w));
                    }
                    Some(_) | None if n.as_f64().is_some_and(|f| f.fract() != 0.0) => {
                        out.push(
                            finding(
                                &META,
                                object,
                                &ptr,
                                format!("weight {n} is not an integer; the API field is an int32 percentage share"),
                            )
                            .with_help("use a whole number, e.g. 90 and 10"),
                        );
                        typed_ok = false;
                        weights.push(Weight::Missing);
                    }
                    _ => {
                        out.push(finding(
                            &META,
                            object,
                            &ptr,
                            format!(
                                "weight {n} is out of range for an int32; the apiserver rejects it"
                            ),
                        ));
                        typed_ok = false;
                        weights.push(Weight::Missing);
                    }
                }
            }
            Some(other) => {
                let shown = match other {
                    Value::String(s) => format!("\"{s}\" is a string"),
                    Value::Bool(b) => format!("{b} is a boolean"),
                    _ => "is not a number".to_owned(),
                };
                out.push(
                    finding(
                        &META,
                        object,
                        &ptr,
                        format!("weight {shown}; the API field is an int32 and the apiserver rejects other types"),
                    )
                    .with_help("write the weight as an unquoted whole number"),
                );
                typed_ok = false;
                weights.push(Weight::Missing);
            }
        }
    }
    if !typed_ok || dests.len() < 2 {
        return;
    }
    let names: Vec<String> = dests.iter().map(destination_name).collect();
    let sum: i64 = weights
        .iter()
        .map(|w| match w {
            Weight::Valid(v) => *v,
            Weight::Missing => 0,
        })
        .sum();
    let missing: Vec<usize> = weights
        .iter()
        .enumerate()
        .filter(|(_, w)| matches!(w, Weight::Missing))
        .map(|(i, _)| i)
        .collect();
    let related = |mut f: Finding| {
        for (i, w) in weights.iter().enumerate().take(MAX_RELATED) {
            let (ptr, msg) = match w {
                Weight::Valid(v) => (
                    format!("{base}/{i}/weight"),
                    format!("{}: weight {v} ({})", names[i], share(*v, sum)),
                ),
                Weight::Missing => (
                    format!("{base}/{i}"),
                    format!("{}: no weight, receives no traffic", names[i]),
                ),
            };
            f = f.with_related(object, ptr, msg);
        }
        f
    };
    if sum == 0 {
        out.push(related(
            finding(
                &META,
                object,
                base,
                "every destination of this route has weight 0 or none; istiod rejects it (\"total destination weight = 0\")",
            )
            .with_help("give the destinations weights that add up to 100"),
        ));
        return;
    }
    let no_traffic = if missing.is_empty() {
        String::new()
    } else {
        let list: Vec<&str> = missing.iter().map(|&i| names[i].as_str()).collect();
        format!(
            "; {} {} no weight and {} no traffic",
            listed(&list),
            if list.len() == 1 { "has" } else { "have" },
            if list.len() == 1 {
                "receives"
            } else {
                "receive"
            }
        )
    };
    if sum != 100 {
        let shares: Vec<String> = weights
            .iter()
            .enumerate()
            .filter_map(|(i, w)| match w {
                Weight::Valid(v) => Some(format!("{} receives {}", names[i], share(*v, sum))),
                Weight::Missing => None,
            })
            .take(MAX_LISTED + 1)
            .collect();
        let valid = weights
            .iter()
            .filter(|w| matches!(w, Weight::Valid(_)))
            .count();
        out.push(related(
            finding(
                &META,
                object,
                base,
                format!(
                    "weights sum to {sum}, not 100: {} of traffic{no_traffic}",
                    listed_of(&shares, valid)
                ),
            )
            .with_help("Istio treats weights as relative shares (weight / sum); write them so they add up to 100")
            .with_fix(weights_fix(base, dests, &weights, sum)),
        ));
    } else if !missing.is_empty() {
        let mut f = related(finding(
            &META,
            object,
            base,
            format!("weights sum to 100{no_traffic}"),
        ));
        f.severity = Severity::Warning;
        out.push(
            f.with_help("write `weight: 0` if the destination is meant to get no traffic")
                .with_fix(weights_fix(base, dests, &weights, sum)),
        );
    }
}

/// Destinations spelled out in a message, and given as related locations: a route of
/// thousands of destinations made a message of 200 KB and a report of thousands of snippets.
const MAX_LISTED: usize = 10;
const MAX_RELATED: usize = 20;

/// `a, b, c`, or the first [`MAX_LISTED`] and how many more.
fn listed<S: AsRef<str>>(items: &[S]) -> String {
    listed_of(items, items.len())
}

/// The first [`MAX_LISTED`] of `items` (a prefix of `total` items) and how many more.
fn listed_of<S: AsRef<str>>(items: &[S], total: usize) -> String {
    let shown: Vec<&str> = items.iter().take(MAX_LISTED).map(AsRef::as_ref).collect();
    match total.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more destinations", shown.join(", ")),
    }
}

/// Percentage with at most one decimal: 90.5%, 10%.
fn share(w: i64, sum: i64) -> String {
    let pct = w as f64 * 100.0 / sum as f64;
    let s = format!("{pct:.1}");
    format!("{}%", s.strip_suffix(".0").unwrap_or(&s))
}

/// How a destination is named in messages: its subset, else its host (with the port when set).
fn destination_name(d: &Value) -> String {
    let dest = d.get("destination");
    let host = dest
        .and_then(|x| x.get("host"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let subset = dest.and_then(|x| x.get("subset")).and_then(Value::as_str);
    let port = dest
        .and_then(|x| x.at("/port/number"))
        .and_then(Value::as_i64);
    match (subset, port) {
        (Some(s), _) => s.to_owned(),
        (None, Some(p)) => format!("{host}:{p}"),
        (None, None) => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::largest_remainder;

    #[test]
    fn largest_remainder_sums_to_100() {
        assert_eq!(largest_remainder(&[1, 1, 1], 3), vec![34, 33, 33]);
        assert_eq!(largest_remainder(&[95, 10], 105), vec![90, 10]);
        assert_eq!(largest_remainder(&[50, 50, 0], 100), vec![50, 50, 0]);
        assert_eq!(largest_remainder(&[2, 1], 3), vec![67, 33]);
        assert_eq!(
            largest_remainder(&[i32::MAX as i64, 1], i32::MAX as i64 + 1),
            vec![100, 0]
        );
    }
}
