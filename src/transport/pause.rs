//! A pause that lasts until the shard's reactor has run. glommio looks at IO (sockets that
//! became readable, writable) only when no task is runnable or its preemption timer fires
//! (100 ms); a task that merely wakes itself runs again before that, so a busy connection
//! yielding that way would still hold every other connection's IO. A [`ReactorPause`] ends only
//! when the reactor has fired its timer, which it does in the same pass in which it reaps IO.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use glommio::timer::Timer;

/// How long past its start a pause's timer is due: only long enough that it is not due yet
/// when first polled, so that it is registered with the reactor.
const DUE: Duration = Duration::from_micros(10);

/// Set by the reactor when it fires the pause's timer; wakes the paused task.
struct Fired {
    flag: AtomicBool,
    task: Waker,
}

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.store(true, Ordering::Relaxed);
        self.task.wake_by_ref();
    }
}

/// A pending pause of one task (built only when a connection used up its turn's input budget,
/// never on the path of an ordinary message).
pub struct ReactorPause {
    /// Kept registered until fired (dropping it deregisters it).
    _timer: Timer,
    fired: Arc<Fired>,
}

impl ReactorPause {
    /// Starts a pause for the task of `cx`. `None`: the timer was due at once (a very slow
    /// turn), so the task was woken the ordinary way instead.
    pub fn start(cx: &mut Context<'_>) -> Option<ReactorPause> {
        let fired = Arc::new(Fired {
            flag: AtomicBool::new(false),
            task: cx.waker().clone(),
        });
        let waker = Waker::from(Arc::clone(&fired));
        let mut timer = Timer::new(DUE);
        match Pin::new(&mut timer).poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => Some(ReactorPause {
                _timer: timer,
                fired,
            }),
            Poll::Ready(_) => {
                cx.waker().wake_by_ref();
                None
            }
        }
    }

    /// Whether the reactor has run since the pause started.
    pub fn is_over(&self) -> bool {
        self.fired.flag.load(Ordering::Relaxed)
    }
}
