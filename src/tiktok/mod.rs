//! TikTok posts, the heart of the gateway: whatever shape a caller sends (native, Zernio's own,
//! or flat automation fields) is read into one draft, checked once against every rule of the
//! reference, and becomes one `TikTokPost`, which becomes exactly the Zernio create-post body.
//!
//! Pure: no I/O and no HTTP. The caller passes "now" and what it knows of the creator
//! (creator-info); checking that the caller owns the account is the HTTP layer's job.
//!
//! ```text
//! body --inbound::parse(shape)--> Draft --validate--> TikTokPost --normalize--> Zernio payload
//! ```
//!
//! Choices where the contract left room (each is made in one place, named there too):
//! - Violations come in `Rule` declaration order, then in request order; the same request
//!   always gets the same list. Fields are named as the caller spelt them
//!   (`tiktokSettings.privacyLevel`, `image_urls[3]`).
//! - `null` is absent in every shape, and so is an empty string in the flat shape (form tools
//!   send every field); a blank account, privacy, commercial, `schedule_at` or `timezone` is
//!   absent in every shape. Unknown keys are refused in the native and flat shapes, and
//!   tolerated (never forwarded) in the Zernio shape.
//! - Sizes are binary: 20 MB = 20 x 1024^2 bytes, 4 GB = 4 x 1024^3. A declared MIME type wins
//!   over the URL's extension. An unparseable media URL is `media_url_not_direct`.
//! - A `false` interaction or `auto_add_music` on a post that cannot have it asks for nothing and
//!   is let through (and not sent); a `true` one is `not_applicable`. A photo post with both
//!   `title` and `caption` is refused (`not_applicable` on caption) rather than dropping one.
//! - `schedule_at` is RFC 3339 with an offset, or a local date-time read in `timezone` (UTC by
//!   default); a local time in a DST gap is `invalid_schedule`, one in a repeated hour is the
//!   earlier instant; a time equal to "now" is not in the past.
//! - `draft` with `schedule_at` is a scheduled inbox draft. An inbox draft goes out with
//!   `publishNow: true` (or at its `scheduledFor`): a Zernio post with neither stays a Zernio
//!   draft and would never reach the creator's inbox. `timezone` is sent whenever
//!   `scheduledFor` is ("UTC" when none was given).
//! - Zernio shape: Zernio's own precedence, exactly (`isDraft` over `publishNow` over
//!   `scheduledFor`; a time that loses gets a `schedule_ignored` warning), and with none of
//!   them the post is a Zernio draft (`saved`: kept in Zernio, no daily slot, no content claim),
//!   as Zernio saves it. The TikTok entry of `platforms` overrides the root: `customContent`,
//!   `customMedia`, its `scheduledFor`, and `platformSpecificData` key by key over
//!   `tiktokSettings`. One TikTok account per request (`too_many_accounts`). A media item
//!   without `type` is told by its file.
//! - A Creator Inbox video draft needs no privacy level or interactions: TikTok's inbox endpoint
//!   takes the media alone and the creator sets them in the app (the spec's `tiktokVideoDraft`).
//! - An empty `privacy_levels` in `CreatorConstraints` means "not known", not "none allowed".

mod edit;
mod inbound;
pub mod media_rules;
mod normalize;
mod post;
pub mod rules;
mod validate;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use edit::edit_payload;
pub use inbound::{Shape, account_of, flat_from_form};
pub use post::{
    CommercialType, Consent, CreatorConstraints, Format, Interactions, Media, Photo, PrivacyLevel,
    Schedule, ScheduledAt, TikTokPost, Video,
};
pub use rules::{DEFAULT_SCHEDULE_HORIZON_DAYS, Rule, Violation, Warning};

/// When the rules run, and how far ahead of then a post may be scheduled. A bare time converts
/// into one with the default horizon ([`DEFAULT_SCHEDULE_HORIZON_DAYS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment<'a> {
    pub now: DateTime<Utc>,
    pub schedule_horizon: chrono::Duration,
    /// Media hosts the operator allows over plain http or at an internal address (`[media]
    /// allowed_hosts`: development and tests, whose media server is on loopback).
    pub allowed_media_hosts: &'a [String],
}

impl Moment<'_> {
    pub fn new(now: DateTime<Utc>, schedule_horizon_days: u32) -> Self {
        Moment {
            now,
            schedule_horizon: chrono::Duration::days(i64::from(schedule_horizon_days)),
            allowed_media_hosts: &[],
        }
    }
}

impl<'a> Moment<'a> {
    pub fn with_media_hosts(self, hosts: &'a [String]) -> Moment<'a> {
        Moment {
            allowed_media_hosts: hosts,
            ..self
        }
    }
}

impl From<DateTime<Utc>> for Moment<'_> {
    fn from(now: DateTime<Utc>) -> Self {
        Moment::new(now, DEFAULT_SCHEDULE_HORIZON_DAYS)
    }
}

