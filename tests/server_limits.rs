//! The server's own limits, probed over raw TCP on loopback as a hostile client would: a
//! slowloris head, silent and kept-alive sockets, a full connection cap, a slow upload.
//! Timeouts are configured small; every wait on a socket has a deadline, so a limit that does
//! not hold fails the test instead of hanging it.

mod common;

use std::time::{Duration, Instant};

use common::{ACME_KEY, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough for any limit under test to have acted, short enough to fail fast.
const GIVE_UP: Duration = Duration::from_secs(5);

/// A bare answer: status, headers (names lowercased) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Reads one answer with a `content-length` (every answer of the gateway has one).
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(GIVE_UP, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().expect("content-length"))
        .expect("content-length");
    while buf.len() < head_end + length {
        let n = tokio::time::timeout(GIVE_UP, stream.read(&mut chunk))
            .await
            .expect("the body in time")
            .expect("read");
        assert!(n > 0, "closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    Answer {
        status,
        headers,
        body: buf[head_end..head_end + length].to_vec(),
    }
}

async fn connect(gw: &TestGateway) -> TcpStream {
    TcpStream::connect(gw.addr).await.expect("connect")
}

async fn get(stream: &mut TcpStream, path: &str) -> Answer {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {ACME_KEY}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    read_answer(stream).await
}

/// Waits until the server closes `stream` (end of file or reset), reading and dropping
/// whatever it sends first; the time it took, or `None` when still open after `GIVE_UP`.
async fn closed_within(stream: &mut TcpStream) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + GIVE_UP).into(), stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

fn http(section: &str) -> String {
    format!("[http]\n{section}\n")
}

#[tokio::test]
async fn a_slowloris_head_is_cut_at_the_header_timeout_however_steady_its_drip() {
    // The idle clock is far away: the drip keeps bytes coming, so only the head clock can act.
    let gw = TestGateway::spawn(&http(
        "header_read_timeout_ms = 500\nidle_timeout_ms = 10000",
    ))
    .await;
    const CLIENTS: usize = 20;
    let head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let mut stream = connect(&gw).await;
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut sent = 0;
            let mut chunk = [0u8; 1024];
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    read = stream.read(&mut chunk) => match read {
                        Ok(0) | Err(_) => return (Some(start.elapsed()), sent),
                        Ok(_) => {}
                    },
                    _ = tick.tick() => {
                        if start.elapsed() > GIVE_UP {
                            return (None, sent);
                        }
                        if sent < head.len() {
                            if stream.write_all(&head[sent..sent + 1]).await.is_err() {
                                return (Some(start.elapsed()), sent);
                            }
                            sent += 1;
                        }
                    }
                }
            }
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        let (closed, sent) = task.await.expect("client task");
        let closed = closed.expect("a slowloris connection was still open after 5 s");
        assert!(sent < head.len(), "the whole head went out before the cut");
        times.push(closed);
    }
    let slowest = times.iter().max().copied().unwrap_or_default();
    let fastest = times.iter().min().copied().unwrap_or_default();
    println!(
        "slowloris: {CLIENTS} connections dripping 10 bytes/s, {} closed, in {fastest:?}..{slowest:?} (header timeout 500 ms)",
        times.len()
    );
    assert_eq!(times.len(), CLIENTS);
    assert!(
        fastest >= Duration::from_millis(450),
        "cut before the timeout: {fastest:?}"
    );
    assert!(
        slowest <= Duration::from_millis(1500),
        "cut too late: {slowest:?}"
    );
    // The server itself is unharmed.
    let mut fresh = connect(&gw).await;
    assert_eq!(get(&mut fresh, "/healthz").await.status, 200);
    gw.stop().await;
}

