//! CPU time used by this process (getrusage) and saturation detection.

use std::time::{Duration, Instant};

/// Share of the worker threads' capacity above which the client counts as saturated.
pub const SATURATION_PERCENT: f64 = 90.0;

/// A point-in-time sample of process CPU time and wall time.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    cpu: Duration,
    wall: Instant,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// User + system CPU time of the whole process.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Duration::ZERO;
    }
    timeval(ru.ru_utime) + timeval(ru.ru_stime)
}

impl CpuSample {
    pub fn now() -> Self {
        Self {
            cpu: process_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// Usage between `self` and now, relative to `threads` threads.
    pub fn usage_since(&self, threads: usize) -> CpuUsage {
        CpuUsage::compute(
            process_cpu_time().saturating_sub(self.cpu),
            self.wall.elapsed(),
            threads,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    /// Average number of cores busy.
    pub cores: f64,
    /// Percentage of the threads' capacity (100 = every worker thread busy all the time).
    pub percent: f64,
    pub saturated: bool,
}

impl CpuUsage {
    pub fn compute(cpu: Duration, wall: Duration, threads: usize) -> Self {
        let wall_s = wall.as_secs_f64();
        let cores = if wall_s > 0.0 {
            cpu.as_secs_f64() / wall_s
        } else {
            0.0
        };
        let percent = 100.0 * cores / threads.max(1) as f64;
        Self {
            cores,
            percent,
            saturated: percent >= SATURATION_PERCENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_math() {
        let u = CpuUsage::compute(Duration::from_secs(3), Duration::from_secs(2), 2);
        assert!((u.cores - 1.5).abs() < 1e-9);
        assert!((u.percent - 75.0).abs() < 1e-9);
        assert!(!u.saturated);
        let u = CpuUsage::compute(Duration::from_millis(1900), Duration::from_secs(1), 2);
        assert!(u.saturated);
        let u = CpuUsage::compute(Duration::from_secs(1), Duration::ZERO, 4);
        assert_eq!(u.cores, 0.0);
    }

    #[test]
    fn measures_busy_work() {
        let start = CpuSample::now();
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let u = start.usage_since(1);
        assert!(u.cores > 0.2, "{u:?}");
    }
}
