//! Edits of a scheduled post or a Creator Inbox draft: a new time, time zone or caption,
//! checked by the same limits as a new post, as Zernio's `PUT /v1/posts/{id}` body.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::rules::{self, Violation};

fn violation(field: &str, code: &'static str, message: String, fix: &str) -> Violation {
    Violation {
        field: field.to_owned(),
        code,
        message,
        fix: fix.to_owned(),
    }
}

/// The upstream edit body, or every violation. `kind` is the post's (`video` or `photo`).
pub fn edit_payload<'m>(
    kind: &str,
    schedule_at: Option<DateTime<Utc>>,
    timezone: Option<&str>,
    caption: Option<&str>,
    now: impl Into<super::Moment<'m>>,
) -> Result<Value, Vec<Violation>> {
    let moment = now.into();
    let now = moment.now;
    let mut errors = Vec::new();
    let mut body = Map::new();
    if schedule_at.is_none() && timezone.is_none() && caption.is_none() {
        errors.push(violation(
            "body",
            "nothing_to_edit",
            "the edit names none of schedule_at, timezone, caption".to_owned(),
            "Send at least one of schedule_at, timezone or caption.",
        ));
    }
    if let Some(at) = schedule_at {
        if at < now {
            errors.push(violation(
                "schedule_at",
                "schedule_in_past",
                format!("schedule_at {} is in the past", at.to_rfc3339()),
                "Give a time in the future, or cancel the post and publish a new one now.",
            ));
        } else if let Some((message, fix)) = rules::too_far(at, moment) {
            errors.push(violation(
                "schedule_at",
                rules::Rule::ScheduleTooFar.code(),
                message,
                &fix,
            ));
        }
        body.insert(
            "scheduledFor".to_owned(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        );
    }
    if let Some(tz) = timezone {
        if tz.parse::<Tz>().is_err() {
            errors.push(violation(
                "timezone",
                "invalid_timezone",
                format!("`{tz}` is not an IANA time zone"),
                "Use an IANA name such as Europe/Berlin or America/New_York.",
            ));
        }
        body.insert("timezone".to_owned(), tz.into());
    }
    if let Some(caption) = caption {
        if kind == "photo" {
            body.insert(
                "content".to_owned(),
                rules::build_photo_title(caption).into(),
            );
        } else {
            let units = rules::utf16_len(caption);
            if units > rules::MAX_VIDEO_CAPTION_UTF16 {
                errors.push(violation(
                    "caption",
                    "caption_too_long",
                    format!(
                        "caption is {units} UTF-16 units; TikTok allows at most {} for a video caption",
                        rules::MAX_VIDEO_CAPTION_UTF16
                    ),
                    "Shorten the caption.",
                ));
            }
            body.insert("content".to_owned(), caption.into());
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(body))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_reschedule_becomes_zernio_fields() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = now + chrono::Duration::hours(2);
        let body = edit_payload("video", Some(at), Some("Europe/Berlin"), None, now).unwrap();
        assert_eq!(
            body,
            json!({"scheduledFor": at.to_rfc3339_opts(SecondsFormat::Secs, true), "timezone": "Europe/Berlin"})
        );
    }

    #[test]
    fn every_broken_limit_is_reported() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let past = now - chrono::Duration::minutes(1);
        let long = "🙂".repeat(1101);
        let errors =
            edit_payload("video", Some(past), Some("Mars/Base"), Some(&long), now).unwrap_err();
        let codes: Vec<&str> = errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            ["schedule_in_past", "invalid_timezone", "caption_too_long"]
        );
        assert_eq!(
            edit_payload("video", None, None, None, now).unwrap_err()[0].code,
            "nothing_to_edit"
        );
    }

    #[test]
    fn a_photo_caption_becomes_its_title() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let body =
            edit_payload("photo", None, None, Some("Trip #travel https://x.y"), now).unwrap();
        assert_eq!(body["content"], "Trip");
    }
}
