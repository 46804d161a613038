//! Conditional and waiting reads of the gateway's records: `ETag` / `If-None-Match` (RFC 9110)
//! so that a poll of an unchanged post or page costs a 304 and no body, `Cache-Control`
//! (`no-cache`, `max-age=N`) to ask Zernio on purpose, and `Prefer: wait=N` (RFC 7240) to hold
//! a read until the post changes.
//!
//! The tags are weak: they name the post's state (status, URL, error, schedule, when it last
//! changed), not the bytes, as `synced_at` moves beneath an unchanged state.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::posts::Freshness;
use crate::store::PostRecord;

/// The longest `Prefer: wait` honoured (RFC 7240 leaves it to the server).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// What a read's headers ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadHeaders {
    pub freshness: Freshness,
    /// The tags of `If-None-Match`, as sent (`*` included).
    pub if_none_match: Vec<String>,
    /// `Prefer: wait=N`, at most [`MAX_WAIT`].
    pub wait: Option<Duration>,
}

impl ReadHeaders {
    pub fn of(headers: &HeaderMap) -> ReadHeaders {
        ReadHeaders {
            freshness: freshness(headers),
            if_none_match: headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            wait: wait(headers),
        }
    }

    /// Whether `etag` is one the caller has (weak comparison, RFC 9110 13.1.2).
    pub fn has(&self, etag: &str) -> bool {
        let bare = |t: &str| t.trim_start_matches("W/").to_owned();
        self.if_none_match
            .iter()
            .any(|t| t == "*" || bare(t) == bare(etag))
    }
}

fn freshness(headers: &HeaderMap) -> Freshness {
    let mut freshness = Freshness::Record;
    for directive in headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let directive = directive.trim().to_ascii_lowercase();
        let asked = if directive == "no-cache" {
            Some(Duration::ZERO)
        } else if let Some(secs) = directive.strip_prefix("max-age=") {
            secs.trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs)
        } else {
            None
        };
        if let Some(asked) = asked {
            freshness = match freshness {
                Freshness::MaxAge(had) => Freshness::MaxAge(had.min(asked)),
                Freshness::Record => Freshness::MaxAge(asked),
            };
        }
    }
    freshness
}

fn wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            let (name, value) = p.split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait"))
                .then(|| {
                    value
                        .split(';')
                        .next()?
                        .trim()
                        .trim_matches('"')
                        .parse::<u64>()
                        .ok()
                })
                .flatten()
        })
        .map(|secs| Duration::from_secs(secs).min(MAX_WAIT))
}

/// The post's tag: the same for the same state on every replica.
pub fn etag(record: &PostRecord) -> String {
    let mut digest = Sha256::new();
    for part in [
        record.id.as_str(),
        record.status.as_str(),
        record.tiktok_url.as_deref().unwrap_or(""),
        record.error.as_deref().unwrap_or(""),
        record.sync.error_code.as_deref().unwrap_or(""),
    ] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    digest.update(
        record
            .schedule_at
            .map(|t| t.timestamp_millis())
            .unwrap_or(0)
            .to_be_bytes(),
    );
    digest.update(record.updated_at().timestamp_millis().to_be_bytes());
    format!("W/\"{}\"", hex::encode(&digest.finalize()[..12]))
}

/// A list page's tag, from its items' tags and where it ends.
pub fn page_etag<'a>(records: impl Iterator<Item = &'a PostRecord>, next: Option<&str>) -> String {
    let mut digest = Sha256::new();
    for record in records {
        digest.update(etag(record).as_bytes());
    }
    digest.update(next.unwrap_or("").as_bytes());
    format!("W/\"{}\"", hex::encode(&digest.finalize()[..12]))
}

/// The answer to a conditional read whose tag the caller has.
pub fn not_modified(etag: &str, waited: Option<Duration>) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    decorate(response.headers_mut(), etag, waited);
    response
}

/// The headers every served read carries: its tag, that it must be revalidated, and what of a
/// `Prefer: wait` was applied.
pub fn decorate(headers: &mut HeaderMap, etag: &str, waited: Option<Duration>) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Some(wait) = waited
        && let Ok(value) = HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
    {
        headers.insert("preference-applied", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cache_control_asks_for_freshness() {
        assert_eq!(ReadHeaders::of(&headers(&[])).freshness, Freshness::Record);
        assert_eq!(
            ReadHeaders::of(&headers(&[("cache-control", "no-cache")])).freshness,
            Freshness::MaxAge(Duration::ZERO)
        );
        assert_eq!(
            ReadHeaders::of(&headers(&[("cache-control", "private, max-age=30")])).freshness,
            Freshness::MaxAge(Duration::from_secs(30))
        );
        assert_eq!(
            ReadHeaders::of(&headers(&[("cache-control", "max-age=x")])).freshness,
            Freshness::Record
        );
    }

    #[test]
    fn prefer_wait_is_read_and_capped() {
        let read = ReadHeaders::of(&headers(&[("prefer", "respond-async, wait=10")]));
        assert_eq!(read.wait, Some(Duration::from_secs(10)));
        let read = ReadHeaders::of(&headers(&[("prefer", "wait=600")]));
        assert_eq!(read.wait, Some(MAX_WAIT));
        assert_eq!(
            ReadHeaders::of(&headers(&[("prefer", "wait=soon")])).wait,
            None
        );
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let read = ReadHeaders::of(&headers(&[("if-none-match", "\"a\", W/\"b\"")]));
        assert!(read.has("W/\"a\""));
        assert!(read.has("W/\"b\""));
        assert!(!read.has("W/\"c\""));
        assert!(ReadHeaders::of(&headers(&[("if-none-match", "*")])).has("W/\"z\""));
    }
}
