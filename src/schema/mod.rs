//! Structural schema checks: unknown fields, wrong types, missing required fields, enums and
//! value constraints, against the OpenAPI v3 schema of the object's kind and version.
//!
//! Where a schema comes from, first match wins:
//! 1. a CustomResourceDefinition in the world (the lint input; the webhook's cluster cache);
//! 2. a CustomResourceDefinition given with `--crd` (`Settings::crds`);
//! 3. a built-in schema ([`builtin`]; derived from upstream CRDs, see `builtin/README.md`).
//!
//! Kinds and versions with no schema are not checked: they are not rollgate's business.

pub mod builtin;
pub mod crd;
#[doc(hidden)]
pub mod generate;
pub mod node;
pub mod validate;

use std::sync::Arc;

pub use crd::CrdSet;
pub use node::{Arena, Provenance};
pub use validate::{Kind, Report, Violation};

use crate::engine::{Inventory, Object};

/// A schema arena, built in (static) or from a user CRD (shared).
pub enum SchemaRef {
    Builtin(&'static Arena),
    User(Arc<Arena>),
}

impl std::ops::Deref for SchemaRef {
    type Target = Arena;
    fn deref(&self) -> &Arena {
        match self {
            SchemaRef::Builtin(a) => a,
            SchemaRef::User(a) => a,
        }
    }
}

/// The schema an object is checked against.
pub struct Found {
    pub arena: SchemaRef,
    pub root: u32,
    /// Where it came from.
    pub origin: SchemaOrigin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaOrigin {
    /// A CustomResourceDefinition in the input (or the cluster).
    World,
    /// A CustomResourceDefinition given with `--crd`.
    Flag,
    Builtin,
}

/// The compiled schemas of the world's CustomResourceDefinitions for `group`/`kind`, last one
/// first (what [`find`] looks at first; a run computes them once per kind:
/// `Context::world_schemas`).
pub fn world_schemas(world: &dyn Inventory, group: &str, kind: &str) -> Vec<Arc<Arena>> {
    crd::world_crds_for(world, group, kind)
        .into_iter()
        .filter_map(crd::world_crd)
        .collect()
}

/// The schema for `object`'s group, kind and version, if any: from `world` (the world's CRD
/// schemas for its kind, [`world_schemas`]), then `--crd`, then the built-ins.
pub fn find(object: &Object, world: &[Arc<Arena>], crds: &CrdSet) -> Option<Found> {
    let (g, k, v) = (&object.group, &object.kind, &object.version);
    for a in world {
        if let Some(root) = a.root(v) {
            return Some(Found {
                arena: SchemaRef::User(a.clone()),
                root,
                origin: SchemaOrigin::World,
            });
        }
    }
    if let Some(a) = crds.lookup(g, k) {
        if let Some(root) = a.root(v) {
            return Some(Found {
                arena: SchemaRef::User(a),
                root,
                origin: SchemaOrigin::Flag,
            });
        }
    }
    let a = builtin::lookup(g, k)?;
    Some(Found {
        root: a.root(v)?,
        arena: SchemaRef::Builtin(a),
        origin: SchemaOrigin::Builtin,
    })
}

/// Validate `object` against its schema (`world`: [`world_schemas`] of its kind); `None` when
/// rollgate has no schema for it.
pub fn check(
    object: &Object,
    world: &[Arc<Arena>],
    crds: &CrdSet,
    max: usize,
) -> Option<(Found, Report)> {
    let found = find(object, world, crds)?;
    let report = validate::validate(&found.arena, found.root, &object.value, max);
    Some((found, report))
}
