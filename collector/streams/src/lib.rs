//! Per-stream state for metrics, in one place.
//!
//! `aggregation`, `interval`, `deltatocumulative`, `cumulativetodelta` and the
//! remote-write exporter all keep something per series: a running total, the previous
//! cumulative point, the last value of an interval. They share one implementation so a
//! reset, a stale stream, a full table or a merged histogram means the same thing in
//! each:
//! - [`table`]: the bounded, forgetting table of streams;
//! - [`key`]: stream identity as a 64-bit hash;
//! - [`histogram`]: explicit-bucket and exponential histograms as values (add, subtract,
//!   quantiles);
//! - [`cumulative`]: delta to cumulative (running totals, late and replayed points);
//! - [`delta`]: cumulative to delta (resets, first points, `initial_value`).
//!
//! The crate sits beside `weir-api` rather than inside it: only metric components need
//! it, and keeping it out of the contract crate keeps `weir-api` small and rebuilt less.

pub mod cumulative;
pub mod delta;
pub mod histogram;
pub mod key;
pub mod table;

pub use cumulative::DeltaToCumulative;
pub use delta::{CumulativeToDelta, Initial, NotEmitted};
pub use histogram::{Buckets, ExplicitHistogram, ExponentialHistogram};
pub use table::{Full, StreamTable};
