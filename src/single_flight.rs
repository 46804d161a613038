//! One at a time per key: the first caller does the work (an upstream call), the others wait
//! for it and then find what it left (a cached record, a cached creator). A key's gate lives
//! only while someone holds or waits for it.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{Mutex, OwnedMutexGuard};

pub struct Gates<K: Eq + Hash + Clone> {
    gates: DashMap<K, Arc<Mutex<()>>>,
}

impl<K: Eq + Hash + Clone> Default for Gates<K> {
    fn default() -> Self {
        Gates {
            gates: DashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Gates<K> {
    /// Waits for `key`'s turn; the turn ends when the answer is dropped.
    pub async fn turn(&self, key: K) -> Turn<'_, K> {
        let gate = self.gates.entry(key.clone()).or_default().clone();
        Turn {
            guard: Some(gate.lock_owned().await),
            gates: self,
            key,
        }
    }
}

/// A key's turn. Dropping it lets the next waiter in, and drops the gate once nobody waits.
pub struct Turn<'a, K: Eq + Hash + Clone> {
    guard: Option<OwnedMutexGuard<()>>,
    gates: &'a Gates<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        // The guard holds the gate too: released first, the map's is the last one left when no
        // one else waits.
        self.guard.take();
        self.gates
            .gates
            .remove_if(&self.key, |_, gate| Arc::strong_count(gate) == 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_at_a_time_and_the_gate_goes_with_the_last() {
        let gates = Arc::new(Gates::<String>::default());
        let first = gates.turn("a".to_owned()).await;
        let waiting = {
            let gates = gates.clone();
            tokio::spawn(async move {
                let _turn = gates.turn("a".to_owned()).await;
            })
        };
        // Another key is not held up.
        drop(gates.turn("b".to_owned()).await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap();
        assert!(gates.gates.is_empty());
    }
}
