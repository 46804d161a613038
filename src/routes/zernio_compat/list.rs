//! Zernio's post list from the gateway's own records: the spec's paging (`page`/`offset`,
//! `limit` up to 500), filters (`status`, `accountId`, `fromDate`/`toDate` and their aliases
//! `dateFrom`/`dateTo`) and `sortBy` orders, with a `total` the store counted.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::store::{PostCursor, PostFilter, PostRecord, Store};

/// Zernio's cap on `limit`; above it is a 400, not a clamp (the spec says so).
pub const MAX_LIMIT: u32 = 500;
/// Orders other than newest-first are sorted in memory over every matching post: at most this
/// many, so that a list stays cheap; a wider window is refused with the way to narrow it.
pub const MAX_SORTED: u64 = 5_000;
/// The store's page when walking to an offset.
const BATCH: u32 = 500;

/// The statuses of Zernio's `status` filter and `Post.status`.
const STATUSES: [&str; 8] = [
    "draft",
    "pending_approval",
    "scheduled",
    "publishing",
    "published",
    "partial",
    "failed",
    "cancelled",
];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1-based page.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Posts per page, 1 to 500 (default 10).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Posts to skip; wins over `page`.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// One of Zernio's post statuses.
    pub status: Option<String>,
    /// Only `tiktok` has posts here.
    pub platform: Option<String>,
    #[serde(rename = "accountId")]
    #[param(rename = "accountId")]
    pub account_id: Option<String>,
    /// Created on or after: `YYYY-MM-DD` or an ISO 8601 time.
    #[serde(rename = "fromDate")]
    #[param(rename = "fromDate")]
    pub from_date: Option<String>,
    /// Created on or before: `YYYY-MM-DD` (the whole day) or an ISO 8601 time.
    #[serde(rename = "toDate")]
    #[param(rename = "toDate")]
    pub to_date: Option<String>,
    /// Alias of `fromDate`.
    #[serde(rename = "dateFrom")]
    #[param(rename = "dateFrom")]
    pub date_from: Option<String>,
    /// Alias of `toDate`.
    #[serde(rename = "dateTo")]
    #[param(rename = "dateTo")]
    pub date_to: Option<String>,
    /// `scheduled-desc` (default), `scheduled-asc`, `created-desc`, `created-asc`, `status`,
    /// `platform`.
    #[serde(rename = "sortBy")]
    #[param(rename = "sortBy")]
    pub sort_by: Option<String>,
}

/// The orders of Zernio's `sortBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    ScheduledDesc,
    ScheduledAsc,
    CreatedDesc,
    CreatedAsc,
    Status,
    Platform,
}

impl Order {
    pub fn parse(text: Option<&str>) -> Option<Order> {
        Some(match text.unwrap_or("scheduled-desc") {
            "scheduled-desc" | "" => Order::ScheduledDesc,
            "scheduled-asc" => Order::ScheduledAsc,
            "created-desc" => Order::CreatedDesc,
            "created-asc" => Order::CreatedAsc,
            "status" => Order::Status,
            "platform" => Order::Platform,
            _ => return None,
        })
    }
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", detail)
}

/// A date filter: empty is none, a day or an ISO 8601 time is one, anything else a 400. A
/// day ends a window at its last millisecond.
pub fn date(
    name: &str,
    text: Option<&str>,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && text.len() == 10
    {
        let time = if end_of_day {
            NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or_default()
        } else {
            NaiveTime::MIN
        };
        return Ok(Some(day.and_time(time).and_utc()));
    }
    Err(bad(format!(
        "{name} `{text}` is neither YYYY-MM-DD nor an ISO 8601 time with an offset"
    )))
}

/// A record's status as one of the spec's: the in-flight ones Zernio names otherwise are
/// `publishing`.
pub fn spec_status(status: &str) -> &'static str {
    let normal = crate::zernio::PostStatus::parse(status);
    STATUSES
        .iter()
        .copied()
        .find(|s| *s == normal.as_str())
        .unwrap_or("publishing")
}

/// A post from Zernio, as the compatible answers carry it: a status outside the spec's enum
/// (a newer or older Zernio's) is made one of it.
pub fn spec_post(post: &crate::zernio::Post) -> Value {
    let mut value = serde_json::to_value(post).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "status".to_owned(),
            spec_status(post.status.as_str()).into(),
        );
    }
    value
}

/// The TikTok entry's status for a post status, in Zernio's platform vocabulary.
fn platform_status(status: &str) -> &'static str {
    match status {
        "draft" | "scheduled" | "pending_approval" => "pending",
        "published" => "published",
        "failed" | "partial" => "failed",
        "cancelled" => "cancelled",
        _ => "publishing",
    }
}

/// A post the gateway knows from its record, as Zernio's `Post`.
pub fn post_of_record(record: &PostRecord) -> Value {
    let status = spec_status(&record.status);
    let mut platform = json!({
        "platform": "tiktok",
        "accountId": record.account,
        "status": platform_status(status),
    });
    if let Some(url) = &record.tiktok_url {
        platform["platformPostUrl"] = url.clone().into();
    }
    if let Some(error) = &record.error {
        platform["errorMessage"] = error.clone().into();
    }
    let mut post = json!({
        "_id": record.id,
        "status": status,
        "platforms": [platform],
        "mediaItems": record.media_items,
        "createdAt": record.created_at.to_rfc3339(),
        "updatedAt": record.updated_at().to_rfc3339(),
    });
    if let Some(content) = &record.content {
        post["content"] = content.clone().into();
    }
    if let Some(at) = record.schedule_at {
        post["scheduledFor"] = at.to_rfc3339().into();
    }
    post
}

