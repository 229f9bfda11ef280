//! Phase durations for the hidden `--timings` flag, printed to stderr one `timings:` line each,
//! so benchmarks can break a run's wall time down without a profiler.

use std::io::Write;
use std::time::{Duration, Instant};

/// The phases of one command, each as long as it took. Disabled, it records but prints nothing.
pub struct Timings {
    pub enabled: bool,
    clock: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl Timings {
    pub fn new(enabled: bool) -> Timings {
        Timings {
            enabled,
            clock: Instant::now(),
            phases: Vec::new(),
        }
    }

    /// Records a phase measured elsewhere.
    pub fn add(&mut self, phase: &'static str, duration: Duration) {
        self.phases.push((phase, duration));
    }

    /// Ends the current phase: records it under `phase`, or only restarts the clock on `None`.
    pub fn lap(&mut self, phase: Option<&'static str>) {
        let now = Instant::now();
        if let Some(phase) = phase {
            self.phases.push((phase, now - self.clock));
        }
        self.clock = now;
    }

    pub fn report(&self, err: &mut dyn Write) {
        if !self.enabled {
            return;
        }
        for (phase, duration) in &self.phases {
            let _ = writeln!(err, "timings: {phase}: {:.3} ms", duration.as_secs_f64() * 1e3);
        }
    }
}
