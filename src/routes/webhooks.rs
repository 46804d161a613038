//! Webhook routes: Zernio's signed events in (`/v1/upstream/zernio/webhooks`, public: the
//! signature is the authentication), and the tenants' REST Hooks subscriptions and their
//! deliveries (scope `webhooks:manage`). Another tenant's subscription answers 404, exactly like
//! one that does not exist.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::audit;
use crate::auth::Authenticated;
use crate::auth::tenant::WebhooksManage;
use crate::error::{ApiError, Problem};
use crate::http::ApiJson;
use crate::store::{Delivery, Subscription};
use crate::webhooks::inbound::{self, Receipt};
use crate::webhooks::signing;
use crate::webhooks::targets::TargetPolicy;

/// Receives a webhook from Zernio.
///
/// The body is verified against `X-Zernio-Signature` (hex HMAC-SHA256 of the raw body with
/// `ZERNIO_WEBHOOK_SECRET`) before it is read, de-duplicated on the body's `id` (the signature
/// covers it; `X-Zernio-Event-Id` only for a body without one), recorded on the gateway's post
/// (an event older than the post's status changes nothing), and fanned out to the subscriptions
/// of the tenant that made the post. An event whose `timestamp` is further from now than
/// `[webhooks] event_window_secs` (default 7 days, either way) is acknowledged as `stale` and
/// dropped.
#[utoipa::path(post, path = "/v1/upstream/zernio/webhooks", tag = "webhooks",
    params(
        ("X-Zernio-Signature" = String, Header, description = "Hex HMAC-SHA256 of the raw body"),
        ("X-Zernio-Event-Id" = Option<String>, Header, description = "The event's id, stable across Zernio's retries"),
        ("X-Zernio-Event" = Option<String>, Header, description = "The event's name"),
    ),
    request_body(content = Object, content_type = "application/json",
        description = "Zernio's event: `{id, event, post{id, status, platforms, metadata, ...}, timestamp}`",
        example = json!({
            "id": "evt_0123456789abcdef",
            "event": "post.published",
            "post": {
                "id": "65f1c0a1b2c3d4e5f6a7b8c9", "content": "Check out this amazing sunset!",
                "status": "published", "publishedAt": "2027-09-01T07:00:05Z",
                "platforms": [{"platform": "tiktok", "status": "published", "accountId": "sandbox_public",
                    "publishedUrl": "https://www.tiktok.com/@sandbox_public/video/7300000000000000001"}],
                "metadata": {}
            },
            "timestamp": "2027-09-01T07:00:06Z"
        })),
    responses(
        (status = 200, description = "Accepted, a duplicate, stale (outside the event window), or about a post the gateway did not make. An event about a post the gateway has not recorded, whose `metadata.gateway_request_id` names a create still `pending` here (on the same account), settles that create with the event's post and is accepted", body = Receipt),
        (status = 400, description = "Signed, but not a readable event", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_signature`: missing or wrong signature", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`post_not_recorded_yet`: the gateway's own post, not recorded yet; send again (Retry-After)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`webhooks_not_configured`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn zernio(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<Receipt>, ApiError> {
    inbound::receive(&state, &headers, &body).await.map(ApiJson)
}

/// A new subscription (REST Hooks' subscribe).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where events are POSTed: https (plain http only for hosts the operator allows).
    #[schema(example = "https://hooks.zapier.com/hooks/standard/123/abc")]
    pub target_url: String,
    /// Any of `post.published`, `post.failed`, `post.scheduled`, `post.cancelled`,
    /// `post.deleted`, `post.url_resolved`.
    #[schema(example = json!(["post.published", "post.failed"]))]
    pub events: Vec<String>,
}

/// A subscription as listed (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    #[schema(example = "sub_4f1c0a1b2c3d4e5f6a7b8c9d0e1f2a3b")]
    pub id: String,
    pub target_url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        SubscriptionView {
            id: s.id.clone(),
            target_url: s.target_url.clone(),
            events: s.events.clone(),
            created_at: s.created_at,
        }
    }
}

/// A subscription as created: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedSubscription {
    pub id: String,
    /// The Standard Webhooks signing secret (`whsec_` + base64). Shown once; keep it to verify
    /// `webhook-signature`. Absent from a replay under the same `Idempotency-Key`
    /// (`Idempotent-Replayed: true`): the gateway keeps no copy it could show again; delete the
    /// subscription and subscribe again if the first answer was lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
    pub target_url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionView>,
}

/// The events a subscription names, checked: known, at least one, each once.
fn checked_events(events: &[String]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::Unprocessable {
            code: "invalid_events",
            detail: format!(
                "events must name at least one of {}",
                crate::webhooks::EVENTS.join(", ")
            ),
        });
    }
    let mut checked: Vec<String> = Vec::new();
    for event in events {
        if !crate::webhooks::EVENTS.contains(&event.as_str()) {
            return Err(ApiError::Unprocessable {
                code: "invalid_events",
                detail: format!(
                    "`{}` is not an event; use {}",
                    event.chars().take(64).collect::<String>(),
                    crate::webhooks::EVENTS.join(", ")
                ),
            });
        }
        if !checked.contains(event) {
            checked.push(event.clone());
        }
    }
    Ok(checked)
}

/// Subscribes a URL to post events (REST Hooks). The answer holds the signing secret, once.
///
/// The gateway keeps the secret only sealed (AES-256-GCM under `GATEWAY_SECRETS_KEY`), and a
/// replay of this create under the same `Idempotency-Key` answers the subscription without
/// `secret`. A tenant holds at most `max_subscriptions_per_tenant` subscriptions, however many
/// creates come at once.
#[utoipa::path(post, path = "/v1/webhooks/subscriptions", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = NewSubscription, content_type = "application/json",
        description = "A loopback target such as this one is taken where `[webhooks] allowed_hosts` lists it (README, Webhooks); elsewhere an https URL",
        example = json!({"target_url": "http://127.0.0.1:9000/hook", "events": ["post.published", "post.failed"]})),
    responses(
        (status = 201, description = "Subscribed; `secret` is shown this once (a replay under the same `Idempotency-Key` shows the subscription without it)", body = CreatedSubscription),
        (status = 400, description = "The body is not JSON of this shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `webhooks:manage`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_events`, `invalid_target_url`, `target_not_https`, `target_not_allowed`, `target_unresolvable`, `too_many_subscriptions`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn subscribe(
    State(state): State<AppState>,
    auth: Authenticated<WebhooksManage>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewSubscription>,
) -> Result<Response, ApiError> {
    let mut facts = audit::Facts::default();
    let result = subscribe_with(&state, &auth, body, &mut facts).await;
    let request_id = crate::routes::posts::request_id(&headers);
    audit::record(
        &state,
        &auth,
        &request_id,
        "subscription.create",
        facts,
        audit::outcome(&result, 201),
    )
    .await;
    result
}

async fn subscribe_with(
    state: &AppState,
    auth: &Authenticated<WebhooksManage>,
    body: NewSubscription,
    facts: &mut audit::Facts,
) -> Result<Response, ApiError> {
    let events = checked_events(&body.events)?;
    let policy = TargetPolicy::new(&state.config.webhooks);
    let url = policy
        .check(&body.target_url)
        .await
        .map_err(|refused| ApiError::Unprocessable {
            code: refused.code,
            detail: refused.detail,
        })?;
    let tenant = &auth.tenant.id;
    let limit = state.config.webhooks.max_subscriptions_per_tenant;
    let id = format!("sub_{}", uuid::Uuid::new_v4().simple());
    let secret = signing::new_secret();
    let subscription = Subscription {
        tenant: tenant.clone(),
        target_url: url.to_string(),
        events,
        // The store only ever sees it sealed.
        secret: state.secrets.seal(&secret, &id),
        created_at: Utc::now(),
        id,
    };
    // Counted and created in one step of the store: creates at once cannot pass the limit.
    if !state
        .store
        .create_subscription(&subscription, limit)
        .await?
    {
        return Err(ApiError::Unprocessable {
            code: "too_many_subscriptions",
            detail: format!("a tenant may hold {limit} subscriptions; delete one first"),
        });
    }
    facts.object_id = Some(subscription.id.clone());
    tracing::info!(subscription = %subscription.id, events = ?subscription.events, "webhook subscription created");
    let location = format!("/v1/webhooks/subscriptions/{}", subscription.id);
    let mut created = CreatedSubscription {
        id: subscription.id,
        secret: None,
        target_url: subscription.target_url,
        events: subscription.events,
        created_at: subscription.created_at,
    };
    // An Idempotency-Key replay shows the subscription, never the secret: the claims table
    // keeps this copy, without it.
    let replay = serde_json::to_vec(&created).map_err(|e| ApiError::Internal(e.into()))?;
    created.secret = Some(secret);
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        ApiJson(created),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(crate::limits::idempotency::ReplayBody(replay.into()));
    Ok(response)
}

/// The tenant's subscriptions, oldest first, without their secrets.
#[utoipa::path(get, path = "/v1/webhooks/subscriptions", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The tenant's subscriptions", body = SubscriptionList),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `webhooks:manage`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated<WebhooksManage>,
) -> Result<ApiJson<SubscriptionList>, ApiError> {
    let items = state
        .store
        .subscriptions(&auth.tenant.id)
        .await?
        .iter()
        .map(SubscriptionView::from)
        .collect();
    Ok(ApiJson(SubscriptionList { items }))
}

/// One of the tenant's subscriptions, without its secret.
#[utoipa::path(get, path = "/v1/webhooks/subscriptions/{id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `webhooks:manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription for this tenant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated<WebhooksManage>,
    Path(id): Path<String>,
) -> Result<ApiJson<SubscriptionView>, ApiError> {
    let subscription = state
        .store
        .subscription(&auth.tenant.id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiJson(SubscriptionView::from(&subscription)))
}

