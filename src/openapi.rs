//! The OpenAPI 3.1 document: its frame (info, security schemes, shared schemas) here, the paths
//! from the handlers' own annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tiktok-gateway",
        description = "A multi-tenant gateway in front of the Zernio API for TikTok publishing and analytics.",
        license(name = "UNLICENSED")
    ),
    components(schemas(Problem, crate::routes::webhooks::WebhookEvent)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Who is calling"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "webhooks", description = "Zernio's events in; REST Hooks subscriptions and signed deliveries out"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A tgw_ API key or a JWT from the configured issuer"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The frame the routes are added to.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The whole document, as served at `/openapi.json` and committed at `openapi/openapi.json`.
pub fn spec() -> utoipa::openapi::OpenApi {
    crate::routes::api().split_for_parts().1
}

/// The committed form: pretty JSON with a final newline.
pub fn spec_json() -> String {
    let mut text = spec()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
