//! Criterion benchmarks of corecast hot paths live in `benches/`.
