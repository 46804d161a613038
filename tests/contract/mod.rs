//! Zernio's published contract, enforced: the TikTok subset of Zernio's OpenAPI 1.444.0
//! (`zernio-openapi.json` beside this file, cut by `scripts/zernio-spec` from the `openapi.yaml`
//! in the crates.io package `zernio`) and a validator for requests, answers and webhook payloads
//! against it.
//!
//! Test binaries reach it through the harness: `mod common;` then `common::contract::...`
//! (`tests/common/mod.rs` declares it with `#[path]`), so the fake Zernio and the tests share one
//! loaded copy and one coverage count per test binary.
//!
//! The document is parsed once, registered whole as one JSON Schema 2020-12 resource (OpenAPI
//! 3.1's dialect) under [`BASE`], so every `#/components/...` reference inside a schema resolves
//! against it; a validator per JSON pointer is compiled on first use and kept. Formats are
//! asserted (`uuid`, `date`, `date-time`, `uri`): Zernio's server checks them, and a gateway that
//! sends a caller's free-form request id where Zernio wants a UUID is exactly what this is for.
//!
//! One reading is looser than the letter: every `oneOf` is taken as `anyOf`. Zernio's branches
//! require almost nothing (`PostCreateResponse` and `TikTokDryRunVerdict` on a create's 200,
//! `AnalyticsSinglePostResponse` and `AnalyticsListResponse` on analytics), so a real answer is
//! valid under both and a strict `oneOf` would refuse every one of them; "valid under at least
//! one" is what the spec means.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderMap;
use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;

/// The vendored document.
pub const SPEC_JSON: &str = include_str!("zernio-openapi.json");
/// The URI the document is registered under; never fetched (there is no retriever).
pub const BASE: &str = "urn:zernio:openapi";
/// The prefix of Zernio's server URL (`https://zernio.com/api`) that request paths carry.
pub const SERVER_PREFIX: &str = "/api";

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Longest piece of a value quoted in a message: enough to see what was wrong, not a whole post.
const QUOTE: usize = 300;

/// One operation of the spec.
#[derive(Debug)]
struct Operation {
    /// Upper case, as HTTP spells it.
    method: String,
    template: String,
    /// `None` for a `{param}` segment.
    segments: Vec<Option<String>>,
    id: &'static str,
    /// JSON pointer of the operation object (`/paths/~1v1~1posts/post`).
    pointer: String,
}

impl Operation {
    fn matches(&self, method: &str, segments: &[&str]) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(want, got)| match want {
                    Some(literal) => literal == got,
                    None => !got.is_empty(),
                })
    }

    fn literal_count(&self) -> usize {
        self.segments.iter().filter(|s| s.is_some()).count()
    }
}

/// What the contract suite has seen in this test binary: the closing note's figures.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub requests: u64,
    pub requests_invalid: u64,
    pub responses: u64,
    pub responses_invalid: u64,
    pub webhooks: u64,
    pub webhooks_invalid: u64,
    /// Operations requests were validated for.
    pub operations: BTreeSet<&'static str>,
    /// (operationId, status) of the answers validated.
    pub statuses: BTreeSet<(&'static str, String)>,
    /// Webhook events validated.
    pub events: BTreeSet<String>,
    /// Every violation found, in order.
    pub violations: Vec<String>,
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = contract();
        writeln!(
            f,
            "contract: {} requests validated ({} invalid), {} answers validated ({} off-spec), {} webhook payloads ({} invalid)",
            self.requests,
            self.requests_invalid,
            self.responses,
            self.responses_invalid,
            self.webhooks,
            self.webhooks_invalid
        )?;
        let ops: BTreeSet<&str> = self
            .operations
            .iter()
            .copied()
            .chain(self.statuses.iter().map(|(op, _)| *op))
            .collect();
        writeln!(
            f,
            "contract: {} of {} operations seen, {} of {} (operation, status) pairs answered, {} of {} webhook events",
            ops.len(),
            c.operations.len(),
            self.statuses.len(),
            c.statuses().len(),
            self.events.len(),
            c.events().len()
        )?;
        let mut by_op: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (op, status) in &self.statuses {
            by_op.entry(op).or_default().push(status);
        }
        for (op, statuses) in by_op {
            writeln!(f, "  {op}: {}", statuses.join(", "))?;
        }
        for v in &self.violations {
            writeln!(f, "  VIOLATION {v}")?;
        }
        Ok(())
    }
}

