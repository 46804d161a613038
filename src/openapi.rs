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
    components(schemas(
        Problem,
        crate::routes::webhooks::WebhookEvent,
        crate::routes::accounts::MediaType
    )),
    modifiers(&Security),
    // The explorer lists tags in this order: what a newcomer does first comes first.
    tags(
        (name = "posts", description = "Publish, schedule, validate, read, edit, cancel and retry TikTok posts"),
        (name = "accounts", description = "The tenant's TikTok accounts, their daily budget and creator info"),
        (name = "analytics", description = "Likes, comments, shares and views of published posts"),
        (name = "webhooks", description = "Zernio's events in; REST Hooks subscriptions and signed deliveries out"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "media", description = "Upload URLs for media files"),
        (name = "automations", description = "Flat fields for Zapier-style tools (JSON or a form)"),
        (name = "auth", description = "Who is calling"),
        (name = "zernio-compatible", description = "Zernio's own API shapes, for its SDKs"),
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
    let mut spec = crate::routes::api().split_for_parts().1;
    common_answers(&mut spec);
    spec
}

/// Answers that layers give on every route they wrap, written once here rather than on each
/// handler: the rate limits and the store on every authenticated route, the Idempotency-Key
/// refusals on every authenticated change.
pub fn common_answers(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{HttpMethod, ParameterIn};

    let problem = |description: &str| {
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let key_schema = utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(1))
        .max_length(Some(crate::limits::idempotency::MAX_KEY_LEN))
        // Printable ASCII, not only spaces.
        .pattern(Some("^[\\x20-\\x7E]*[\\x21-\\x7E][\\x20-\\x7E]*$"))
        .build();
    for (path, item) in spec.paths.paths.iter_mut() {
        // The Zernio-compatible routes list their own answers, in Zernio's error shape.
        if path.starts_with("/api/") {
            continue;
        }
        let operations = [
            (HttpMethod::Get, item.get.as_mut()),
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Put, item.put.as_mut()),
            (HttpMethod::Patch, item.patch.as_mut()),
            (HttpMethod::Delete, item.delete.as_mut()),
        ];
        for (method, operation) in operations {
            let Some(op) = operation else { continue };
            if op.security.as_ref().is_none_or(Vec::is_empty) {
                continue;
            }
            let responses = &mut op.responses.responses;
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            };
            add(
                "429",
                "Rate limited (the tenant's or the key's limit, or Zernio's pause); Retry-After says when",
            );
            add(
                "503",
                "The store is unreachable, or the gateway is at its connection cap (Retry-After)",
            );
            if method != HttpMethod::Get {
                add(
                    "408",
                    "The request body did not arrive whole within http.body_read_timeout_ms",
                );
                add("400", "A malformed Idempotency-Key or body");
                add(
                    "409",
                    "The request with this Idempotency-Key is still in flight",
                );
                add("422", "This Idempotency-Key was used with another request");
            }
            if op.request_body.is_some() {
                add("413", "The body is larger than http.body_limit_bytes");
                add(
                    "415",
                    "The body is not of a content type the operation reads",
                );
            }
            for parameter in op.parameters.iter_mut().flatten() {
                if parameter.name == "Idempotency-Key"
                    && parameter.parameter_in == ParameterIn::Header
                {
                    parameter.schema = Some(key_schema.clone().into());
                }
            }
        }
    }
}

/// The committed form: pretty JSON with a final newline.
pub fn spec_json() -> String {
    let mut text = spec()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
