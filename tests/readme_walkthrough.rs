//! The README as a newcomer follows it: its checked blocks (the ```sh blocks under a
//! `<!-- checked` comment) run as written, through bash and curl, against a real
//! `tiktok-gateway serve` on the development profile (the sandbox) in a fresh working
//! directory, and every curl's answer must have the status and the fields that the `# 201 {…}`
//! line under it shows (`…`: anything). The README cannot drift: a changed answer or a removed
//! field fails here. Also the `/docs` explorer: its tags in a newcomer's order, and every
//! request body's example works against the sandbox as sent.
//!
//! Only the address is put in: the README's `127.0.0.1:8080` becomes the port this run
//! listens on. curl gets the status from a `.curlrc` of the run (`CURL_HOME`), which writes it to
//! stderr, so the commands keep their exact words.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const BIN: &str = env!("CARGO_BIN_EXE_tiktok-gateway");
const README: &str = include_str!("../README.md");
/// The address the README's commands name.
const README_ADDRESS: &str = "127.0.0.1:8080";
const WEBHOOK_SECRET: &str = "walkthrough-zernio-webhook-secret";

/// `tiktok-gateway serve` with nothing configured, as the README starts it (plus the loopback
/// webhook target its Webhooks section allows), in a temp directory; stopped when dropped.
struct Served {
    child: Child,
    dir: tempfile::TempDir,
    address: String,
    key: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(env: &[(&str, &str)]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEWAY_") || name.starts_with("ZERNIO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .arg("serve")
        .current_dir(dir.path())
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("GATEWAY_LOG_FORMAT", "json")
        .env("GATEWAY_WEBHOOKS__ALLOWED_HOSTS", r#"["127.0.0.1"]"#)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut address = None;
    while address.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve logs its address");
        let log: Value = serde_json::from_str(&line).unwrap_or_default();
        if line.contains("tiktok-gateway listening") {
            address = log["fields"]["address"].as_str().map(str::to_owned);
        }
    }
    let key = std::fs::read_to_string(dir.path().join("data/development-key")).unwrap();
    Served {
        child,
        dir,
        address: address.unwrap(),
        key: key.trim().to_owned(),
    }
}

/// One command of a checked block, and what the README says it answers.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Option<Expected>,
}

#[derive(Debug)]
struct Expected {
    status: u16,
    /// The shown body, when the line shows one.
    body: Option<String>,
}

/// The checked blocks, in order, as one list of steps.
fn checked_steps(readme: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = readme.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("<!-- checked") {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim_end),
            Some("```sh"),
            "a checked mark stands right above a ```sh block"
        );
        let mut block = Vec::new();
        for line in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            block.push(line);
        }
        steps.extend(parse_block(&block));
    }
    steps
}

fn parse_block(block: &[&str]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut i = 0;
    while i < block.len() {
        let line = block[i];
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let Some(expected) = expectation(comment) else {
                continue;
            };
            // Continuation lines (`#   …`) carry on the shown body.
            let mut text = expected.1;
            while i < block.len() && block[i].starts_with("#  ") {
                text.push_str(block[i][1..].trim());
                i += 1;
            }
            let step = steps.last_mut().expect("an expectation follows a command");
            assert!(
                step.command.trim_start().starts_with("curl"),
                "an expectation under a command that is not curl: {}",
                step.command
            );
            step.expected = Some(Expected {
                status: expected.0,
                body: (!text.is_empty()).then_some(text),
            });
            continue;
        }
        // A command runs on while a quote is open or the line ends with a backslash.
        let mut command = line.to_owned();
        while (command.matches('\'').count() % 2 == 1 || command.ends_with('\\')) && i < block.len()
        {
            command.push('\n');
            command.push_str(block[i]);
            i += 1;
        }
        steps.push(Step {
            command,
            expected: None,
        });
    }
    steps
}

/// `# 201 {…}` as (201, `{…}`); `None` for a comment that is not an answer.
fn expectation(comment: &str) -> Option<(u16, String)> {
    let comment = comment.strip_prefix(' ')?;
    let (status, rest) = comment.split_at_checked(3)?;
    let status: u16 = status.parse().ok()?;
    if !(100..600).contains(&status) || !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some((status, rest.trim().to_owned()))
}

