//! Flagger's builtin metrics `request-success-rate` and `request-duration`: the query each mesh
//! provider runs, copied verbatim from fluxcd/flagger `pkg/metrics/observers/<provider>.go`
//! (commit 15bd6ad555e6c935da55f0ab95977be74c149bd6), and how Flagger picks the provider
//! (`pkg/controller/scheduler_metrics.go` `runBuiltinMetricChecks`,
//! `pkg/metrics/observers/factory.go` `Observer`).

/// A builtin query of one provider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Builtin {
    /// The observer that runs it (`istio`, `linkerd`, `appmesh`, `kubernetes`, …).
    pub provider: &'static str,
    /// `request-success-rate` or `request-duration`.
    pub metric: &'static str,
    /// The Go template Flagger renders.
    pub template: &'static str,
    /// What the value means: a percentage 0–100, or milliseconds (Flagger converts
    /// `request-duration` to a `time.Duration` in whole milliseconds and compares it with
    /// `thresholdRange` read as milliseconds).
    pub unit: Unit,
    /// How the query's result becomes the compared value: Flagger multiplies the kubernetes /
    /// gateway-api observer's seconds by 1000 in Go (`http.go`); the others return ms already.
    pub go_scale: f64,
    /// The provider was not written on the Canary and Flagger's `-mesh-provider` is unknown
    /// (neither configured nor found in the world): rollgate assumed Flagger's default, istio.
    pub provider_assumed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Milliseconds,
}

/// The builtin metric names.
pub const METRICS: &[&str] = &["request-success-rate", "request-duration"];

/// The builtin `metric` query of the observer Flagger uses for `provider` (the Canary's
/// `spec.provider`, or the mesh provider), after the `:service` suffix Flagger adds for
/// `targetRef.kind: Service` (which makes every exact-match provider fall back to istio).
pub fn builtin(provider: &str, metric: &str) -> Option<Builtin> {
    let observer = observer(provider);
    let (sr, rd) = match observer {
        "appmesh" => (APPMESH_REQUEST_SUCCESS_RATE, APPMESH_REQUEST_DURATION),
        "linkerd" => (LINKERD_REQUEST_SUCCESS_RATE, LINKERD_REQUEST_DURATION),
        "contour" => (CONTOUR_REQUEST_SUCCESS_RATE, CONTOUR_REQUEST_DURATION),
        "gloo" => (GLOO_REQUEST_SUCCESS_RATE, GLOO_REQUEST_DURATION),
        "nginx" => (NGINX_REQUEST_SUCCESS_RATE, NGINX_REQUEST_DURATION),
        "kubernetes" => (HTTP_REQUEST_SUCCESS_RATE, HTTP_REQUEST_DURATION),
        "skipper" => (SKIPPER_REQUEST_SUCCESS_RATE, SKIPPER_REQUEST_DURATION),
        "traefik" => (TRAEFIK_REQUEST_SUCCESS_RATE, TRAEFIK_REQUEST_DURATION),
        "osm" => (OSM_REQUEST_SUCCESS_RATE, OSM_REQUEST_DURATION),
        "kuma" => (KUMA_REQUEST_SUCCESS_RATE, KUMA_REQUEST_DURATION),
        "apisix" => (APISIX_REQUEST_SUCCESS_RATE, APISIX_REQUEST_DURATION),
        "knative" => (KNATIVE_REQUEST_SUCCESS_RATE, KNATIVE_REQUEST_DURATION),
        _ => (ISTIO_REQUEST_SUCCESS_RATE, ISTIO_REQUEST_DURATION),
    };
    let (template, unit) = match metric {
        "request-success-rate" => (sr, Unit::Percent),
        "request-duration" => (rd, Unit::Milliseconds),
        _ => return None,
    };
    let go_scale = if observer == "kubernetes" && metric == "request-duration" {
        1000.0
    } else {
        1.0
    };
    Some(Builtin {
        provider: observer,
        metric: if metric == "request-duration" {
            "request-duration"
        } else {
            "request-success-rate"
        },
        template,
        unit,
        go_scale,
        provider_assumed: false,
    })
}

/// `observers.Factory.Observer`: which observer a provider string selects. Prefix matches for
/// appmesh, gloo and gatewayapi; exact matches for the rest; anything else is istio.
pub fn observer(provider: &str) -> &'static str {
    match provider {
        p if p.starts_with("appmesh") => "appmesh",
        "linkerd" => "linkerd",
        "istio" => "istio",
        "contour" => "contour",
        p if p.starts_with("gloo") => "gloo",
        "nginx" => "nginx",
        "kubernetes" => "kubernetes",
        p if p.starts_with("gatewayapi") => "kubernetes",
        "skipper" => "skipper",
        "traefik" => "traefik",
        "osm" => "osm",
        "kuma" => "kuma",
        "apisix" => "apisix",
        "knative" => "knative",
        _ => "istio",
    }
}