/// A request that passed every rule: the post, its Zernio payload, and what the gateway
/// adjusted on the way (e.g. the photo title).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub post: TikTokPost,
    pub payload: Value,
    pub warnings: Vec<Warning>,
    /// What the media probe found of each item (empty when it is off): the validate
    /// endpoint shows it.
    pub probed: Vec<media_rules::Probed>,
}

/// A request read and held to every rule that needs no creator: enough to look the creator up
/// (the account and the kind of post), and the rest of the work kept for when it is known, so
/// that a create reads its body once.
#[derive(Debug)]
pub struct Checked {
    draft: inbound::Draft,
    post: TikTokPost,
}

impl Checked {
    pub fn post(&self) -> &TikTokPost {
        &self.post
    }

    /// Where each media item's URL is in the request, in the caller's spelling and in the order
    /// of the post's media (`video.url`, `photos[2].url`, `image_urls[2]`).
    pub fn media_fields(&self) -> Vec<String> {
        match &self.post.media {
            Media::Video(_) => self.draft.videos.iter().map(|m| m.url_at()).collect(),
            Media::Photos { .. } => self.draft.photos.iter().map(|m| m.url_at()).collect(),
        }
    }

    /// The rules again with the creator's constraints, then the Zernio payload.
    pub fn finish<'m>(
        self,
        creator: Option<&CreatorConstraints>,
        now: impl Into<Moment<'m>>,
    ) -> Result<Prepared, Vec<Violation>> {
        let (post, warnings) = validate::validate(self.draft, creator, now.into())?;
        let payload = normalize::zernio_payload(&post);
        Ok(Prepared {
            post,
            payload,
            warnings,
            probed: Vec::new(),
        })
    }
}

/// Parse + the rules that need no creator.
pub fn check<'m>(
    shape: Shape,
    body: &Value,
    now: impl Into<Moment<'m>>,
) -> Result<Checked, Unchecked> {
    let draft = inbound::parse(shape, body).map_err(|violations| Unchecked {
        draft: None,
        violations,
    })?;
    match validate::validate(draft.clone(), None, now.into()) {
        Ok((post, _)) => Ok(Checked { draft, post }),
        Err(violations) => Err(Unchecked {
            draft: Some(Box::new(draft)),
            violations,
        }),
    }
}

/// A request that broke a rule needing no creator. When its account and kind of post are still
/// plain, the creator's constraints can be looked up and held against it in the same answer:
/// the caller learns every violation at once, `privacy_level_unavailable` among them.
#[derive(Debug)]
pub struct Unchecked {
    /// Boxed: a refusal stays small to move (the draft is large and rarely needed again).
    draft: Option<Box<inbound::Draft>>,
    violations: Vec<Violation>,
}

impl Unchecked {
    /// The account and kind (`"video"` or `"photo"`) whose creator constraints apply, when the
    /// request names one account and one kind of media.
    pub fn creator_key(&self) -> Option<(&str, &'static str)> {
        let draft = self.draft.as_ref()?;
        let account = draft
            .account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())?;
        let kind = match (draft.videos.is_empty(), draft.photos.is_empty()) {
            (false, true) => "video",
            (true, false) => "photo",
            _ => return None,
        };
        Some((account, kind))
    }

    /// The violations without the creator's constraints.
    pub fn violations(self) -> Vec<Violation> {
        self.violations
    }

    /// Every violation, the creator's constraints held too (the rules run again in one pass, so
    /// the list keeps its one order).
    pub fn with_creator<'m>(
        self,
        creator: &CreatorConstraints,
        now: impl Into<Moment<'m>>,
    ) -> Vec<Violation> {
        match self.draft {
            Some(draft) => match validate::validate(*draft, Some(creator), now.into()) {
                Err(all) => all,
                // Unreachable (more constraints cannot pass what fewer refused); the first
                // verdict stands.
                Ok(_) => self.violations,
            },
            None => self.violations,
        }
    }
}

/// Parse + validate + normalise. Err = every violation, in a stable order.
pub fn prepare<'m>(
    shape: Shape,
    body: &Value,
    creator: Option<&CreatorConstraints>,
    now: impl Into<Moment<'m>>,
) -> Result<Prepared, Vec<Violation>> {
    let draft = inbound::parse(shape, body)?;
    let (post, warnings) = validate::validate(draft, creator, now.into())?;
    let payload = normalize::zernio_payload(&post);
    Ok(Prepared {
        post,
        payload,
        warnings,
        probed: Vec::new(),
    })
}