#[tokio::test]
async fn silent_and_kept_alive_connections_are_closed_at_the_idle_timeout() {
    let gw = TestGateway::spawn(&http(
        "header_read_timeout_ms = 10000\nidle_timeout_ms = 400",
    ))
    .await;
    const EACH: usize = 50;
    let mut silent = Vec::new();
    for _ in 0..EACH {
        silent.push(connect(&gw).await);
    }
    let mut kept = Vec::new();
    for _ in 0..EACH {
        let mut stream = connect(&gw).await;
        let answer = get(&mut stream, "/healthz").await;
        assert_eq!(answer.status, 200);
        assert_ne!(answer.header("connection"), Some("close"), "kept alive");
        kept.push(stream);
    }
    let waits = silent
        .into_iter()
        .chain(kept)
        .map(|mut s| tokio::spawn(async move { closed_within(&mut s).await }));
    let mut times = Vec::new();
    for wait in waits {
        times.push(
            wait.await
                .expect("wait task")
                .expect("an idle connection was still open after 5 s"),
        );
    }
    let slowest = times.iter().max().copied().unwrap_or_default();
    println!(
        "idle: {EACH} silent + {EACH} kept-alive connections, {} closed, the last {slowest:?} after the wait began (idle timeout 400 ms)",
        times.len()
    );
    assert_eq!(times.len(), 2 * EACH);
    assert!(
        slowest <= Duration::from_millis(1500),
        "closed too late: {slowest:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_in_use_is_not_cut_by_the_idle_timeout() {
    let gw = TestGateway::spawn(&http(
        "header_read_timeout_ms = 10000\nidle_timeout_ms = 400",
    ))
    .await;
    let mut stream = connect(&gw).await;
    let start = Instant::now();
    let mut answers = 0;
    // Requests every 100 ms for well over the idle timeout, on one connection.
    while start.elapsed() < Duration::from_millis(1200) {
        assert_eq!(get(&mut stream, "/healthz").await.status, 200);
        answers += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers >= 8, "{answers} answers");
    gw.stop().await;
}

#[tokio::test]
async fn at_the_connection_cap_ordinary_clients_are_turned_away_and_probes_still_answer() {
    let gw = TestGateway::spawn(&http(
        "header_read_timeout_ms = 10000\nidle_timeout_ms = 10000\nmax_connections = 5\nprobe_reserve = 2",
    ))
    .await;
    // Five connections served (an answer each proves they hold a slot), then kept open.
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = connect(&gw).await;
        assert_eq!(get(&mut stream, "/healthz").await.status, 200);
        held.push(stream);
    }
    // An ordinary request beyond the cap: a reserve slot answers 503 and closes.
    let mut ordinary = connect(&gw).await;
    let answer = get(&mut ordinary, "/v1/me").await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(answer.json()["code"], "service_unavailable");
    assert!(
        closed_within(&mut ordinary).await.is_some(),
        "closed after the answer"
    );
    // The probes still answer, each on a connection of its own.
    for path in ["/healthz", "/readyz", "/healthz"] {
        let mut probe = connect(&gw).await;
        let answer = get(&mut probe, path).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(closed_within(&mut probe).await.is_some());
    }
    // With the reserve taken too (two silent sockets, accepted in order), the next is closed
    // at once, without an answer.
    let mut squatters = vec![connect(&gw).await, connect(&gw).await];
    let mut refused = connect(&gw).await;
    let refused_in = closed_within(&mut refused).await.expect("refused at once");
    assert!(refused_in < Duration::from_millis(900), "{refused_in:?}");
    // A reserve slot waits at most a second for a probe's head; then probes pass again.
    for squatter in &mut squatters {
        assert!(
            closed_within(squatter).await.is_some(),
            "reserve squatter cut"
        );
    }
    let mut probe = connect(&gw).await;
    assert_eq!(get(&mut probe, "/healthz").await.status, 200);
    // A slot given back is a slot for an ordinary client again.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        // The server notices the close when it reads; a few tries, each bounded.
        let mut stream = connect(&gw).await;
        let answer = get(&mut stream, "/v1/me").await;
        if answer.status == 200 {
            again = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        again.is_some(),
        "an ordinary client was served again after a slot freed"
    );
    println!(
        "cap: 5 held + 1 turned away with 503 + 3 probes answered + 2 reserve squatters cut + 1 refused in {refused_in:?}"
    );
    // Graceful shutdown with the idle connections still open: they are closed, not awaited.
    tokio::time::timeout(GIVE_UP, gw.stop())
        .await
        .expect("shutdown with idle connections open");
}