/// Unsubscribes (REST Hooks' unsubscribe); the subscription's deliveries go with it.
#[utoipa::path(delete, path = "/v1/webhooks/subscriptions/{id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Unsubscribed"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `webhooks:manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription for this tenant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    auth: Authenticated<WebhooksManage>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let result = match state.store.delete_subscription(&auth.tenant.id, &id).await {
        Ok(true) => {
            tracing::info!(subscription = %id, "webhook subscription deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(ApiError::NotFound),
        Err(e) => Err(e.into()),
    };
    let facts = audit::Facts {
        object_id: Some(id),
        ..audit::Facts::default()
    };
    let request_id = crate::routes::posts::request_id(&headers);
    audit::record(
        &state,
        &auth,
        &request_id,
        "subscription.delete",
        facts,
        audit::outcome(&result, 204),
    )
    .await;
    result
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// The subscription whose deliveries to show (required).
    pub subscription: Option<String>,
    /// At most this many, newest first (1-100, default 50).
    pub limit: Option<u32>,
}

/// One delivery: an event for a subscription, with what its attempts came to.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` header of every attempt.
    #[schema(example = "msg_9b2f0c4e6a8d1f3b5c7e9a0b2d4f6a8c")]
    pub id: String,
    pub subscription: String,
    #[schema(example = "post.published")]
    pub event_type: String,
    pub post_id: String,
    /// `pending`, `delivered` or `failed` (every attempt failed, or the target answered 410).
    #[schema(example = "delivered")]
    pub status: String,
    pub attempts: u32,
    /// The status code of the last attempt, when the target answered.
    #[schema(example = 200)]
    pub response_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When a pending delivery is attempted next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            subscription: d.subscription.clone(),
            event_type: d.event_type.clone(),
            post_id: d.post_id.clone(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            response_code: d.last_status_code,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
}

