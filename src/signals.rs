//! Termination signals. SIGTERM and SIGINT are blocked before any shard starts (threads
//! inherit the mask), so they reach no executor; the main thread waits for them with
//! `sigwait` and then drains the server.

/// The signals that stop the server.
pub struct TerminationSignals {
    set: libc::sigset_t,
}

impl TerminationSignals {
    /// Blocks SIGTERM and SIGINT in this thread and every thread it starts from now on.
    pub fn block() -> Self {
        // SAFETY: sigemptyset/sigaddset initialise the set we own; pthread_sigmask only
        // changes this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            TerminationSignals { set }
        }
    }

    /// Waits for one of the signals; returns its name.
    pub fn wait(&self) -> &'static str {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is initialised and the signals are blocked, as sigwait requires.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        match sig {
            libc::SIGINT => "SIGINT",
            _ => "SIGTERM",
        }
    }
}