/// The answer of `GET /api/v1/posts` for the tenant.
pub async fn list(store: &dyn Store, tenant: &str, params: ListParams) -> Result<Value, ApiError> {
    let limit = params.limit.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let offset = match (params.offset, params.page) {
        // The document's formats (int64, int32) are the bounds: a client that believed them
        // must not be answered as if a larger number meant something.
        (Some(offset), _) if offset > i64::MAX as u64 => {
            return Err(bad(format!("offset is at most {}", i64::MAX)));
        }
        (Some(offset), _) => offset,
        (None, Some(0)) => return Err(bad("page starts at 1")),
        (None, Some(page)) if page > i32::MAX as u32 => {
            return Err(bad(format!("page is 1 to {}", i32::MAX)));
        }
        (None, page) => u64::from(page.unwrap_or(1) - 1) * u64::from(limit),
    };
    let order = Order::parse(params.sort_by.as_deref()).ok_or_else(|| {
        bad("sortBy must be scheduled-desc, scheduled-asc, created-desc, created-asc, status or platform")
    })?;
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) if STATUSES.contains(&s) => Some(s.to_owned()),
        Some(s) => {
            return Err(bad(format!(
                "status `{s}` is not one of {}",
                STATUSES.join(", ")
            )));
        }
        None => None,
    };
    let from = params.from_date.as_deref().or(params.date_from.as_deref());
    let to = params.to_date.as_deref().or(params.date_to.as_deref());
    let filter = PostFilter {
        status,
        account: params.account_id.filter(|a| !a.is_empty()),
        since: date("fromDate", from, false)?,
        until: date("toDate", to, true)?,
    };
    let page = offset / u64::from(limit) + 1;
    // Only TikTok posts are made here.
    let other_platform = params
        .platform
        .as_deref()
        .is_some_and(|p| !p.is_empty() && !p.eq_ignore_ascii_case("tiktok"));
    let (total, records) = if other_platform {
        (0, Vec::new())
    } else {
        let total = store.count_posts(tenant, &filter).await?;
        let records = if order == Order::CreatedDesc || order == Order::Platform {
            newest_first(store, tenant, &filter, offset, limit).await?
        } else {
            if total > MAX_SORTED {
                return Err(bad(format!(
                    "{total} posts match: sortBy other than created-desc sorts at most \
                     {MAX_SORTED}; narrow fromDate/toDate or use sortBy=created-desc"
                )));
            }
            let mut all = newest_first(store, tenant, &filter, 0, MAX_SORTED as u32).await?;
            sort(&mut all, order);
            all.into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(limit as usize)
                .collect()
        };
        (total, records)
    };
    let posts: Vec<Value> = records.iter().map(post_of_record).collect();
    Ok(json!({
        "posts": posts,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "pages": total.div_ceil(u64::from(limit)),
        }
    }))
}

/// `limit` records after the first `offset`, newest first, walked with the store's cursor.
async fn newest_first(
    store: &dyn Store,
    tenant: &str,
    filter: &PostFilter,
    offset: u64,
    limit: u32,
) -> Result<Vec<PostRecord>, ApiError> {
    let mut skip = offset;
    let mut after: Option<PostCursor> = None;
    let mut out = Vec::new();
    loop {
        let want = if skip > 0 {
            BATCH
        } else {
            (limit as usize - out.len()).min(BATCH as usize) as u32
        };
        let batch = store.posts(tenant, filter, after.as_ref(), want).await?;
        let full = batch.len() == want as usize;
        after = batch.last().map(|r| PostCursor {
            created_at: r.created_at,
            id: r.id.clone(),
        });
        for record in batch {
            if skip > 0 {
                skip -= 1;
            } else if out.len() < limit as usize {
                out.push(record);
            }
        }
        if !full || out.len() >= limit as usize {
            return Ok(out);
        }
    }
}

/// Sorts newest-first records into `order` (a stable sort: ties stay newest first).
fn sort(records: &mut [PostRecord], order: Order) {
    let scheduled = |r: &PostRecord| r.schedule_at.unwrap_or(r.created_at);
    match order {
        Order::ScheduledDesc => records.sort_by_key(|r| std::cmp::Reverse(scheduled(r))),
        Order::ScheduledAsc => records.sort_by_key(scheduled),
        Order::CreatedAsc => records.reverse(),
        Order::Status => records.sort_by_key(|r| spec_status(&r.status)),
        Order::CreatedDesc | Order::Platform => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_or_times_and_empty_is_none() {
        assert_eq!(date("fromDate", Some(""), false).unwrap(), None);
        let day = date("fromDate", Some("2030-01-02"), false)
            .unwrap()
            .unwrap();
        assert_eq!(day.to_rfc3339(), "2030-01-02T00:00:00+00:00");
        let end = date("toDate", Some("2030-01-02"), true).unwrap().unwrap();
        assert_eq!(end.to_rfc3339(), "2030-01-02T23:59:59.999+00:00");
        let t = date("toDate", Some("2030-01-02T10:00:00+02:00"), true)
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2030-01-02T08:00:00+00:00");
        for bad in ["2030-1-2", "tomorrow", "2030-01-02T10:00:00"] {
            assert!(date("fromDate", Some(bad), false).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_are_only_the_specs() {
        assert_eq!(spec_status("processing"), "publishing");
        assert_eq!(spec_status("canceled"), "cancelled");
        assert_eq!(spec_status("something new"), "publishing");
        assert_eq!(spec_status("partial"), "partial");
    }

    #[test]
    fn sort_orders_are_zernios() {
        assert_eq!(Order::parse(None), Some(Order::ScheduledDesc));
        assert_eq!(Order::parse(Some("created-asc")), Some(Order::CreatedAsc));
        assert_eq!(Order::parse(Some("newest")), None);
    }
}