/// The provider string Flagger hands to the observer factory for a Canary
/// (`runBuiltinMetricChecks`): `spec.provider`, else the controller's `-mesh-provider` flag
/// (`mesh_provider`: configured or found in the world; when unknown, Flagger's default `istio`
/// is assumed and the second value is true), plus `:service` when `targetRef.kind` is
/// `Service` and not a Knative Service.
pub fn provider_for(
    spec_provider: Option<&str>,
    mesh_provider: Option<&str>,
    target_kind: &str,
    target_api_version: &str,
) -> (String, bool) {
    let (mut p, assumed) = match (
        spec_provider.filter(|p| !p.is_empty()),
        mesh_provider.filter(|p| !p.is_empty()),
    ) {
        (Some(p), _) | (None, Some(p)) => (p.to_owned(), false),
        (None, None) => ("istio".to_owned(), true),
    };
    let knative = target_kind == "Service" && target_api_version == "serving.knative.dev/v1";
    if target_kind == "Service" && !knative {
        p.push_str(":service");
    }
    (p, assumed)
}

// Verbatim from fluxcd/flagger pkg/metrics/observers/*.go (tabs and trailing spaces kept).

pub const ISTIO_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			istio_requests_total{
				reporter="destination",
				destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ target }}",
				response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			istio_requests_total{
				reporter="destination",
				destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ target }}"
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const ISTIO_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				istio_request_duration_milliseconds_bucket{
					reporter="destination",
					destination_workload_namespace="{{ namespace }}",
					destination_workload=~"{{ target }}"
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const LINKERD_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			response_total{
				namespace="{{ namespace }}",
				deployment=~"{{ target }}",
				classification!="failure",
				direction="inbound"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			response_total{
				namespace="{{ namespace }}",
				deployment=~"{{ target }}",
				direction="inbound"
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const LINKERD_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				response_latency_ms_bucket{
					namespace="{{ namespace }}",
					deployment=~"{{ target }}",
					direction="inbound"
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const APPMESH_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			envoy_cluster_upstream_rq{
				kubernetes_namespace="{{ namespace }}",
				kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
				envoy_response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			envoy_cluster_upstream_rq{
				kubernetes_namespace="{{ namespace }}",
				kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const APPMESH_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				envoy_cluster_upstream_rq_time_bucket{
					kubernetes_namespace="{{ namespace }}",
					kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const HTTP_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			http_request_duration_seconds_count{
				kubernetes_namespace="{{ namespace }}",
				kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
				status!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			http_request_duration_seconds_count{
				kubernetes_namespace="{{ namespace }}",
				kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const HTTP_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				http_request_duration_seconds_bucket{
					kubernetes_namespace="{{ namespace }}",
					kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const CONTOUR_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
				envoy_response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const CONTOUR_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				envoy_cluster_upstream_rq_time_bucket{
					envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const GLOO_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",
				envoy_response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const GLOO_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				envoy_cluster_upstream_rq_time_bucket{
					envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const NGINX_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			nginx_ingress_controller_requests{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!="",
				status!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			nginx_ingress_controller_requests{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const NGINX_REQUEST_DURATION: &str = r#"
	sum(
		rate(
			nginx_ingress_controller_response_duration_seconds_sum{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			nginx_ingress_controller_response_duration_seconds_count{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	* 1000"#;
pub const OSM_REQUEST_SUCCESS_RATE: &str = r#"
    sum(
        rate(
            osm_request_total{
				destination_namespace="{{ namespace }}",
				destination_kind="Deployment",
				destination_name="{{ target }}",
				response_code!~"5.*"
            }[{{ interval }}]
        )
    )
    /
    sum(
        rate(
            osm_request_total{
				destination_namespace="{{ namespace }}",
				destination_kind="Deployment",
				destination_name="{{ target }}"
            }[{{ interval }}]
        )
    )
	* 100"#;
pub const OSM_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
		  rate(
			osm_request_duration_ms_bucket{
				destination_namespace="{{ namespace }}",
				destination_kind="Deployment",
				destination_name="{{ target }}"
			}[{{ interval }}]
		  )
		) by (le)
	)"#;
pub const KUMA_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			envoy_cluster_upstream_rq{
				service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",
				envoy_response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			envoy_cluster_upstream_rq{
				service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const KUMA_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				envoy_cluster_upstream_rq_time_bucket{
					service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const TRAEFIK_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			traefik_service_request_duration_seconds_bucket{
				service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",
				code!~"5..",
				le="+Inf"
			}[{{ interval }}]
		)
	)
	/
	sum(
		rate(
			traefik_service_request_duration_seconds_bucket{
				service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",
				le="+Inf"
			}[{{ interval }}]
		)
	) * 100"#;
pub const TRAEFIK_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				traefik_service_request_duration_seconds_bucket{
					service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"
				}[{{ interval }}]
			)
		) by (le)
	) * 1000"#;
pub const APISIX_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			apisix_http_status{
				route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+",
				code!~"5.."
			}[{{ interval }}]
		)
	)
	/
	sum(
		rate(
			apisix_http_status{
				route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"
			}[{{ interval }}]
		)
	) * 100"#;
pub const APISIX_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99, 
		sum(
			rate(
				apisix_http_latency_bucket{
					type=~"request",
					route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const KNATIVE_REQUEST_SUCCESS_RATE: &str = r#"
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}/{{ route }}",
				envoy_response_code!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			envoy_cluster_upstream_rq{
				envoy_cluster_name=~"{{ namespace }}/{{ route }}",
			}[{{ interval }}]
		)
	) 
	* 100"#;
pub const KNATIVE_REQUEST_DURATION: &str = r#"
	histogram_quantile(
		0.99,
		sum(
			rate(
				envoy_cluster_upstream_rq_time_bucket{
					envoy_cluster_name=~"{{ namespace }}/{{ route }}",
				}[{{ interval }}]
			)
		) by (le)
	)"#;
pub const SKIPPER_REQUEST_SUCCESS_RATE: &str = r#"{{- $route := printf "kube(ew)?_%s__%s_canary__.*__%s_canary(_[0-9]+)?" namespace ingress service }}
	sum(rate(skipper_response_duration_seconds_bucket{route=~"{{ $route }}",code!~"5..",le="+Inf"}[{{ interval }}])) / 
	sum(rate(skipper_response_duration_seconds_bucket{route=~"{{ $route }}",le="+Inf"}[{{ interval }}])) * 100"#;
pub const SKIPPER_REQUEST_DURATION: &str = r#"{{- $route := printf "kube(ew)?_%s__%s_canary__.*__%s_canary(_[0-9]+)?" namespace ingress service }}
	sum(rate(skipper_serve_route_duration_seconds_sum{route=~"{{ $route }}"}[{{ interval }}])) / 
	sum(rate(skipper_serve_route_duration_seconds_count{route=~"{{ $route }}"}[{{ interval }}])) * 1000"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_selection() {
        assert_eq!(observer("appmesh:v1beta2"), "appmesh");
        assert_eq!(observer("gatewayapi:v1"), "kubernetes");
        assert_eq!(observer("smi:v1alpha3"), "istio");
        assert_eq!(observer("linkerd:service"), "istio");
        assert_eq!(observer("gloo:service"), "gloo");
        let (p, assumed) = provider_for(Some("linkerd"), None, "Service", "v1");
        assert_eq!((p.as_str(), assumed), ("linkerd:service", false));
        assert_eq!(builtin(&p, "request-duration").unwrap().provider, "istio");
        let (p, _) = provider_for(Some("knative"), None, "Service", "serving.knative.dev/v1");
        assert_eq!(observer(&p), "knative");
    }

    #[test]
    fn every_builtin_renders_and_parses() {
        use crate::promql::template::{Binding, Env, FlaggerModel, ValueSource, render};
        let k = |v: &str| Binding::known(v, ValueSource::Model("x"));
        for p in [
            "istio",
            "linkerd",
            "appmesh",
            "kubernetes",
            "contour",
            "gloo",
            "nginx",
            "osm",
            "kuma",
            "traefik",
            "apisix",
            "knative",
            "skipper",
        ] {
            for m in METRICS {
                let b = builtin(p, m).unwrap();
                let model = FlaggerModel {
                    name: k("podinfo"),
                    namespace: k("test"),
                    target: k("podinfo"),
                    service: k("podinfo"),
                    ingress: k("podinfo"),
                    route: k("podinfo"),
                    interval: k("1m"),
                    variables: Some(Default::default()),
                    binder: None,
                };
                let r = render(b.template, &Env::Flagger(model));
                assert!(r.ok(), "{p} {m}: {:?} {:?}", r.errors, r.unsupported);
                let (text, _) = crate::promql::srcmap::collapse_whitespace(&r.text);
                crate::promql::query::Query::parse(&text)
                    .unwrap_or_else(|e| panic!("{p} {m}: {e:?}\n{text}"));
            }
        }
    }
}
