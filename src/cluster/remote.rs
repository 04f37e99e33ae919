//! A shard's questions to the other nodes: [`ShardLink::ask`] queues a `q` record behind the
//! records this shard already handed over (so a count asked after a publish travels behind
//! it) and returns a future that the link's [`Gathered`] completes. The shard never waits on
//! Redis: while the link is not connected the answer is [`Missing::Unavailable`] at once, and a
//! link that does not answer within the backstop yields the same.

use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel;

use super::ask::{Gathered, Missing, Question};
use super::envelope::{AskRecord, Record};
use super::shard_link::ShardLink;

impl ShardLink {
    /// Asks every other live node for its share of `question` about app index `app`. The
    /// future resolves with the summed shares once all answered, or with what arrived when the
    /// link gives up (`CORECAST_CLUSTER_QUERY_TIMEOUT_MS`); `backstop` bounds the wait should
    /// the link never answer.
    pub fn ask(
        self: &Rc<Self>,
        app: u32,
        question: Question,
        backstop: Duration,
    ) -> impl Future<Output = Gathered> + 'static {
        let token = self.next_token.get();
        self.next_token.set(token.wrapping_add(1));
        let unavailable = move || Gathered {
            token,
            counts: HashMap::new(),
            missing: Missing::Unavailable,
        };
        let rx = if self.stats.is_connected() {
            let (tx, rx) = local_channel::new_bounded(1);
            self.waiting.borrow_mut().insert(token, tx);
            self.send(Record::Ask(AskRecord {
                shard: self.shard,
                token,
                app,
                question,
            }));
            Some(rx)
        } else {
            None
        };
        let link = Rc::clone(self);
        async move {
            let Some(rx) = rx else {
                return unavailable();
            };
            let got = glommio::timer::timeout(backstop, async { Ok(rx.recv().await) }).await;
            link.waiting.borrow_mut().remove(&token);
            match got {
                Ok(Some(g)) => g,
                _ => unavailable(),
            }
        }
    }

    /// Completes the waiting question the link answered (a late one is dropped). The entry
    /// goes here too, so a request abandoned meanwhile leaves nothing behind.
    pub fn complete(&self, gathered: Gathered) {
        let waiting = self.waiting.borrow_mut().remove(&gathered.token);
        if let Some(tx) = waiting {
            let _ = tx.try_send(gathered);
        }
    }
}
