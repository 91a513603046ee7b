//! Every rule, one file each. Adding a rule: its file, one line in `REGISTRY`, and
//! `rules/<id>.md` (its documentation and its tests).

use crate::engine::Rule;

pub mod istio_weights_not_100;
pub mod schema;

/// All registered rules, in the order `rollgate rules` lists them.
pub static REGISTRY: &[&dyn Rule] = &[&istio_weights_not_100::IstioWeightsNot100, &schema::Schema];
