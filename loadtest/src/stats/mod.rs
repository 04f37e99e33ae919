//! Measurement accounting: latency histograms, per-stream loss/order tracking, and the
//! per-second timeline.

pub mod latency;
pub mod order;
pub mod timeline;

pub use latency::{LatencySink, LatencySummary};
pub use order::SeqTracker;
