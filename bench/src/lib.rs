//! Benchmarks of the delivery network. Today: the trace-driven simulator of the edge's eviction
//! policies (`policy-sim`), which replays synthetic catalog traffic through the same
//! [`edge_fn::EvictionPolicy`] code the edge runs, and compares byte hit ratios with offline
//! references. Results and the command that reproduces them: `docs/benchmarks.md`.
//!
//! - [`rng`]: a seeded generator, so traces are identical everywhere.
//! - [`trace`]: synthetic traces (log-uniform sizes, Zipf popularity, daily releases).
//! - [`mod@replay`]: a trace through a policy, Belady's furthest-next-use, the fractional bound.
//! - [`report`]: every contender on the same trace and cache sizes, as a Markdown table.
//! - [`measure`]: downloads through real processes, timed (for `edge-hit`, `edge-peers`).

pub mod measure;
pub mod replay;
pub mod report;
pub mod rng;
pub mod trace;

pub use replay::{Outcome, belady, replay, upper_bound};
pub use report::{Contender, Row, compare, markdown};
pub use trace::{Trace, TraceConfig};
