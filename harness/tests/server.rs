//! `last serve`'s HTTP contract, in process on an ephemeral loopback port:
//! every status, the metrics counters, concurrent and disconnecting
//! clients, a full queue, graceful shutdown, and lists equal to
//! `Model::serve`'s. Nothing here asserts on latency.
#![cfg(feature = "server")]

use last::model::{Config, Model};
use last::serve::{Request, Scratch, Variant};
use last::server::decode::Defaults;
use last::server::{App, Settings};
use last_kernels::{Backend, MatRef};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

struct Running {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    fn stop(&mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.thread.take().map_or(Ok(()), |t| t.join().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn model() -> Arc<Model> {
    Arc::new(Model::random(Config::standard(), 7, Backend::detect()).unwrap())
}

fn start(model: Arc<Model>, settings: Settings) -> Running {
    let defaults = Defaults {
        variant: Variant::parallel_standard(),
        budget: Duration::from_secs(3600),
    };
    let app = App::new(model, defaults, settings).unwrap();
    let (addr_tx, addr_rx) = channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = Arc::clone(&app);
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addr_tx.send(l.local_addr()?).unwrap();
            last::server::run(served, l, async {
                let _ = stopped.await;
            })
            .await
        })
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    Running {
        addr,
        app,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// One HTTP/1.1 exchange with a JSON body: status, headers (lower-cased
/// names), body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
    http_typed(addr, method, path, "application/json", body)
}

/// [`http`] with a given content type.
fn http_typed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

fn features(n: usize, seed: u32) -> (Vec<f32>, Vec<f32>) {
    let f = |i: usize| ((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / u32::MAX as f32 - 0.5;
    (
        (0..n * 64).map(f).collect(),
        (0..32).map(|i| f(i + 7919)).collect(),
    )
}

fn body(items: &[f32], user: &[f32], len: usize, extra: &str) -> String {
    let rows: Vec<String> = items
        .chunks(64)
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    format!(
        r#"{{"user":{},"items":[{}],"length":{len}{extra}}}"#,
        serde_json::to_string(user).unwrap(),
        rows.join(",")
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_start)
                .and_then(|r| r.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

#[test]
fn lists_equal_model_serve_for_the_same_seed() {
    let m = model();
    let srv = start(Arc::clone(&m), Settings::default());
    for (i, name) in [
        "parallel-gaussian-w2-16",
        "best-of-16",
        "gradient-l4-s3",
        "baseline",
    ]
    .iter()
    .enumerate()
    {
        let (items, user) = features(50, i as u32);
        let extra = format!(r#","variant":"{name}","seed":{i},"budget_us":{}"#, u64::MAX);
        let (status, _, b) = http(
            srv.addr,
            "POST",
            "/rank",
            body(&items, &user, 10, &extra).as_bytes(),
        );
        assert_eq!(status, 200, "{b}");
        let v = json(&b);
        let req = Request {
            user: &user,
            items: MatRef::new(&items, 50, 64).unwrap(),
            len: 10,
            seed: i as u64,
            variant: name.parse().unwrap(),
            budget: Duration::MAX,
            compute: last::serve::Compute::Model,
        };
        let want = m.serve(&req, &mut Scratch::default(), None).unwrap();
        let list: Vec<usize> = serde_json::from_value(v["list"].clone()).unwrap();
        assert_eq!(list, want.list, "{name}");
        assert_eq!(v["variant"], *name);
        assert_eq!(v["candidates"], want.candidates);
        assert_eq!(v["budget_exhausted"], false);
        assert_eq!(v["score"].as_f64().unwrap() as f32, want.score);
    }
}

#[test]
fn every_status_with_its_message_and_counter() {
    let settings = Settings {
        max_body_bytes: 64 << 10,
        ..Settings::default()
    };
    let srv = start(model(), settings);
    let (items, user) = features(5, 1);
    let post = |b: &str| http(srv.addr, "POST", "/rank", b.as_bytes());
    let cases: Vec<(String, u16, &str, &str)> = vec![
        ("{".into(), 400, "malformed", "malformed request"),
        (
            r#"{"user":[],"items":[],"length":"3"}"#.into(),
            400,
            "malformed",
            "invalid type",
        ),
        (
            body(&items, &user, 3, r#","colour":1"#),
            400,
            "malformed",
            "unknown field",
        ),
        (
            body(&[], &user, 3, ""),
            422,
            "no_candidates",
            "no candidates",
        ),
        (
            body(&items, &user, 6, ""),
            422,
            "bad_length",
            "list length 6",
        ),
        (
            body(&items[..64 * 4 + 10], &user, 3, ""),
            422,
            "feature_width",
            "items: width 10",
        ),
        (
            body(&items, &user[..31], 3, ""),
            422,
            "feature_width",
            "user: width 31",
        ),
        // JSON has no NaN or ∞, and a number beyond f32's range is refused as such.
        (
            body(&items, &user, 3, "").replacen("0.", "1e39", 1),
            400,
            "malformed",
            "out of range",
        ),
        (
            body(&items, &user, 3, r#","variant":"parallel-gaussian-w2-0""#),
            422,
            "bad_knob",
            "variant",
        ),
        (
            body(&items, &user, 3, r#","variant":"parallel-gausian-w2-16""#),
            422,
            "unknown_variant",
            "unknown noise \"gausian\"",
        ),
        (
            format!(r#"{{"pad":"{}"}}"#, "x".repeat(70 << 10)),
            413,
            "too_large",
            "body above",
        ),
        (body(&items, &user, 3, ""), 200, "", ""),
    ];
    for (b, want, kind, msg) in &cases {
        let (status, head, text) = post(b);
        assert_eq!(status, *want, "{kind}: {text}");
        if *want != 200 {
            let v = json(&text);
            assert_eq!(v["kind"], *kind, "{text}");
            assert!(v["error"].as_str().unwrap().contains(msg), "{msg}: {text}");
            assert!(head.contains("content-type: application/json"), "{head}");
        }
    }
    let (status, _, b) = http(srv.addr, "GET", "/nowhere", b"");
    assert_eq!(status, 404, "{b}");
    let (status, _, b) = http(srv.addr, "GET", "/health", b"");
    assert_eq!(status, 200);
    assert_eq!(json(&b)["d_x"], 64);
    let (status, head, m) = http(srv.addr, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(metric(&m, "last_requests_total "), cases.len() as u64);
    assert_eq!(metric(&m, "last_ranked_total "), 1);
    assert_eq!(metric(&m, "last_errors_total{kind=\"malformed\"} "), 4);
    assert_eq!(metric(&m, "last_errors_total{kind=\"feature_width\"} "), 2);
    assert_eq!(metric(&m, "last_errors_total{kind=\"too_large\"} "), 1);
    for k in ["no_candidates", "bad_length", "bad_knob", "unknown_variant"] {
        assert_eq!(
            metric(&m, &format!("last_errors_total{{kind=\"{k}\"}} ")),
            1,
            "{k}"
        );
    }
    assert_eq!(metric(&m, "last_errors_total{kind=\"overloaded\"} "), 0);
    assert_eq!(metric(&m, "last_candidates_evaluated_total "), 16);
    assert_eq!(metric(&m, "last_request_duration_seconds_count "), 1);
    assert_eq!(
        metric(&m, "last_request_duration_seconds_bucket{le=\"+Inf\"} "),
        1
    );
}

/// Occupies the pool's only worker until the returned sender is dropped.
fn block_worker(app: &App) -> std::sync::mpsc::Sender<()> {
    let (started_tx, started) = channel();
    let (release, gate) = channel::<()>();
    app.pool()
        .try_submit(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
    started.recv().unwrap();
    release
}

fn wait_queued(app: &App, n: usize) {
    for _ in 0..60_000 {
        if app.pool().queued() == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the queue never held {n} requests");
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_the_queued_request_is_served() {
    let srv = start(
        model(),
        Settings {
            workers: 1,
            queue: 1,
            ..Settings::default()
        },
    );
    let release = block_worker(&srv.app);
    let (items, user) = features(50, 3);
    let b = body(&items, &user, 10, r#","variant":"baseline""#);
    let addr = srv.addr;
    let queued = {
        let b = b.clone();
        std::thread::spawn(move || http(addr, "POST", "/rank", b.as_bytes()))
    };
    wait_queued(&srv.app, 1);
    let (status, head, text) = http(addr, "POST", "/rank", b.as_bytes());
    assert_eq!(status, 503, "{text}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(json(&text)["kind"], "overloaded");
    drop(release);
    let (status, _, text) = queued.join().unwrap();
    assert_eq!(status, 200, "{text}");
    let (_, _, m) = http(addr, "GET", "/metrics", b"");
    assert_eq!(metric(&m, "last_errors_total{kind=\"overloaded\"} "), 1);
    assert_eq!(metric(&m, "last_ranked_total "), 1);
}

#[test]
fn queueing_time_is_spent_from_the_budget() {
    // A request that waits behind a busy worker longer than its budget is
    // served the baseline with budget_exhausted, although its variant
    // would run to completion if the budget counted from the worker.
    let srv = start(
        model(),
        Settings {
            workers: 1,
            queue: 1,
            ..Settings::default()
        },
    );
    let release = block_worker(&srv.app);
    let (items, user) = features(50, 4);
    let b = body(
        &items,
        &user,
        10,
        r#","variant":"parallel-gaussian-w2-16","budget_us":1"#,
    );
    let addr = srv.addr;
    let queued = std::thread::spawn(move || http(addr, "POST", "/rank", b.as_bytes()));
    wait_queued(&srv.app, 1);
    std::thread::sleep(Duration::from_millis(5)); // more than the 1 µs budget, at least
    drop(release);
    let (status, _, text) = queued.join().unwrap();
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    assert_eq!(v["budget_exhausted"], true, "{text}");
    assert_eq!(v["candidates"], 1, "{text}");
}

#[test]
fn concurrent_clients_each_get_their_own_list() {
    // With idle workers and waiting routes spinning (the default), and
    // with everything sleeping at once.
    for spin in [Settings::default().spin, Duration::ZERO] {
        concurrent_clients(spin);
    }
}

fn concurrent_clients(spin: Duration) {
    let m = model();
    let srv = start(
        Arc::clone(&m),
        Settings {
            workers: 2,
            queue: 64,
            spin,
            ..Settings::default()
        },
    );
    let addr = srv.addr;
    let clients: Vec<_> = (0..8u32)
        .map(|c| {
            std::thread::spawn(move || {
                (0..4u32)
                    .map(|r| {
                        let (items, user) = features(20 + c as usize, c * 10 + r);
                        let extra = format!(
                            r#","variant":"best-of-8","seed":{r},"budget_us":{}"#,
                            u64::MAX
                        );
                        let (s, _, b) = http(
                            addr,
                            "POST",
                            "/rank",
                            body(&items, &user, 5, &extra).as_bytes(),
                        );
                        assert_eq!(s, 200, "{b}");
                        (
                            c,
                            r,
                            serde_json::from_value::<Vec<usize>>(json(&b)["list"].clone()).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut scratch = Scratch::default();
    for t in clients {
        for (c, r, list) in t.join().unwrap() {
            let (items, user) = features(20 + c as usize, c * 10 + r);
            let req = Request {
                user: &user,
                items: MatRef::new(&items, 20 + c as usize, 64).unwrap(),
                len: 5,
                seed: r as u64,
                variant: Variant::BestOfK { k: 8 },
                budget: Duration::MAX,
                compute: last::serve::Compute::Model,
            };
            assert_eq!(list, m.serve(&req, &mut scratch, None).unwrap().list);
        }
    }
    let (_, _, text) = http(addr, "GET", "/metrics", b"");
    assert_eq!(metric(&text, "last_ranked_total "), 32);
}

#[test]
fn clients_that_disconnect_mid_request_leave_the_server_serving() {
    let srv = start(
        model(),
        Settings {
            workers: 1,
            queue: 4,
            ..Settings::default()
        },
    );
    let (items, user) = features(50, 5);
    let b = body(&items, &user, 10, r#","variant":"baseline""#);
    // Half a body, then gone.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let head = format!(
        "POST /rank HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        b.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&b.as_bytes()[..b.len() / 2]).unwrap();
    drop(s);
    // A whole request whose client leaves while it waits in the queue.
    let release = block_worker(&srv.app);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b.as_bytes()).unwrap();
    wait_queued(&srv.app, 1);
    drop(s);
    drop(release);
    let (status, _, text) = http(srv.addr, "POST", "/rank", b.as_bytes());
    assert_eq!(status, 200, "{text}");
    let (status, _, _) = http(srv.addr, "GET", "/health", b"");
    assert_eq!(status, 200);
}

#[test]
fn shutdown_finishes_the_requests_in_flight() {
    let mut srv = start(
        model(),
        Settings {
            workers: 1,
            queue: 2,
            ..Settings::default()
        },
    );
    let release = block_worker(&srv.app);
    let (items, user) = features(50, 6);
    let b = body(&items, &user, 10, r#","variant":"best-of-16""#);
    let addr = srv.addr;
    let in_flight = std::thread::spawn(move || http(addr, "POST", "/rank", b.as_bytes()));
    wait_queued(&srv.app, 1);
    if let Some(s) = srv.stop.take() {
        s.send(()).unwrap();
    }
    drop(release);
    let (status, _, text) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{text}");
    srv.stop().unwrap();
    // The listener is closed: a connection is refused, or reaches another
    // test's server that has since been given the same port, whose
    // counters are not this server's.
    if TcpStream::connect(addr).is_ok() {
        let (_, _, text) = http(addr, "GET", "/metrics", b"");
        assert_ne!(
            text,
            srv.app.metrics().render(0),
            "still serving after shutdown"
        );
    }
}

fn folder(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("last-server-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn settings_file() -> last::model::ServingSettings {
    last::model::ServingSettings {
        variant: "best-of-8".parse().unwrap(),
        budget_us: 1234,
        k: 8,
        sigma: last::model::Sigmas {
            gaussian_w2: 0.05,
            rademacher_w2: 0.1,
            antithetic_w2: 0.2,
            table_w2: 0.05,
            lowrank1_keys: 0.5,
        },
        gradient_scale: 0.02,
        safe: None,
    }
}

#[test]
fn model_load_reads_serving_json_and_refuses_a_malformed_one() {
    let dir = folder("load");
    let m = Model::random(Config::tiny(), 1, Backend::detect()).unwrap();
    m.save(&dir).unwrap();
    let be = Backend::detect();
    assert_eq!(Model::load(&dir, be).unwrap().serving(), None);
    settings_file().write(&dir).unwrap();
    assert_eq!(
        Model::load(&dir, be).unwrap().serving(),
        Some(&settings_file())
    );
    let path = dir.join(last::model::SERVING_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"k\"", "\"K\"")).unwrap();
    match Model::load(&dir, be) {
        Err(last::model::ModelError::Config(msg)) => assert!(msg.contains("serving.json"), "{msg}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_binary_serves_serving_json_defaults_and_stops_on_sigterm() {
    let dir = folder("bin");
    let m = Model::random(Config::standard(), 7, Backend::detect()).unwrap();
    m.save(&dir).unwrap();
    settings_file().write(&dir).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_last"))
        .args(["serve", "--addr", "127.0.0.1:0", "--model"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    let (status, _, b) = http(addr, "GET", "/health", b"");
    assert_eq!(status, 200);
    let v = json(&b);
    assert_eq!(
        (v["variant"].as_str(), v["budget_us"].as_u64()),
        (Some("best-of-8"), Some(1234))
    );
    let (items, user) = features(12, 9);
    let (status, _, b) = http(addr, "POST", "/rank", body(&items, &user, 4, "").as_bytes());
    assert_eq!(status, 200, "{b}");
    assert_eq!(json(&b)["variant"], "best-of-8");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_binary_body_serves_what_the_json_body_serves() {
    use last::server::binary::encode_binary;
    let m = model();
    let srv = start(Arc::clone(&m), Settings::default());
    let bin = "application/octet-stream";
    for (i, name) in ["parallel-rademacher-w2-16", "baseline", ""]
        .iter()
        .enumerate()
    {
        let (items, user) = features(20 + i, 40 + i as u32);
        let extra = if name.is_empty() {
            r#","seed":5"#.to_string()
        } else {
            format!(r#","seed":5,"variant":"{name}""#)
        };
        let (st, _, from_json) = http(
            srv.addr,
            "POST",
            "/rank",
            body(&items, &user, 6, &extra).as_bytes(),
        );
        assert_eq!(st, 200, "{from_json}");
        let b = encode_binary(&user, &items, 64, 6, 5, name, None);
        let (st, _, from_bin) = http_typed(srv.addr, "POST", "/rank", bin, &b);
        assert_eq!(st, 200, "{from_bin}");
        let (j, b) = (json(&from_json), json(&from_bin));
        for k in [
            "list",
            "score",
            "baseline_list",
            "winner",
            "variant",
            "candidates",
        ] {
            assert_eq!(j[k], b[k], "{name}: {k}");
        }
    }
    let good = encode_binary(&features(3, 1).1, &features(3, 1).0, 64, 2, 0, "", None);
    let (st, _, text) = http_typed(srv.addr, "POST", "/rank", bin, &good[..good.len() - 1]);
    assert_eq!(
        (st, json(&text)["kind"].as_str()),
        (400, Some("malformed")),
        "{text}"
    );
    let narrow = encode_binary(&features(3, 1).1, &vec![0.0; 3 * 63], 63, 2, 0, "", None);
    let (st, _, text) = http_typed(srv.addr, "POST", "/rank", bin, &narrow);
    assert_eq!(
        (st, json(&text)["kind"].as_str()),
        (422, Some("feature_width")),
        "{text}"
    );
}