/// Sends `body` to `path` a byte every 100 ms until an answer comes; the answer, how long it
/// took and how many bytes went.
async fn slow_body(gw: &TestGateway, path: &str, body: &[u8]) -> (Answer, Duration, usize) {
    let mut stream = connect(gw).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {ACME_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let start = Instant::now();
    // A byte every 100 ms: the body would take about 9 s.
    let mut sent = 0;
    let answer = loop {
        let mut peek = [0u8; 1];
        tokio::select! {
            ready = stream.peek(&mut peek) => {
                ready.expect("peek");
                break read_answer(&mut stream).await;
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                assert!(start.elapsed() < GIVE_UP, "no answer to a slow body after 5 s");
                stream.write_all(&body[sent..sent + 1]).await.expect("a body byte");
                sent += 1;
            }
        }
    };
    (answer, start.elapsed(), sent)
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_408_request_timeout() {
    let gw = TestGateway::spawn(&http(
        "header_read_timeout_ms = 10000\nidle_timeout_ms = 10000\nbody_read_timeout_ms = 400",
    ))
    .await;
    let body = br#"{"account": "acc_a1", "caption": "slow", "video": {"url": "https://cdn.example.com/v.mp4"}}"#;
    let (answer, took, sent) = slow_body(&gw, "/v1/tiktok/posts", body).await;
    println!(
        "slow body: answered {} after {took:?} and {sent} of {} bytes (body timeout 400 ms)",
        answer.status,
        body.len()
    );
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(answer.header("connection"), Some("close"));
    let problem = answer.json();
    assert_eq!(problem["code"], "request_timeout");
    assert_eq!(problem["status"], 408);
    assert_eq!(
        problem["request_id"].as_str(),
        answer.header("x-request-id")
    );
    assert!(
        took >= Duration::from_millis(380) && took <= Duration::from_millis(1500),
        "{took:?}"
    );
    assert!(sent < body.len());
    // Nothing was created from the partial body.
    let list = gw.get_with_key("/v1/tiktok/posts", ACME_KEY).await;
    assert_eq!(list.status(), 200);
    let list: serde_json::Value = list.json().await.expect("list");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_body_on_the_zernio_surface_is_answered_in_zernios_shape() {
    let gw = TestGateway::spawn(&http(
        "header_read_timeout_ms = 10000\nidle_timeout_ms = 10000\nbody_read_timeout_ms = 400",
    ))
    .await;
    let body = br#"{"content": "slow", "mediaItems": [{"type": "video", "url": "https://cdn.example.com/v.mp4"}]}"#;
    let (answer, took, sent) = slow_body(&gw, "/api/v1/posts", body).await;
    // Zernio has no 408: its create lists 400, with its ErrorResponse.
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("connection"), Some("close"));
    let error = answer.json();
    assert_eq!(error["type"], "invalid_request_error", "{error}");
    assert!(
        error["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{error}"
    );
    assert!(took <= Duration::from_millis(1500), "{took:?}");
    assert!(sent < body.len());
    gw.stop().await;
}

#[test]
fn the_http_limits_are_validated() {
    let env = std::collections::HashMap::from([(
        "GATEWAY_JWT_SECRET".to_owned(),
        common::HS256_SECRET.to_owned(),
    )]);
    for (section, key) in [
        ("header_read_timeout_ms = 0", "http.header_read_timeout_ms"),
        ("idle_timeout_ms = 0", "http.idle_timeout_ms"),
        ("body_read_timeout_ms = 0", "http.body_read_timeout_ms"),
        ("max_connections = 0", "http.max_connections"),
        ("probe_reserve = 0", "http.probe_reserve"),
    ] {
        let toml = format!("{}\n{}", http(section), common::tenants_toml());
        let error = tiktok_gateway::config::Config::from_toml(&toml, &env)
            .err()
            .unwrap_or_else(|| panic!("{section} accepted"));
        assert!(error.to_string().contains(key), "{section}: {error}");
    }
    let defaults =
        tiktok_gateway::config::Config::from_toml(&common::tenants_toml(), &env).expect("defaults");
    let h = &defaults.http;
    assert_eq!(
        (
            h.header_read_timeout_ms,
            h.idle_timeout_ms,
            h.body_read_timeout_ms,
            h.max_connections,
            h.probe_reserve
        ),
        (10_000, 5_000, 10_000, 1_024, 8)
    );
}

/// The binary under a low file limit, as the finding had it (limit 256, 300 idle sockets):
/// the cap is lowered to fit, the extra sockets are closed, and `/healthz` still answers.
#[test]
fn under_a_low_file_limit_idle_sockets_do_not_silence_the_probes() {
    // The sockets below are this process's descriptors too.
    rlimit::increase_nofile_limit(4096).expect("raise the test's own file limit");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = std::process::Command::new("sh");
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEWAY_") || name.starts_with("ZERNIO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    // Hard 256, soft 200: start-up must raise the soft limit to the hard one.
    let mut child = command
        .args([
            "-c",
            "ulimit -Sn 200 && ulimit -Hn 256 && exec \"$0\" serve",
        ])
        .arg(env!("CARGO_BIN_EXE_tiktok-gateway"))
        .current_dir(dir.path())
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("GATEWAY_LOG_FORMAT", "json")
        .env("GATEWAY_HTTP__IDLE_TIMEOUT_MS", "60000")
        .env("GATEWAY_HTTP__HEADER_READ_TIMEOUT_MS", "60000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn the gateway");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut address, mut limit, mut lowered) = (None, None, None);
    while address.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve logs its address");
        let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if log["fields"]["message"] == "open-file limit" {
            limit = log["fields"]["open_file_limit"].as_u64();
        }
        if log["fields"]["message"] == "tiktok-gateway listening" {
            address = log["fields"]["address"].as_str().map(str::to_owned);
        }
    }
    let address = address.unwrap_or_default();
    assert_eq!(
        limit,
        Some(256),
        "the soft limit raised to the hard one, and logged"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (held, probe_after) = runtime.block_on(async {
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect(&address).await.expect("connect"));
        }
        // The reserve may be held by the last idle sockets for up to a second: a probe that
        // finds it full is closed at once, and the next try is let in.
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < GIVE_UP, "/healthz never answered");
            let mut probe = TcpStream::connect(&address).await.expect("connect");
            let request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";
            if probe.write_all(request).await.is_err() {
                continue;
            }
            let mut chunk = [0u8; 512];
            match tokio::time::timeout(GIVE_UP, probe.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => {
                    assert!(
                        chunk[..n].starts_with(b"HTTP/1.1 200"),
                        "{}",
                        String::from_utf8_lossy(&chunk[..n])
                    );
                    break (idle.len(), start.elapsed());
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    // The warning comes before the listening line or just after; read what is there.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        if line.contains("http.max_connections is above what the open-file limit allows") {
            lowered = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|log| log["fields"]["serving"].as_u64());
        }
    }
    println!(
        "file limit soft 200 / hard 256: raised to {limit:?}, {held} idle sockets open, cap lowered to {lowered:?}, /healthz answered {probe_after:?} later"
    );
    assert_eq!(lowered, Some(256 - 128 - 8));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "graceful exit after SIGTERM: {status}");
}
