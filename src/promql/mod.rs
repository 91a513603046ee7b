//! Gate queries: where they live, how the controllers render them, and the PromQL analysis the
//! query rules share.

pub mod analysis;
pub mod builtin;
pub mod condition;
pub mod gates;
pub mod lex;
pub mod query;
pub mod srcmap;
pub mod template;
