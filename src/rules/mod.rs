//! Every rule, one file each. Adding a rule: its file, one line in `REGISTRY`, and
//! `rules/<id>.md` (its documentation and its tests).

use crate::engine::Rule;

pub mod argo_analysis_always_passes;
pub mod argo_analysis_runs_forever;
pub mod argo_condition_type_error;
pub mod argo_invalid_spec;
pub mod argo_nan_passes;
pub mod argo_pause_zero;
pub mod argo_result_index_unguarded;
pub mod argo_service_selector_mismatch;
pub mod argo_setweight_unachievable;
pub mod argo_template_not_found;
pub mod argo_vacuous_all;
pub mod argo_virtualservice_mismatch;
pub mod argo_web_jsonpath_invalid;
pub mod canary_query_includes_primary;
pub mod canary_query_not_isolated;
pub mod common;
pub mod counter_compared_raw;
pub mod duplicate_object;
pub mod flagger_analysis_cannot_protect;
pub mod flagger_builtin_name_collision;
pub mod flagger_metric_interval_shorter_than_analysis;
pub mod flagger_metric_never_runs;
pub mod flagger_metric_without_threshold;
pub mod flagger_router_refs;
pub mod flagger_threshold_is_maximum;
pub mod flagger_weights_stall;
pub mod gate_cannot_measure;
pub mod istio_ingress_bypasses_split;
pub mod istio_retries_exceed_timeout;
pub mod istio_route_unreachable;
pub mod istio_subset_no_pods;
pub mod istio_subset_not_found;
pub mod istio_vs_conflicting_hosts;
pub mod istio_vs_owned_by_flagger;
pub mod istio_weights_not_100;
pub mod metrictemplate_missing_address;
pub mod monitor_not_selected_by_prometheus;
pub mod object_owned_by_flagger;
pub mod podmonitor_selects_service_labels;
pub mod promql_parse_error;
pub mod quantile_without_le_aggregation;
pub mod query_returns_many_series;
pub mod rate_window_too_short;
pub mod schema;
pub mod servicemonitor_no_matching_service;
pub mod servicemonitor_port_not_found;
pub mod servicemonitor_selects_workload_labels;
pub mod target_not_found;
pub mod template_not_found;
pub mod template_render_error;
pub mod threshold_not_on_bucket_boundary;
pub mod threshold_unreachable;
pub mod unit_mismatch;
pub mod vector_match_never_matches;

/// All registered rules, in the order `rollgate rules` lists them.
pub static REGISTRY: &[&dyn Rule] = &[
    &istio_weights_not_100::IstioWeightsNot100,
    &schema::Schema,
    &servicemonitor_selects_workload_labels::ServicemonitorSelectsWorkloadLabels,
    &servicemonitor_no_matching_service::ServicemonitorNoMatchingService,
    &servicemonitor_port_not_found::ServicemonitorPortNotFound,
    &podmonitor_selects_service_labels::PodmonitorSelectsServiceLabels,
    &monitor_not_selected_by_prometheus::MonitorNotSelectedByPrometheus,
    &target_not_found::TargetNotFound,
    &template_not_found::TemplateNotFound,
    &argo_template_not_found::ArgoTemplateNotFound,
    &istio_subset_not_found::IstioSubsetNotFound,
    &istio_subset_no_pods::IstioSubsetNoPods,
    &istio_vs_owned_by_flagger::IstioVsOwnedByFlagger,
    &istio_vs_conflicting_hosts::IstioVsConflictingHosts,
    &istio_ingress_bypasses_split::IstioIngressBypassesSplit,
    &duplicate_object::DuplicateObject,
    &template_render_error::TemplateRenderError,
    &promql_parse_error::PromqlParseError,
    &quantile_without_le_aggregation::QuantileWithoutLeAggregation,
    &query_returns_many_series::QueryReturnsManySeries,
    &vector_match_never_matches::VectorMatchNeverMatches,
    &rate_window_too_short::RateWindowTooShort,
    &threshold_not_on_bucket_boundary::ThresholdNotOnBucketBoundary,
    &threshold_unreachable::ThresholdUnreachable,
    &unit_mismatch::UnitMismatch,
    &argo_analysis_always_passes::ArgoAnalysisAlwaysPasses,
    &argo_analysis_runs_forever::ArgoAnalysisRunsForever,
    &argo_condition_type_error::ArgoConditionTypeError,
    &argo_invalid_spec::ArgoInvalidSpec,
    &argo_nan_passes::ArgoNanPasses,
    &argo_pause_zero::ArgoPauseZero,
    &argo_result_index_unguarded::ArgoResultIndexUnguarded,
    &argo_service_selector_mismatch::ArgoServiceSelectorMismatch,
    &argo_setweight_unachievable::ArgoSetweightUnachievable,
    &argo_vacuous_all::ArgoVacuousAll,
    &argo_virtualservice_mismatch::ArgoVirtualserviceMismatch,
    &argo_web_jsonpath_invalid::ArgoWebJsonpathInvalid,
    &flagger_builtin_name_collision::FlaggerBuiltinNameCollision,
    &flagger_metric_interval_shorter_than_analysis::FlaggerMetricIntervalShorterThanAnalysis,
    &flagger_metric_without_threshold::FlaggerMetricWithoutThreshold,
    &flagger_weights_stall::FlaggerWeightsStall,
    &istio_retries_exceed_timeout::IstioRetriesExceedTimeout,
    &istio_route_unreachable::IstioRouteUnreachable,
    &metrictemplate_missing_address::MetrictemplateMissingAddress,
    &canary_query_includes_primary::CanaryQueryIncludesPrimary,
    &canary_query_not_isolated::CanaryQueryNotIsolated,
    &gate_cannot_measure::GateCannotMeasure,
    &flagger_metric_never_runs::FlaggerMetricNeverRuns,
    &flagger_threshold_is_maximum::FlaggerThresholdIsMaximum,
    &counter_compared_raw::CounterComparedRaw,
    &flagger_analysis_cannot_protect::FlaggerAnalysisCannotProtect,
    &flagger_router_refs::FlaggerRouterRefs,
    &object_owned_by_flagger::ObjectOwnedByFlagger,
];
