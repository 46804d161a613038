//! The HTTP surface: one module per group of endpoints, collected here with their OpenAPI
//! descriptions, in two groups: the operational routes anyone may call, and the tenant routes
//! behind authentication and the tenant's limits.

pub mod accounts;
pub mod analytics;
pub mod conditional;
pub mod hooks;
pub mod me;
pub mod media;
pub mod ops;
pub mod posts;
pub mod schemas;
pub mod webhooks;
pub mod zernio_compat;

use axum::middleware::from_fn_with_state;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}

fn tenant() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(posts::validate))
        .routes(routes!(posts::create, posts::list))
        .routes(routes!(posts::get, posts::edit, posts::cancel))
        .routes(routes!(posts::retry))
        .routes(routes!(posts::events))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::creator_info))
        .routes(routes!(media::presign))
        .routes(routes!(analytics::analytics))
        .routes(routes!(hooks::create))
        .routes(routes!(webhooks::subscribe, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::unsubscribe))
        .routes(routes!(webhooks::deliveries))
}

/// Zernio's webhooks: no tenant credential, the signature is checked by the handler.
fn upstream() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webhooks::zernio))
}

fn compat() -> OpenApiRouter<AppState> {
    use zernio_compat as z;
    OpenApiRouter::new()
        .routes(routes!(z::create, z::list))
        .routes(routes!(z::get, z::update, z::delete))
        .routes(routes!(z::retry))
        .routes(routes!(z::accounts))
        .routes(routes!(z::creator_info))
        .routes(routes!(z::presign))
        .routes(routes!(z::analytics))
}

/// Every route, as documented (no state needed: for the spec).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(public())
        .merge(upstream())
        .merge(tenant())
        .merge(compat())
}

/// Every route with the layers of its group, ready to serve.
pub fn app(state: &AppState) -> OpenApiRouter<AppState> {
    // route_layer: the layers run only for matched routes, so an unknown path is a plain 404.
    // Later layers wrap earlier ones: authentication runs first, then the tenant's rate limit
    // (a replay still counts against it), idempotency, and the upstream budget, which only
    // requests that may reach Zernio spend.
    let guarded = |routes: OpenApiRouter<AppState>| {
        routes
            .route_layer(from_fn_with_state(
                state.clone(),
                crate::limits::upstream::enforce,
            ))
            .route_layer(from_fn_with_state(
                state.clone(),
                crate::limits::idempotency::enforce,
            ))
            .route_layer(from_fn_with_state(
                state.clone(),
                crate::limits::rate::enforce,
            ))
            .route_layer(from_fn_with_state(state.clone(), crate::auth::authenticate))
    };
    // The SDKs read a failure's message from Zernio's `error` member, outside everything else.
    let compat =
        guarded(compat()).route_layer(axum::middleware::from_fn(zernio_compat::zernio_errors));
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(public())
        .merge(upstream())
        .merge(guarded(tenant()))
        .merge(compat)
}