/// What one run of the steps printed: each step's stdout and curl's status, in order.
fn run(steps: &[Step], served: &Served) -> Vec<(String, Option<u16>)> {
    let curl_home = served.dir.path().join("curl-home");
    std::fs::create_dir_all(&curl_home).unwrap();
    std::fs::write(
        curl_home.join(".curlrc"),
        "write-out = \"%{stderr}@@status %{http_code}\\n\"\n",
    )
    .unwrap();
    let mut script = String::new();
    for (n, step) in steps.iter().enumerate() {
        script.push_str(&format!(
            "printf '\\n@@step {n}\\n'; printf '\\n@@step {n}\\n' >&2\n"
        ));
        script.push_str(&step.command.replace(README_ADDRESS, &served.address));
        script.push('\n');
    }
    script.push_str("printf '\\n@@step end\\n'; printf '\\n@@step end\\n' >&2\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(served.dir.path())
        .env("CURL_HOME", &curl_home)
        .env("HOME", &curl_home)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let segment = |text: &str, n: usize| -> String {
        let start = format!("\n@@step {n}\n");
        let from = text
            .find(&start)
            .map(|i| i + start.len())
            .unwrap_or(text.len());
        let rest = &text[from..];
        let to = rest.find("\n@@step ").unwrap_or(rest.len());
        rest[..to].to_owned()
    };
    (0..steps.len())
        .map(|n| {
            let status = segment(&stderr, n)
                .lines()
                .filter_map(|l| l.strip_prefix("@@status "))
                .next_back()
                .and_then(|s| s.trim().parse().ok());
            (segment(&stdout, n).trim().to_owned(), status)
        })
        .collect()
}

#[test]
fn the_readme_walk_through_answers_as_written() {
    let steps = checked_steps(README);
    let curls: Vec<&Step> = steps
        .iter()
        .filter(|s| s.command.trim_start().starts_with("curl"))
        .collect();
    assert!(curls.len() >= 20, "{} checked curl commands", curls.len());
    for step in &curls {
        assert!(
            step.expected.is_some(),
            "a checked curl without its `# <status> …` line: {}",
            step.command
        );
    }
    // What the walk-through must show (issue 16): the creator's own violation among all the
    // others, the failure path and its retry, the refusal of a published post.
    let shown: String = steps
        .iter()
        .filter_map(|s| s.expected.as_ref()?.body.clone())
        .collect();
    for needle in [
        "privacy_level_unavailable",
        "\"spam_risk\"",
        "media_download_failed",
        "\"previous\":\"failed\"",
        "post_not_cancellable",
    ] {
        assert!(shown.contains(needle), "the walk-through shows no {needle}");
    }

    let served = serve(&[]);
    let results = run(&steps, &served);
    let mut failures = Vec::new();
    for (step, (body, status)) in steps.iter().zip(&results) {
        let Some(expected) = &step.expected else {
            continue;
        };
        if *status != Some(expected.status) {
            failures.push(format!(
                "{}\n  status {status:?}, the README says {}\n  body: {body}",
                step.command, expected.status
            ));
            continue;
        }
        let Some(shown) = &expected.body else {
            continue;
        };
        let pattern = match Pattern::parse(shown) {
            Ok(p) => p,
            Err(e) => panic!(
                "the README's answer under `{}` is unreadable: {e}",
                step.command
            ),
        };
        let actual: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{}\n  not JSON ({e}): {body}", step.command));
                continue;
            }
        };
        if let Err(e) = pattern.matches(&actual, "$") {
            failures.push(format!(
                "{}\n  {e}\n  README: {shown}\n  answer: {body}",
                step.command
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers differ from the README:\n\n{}",
        failures.len(),
        curls.len(),
        failures.join("\n\n")
    );
}

/// A shown answer: JSON where `…` stands for anything (a value, the rest of an object's
/// members, any run of array items, or any run of characters in a string).
#[derive(Debug)]
enum Pattern {
    Any,
    Value(Value),
    /// A string with `…` in it: the parts between, in order.
    Glob(Vec<String>),
    /// Members, and whether others may be there too.
    Object(Vec<(String, Pattern)>, bool),
    /// Items; `None` is a `…`.
    Array(Vec<Option<Pattern>>),
}

const ELLIPSIS: char = '…';

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut at = 0;
        let pattern = Self::value(&chars, &mut at)?;
        skip_ws(&chars, &mut at);
        // A remark in parentheses may follow the answer.
        if at != chars.len() && chars[at] != '(' {
            return Err(format!(
                "trailing text at {at}: {}",
                &text[text.len().min(at)..]
            ));
        }
        Ok(pattern)
    }

    fn value(c: &[char], at: &mut usize) -> Result<Pattern, String> {
        skip_ws(c, at);
        match c.get(*at) {
            Some(&ELLIPSIS) => {
                *at += 1;
                Ok(Pattern::Any)
            }
            Some('{') => {
                *at += 1;
                let (mut members, mut open) = (Vec::new(), false);
                loop {
                    skip_ws(c, at);
                    match c.get(*at) {
                        Some('}') => {
                            *at += 1;
                            return Ok(Pattern::Object(members, open));
                        }
                        Some(',') => *at += 1,
                        Some(&ELLIPSIS) => {
                            *at += 1;
                            open = true;
                        }
                        Some('"') => {
                            let key = string(c, at)?;
                            skip_ws(c, at);
                            if c.get(*at) != Some(&':') {
                                return Err(format!("`:` expected at {at}"));
                            }
                            *at += 1;
                            members.push((key, Self::value(c, at)?));
                        }
                        other => return Err(format!("unexpected {other:?} at {at} in an object")),
                    }
                }
            }
            Some('[') => {
                *at += 1;
                let mut items = Vec::new();
                loop {
                    skip_ws(c, at);
                    match c.get(*at) {
                        Some(']') => {
                            *at += 1;
                            return Ok(Pattern::Array(items));
                        }
                        Some(',') => *at += 1,
                        Some(&ELLIPSIS) => {
                            *at += 1;
                            items.push(None);
                        }
                        _ => items.push(Some(Self::value(c, at)?)),
                    }
                }
            }
            Some('"') => {
                let text = string(c, at)?;
                if text.contains(ELLIPSIS) {
                    Ok(Pattern::Glob(
                        text.split(ELLIPSIS).map(str::to_owned).collect(),
                    ))
                } else {
                    Ok(Pattern::Value(Value::String(text)))
                }
            }
            Some(_) => {
                let start = *at;
                while c
                    .get(*at)
                    .is_some_and(|ch| !matches!(ch, ',' | '}' | ']') && !ch.is_whitespace())
                {
                    *at += 1;
                }
                let token: String = c[start..*at].iter().collect();
                serde_json::from_str(&token)
                    .map(Pattern::Value)
                    .map_err(|e| format!("`{token}` at {start}: {e}"))
            }
            None => Err("the answer ends early".to_owned()),
        }
    }

    fn matches(&self, actual: &Value, path: &str) -> Result<(), String> {
        match self {
            Pattern::Any => Ok(()),
            Pattern::Value(v) if v == actual => Ok(()),
            Pattern::Value(v) => Err(format!("{path}: {actual}, the README shows {v}")),
            Pattern::Glob(parts) => match actual.as_str() {
                Some(s) if glob(parts, s) => Ok(()),
                _ => Err(format!(
                    "{path}: {actual}, the README shows \"{}\"",
                    parts.join("…")
                )),
            },
            Pattern::Object(members, open) => {
                let Some(map) = actual.as_object() else {
                    return Err(format!("{path}: {actual} is not an object"));
                };
                for (key, pattern) in members {
                    match map.get(key) {
                        Some(v) => pattern.matches(v, &format!("{path}.{key}"))?,
                        None => return Err(format!("{path}.{key} is missing")),
                    }
                }
                if !open && map.len() != members.len() {
                    let extra: Vec<&String> = map
                        .keys()
                        .filter(|k| !members.iter().any(|(m, _)| m == *k))
                        .collect();
                    return Err(format!(
                        "{path} has members the README does not show: {extra:?}"
                    ));
                }
                Ok(())
            }
            Pattern::Array(items) => {
                let Some(list) = actual.as_array() else {
                    return Err(format!("{path}: {actual} is not an array"));
                };
                if items_match(items, list, path) {
                    Ok(())
                } else {
                    Err(format!(
                        "{path}: {actual} does not match the README's {} items",
                        items.len()
                    ))
                }
            }
        }
    }
}

