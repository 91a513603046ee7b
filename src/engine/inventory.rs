//! The "world" a rule may look at: every object of the lint run offline, the cluster cache plus
//! the object under admission in the webhook. Rules only see this trait.

use std::collections::HashMap;

use super::object::Object;

pub trait Inventory: Send + Sync {
    /// Objects of `group`/`kind`, in `namespace` or (with `None`) in every namespace.
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object>;

    /// Objects with this identity (more than one when an input defines it twice).
    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        self.list(group, kind, namespace)
            .into_iter()
            .filter(|o| o.name == name)
            .collect()
    }

    /// Words for messages: where referents were searched ("the input files", "the cluster").
    fn describe(&self) -> &str;

    /// Whether a referent that is absent is certainly missing (a complete world: the cluster,
    /// or an input declared complete with `--strict-references`).
    fn complete(&self) -> bool;
}

/// An inventory over a list of objects, indexed by (group, kind) and by identity.
#[derive(Debug, Default)]
pub struct MemoryInventory {
    objects: Vec<Object>,
    by_kind: HashMap<(String, String), Vec<usize>>,
    by_id: HashMap<(String, String, String, String), Vec<usize>>,
    complete: bool,
    description: String,
}

impl MemoryInventory {
    pub fn new(objects: Vec<Object>, description: impl Into<String>, complete: bool) -> Self {
        let mut inv = MemoryInventory {
            objects: Vec::new(),
            by_kind: HashMap::new(),
            by_id: HashMap::new(),
            complete,
            description: description.into(),
        };
        for o in objects {
            inv.push(o);
        }
        inv
    }

    pub fn push(&mut self, o: Object) {
        let i = self.objects.len();
        self.by_kind
            .entry((o.group.clone(), o.kind.clone()))
            .or_default()
            .push(i);
        self.by_id
            .entry((
                o.group.clone(),
                o.kind.clone(),
                o.ns().to_owned(),
                o.name.clone(),
            ))
            .or_default()
            .push(i);
        self.objects.push(o);
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl Inventory for MemoryInventory {
    fn list(&self, group: &str, kind: &str, namespace: Option<&str>) -> Vec<&Object> {
        let Some(idx) = self.by_kind.get(&(group.to_owned(), kind.to_owned())) else {
            return Vec::new();
        };
        idx.iter()
            .map(|&i| &self.objects[i])
            .filter(|o| namespace.is_none_or(|ns| o.ns() == ns))
            .collect()
    }

    fn get(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Vec<&Object> {
        match namespace {
            Some(ns) => self
                .by_id
                .get(&(
                    group.to_owned(),
                    kind.to_owned(),
                    ns.to_owned(),
                    name.to_owned(),
                ))
                .map(|v| v.iter().map(|&i| &self.objects[i]).collect())
                .unwrap_or_default(),
            None => self
                .list(group, kind, None)
                .into_iter()
                .filter(|o| o.name == name)
                .collect(),
        }
    }

    fn describe(&self) -> &str {
        &self.description
    }

    fn complete(&self) -> bool {
        self.complete
    }
}
