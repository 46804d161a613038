//! The HTTP surface: one module per group of endpoints, collected here with their OpenAPI
//! descriptions, in two groups: the operational routes anyone may call, and the tenant routes
//! behind authentication and the tenant's limits.

pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod conditional;
pub mod hooks;
pub mod me;
pub mod media;
pub mod ops;
pub mod posts;
pub mod schemas;
pub mod webhooks;
pub mod zernio_compat;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

fn public() -> OpenApiRouter<AppState> {
    probes().routes(routes!(ops::metrics))
}

fn probes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
}

/// The admin listener's routes (`admin_listen`): the probes and `/metrics`.
pub fn admin(state: &AppState) -> axum::Router {
    let (router, _) = public().split_for_parts();
    router.with_state(state.clone())
}

fn tenant() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(posts::validate))
        .routes(routes!(posts::create, posts::list))
        .routes(routes!(posts::get, posts::edit, posts::cancel))
        .routes(routes!(posts::retry))
        .routes(routes!(posts::events))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::creator_info))
        .routes(routes!(media::presign))
        .routes(routes!(analytics::analytics))
        .routes(routes!(hooks::create))
        .routes(routes!(hooks::validate))
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
    // route_layer: the guard runs only for matched routes, so an unknown path is a plain 404.
    let guarded = |routes: OpenApiRouter<AppState>| {
        routes.route_layer(from_fn_with_state(state.clone(), guard))
    };
    // The SDKs read a failure's message from Zernio's `error` member, outside everything else.
    let compat =
        guarded(compat()).route_layer(axum::middleware::from_fn(zernio_compat::zernio_errors));
    // With an admin listener, `/metrics` is served there only.
    let public = if state.config.admin_listen.is_some() {
        probes()
    } else {
        public()
    };
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(public)
        .merge(upstream())
        .merge(guarded(tenant()))
        .merge(compat)
}

/// The tenant routes' guard, in the order a request takes: authentication, the tenant's rate
/// limit (a replay still counts against it), idempotency, and the upstream budget, which only
/// requests that may reach Zernio spend. One middleware rather than four: each `from_fn` layer
/// clones the whole service under it on every request.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let caller = match state.auth.authenticate(request.headers()) {
        Ok(caller) => caller,
        Err(e) => return ApiError::Unauthenticated(e).into_response(),
    };
    // Credentials first (a stranger learns nothing of a path's methods); then a method the path
    // does not have is the router's 405 before limits or an Idempotency-Key are looked at: a PUT
    // carrying a POST's key is not a reuse of that key.
    if !has_method(&request) {
        return next.run(request).await;
    }
    // Who called goes out with the answer, refused or not, for the request's log line and the
    // per-tenant metrics of the frame.
    let who = caller.clone();
    let mut response = guarded(state, caller, request, next)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(who);
    response
}

/// Each path template's methods, from the OpenAPI document the gateway builds at start-up
/// (axum's route layers also wrap the 405 fallback of a path, so the guard asks here).
static METHODS: std::sync::OnceLock<std::collections::HashMap<String, Vec<axum::http::Method>>> =
    std::sync::OnceLock::new();

/// Learns the paths' methods from the built document (the same for every gateway in a process).
pub fn know_methods(spec: &utoipa::openapi::OpenApi) {
    METHODS.get_or_init(|| {
        spec.paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (axum::http::Method::GET, item.get.is_some()),
                    (axum::http::Method::POST, item.post.is_some()),
                    (axum::http::Method::PUT, item.put.is_some()),
                    (axum::http::Method::PATCH, item.patch.is_some()),
                    (axum::http::Method::DELETE, item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (path.clone(), methods)
            })
            .collect()
    });
}

/// Whether the matched path has the request's method (unknown until `know_methods`: yes).
fn has_method(request: &Request) -> bool {
    let (Some(methods), Some(path)) = (METHODS.get(), request.extensions().get::<MatchedPath>())
    else {
        return true;
    };
    let Some(allowed) = methods.get(path.as_str()) else {
        return true;
    };
    let method = if request.method() == axum::http::Method::HEAD {
        &axum::http::Method::GET
    } else {
        request.method()
    };
    allowed.contains(method)
}

async fn guarded(
    state: AppState,
    caller: crate::auth::Caller,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let passed = crate::limits::rate::check(&state, &caller).await?;
    // Who is calling, decided once, for the handler's `Authenticated` extractor.
    request.extensions_mut().insert(caller.clone());
    let budget = state.clone();
    let spender = caller.clone();
    let answer =
        crate::limits::idempotency::enforce(&state, &caller, request, move |request| async move {
            let route = request.extensions().get::<MatchedPath>().cloned();
            let route = route.as_ref().map_or("", MatchedPath::as_str);
            if let Err(e) =
                crate::limits::upstream::enforce(&budget, &spender, request.method(), route).await
            {
                return e.into_response();
            }
            next.run(request).await
        })
        .await;
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    passed.annotate(&mut response);
    Ok(response)
}
