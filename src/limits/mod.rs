//! Limits that protect creators, tenants and the shared Zernio key: request rates, the rolling
//! daily post budget, idempotency keys and the duplicate-content guard. Their state lives in the
//! store, so one instance or several replicas hold the same limits.

pub mod budget;
pub mod idempotency;
pub mod rate;
pub mod upstream;
