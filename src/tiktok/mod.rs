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

mod inbound;
mod normalize;
mod post;
pub mod rules;
mod validate;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use inbound::{Shape, flat_from_form};
pub use post::{
    CommercialType, Consent, CreatorConstraints, Format, Interactions, Media, Photo, PrivacyLevel,
    Schedule, ScheduledAt, TikTokPost, Video,
};
pub use rules::{Rule, Violation, Warning};

/// A request that passed every rule: the post, its Zernio payload, and what the gateway
/// adjusted on the way (e.g. the photo title).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub post: TikTokPost,
    pub payload: Value,
    pub warnings: Vec<Warning>,
}

/// Parse + validate + normalise. Err = every violation, in a stable order.
pub fn prepare(
    shape: Shape,
    body: &Value,
    creator: Option<&CreatorConstraints>,
    now: DateTime<Utc>,
) -> Result<Prepared, Vec<Violation>> {
    let draft = inbound::parse(shape, body)?;
    let (post, warnings) = validate::validate(draft, creator, now)?;
    let payload = normalize::zernio_payload(&post);
    Ok(Prepared {
        post,
        payload,
        warnings,
    })
}