/// The loaded contract.
pub struct Contract {
    doc: &'static Value,
    registry: &'static Registry<'static>,
    operations: Vec<Operation>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
    coverage: Mutex<Coverage>,
}

/// The contract of this test binary, loaded on first use.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(Contract::load)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `~` and `/` escaped for a JSON pointer segment (RFC 6901).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Renames every `oneOf` keyword to `anyOf` (see the module's doc for why).
fn one_of_as_any_of(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(branches) = map.remove("oneOf") {
                map.insert("anyOf".to_owned(), branches);
            }
            for child in map.values_mut() {
                one_of_as_any_of(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(one_of_as_any_of),
        _ => {}
    }
}

/// A JSON pointer as a URI fragment: what a fragment may not hold (`{` of a path template, ...)
/// percent-encoded.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn quote(v: &str) -> String {
    if v.chars().count() <= QUOTE {
        v.to_owned()
    } else {
        let cut: String = v.chars().take(QUOTE).collect();
        format!("{cut}…")
    }
}

impl Contract {
    fn load() -> Contract {
        let mut parsed: Value =
            serde_json::from_str(SPEC_JSON).expect("the vendored contract is JSON");
        one_of_as_any_of(&mut parsed);
        let doc: &'static Value = Box::leak(Box::new(parsed));
        let registry: &'static Registry<'static> = Box::leak(Box::new(
            Registry::new()
                .draft(Draft::Draft202012)
                .add(BASE, Draft::Draft202012.create_resource(doc.clone()))
                .expect("the base URI parses")
                .prepare()
                .expect("the contract registers as a schema resource"),
        ));
        let mut operations = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (template, item) in paths {
                let segments = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            None
                        } else {
                            Some(s.to_owned())
                        }
                    })
                    .collect::<Vec<_>>();
                for method in METHODS {
                    let Some(op) = item.get(method) else { continue };
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        segments: segments.clone(),
                        id: op["operationId"].as_str().unwrap_or("unnamed"),
                        pointer: format!("/paths/{}/{method}", escape(template)),
                    });
                }
            }
        }
        Contract {
            doc,
            registry,
            operations,
            validators: Mutex::new(HashMap::new()),
            coverage: Mutex::new(Coverage::default()),
        }
    }

    pub fn document(&self) -> &'static Value {
        self.doc
    }

    /// Every (operationId, status) the spec lists.
    pub fn statuses(&self) -> Vec<(&'static str, &'static str)> {
        self.operations
            .iter()
            .flat_map(|op| {
                let responses = self.at(&format!("{}/responses", op.pointer));
                responses
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|r| r.keys())
                    .map(move |status| (op.id, status.as_str()))
            })
            .collect()
    }

    /// The statuses the spec lists for an operation.
    pub fn statuses_of(&self, operation_id: &str) -> Vec<&'static str> {
        self.statuses()
            .into_iter()
            .filter(|(op, _)| *op == operation_id)
            .map(|(_, s)| s)
            .collect()
    }

    pub fn events(&self) -> Vec<&'static str> {
        self.doc["webhooks"]
            .as_object()
            .map(|w| w.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn at(&self, pointer: &str) -> Option<&'static Value> {
        self.doc.pointer(pointer)
    }

    /// Follows `$ref`s of an object (a parameter, a response) to what they name.
    fn resolve(&self, mut pointer: String) -> Option<(String, &'static Value)> {
        for _ in 0..8 {
            let v = self.at(&pointer)?;
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => pointer = r.strip_prefix('#')?.to_owned(),
                None => return Some((pointer, v)),
            }
        }
        None
    }

    fn validator(&self, pointer: &str) -> Arc<Validator> {
        if let Some(v) = lock(&self.validators).get(pointer) {
            return v.clone();
        }
        let wrapper = serde_json::json!({"$ref": format!("{BASE}#{}", fragment(pointer))});
        let built = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(self.registry)
            .should_validate_formats(true)
            .build(&wrapper)
            .unwrap_or_else(|e| panic!("the contract's schema at {pointer} compiles: {e}"));
        let built = Arc::new(built);
        lock(&self.validators).insert(pointer.to_owned(), built.clone());
        built
    }

    /// Validates `value` against the schema at `pointer`; readable messages prefixed by `what`.
    fn check(&self, pointer: &str, what: &str, value: &Value, errors: &mut Vec<String>) {
        let validator = self.validator(pointer);
        let found: Vec<String> = validator
            .iter_errors(value)
            .map(|e| {
                let at = e.instance_path().as_str().to_owned();
                let at = if at.is_empty() { "(root)".into() } else { at };
                format!("{what} {at}: {}", describe(&e))
            })
            .collect();
        if found.is_empty() {
            return;
        }
        errors.extend(found);
        // "not valid under any of the schemas listed in anyOf" says nothing; say why per branch.
        let branches = self
            .at(pointer)
            .and_then(|schema| schema.get("anyOf"))
            .and_then(Value::as_array);
        for (i, branch) in branches.into_iter().flatten().enumerate() {
            let name = branch
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("anyOf[{i}]"));
            let v = self.validator(&format!("{pointer}/anyOf/{i}"));
            let why: Vec<String> = v
                .iter_errors(value)
                .take(3)
                .map(|e| format!("{} {}", e.instance_path().as_str(), describe(&e)))
                .collect();
            if !why.is_empty() {
                errors.push(format!("{what} as {name}: {}", why.join("; ")));
            }
        }
    }

    /// The operation a request is for: `path` as the server saw it (Zernio's `/api` prefix is
    /// taken off when present), templates with more literal segments first.
    pub fn operation(&self, method: &str, path: &str) -> Option<&'static str> {
        self.find(method, path).map(|op| op.id)
    }

    fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let path = path.strip_prefix(SERVER_PREFIX).unwrap_or(path);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.matches(method, &segments))
            .max_by_key(|op| op.literal_count())
    }

    fn operation_by_id(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|op| op.id == id)
    }

    /// The parameters of an operation (path-level ones too, operation-level winning), with the
    /// pointer of each one's schema.
    fn parameters(&self, op: &Operation) -> Vec<(&'static Value, String)> {
        let mut out: Vec<(&'static Value, String)> = Vec::new();
        let item = format!("/paths/{}", escape(&op.template));
        for base in [
            format!("{}/parameters", op.pointer),
            format!("{item}/parameters"),
        ] {
            let Some(list) = self.at(&base).and_then(Value::as_array) else {
                continue;
            };
            for i in 0..list.len() {
                let Some((pointer, p)) = self.resolve(format!("{base}/{i}")) else {
                    continue;
                };
                let same = |q: &&(&Value, String)| q.0["name"] == p["name"] && q.0["in"] == p["in"];
                if !out.iter().any(|q| same(&q)) {
                    out.push((p, format!("{pointer}/schema")));
                }
            }
        }
        out
    }

    /// See [`validate_request`].
    pub fn validate_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Result<&'static str, Vec<String>> {
        let mut errors = Vec::new();
        let Some(op) = self.find(method, path) else {
            let e = vec![format!(
                "{method} {path}: no operation of Zernio's spec has this method and path"
            )];
            self.count_request(None, &e);
            return Err(e);
        };
        let id = op.id;
        let params = self.parameters(op);

        // Query: every name declared, every value of the declared type.
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let declared = params
                .iter()
                .find(|(p, _)| p["in"] == "query" && p["name"] == name.as_ref());
            match declared {
                None => {
                    let names: Vec<&str> = params
                        .iter()
                        .filter(|(p, _)| p["in"] == "query")
                        .filter_map(|(p, _)| p["name"].as_str())
                        .collect();
                    errors.push(format!(
                        "{id} query `{name}` is not a parameter the spec declares ({})",
                        names.join(", ")
                    ));
                }
                Some((p, schema)) => {
                    let typed = typed_value(&p["schema"], &value);
                    self.check(schema, &format!("{id} query `{name}`"), &typed, &mut errors);
                }
            }
        }
        let given: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect();
        for (p, schema) in &params {
            let name = p["name"].as_str().unwrap_or_default();
            let required = p["required"] == true;
            match p["in"].as_str() {
                Some("query") if required && !given.iter().any(|g| g == name) => {
                    errors.push(format!("{id} query `{name}` is required"));
                }
                Some("header") => match headers.get(name) {
                    None if required => errors.push(format!("{id} header `{name}` is required")),
                    None => {}
                    Some(v) => match v.to_str() {
                        Ok(s) => {
                            let typed = typed_value(&p["schema"], s);
                            self.check(
                                schema,
                                &format!("{id} header `{name}`"),
                                &typed,
                                &mut errors,
                            )
                        }
                        Err(_) => errors.push(format!("{id} header `{name}` is not visible ASCII")),
                    },
                },
                _ => {}
            }
        }
        // bearerAuth, the scheme every operation is documented under.
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|k| !k.trim().is_empty());
        if !bearer {
            errors.push(format!(
                "{id} header `Authorization: Bearer <key>` is required (bearerAuth)"
            ));
        }

        // Body.
        let request_body = self.resolve(format!("{}/requestBody", op.pointer));
        match (request_body, body) {
            (None, Some(b)) if !b.is_null() => errors.push(format!(
                "{id} takes no request body, got {}",
                quote(&b.to_string())
            )),
            (None, _) => {}
            (Some((_, rb)), None) => {
                if rb["required"] == true {
                    errors.push(format!("{id} request body is required"));
                }
            }
            (Some((pointer, rb)), Some(b)) => {
                let json = rb["content"].get("application/json").is_some();
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !json {
                    errors.push(format!("{id} request body: the spec declares no JSON body"));
                } else {
                    if !content_type.starts_with("application/json") {
                        errors.push(format!(
                            "{id} request body sent as `{content_type}`, not application/json"
                        ));
                    }
                    let schema = format!("{pointer}/content/application~1json/schema");
                    self.check(&schema, &format!("{id} request body"), b, &mut errors);
                }
            }
        }
        self.count_request(Some(id), &errors);
        if errors.is_empty() {
            Ok(id)
        } else {
            Err(errors)
        }
    }

    /// See [`validate_response`].
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let Some(op) = self.find(method, path) else {
            let e = vec![format!(
                "{method} {path}: no operation of Zernio's spec has this method and path"
            )];
            self.count_response(None, status, &e);
            return Err(e);
        };
        let id = op.id;
        let responses = format!("{}/responses", op.pointer);
        let listed: Vec<&str> = self
            .at(&responses)
            .and_then(Value::as_object)
            .map(|r| r.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let exact = status.to_string();
        let class = format!("{}XX", status / 100);
        let key = [exact.as_str(), class.as_str(), "default"]
            .into_iter()
            .find(|k| listed.iter().any(|l| l.eq_ignore_ascii_case(k)));
        let mut errors = Vec::new();
        match key {
            None => errors.push(format!(
                "{id} answered {status}, which is not a status the spec lists for it ({})",
                listed.join(", ")
            )),
            Some(key) => {
                let Some((pointer, response)) = self.resolve(format!("{responses}/{key}")) else {
                    errors.push(format!(
                        "{id} {status}: the spec's response does not resolve"
                    ));
                    self.count_response(Some(id), status, &errors);
                    return Err(errors);
                };
                let schema = response["content"]
                    .get("application/json")
                    .and_then(|c| c.get("schema"))
                    .map(|_| format!("{pointer}/content/application~1json/schema"));
                match (schema, body) {
                    (Some(schema), Some(b)) => {
                        self.check(&schema, &format!("{id} {status} body"), b, &mut errors)
                    }
                    (Some(_), None) => errors.push(format!(
                        "{id} {status}: the spec's answer has a JSON body, none was given"
                    )),
                    (None, _) => {}
                }
            }
        }
        self.count_response(Some(id), status, &errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// See [`validate_webhook`].
    pub fn validate_webhook(&self, event: &str, body: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let base = format!("/webhooks/{}/post/requestBody", escape(event));
        match self.resolve(base) {
            None => errors.push(format!("webhook `{event}` is not an event the spec lists")),
            Some((pointer, _)) => {
                let schema = format!("{pointer}/content/application~1json/schema");
                self.check(&schema, &format!("webhook {event}"), body, &mut errors);
                if body["event"] != event {
                    errors.push(format!(
                        "webhook {event}: the payload's `event` is {}",
                        body["event"]
                    ));
                }
            }
        }
        let mut c = lock(&self.coverage);
        c.webhooks += 1;
        if errors.is_empty() {
            c.events.insert(event.to_owned());
            Ok(())
        } else {
            c.webhooks_invalid += 1;
            c.violations.extend(errors.iter().cloned());
            Err(errors)
        }
    }

    /// Validates a value against a named component schema (`PostCreateResponse`, ...), outside
    /// the coverage count.
    pub fn validate_schema(&self, name: &str, value: &Value) -> Result<(), Vec<String>> {
        let pointer = format!("/components/schemas/{}", escape(name));
        if self.at(&pointer).is_none() {
            return Err(vec![format!("the spec has no schema `{name}`")]);
        }
        let mut errors = Vec::new();
        self.check(&pointer, name, value, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The operation's example request bodies (`requestBody.content.application/json.examples`).
    pub fn request_examples(&self, operation_id: &str) -> Vec<(&'static str, &'static Value)> {
        let Some(op) = self.operation_by_id(operation_id) else {
            return Vec::new();
        };
        let Some((pointer, _)) = self.resolve(format!("{}/requestBody", op.pointer)) else {
            return Vec::new();
        };
        self.at(&format!("{pointer}/content/application~1json/examples"))
            .and_then(Value::as_object)
            .map(|e| {
                e.iter()
                    .filter_map(|(name, ex)| ex.get("value").map(|v| (name.as_str(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn count_request(&self, id: Option<&'static str>, errors: &[String]) {
        let mut c = lock(&self.coverage);
        c.requests += 1;
        if let Some(id) = id {
            c.operations.insert(id);
        }
        if !errors.is_empty() {
            c.requests_invalid += 1;
            c.violations.extend(errors.iter().cloned());
        }
    }

    fn count_response(&self, id: Option<&'static str>, status: u16, errors: &[String]) {
        let mut c = lock(&self.coverage);
        c.responses += 1;
        if let Some(id) = id {
            if errors.is_empty() {
                c.statuses.insert((id, status.to_string()));
            }
        }
        if !errors.is_empty() {
            c.responses_invalid += 1;
            c.violations.extend(errors.iter().cloned());
        }
    }

    pub fn coverage(&self) -> Coverage {
        lock(&self.coverage).clone()
    }
}

/// An error as a line: the value quoted when short, else the reason alone (a whole post quoted
/// hides why it failed).
fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    let full = e.to_string();
    if full.chars().count() <= QUOTE {
        full
    } else {
        quote(&e.masked().to_string())
    }
}

/// A query or header value as the JSON value its schema types it as: `"10"` is 10 for an
/// integer parameter, `"true"` true for a boolean; anything that does not parse stays a string,
/// so the validator says it is the wrong type.
fn typed_value(schema: &Value, raw: &str) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for t in types {
        match t {
            "integer" => {
                if let Ok(n) = raw.parse::<i64>() {
                    return Value::from(n);
                }
            }
            "number" => {
                if let Ok(n) = raw.parse::<f64>()
                    && let Some(n) = serde_json::Number::from_f64(n)
                {
                    return Value::Number(n);
                }
            }
            "boolean" => match raw {
                "true" => return Value::Bool(true),
                "false" => return Value::Bool(false),
                _ => {}
            },
            _ => {}
        }
    }
    Value::String(raw.to_owned())
}

/// Checks a request as Zernio would receive it: the method and path are an operation of the
/// spec (path templates; the `/api` prefix of the server URL taken off), every query parameter
/// is one it declares with a value of its schema, the headers it declares are present when
/// required and of their schema (`x-request-id` a UUID, `Idempotency-Key` at most 255), bearer
/// auth is sent, and the body (`None`: no body) validates against the operation's requestBody.
/// Ok is the operationId.
pub fn validate_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Result<&'static str, Vec<String>> {
    contract().validate_request(method, path, query, headers, body)
}

/// Checks an answer: the status is one the spec lists for the operation (exactly, or its `2XX`
/// class, or `default`), and the body validates against that status's JSON schema when the
/// spec gives one.
pub fn validate_response(
    method: &str,
    path: &str,
    status: u16,
    body: Option<&Value>,
) -> Result<(), Vec<String>> {
    contract().validate_response(method, path, status, body)
}

/// Checks a webhook payload against the spec's payload for `event` (`WebhookPayloadPost`,
/// `WebhookPayloadPostPlatform`, ...), and that its `event` names it.
pub fn validate_webhook(event: &str, body: &Value) -> Result<(), Vec<String>> {
    contract().validate_webhook(event, body)
}

/// A snapshot of this test binary's figures; `Display` prints them for the closing note.
pub fn coverage() -> Coverage {
    contract().coverage()
}
