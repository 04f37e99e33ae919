//! One `sendmsg` of many queued frames: the write half of the fan-out path packs every frame a
//! connection has waiting into a single syscall.

use std::io;
use std::ops::Deref;
use std::os::unix::io::RawFd;

/// Most slices written by one call.
pub const MAX_SLICES: usize = 64;

/// Writes as much of `slices` (queued frames, or TLS records) as the socket takes now, without
/// blocking.
pub fn send_slices<S: Deref<Target = [u8]>>(fd: RawFd, slices: &[S]) -> io::Result<usize> {
    let n = slices.len().min(MAX_SLICES);
    let mut iov: [libc::iovec; MAX_SLICES] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_SLICES];
    for (v, s) in iov.iter_mut().zip(slices.iter()) {
        v.iov_base = s.as_ptr() as *mut libc::c_void;
        v.iov_len = s.len();
    }
    // SAFETY: an all-zero msghdr is valid; we then point it at `n` initialised iovecs that
    // borrow `slices`, which outlive the call. sendmsg only reads from them.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = n as _;
    // SAFETY: `fd` is an open socket owned by the caller; `msg` is valid for the call.
    let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Shuts down the write side of a socket (after a close frame).
pub fn shutdown_write(fd: RawFd) {
    // SAFETY: shutdown on an fd has no memory-safety preconditions; errors are irrelevant here.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
    }
}
