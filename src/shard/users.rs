//! Signed-in users: `pusher:signin`, the local index of user → connections, and
//! terminating a user's connections on every shard.

use std::rc::Rc;
use std::sync::Arc;

use super::{ConnKey, Shard};
use crate::auth;
use crate::bus::BusMessage;
use crate::protocol::codes::CloseCode;
use crate::protocol::outbound;
use crate::protocol::user::parse_user_data;

impl Shard {
    /// Handles `pusher:signin`: verify, remember the user, confirm. Failure closes with 4009.
    pub fn signin(self: &Rc<Self>, key: ConnKey, auth_value: &str, user_data: &str) {
        let (app, socket_id, current) = {
            let conns = self.conns.borrow();
            let Some(conn) = conns.get(key) else { return };
            (
                conn.app,
                conn.socket_id,
                conn.user.as_ref().map(|u| u.id.clone()),
            )
        };
        let a = self.app(app);
        let sid = socket_id.to_string();
        if let Err(e) = auth::verify_user_auth(&a.key, &a.secret, &sid, user_data, auth_value) {
            return self.close(
                key,
                CloseCode::Unauthorized,
                &format!("Sign-in failed: {e}"),
            );
        }
        let user = match parse_user_data(user_data) {
            Ok(u) => u,
            Err(e) => {
                return self.close(
                    key,
                    CloseCode::Unauthorized,
                    &format!("Sign-in failed: {e}"),
                )
            }
        };
        if let Some(id) = &current {
            if *id != user.id {
                return self.close(
                    key,
                    CloseCode::Unauthorized,
                    "Sign-in failed: the connection is already signed in as another user",
                );
            }
        }
        if current.is_some() {
            // Signed in again as the same user: confirm, keep the first sign-in's state.
            return self.send_text(key, &outbound::signin_success(user_data));
        }
        let user_id = user.id.clone();
        self.users
            .borrow_mut()
            .entry((app, user.id.clone()))
            .or_default()
            .push(key);
        if let Some(conn) = self.conns.borrow_mut().get_mut(key) {
            conn.user = Some(Box::new(user));
            conn.authorized = true;
        }
        self.watch_signin(key, app, &user_id, user_data);
    }

    /// Removes a connection from the user index.
    pub fn forget_user(&self, app: u32, user_id: &str, key: ConnKey) {
        let mut users = self.users.borrow_mut();
        let k = (app, user_id.to_string());
        if let Some(keys) = users.get_mut(&k) {
            keys.retain(|c| *c != key);
            if keys.is_empty() {
                users.remove(&k);
            }
        }
    }

    /// Closes this shard's connections signed in as `user_id`.
    pub fn terminate_local(&self, app: u32, user_id: &str) {
        let keys = self
            .users
            .borrow()
            .get(&(app, user_id.to_string()))
            .cloned()
            .unwrap_or_default();
        for key in keys {
            self.close(
                key,
                CloseCode::Unauthorized,
                "You got disconnected by the app.",
            );
        }
    }

    /// Closes every connection signed in as `user_id`, on every shard.
    pub fn terminate_user(&self, app: u32, user_id: &str) {
        self.terminate_local(app, user_id);
        let user_id: Arc<str> = Arc::from(user_id);
        for to in (0..self.bus.shards()).filter(|&s| s != self.id()) {
            self.bus.send(
                to,
                BusMessage::TerminateUser {
                    app,
                    user_id: Arc::clone(&user_id),
                },
            );
        }
    }
}