/// The recent deliveries of one of the tenant's subscriptions, newest first.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(DeliveryQuery),
    responses(
        (status = 200, description = "Recent deliveries", body = DeliveryList),
        (status = 400, description = "`subscription_required` or a bad `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing scope `webhooks:manage`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription for this tenant", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Authenticated<WebhooksManage>,
    Query(query): Query<DeliveryQuery>,
) -> Result<ApiJson<DeliveryList>, ApiError> {
    let subscription = query
        .subscription
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "subscription_required",
                "name the subscription: ?subscription=sub_...",
            )
        })?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 100",
        ));
    }
    let tenant = &auth.tenant.id;
    if state
        .store
        .subscription(tenant, &subscription)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let items = state
        .store
        .deliveries(tenant, &subscription, limit)
        .await?
        .iter()
        .map(DeliveryView::from)
        .collect();
    Ok(ApiJson(DeliveryList { items }))
}

/// The body of every delivery to a subscription: Standard Webhooks' `{type, timestamp, data}`,
/// signed in `webhook-signature` as `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`
/// with the base64-decoded part of the subscription's `whsec_` secret as the key.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // documentation only: the body is built by `webhooks::inbound`
pub struct WebhookEvent {
    #[serde(rename = "type")]
    #[schema(example = "post.published")]
    kind: String,
    timestamp: DateTime<Utc>,
    data: WebhookEventData,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookEventData {
    /// The post's id, as in `GET /v1/tiktok/posts/{id}`.
    id: String,
    account: String,
    /// published, failed, partial, scheduled or cancelled.
    status: String,
    tiktok_url: Option<String>,
    /// On `post.failed`: the stable code (as the create endpoint would answer) and TikTok's message.
    error: Option<WebhookEventError>,
    /// The `metadata` the post was created with.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookEventError {
    #[schema(example = "spam_risk")]
    code: String,
    message: String,
}
