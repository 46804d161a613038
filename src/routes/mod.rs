//! The HTTP surface: one module per group of endpoints; `api` collects them with their
//! OpenAPI descriptions.

pub mod me;
pub mod ops;
pub mod posts;
pub mod schemas;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Every documented route.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(me::me))
        .routes(routes!(posts::validate))
}