fn items_match(items: &[Option<Pattern>], list: &[Value], path: &str) -> bool {
    match items.split_first() {
        None => list.is_empty(),
        Some((None, rest)) => (0..=list.len()).any(|skip| items_match(rest, &list[skip..], path)),
        Some((Some(p), rest)) => list.split_first().is_some_and(|(first, tail)| {
            p.matches(first, path).is_ok() && items_match(rest, tail, path)
        }),
    }
}

fn glob(parts: &[String], text: &str) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return true;
    };
    if !text.starts_with(first.as_str()) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle.as_str()) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last.as_str())
}

fn skip_ws(c: &[char], at: &mut usize) {
    while c.get(*at).is_some_and(|ch| ch.is_whitespace()) {
        *at += 1;
    }
}

fn string(c: &[char], at: &mut usize) -> Result<String, String> {
    let start = *at;
    *at += 1;
    let mut out = String::from('"');
    while let Some(&ch) = c.get(*at) {
        *at += 1;
        out.push(ch);
        if ch == '\\' {
            if let Some(&next) = c.get(*at) {
                out.push(next);
                *at += 1;
            }
        } else if ch == '"' {
            return serde_json::from_str(&out).map_err(|e| format!("string at {start}: {e}"));
        }
    }
    Err(format!("unterminated string at {start}"))
}

