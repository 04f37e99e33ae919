//! Measurement accounting: latency histograms and per-stream loss/order tracking.

pub mod latency;
pub mod order;

pub use latency::{LatencySink, LatencySummary};
pub use order::SeqTracker;
