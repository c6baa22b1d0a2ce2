//! CPU profiling through the `pprof` crate (tikv/pprof-rs): a `SIGPROF` timer samples
//! the stacks of every thread, and the report is encoded as a pprof `Profile`
//! protobuf, which `go tool pprof` and other pprof tools read.
//!
//! The profiler is process-wide: one profile at a time, as in Go. Profiling runs on a
//! blocking thread, since the crate's guard is meant to live on one thread.

use std::time::Duration;

use pprof::protos::Message;

/// Samples per second, Go's default.
pub const FREQUENCY: i32 = 100;

/// Libraries whose frames are not sampled: unwinding inside them from a signal handler
/// can deadlock (the crate's documented advice).
const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

/// Why a profile could not be made.
#[derive(Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// Another profile is running (the HTTP answer is Go's 500 text).
    Busy,
    Failed(String),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Busy => f.write_str("cpu profiling already in use"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// A started profile; [`Running::finish`] stops it and encodes it.
pub struct Running {
    guard: pprof::ProfilerGuard<'static>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Running")
    }
}

/// Starts sampling.
pub fn start() -> Result<Running, ProfileError> {
    pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&BLOCKLIST)
        .build()
        .map(|guard| Running { guard })
        .map_err(|err| match err {
            pprof::Error::Running => ProfileError::Busy,
            other => ProfileError::Failed(format!("cannot start the CPU profiler: {other}")),
        })
}

impl Running {
    /// Stops sampling and returns the pprof protobuf (not gzipped).
    pub fn finish(self) -> Result<Vec<u8>, ProfileError> {
        let report = self
            .guard
            .report()
            .build()
            .map_err(|e| ProfileError::Failed(format!("cannot build the profile: {e}")))?;
        let profile = report
            .pprof()
            .map_err(|e| ProfileError::Failed(format!("cannot encode the profile: {e}")))?;
        let mut out = Vec::with_capacity(profile.encoded_len());
        profile
            .encode(&mut out)
            .map_err(|e| ProfileError::Failed(format!("cannot encode the profile: {e}")))?;
        Ok(out)
    }
}

/// Profiles the process for `duration` (blocking the calling thread).
pub fn profile_for(duration: Duration) -> Result<Vec<u8>, ProfileError> {
    let running = start()?;
    std::thread::sleep(duration);
    running.finish()
}
