//! Process signals. SIGTERM, SIGINT and SIGHUP are blocked before any shard starts (threads
//! inherit the mask), so they reach no executor; the main thread waits for them with
//! `sigwait`: SIGTERM and SIGINT drain the server, SIGHUP reloads the TLS certificate.

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT (named): drain and exit.
    Stop(&'static str),
    /// SIGHUP: read the certificate files again.
    Reload,
}

/// The signals the main thread handles.
pub struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread it starts from now on.
    pub fn block() -> Self {
        // SAFETY: sigemptyset/sigaddset initialise the set we own; pthread_sigmask only
        // changes this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Signals { set }
        }
    }

    /// Waits for one of the signals.
    pub fn wait(&self) -> Signal {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is initialised and the signals are blocked, as sigwait requires.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        match sig {
            libc::SIGHUP => Signal::Reload,
            libc::SIGINT => Signal::Stop("SIGINT"),
            _ => Signal::Stop("SIGTERM"),
        }
    }
}
