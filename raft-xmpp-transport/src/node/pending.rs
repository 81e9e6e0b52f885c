//! Request/response correlation: answers are matched by (peer domain, stanza id), never by
//! connection, so a response may come back on any stream between the two domains.

use std::collections::HashMap;
use std::sync::Mutex;

use proto::xml::Element;
use tokio::sync::oneshot;

use super::RequestError;

type Key = (String, String);

/// Requests waiting for an answer. Bounded by `max`; each entry also has a deadline enforced by
/// its waiter, which removes it on timeout.
#[derive(Debug)]
pub(crate) struct Pending {
    max: usize,
    waiting: Mutex<HashMap<Key, oneshot::Sender<Result<Element, RequestError>>>>,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Self {
        Pending { max, waiting: Mutex::new(HashMap::new()) }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Key, oneshot::Sender<Result<Element, RequestError>>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a request to `peer` with `id`.
    pub(crate) fn register(
        &self,
        peer: &str,
        id: &str,
    ) -> Result<oneshot::Receiver<Result<Element, RequestError>>, RequestError> {
        let mut map = self.lock();
        if map.len() >= self.max {
            return Err(RequestError::QueueFull);
        }
        let (tx, rx) = oneshot::channel();
        let key = (peer.to_owned(), id.to_owned());
        if map.contains_key(&key) {
            return Err(RequestError::DuplicateId(id.to_owned()));
        }
        map.insert(key, tx);
        Ok(rx)
    }

    /// Forget a request (timed out or failed to send).
    pub(crate) fn remove(&self, peer: &str, id: &str) {
        self.lock().remove(&(peer.to_owned(), id.to_owned()));
    }

    /// Deliver an answer; returns the stanza back if nobody waits for it.
    pub(crate) fn complete(&self, peer: &str, id: &str, answer: Element) -> Option<Element> {
        match self.lock().remove(&(peer.to_owned(), id.to_owned())) {
            Some(tx) => {
                let _ = tx.send(Ok(answer));
                None
            }
            None => Some(answer),
        }
    }

    /// Fail every request to `peer` (its connection failed or closed).
    pub(crate) fn fail_peer(&self, peer: &str, error: &RequestError) {
        let mut map = self.lock();
        let keys: Vec<Key> = map.keys().filter(|(p, _)| p == peer).cloned().collect();
        for k in keys {
            if let Some(tx) = map.remove(&k) {
                let _ = tx.send(Err(error.clone()));
            }
        }
    }

    /// How many requests wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
