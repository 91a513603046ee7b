//! Bucket layouts of well-known exporters and client-library defaults, each with its source.

/// Go client_golang `prometheus.DefBuckets` (`prometheus/histogram.go`); also the default of
/// Node prom-client (`lib/histogram.js`), Rust `prometheus` (`src/histogram.rs`
/// `DEFAULT_BUCKETS`) and Java client 1.x (`Histogram.Builder` classic upper bounds).
pub const GO_DEFAULT: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Python prometheus_client `Histogram.DEFAULT_BUCKETS` (`prometheus_client/metrics.py`) and
/// Java simpleclient 0.x (`io.prometheus.client.Histogram.Builder`): Go's plus .075, .75, 7.5.
pub const PYTHON_DEFAULT: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Envoy's default histogram buckets in milliseconds (envoyproxy/envoy
/// `source/common/stats/histogram_impl.cc` `HistogramSettingsImpl::defaultBuckets`), used by
/// Istio's `istio_request_duration_milliseconds` and every `envoy_*_time` histogram.
pub const ENVOY_DEFAULT_MS: &[f64] = &[
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Linkerd proxy `response_latency_ms` (linkerd/linkerd2-proxy `linkerd/metrics/src/latency.rs`
/// `BOUNDS`).
pub const LINKERD_MS: &[f64] = &[
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0,
    1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0,
];

/// vLLM `vllm:e2e_request_latency_seconds` (vllm-project/vllm `vllm/v1/metrics/loggers.py` /
/// `buckets.py`, 2025). Older releases ended at 60.
pub const VLLM_E2E: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// vLLM `vllm:time_to_first_token_seconds` (same source). Older releases ended at 10.
pub const VLLM_TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// vLLM `vllm:time_per_output_token_seconds` / `vllm:inter_token_latency_seconds` (same source).
pub const VLLM_ITL: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];

/// NVIDIA Triton `nv_inference_first_response_histogram_ms` (triton-inference-server/core
/// `src/metrics.cc`, default buckets of the first-response histogram).
pub const TRITON_FIRST_RESPONSE_MS: &[f64] = &[100.0, 500.0, 2000.0, 5000.0];

/// Traefik v2/v3 default `buckets` of the Prometheus metrics
/// (doc.traefik.io/traefik/observability/metrics/prometheus/#buckets: 0.1, 0.3, 1.2, 5.0).
pub const TRAEFIK_DEFAULT: &[f64] = &[0.1, 0.3, 1.2, 5.0];

/// Apache APISIX prometheus plugin `DEFAULT_BUCKETS` in ms (apache/apisix
/// `apisix/plugins/prometheus/exporter.lua`).
pub const APISIX_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0,
    60000.0,
];

/// Hugging Face text-generation-inference: every metric whose name ends in `duration` gets 35
/// buckets `0.0001 · 1.5^k`, k = 1..35, computed by repeated multiplication
/// (huggingface/text-generation-inference `router/src/server.rs`, `duration_buckets`) — hence
/// bounds like 0.00015000000000000001.
pub fn tgi_duration() -> Vec<f64> {
    let mut v = Vec::with_capacity(35);
    let mut x = 0.0001f64;
    for _ in 0..35 {
        x *= 1.5;
        v.push(x);
    }
    v
}

/// A known layout of an exporter's histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub bounds: Vec<f64>,
    /// Where the layout comes from, for messages.
    pub source: &'static str,
    /// The layout changed between releases of the exporter.
    pub version_dependent: bool,
}

fn k(bounds: &[f64], source: &'static str) -> Option<Known> {
    Some(Known {
        bounds: bounds.to_vec(),
        source,
        version_dependent: false,
    })
}

/// The known layout of histogram `metric` (its base name, without `_bucket`).
pub fn lookup(metric: &str) -> Option<Known> {
    match metric {
        "istio_request_duration_milliseconds" => k(
            ENVOY_DEFAULT_MS,
            "Istio's Envoy default buckets (envoy source/common/stats/histogram_impl.cc)",
        ),
        "envoy_cluster_upstream_rq_time" | "envoy_cluster_external_upstream_rq_time" => k(
            ENVOY_DEFAULT_MS,
            "Envoy's default buckets (envoy source/common/stats/histogram_impl.cc)",
        ),
        "response_latency_ms" => k(
            LINKERD_MS,
            "the Linkerd proxy's buckets (linkerd2-proxy linkerd/metrics/src/latency.rs)",
        ),
        "vllm:e2e_request_latency_seconds" => Some(Known {
            bounds: VLLM_E2E.to_vec(),
            source: "vLLM's buckets (vllm/v1/metrics; version dependent: releases before 2025 ended at 60 s)",
            version_dependent: true,
        }),
        "vllm:time_to_first_token_seconds" => Some(Known {
            bounds: VLLM_TTFT.to_vec(),
            source: "vLLM's buckets (vllm/v1/metrics; version dependent: older releases ended at 10 s)",
            version_dependent: true,
        }),
        "vllm:time_per_output_token_seconds" | "vllm:inter_token_latency_seconds" => Some(Known {
            bounds: VLLM_ITL.to_vec(),
            source: "vLLM's buckets (vllm/v1/metrics; version dependent)",
            version_dependent: true,
        }),
        "nv_inference_first_response_histogram_ms" => k(
            TRITON_FIRST_RESPONSE_MS,
            "Triton's default buckets (triton-inference-server/core src/metrics.cc)",
        ),
        "nginx_ingress_controller_request_duration_seconds"
        | "nginx_ingress_controller_response_duration_seconds"
        | "nginx_ingress_controller_connect_duration_seconds"
        | "nginx_ingress_controller_header_duration_seconds" => k(
            GO_DEFAULT,
            "ingress-nginx's buckets (prometheus.DefBuckets, internal/ingress/metric/collectors/socket.go)",
        ),
        "request_preprocess_seconds"
        | "request_predict_seconds"
        | "request_postprocess_seconds"
        | "request_explain_seconds" => k(
            PYTHON_DEFAULT,
            "KServe's buckets (prometheus_client defaults, kserve/kserve python/kserve/kserve/metrics.py)",
        ),
        "traefik_service_request_duration_seconds"
        | "traefik_entrypoint_request_duration_seconds"
        | "traefik_router_request_duration_seconds" => k(
            TRAEFIK_DEFAULT,
            "Traefik's default buckets (doc.traefik.io metrics/prometheus buckets)",
        ),
        "apisix_http_latency" => k(
            APISIX_MS,
            "APISIX's default buckets (apisix/plugins/prometheus/exporter.lua)",
        ),
        m if m.starts_with("tgi_") && m.ends_with("duration") => Some(Known {
            bounds: tgi_duration(),
            source: "text-generation-inference's duration buckets (router/src/server.rs: 0.0001·1.5^k, k=1..35)",
            version_dependent: false,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgi_bounds_are_the_float_products() {
        let v = tgi_duration();
        assert_eq!(v.len(), 35);
        assert_eq!(format!("{:?}", v[0]), "0.00015000000000000001");
    }

    #[test]
    fn tables_are_sorted() {
        for t in [
            GO_DEFAULT,
            PYTHON_DEFAULT,
            ENVOY_DEFAULT_MS,
            LINKERD_MS,
            VLLM_E2E,
            VLLM_TTFT,
            VLLM_ITL,
            TRITON_FIRST_RESPONSE_MS,
            TRAEFIK_DEFAULT,
            APISIX_MS,
        ] {
            assert!(t.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