#[test]
fn the_answer_patterns_mean_what_the_readme_says() {
    let p =
        Pattern::parse(r#"{"id":"…","url":"https://x/video/…","n":1,"list":["a",…],…}"#).unwrap();
    let good: Value = serde_json::from_str(
        r#"{"id":"p1","url":"https://x/video/7","n":1,"list":["a","b"],"more":true}"#,
    )
    .unwrap();
    assert!(p.matches(&good, "$").is_ok());
    for bad in [
        r#"{"id":"p1","url":"https://y/video/7","n":1,"list":["a"]}"#,
        r#"{"id":"p1","url":"https://x/video/7","n":2,"list":["a"]}"#,
        r#"{"id":"p1","url":"https://x/video/7","n":1,"list":["b","a"]}"#,
        r#"{"url":"https://x/video/7","n":1,"list":["a"]}"#,
    ] {
        let bad: Value = serde_json::from_str(bad).unwrap();
        assert!(p.matches(&bad, "$").is_err(), "{bad}");
    }
    // Without `…` an object has exactly the members shown.
    let closed = Pattern::parse(r#"{"a":1}"#).unwrap();
    assert!(
        closed
            .matches(&serde_json::json!({"a": 1, "b": 2}), "$")
            .is_err()
    );
    assert_eq!(expectation(" 201 {}"), Some((201, "{}".to_owned())));
    assert_eq!(expectation(" 204"), Some((204, String::new())));
    assert_eq!(expectation(" A video, published now."), None);
}

/// The explorer: the tags in the order a newcomer needs them, and every request body's
/// example, taken from the served spec, answered 2xx by the sandbox as sent.
#[test]
fn every_request_body_example_works_against_the_sandbox() {
    let served = serve(&[("ZERNIO_WEBHOOK_SECRET", WEBHOOK_SECRET)]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("http://{}", served.address);
        let spec: Value = client
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tags: Vec<&str> = spec["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(
            tags[..5],
            ["posts", "accounts", "analytics", "webhooks", "operations"]
        );
        // Every operation's tag is listed, so none lands above the first five.
        for (_, item) in spec["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                for tag in op["tags"].as_array().into_iter().flatten() {
                    assert!(tags.contains(&tag.as_str().unwrap()), "{tag} not in {tags:?}");
                }
            }
        }
        // The explorer's page is the binary's own (nothing loaded from elsewhere).
        let docs = client
            .get(format!("{base}/docs/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(docs.contains("swagger-ui"), "{docs}");
        assert!(!docs.contains("https://"), "the explorer loads from elsewhere: {docs}");

        // A scheduled post for the examples that edit one (`{id}`).
        let scheduled = |caption: &str| {
            serde_json::json!({
                "account": "sandbox_private", "caption": caption,
                "video": {"url": format!("https://cdn.example.com/{}.mp4", caption.len())},
                "privacy": "followers", "allow_comment": true, "allow_duet": false, "allow_stitch": false,
                "schedule_at": "2027-08-01T09:00:00Z",
                "consent": {"content_preview_confirmed": true, "express_consent_given": true}
            })
        };
        let mut sent = 0;
        let mut failures = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(content) = op["requestBody"]["content"].as_object() else {
                    continue;
                };
                for (content_type, media) in content {
                    let example = &media["example"];
                    assert!(
                        !example.is_null(),
                        "{method} {path} ({content_type}) has no example"
                    );
                    let mut url = format!("{base}{path}");
                    if path.contains("{id}") {
                        let created: Value = client
                            .post(format!("{base}/v1/tiktok/posts"))
                            .bearer_auth(&served.key)
                            .json(&scheduled(&format!("To edit {sent} {method} {path}")))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        url = url.replace("{id}", created["id"].as_str().unwrap());
                    }
                    let body = if content_type == "application/x-www-form-urlencoded" {
                        let pairs: Vec<(String, String)> = example
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                            .collect();
                        serde_urlencoded::to_string(pairs).unwrap()
                    } else {
                        example.to_string()
                    };
                    let method_ = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                        .unwrap();
                    let mut request = client
                        .request(method_, &url)
                        .header("content-type", content_type)
                        .bearer_auth(&served.key);
                    if path == "/v1/upstream/zernio/webhooks" {
                        let mut mac =
                            Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
                        mac.update(body.as_bytes());
                        request = request
                            .header("x-zernio-signature", hex::encode(mac.finalize().into_bytes()));
                    }
                    let response = request.body(body).send().await.unwrap();
                    sent += 1;
                    let status = response.status();
                    if !status.is_success() {
                        let text = response.text().await.unwrap_or_default();
                        failures.push(format!("{method} {path} ({content_type}): {status} {text}"));
                    }
                }
            }
        }
        assert!(sent >= 11, "{sent} examples");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

/// The README's "What the sandbox simulates" names what the sandbox does: its creators, the
/// cap, duplicates and replays, both failure triggers, and every webhook event its source
/// can send (taken from the source, so a new one must be documented).
#[test]
fn the_readme_documents_what_the_sandbox_simulates() {
    let start = README
        .find("### What the sandbox simulates")
        .expect("the section exists");
    let section = &README[start..];
    let section = &section[..section[4..].find("\n## ").map_or(section.len(), |i| i + 4)];
    let source: String = ["mod.rs", "model.rs", "handlers.rs", "webhooks.rs"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(format!("{}/src/sandbox/{f}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
        })
        .collect();
    let mut needles: Vec<String> = [
        "sandbox_public",
        "sandbox_private",
        "daily_cap",
        "daily_limit_reached",
        "existingPostId",
        "Idempotency-Key",
        "x-request-id",
        ".invalid",
        "#sandbox_spam",
        "spam_risk",
        "media_download_failed",
        "retry",
        "Creator Inbox",
        "X-Zernio-Signature",
        "sandbox.json",
        "dryRun",
    ]
    .map(str::to_owned)
    .to_vec();
    // Every event name the sandbox's source spells.
    let mut rest = source.as_str();
    while let Some(i) = rest.find("\"post.") {
        let name = &rest[i + 1..];
        let end = name.find('"').unwrap_or(name.len());
        let name = &name[..end];
        if !name.ends_with('.') {
            needles.push(format!("`{name}`"));
        }
        rest = &rest[i + 1 + end..];
    }
    assert!(
        source.contains("\"#sandbox_spam\""),
        "the spam marker moved"
    );
    let missing: Vec<&String> = needles
        .iter()
        .filter(|n| !section.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the README's sandbox section lacks {missing:?}"
    );
}
