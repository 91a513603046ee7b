//! Gate queries: where they live, how the controllers render them, and the PromQL analysis the
//! query rules share.

pub mod srcmap;
pub mod template;
