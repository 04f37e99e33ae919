//! The end of a connection whatever the peer does. A graceful close sends everything and a
//! FIN; but a peer that stops reading keeps the kernel's send queue full for ever (and with it
//! a socket in `ESTABLISHED` or `FIN_WAIT1` holding up to megabytes of buffers). Once a
//! connection's closing deadline has passed, bytes still queued in the kernel make its close
//! abortive: `SO_LINGER` with a zero timeout, so `close` sends a RST and frees the socket at once.

use std::os::unix::io::RawFd;

/// Bytes the kernel still holds in the socket's send queue (not yet acknowledged by the peer).
pub fn unsent_bytes(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one int through the pointer, which is valid for the
    // call; an error leaves it at 0.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if r < 0 {
        0
    } else {
        usize::try_from(n).unwrap_or(0)
    }
}

/// Makes the socket's coming `close` abortive (RST, buffers freed at once).
pub fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a valid `linger`; errors only
    // mean the close stays graceful.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// For a socket whose closing deadline has passed and which its owner is about to drop: makes
/// that close abortive when bytes are still stuck in its send queue (the owner's own unsent
/// output counts as stuck too); otherwise it stays graceful.
pub fn abort_if_stuck(fd: RawFd, unsent_output: bool) {
    if unsent_output || unsent_bytes(fd) > 0 {
        reset_on_close(fd);
    }
}
