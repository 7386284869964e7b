//! The web explorer: served assets and headers, `GET /v1/checkpoints`, and the pages in headless
//! Chromium (driven over the DevTools Protocol) against real servers populated with realistic
//! attestations: verified state, tampered proof, wrong pinned key, witness cosignatures, fork;
//! and behind a proxy that lies one way per test (the claim in the JSON, the witness policy,
//! the log key, an older checkpoint, the order and completeness of search results): the page
//! turns red, or labels the fact as the server's, and says why.
//! Screenshots of every page go to `target/explorer-screenshots/` for a person to look at.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestlog_client::fork::{ForkEvidence, ForkProof};
use attestlog_proto::cosignature::cosign;
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};
use attestlog_server::config::Config;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestLog, att_id, sign_value, statement, temp_dir, vendor_key};

const CHROMIUM: &str = "/usr/bin/chromium";

// ---------------------------------------------------------------------------------------------
// Server side: assets, headers, growth endpoint

#[tokio::test]
async fn assets_are_embedded_with_strict_headers_and_no_external_urls() {
    let log = TestLog::start().await;
    for (path, ctype) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/verify.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let r = log.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], ctype, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let etag = h["etag"].to_str().unwrap().to_owned();
        assert!(h["cache-control"].to_str().unwrap().contains("no-cache"));
        let body = r.text().await.unwrap();
        assert!(!body.is_empty());
        // Revalidation answers 304 without a body.
        let again = log
            .http
            .get(format!("{}{path}", log.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert_no_external_urls(path, &body);
        if path == "/" {
            // No inline scripts or styles (the CSP would block them).
            assert!(!body.contains("<style"), "inline style");
            assert!(!body.contains("style="), "inline style attribute");
            for script in body.split("<script").skip(1) {
                assert!(script.contains("src=\"/assets/"), "inline script: {script}");
            }
        } else if path.ends_with(".js") {
            assert!(!body.contains("innerHTML"), "{path} must render text only");
            assert!(!body.contains("eval("), "{path}");
        }
    }
    for bad in [
        "/assets/nope.js",
        "/assets/..%2Fapp.js",
        "/assets/",
        "/index.html",
    ] {
        let r = log.get(bad).await;
        assert_eq!(r.status(), 404, "{bad}");
    }
}

/// Every `http://`/`https://` in an asset is an XML namespace or text a person reads; nothing
/// is loaded from elsewhere.
fn assert_no_external_urls(path: &str, body: &str) {
    const ALLOWED: [&str; 4] = [
        "http://www.w3.org/2000/svg",
        // Type identifiers the explorer checks in statements (never fetched).
        "https://in-toto.io/Statement/v1",
        "https://attestlog.dev/data-flows/v1",
        "https://attestlog.dev/verification/v1",
    ];
    let mut rest = body;
    while let Some(i) = rest.find("http") {
        let tail = &rest[i..];
        if tail.starts_with("http://") || tail.starts_with("https://") {
            assert!(
                ALLOWED.iter().any(|a| tail.starts_with(a)),
                "{path} references an external URL: {}",
                tail.chars().take(60).collect::<String>()
            );
        }
        rest = &rest[i + 4..];
    }
}

#[tokio::test]
async fn checkpoints_endpoint_pages_through_stored_checkpoints() {
    let log = TestLog::start().await;
    let k = vendor_key(61);
    log.enrol("Growth AG", &k.verifier()).await;
    for n in 0..4 {
        let (s, b) = log
            .submit(&sign_value(
                &k,
                &statement("Growth AG", &att_id(6100 + n), "Grower"),
            ))
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, all) = log.get_json("/v1/checkpoints?limit=64").await;
    assert_eq!(s, 200, "{all}");
    let sizes: Vec<u64> = all["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    let current = log.state.shared.published().size;
    assert_eq!(sizes.first(), Some(&current));
    assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
    assert!(sizes.len() >= 5, "one checkpoint per batch: {sizes:?}");
    // Each note is the stored checkpoint of that size.
    let key = log.log_key();
    for c in all["checkpoints"].as_array().unwrap() {
        let cp = attestlog_proto::checkpoint::SignedCheckpoint::open(
            c["note"].as_str().unwrap().as_bytes(),
            std::slice::from_ref(&key),
        )
        .unwrap();
        assert_eq!(cp.checkpoint().size, c["size"].as_u64().unwrap());
    }
    // Pages of two, following `next`, give the same sizes.
    let mut paged = Vec::new();
    let mut path = "/v1/checkpoints?limit=2".to_owned();
    loop {
        let (s, page) = log.get_json(&path).await;
        assert_eq!(s, 200);
        paged.extend(
            page["checkpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["size"].as_u64().unwrap()),
        );
        match page["next"].as_u64() {
            Some(n) => path = format!("/v1/checkpoints?limit=2&before={n}"),
            None => break,
        }
    }
    assert_eq!(paged, sizes);
    for bad in [
        "/v1/checkpoints?limit=0",
        "/v1/checkpoints?limit=65",
        "/v1/checkpoints?before=-1",
        "/v1/checkpoints?before=x",
        "/v1/checkpoints?size=1",
    ] {
        let (s, b) = log.get_json(bad).await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert_eq!(b["error"]["code"], "bad_request");
    }
    let (_, api) = log.get_json("/openapi.json").await;
    assert!(api["paths"]["/v1/checkpoints"]["get"].is_object());
}

// ---------------------------------------------------------------------------------------------
// A realistic log

/// What a populated log holds, for assertions.
struct Populated {
    /// A current, active attestation.
    good: u64,
    /// Its superseded first version.
    superseded: u64,
    /// An attestation signed by a key that was revoked later.
    by_revoked_key: u64,
}

fn flow(category: &str, host: &str, storage: (&str, &str), remote: &[&str]) -> Value {
    json!({
        "category": category,
        "items": ["file_hashes", "product_version"],
        "purpose": ["threat_detection"],
        "consent": "opt_out",
        "user_regions": ["EU", "CH"],
        "destinations": [{"hostnames": [host], "ip_ranges": ["198.51.100.0/24"], "ports": [443]}],
        "processing_locations": [
            {"country": storage.0, "city": storage.1, "facility_operator": "Colo Services AG", "role": "storage"},
            {"country": storage.0, "city": storage.1, "facility_operator": "Colo Services AG", "role": "processing"}
        ],
        "remote_access_jurisdictions": remote,
        "processors": [{"legal_name": "Colo Services AG", "jurisdiction": storage.0, "role": "sub-processor", "service": "hosting"}],
        "retention": "P90D",
        "protections": ["tls1.3", "encryption_at_rest", "pseudonymisation"]
    })
}

fn attestation(vendor: &str, n: u64, product: &str, flows: Vec<Value>, excluded: &[&str]) -> Value {
    let mut v = statement(vendor, &att_id(n), product);
    v["predicate"]["data_flows"] = Value::Array(flows);
    v["predicate"]["excluded_jurisdictions"] = json!(excluded);
    v["predicate"]["valid_until"] = json!("2099-01-01T00:00:00Z");
    v
}

/// Enrols three vendors and submits their attestations: several products, a superseding
/// version that moves storage from Germany to Switzerland, and a key revoked after use.
async fn populate(log: &TestLog) -> Populated {
    let (av, cloud, vpn, vpn_new) = (
        vendor_key(71),
        vendor_key(72),
        vendor_key(73),
        vendor_key(74),
    );
    log.enrol("Example AV AG", &av.verifier()).await;
    log.enrol("Nimbus Cloud Security GmbH", &cloud.verifier())
        .await;
    log.enrol("Tunnel VPN Ltd", &vpn.verifier()).await;
    let submit = |key: &SignerKey, v: Value| {
        let body = sign_value(key, &v);
        async move {
            let (s, b) = log.submit(&body).await;
            assert_eq!(s, 201, "{b}");
            b["index"].as_u64().unwrap()
        }
    };
    let first = attestation(
        "Example AV AG",
        7001,
        "Example Endpoint Security",
        vec![
            flow(
                "threat_samples",
                "ksn-eu.example-av.test",
                ("DE", "Frankfurt"),
                &["DE", "CH"],
            ),
            flow(
                "telemetry",
                "telemetry.example-av.test",
                ("DE", "Frankfurt"),
                &["DE"],
            ),
        ],
        &["RU", "CN"],
    );
    let superseded = submit(&av, first.clone()).await;
    let mut second = first;
    second["predicate"]["data_flows"][0] = flow(
        "threat_samples",
        "ksn-ch.example-av.test",
        ("CH", "Zurich"),
        &["CH"],
    );
    second["predicate"]["supersedes"] =
        json!({"attestation_id": att_id(7001), "log_index": superseded});
    second["predicate"]["issued_at"] = json!("2026-06-01T00:00:00Z");
    let good = submit(&av, second).await;
    submit(
        &av,
        attestation(
            "Example AV AG",
            7002,
            "Example Mobile Security",
            vec![flow(
                "url_reputation",
                "url.example-av.test",
                ("CH", "Geneva"),
                &["CH"],
            )],
            &["RU"],
        ),
    )
    .await;
    // An attestation whose validity ended, and one the vendor revoked with a new version.
    let mut legacy = attestation(
        "Example AV AG",
        7003,
        "Example Legacy Scanner",
        vec![flow(
            "crash_dumps",
            "crash.example-av.test",
            ("CH", "Bern"),
            &["CH"],
        )],
        &[],
    );
    legacy["predicate"]["issued_at"] = json!("2020-01-01T00:00:00Z");
    legacy["predicate"]["valid_from"] = json!("2020-01-01T00:00:00Z");
    legacy["predicate"]["valid_until"] = json!("2021-01-01T00:00:00Z");
    submit(&av, legacy).await;
    let addon = attestation(
        "Example AV AG",
        7004,
        "Example Browser Addon",
        vec![flow(
            "url_reputation",
            "addon.example-av.test",
            ("CH", "Basel"),
            &["CH"],
        )],
        &[],
    );
    let addon_v1 = submit(&av, addon.clone()).await;
    let mut revoked = addon;
    revoked["predicate"]["status"] = json!("revoked");
    revoked["predicate"]["issued_at"] = json!("2026-06-01T00:00:00Z");
    revoked["predicate"]["supersedes"] =
        json!({"attestation_id": att_id(7004), "log_index": addon_v1});
    revoked["predicate"]["issued_at"] = json!("2026-06-01T00:00:00Z");
    submit(&av, revoked).await;
    submit(
        &cloud,
        attestation(
            "Nimbus Cloud Security GmbH",
            7101,
            "Nimbus Gateway",
            vec![flow(
                "diagnostic_logs",
                "logs.nimbus.test",
                ("AT", "Vienna"),
                &["AT", "IE"],
            )],
            &[],
        ),
    )
    .await;
    let by_revoked_key = submit(
        &vpn,
        attestation(
            "Tunnel VPN Ltd",
            7201,
            "Tunnel VPN",
            vec![flow(
                "license_account",
                "acct.tunnel.test",
                ("IS", "Reykjavik"),
                &["IS"],
            )],
            &["US"],
        ),
    )
    .await;
    let (s, b) = log.revoke("Tunnel VPN Ltd", &vpn.verifier()).await;
    assert_eq!(s, 201, "{b}");
    log.enrol("Tunnel VPN Ltd", &vpn_new.verifier()).await;
    Populated {
        good,
        superseded,
        by_revoked_key,
    }
}

// ---------------------------------------------------------------------------------------------
// A rewriting proxy in front of a real server

/// A rewrite of answers: (request path, body) → new body.
type Rewrite = Arc<dyn Fn(&str, String) -> String + Send + Sync>;

/// A loopback HTTP proxy: forwards GETs to a switchable upstream and applies string
/// replacements (then an optional rewrite) to the answers: a server that lies.
#[derive(Clone)]
struct Proxy {
    url: String,
    upstream: Arc<Mutex<String>>,
    replace: Arc<Mutex<Vec<(String, String)>>>,
    rewrite: Arc<Mutex<Option<Rewrite>>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let upstream = Arc::new(Mutex::new(upstream.to_owned()));
        let replace: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let rewrite: Arc<Mutex<Option<Rewrite>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, rep, rw) = (upstream.clone(), replace.clone(), rewrite.clone());
        let http = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (up, rep, rw, http) = (up.clone(), rep.clone(), rw.clone(), http.clone());
            async move {
                let base = up.lock().unwrap().clone();
                let target = format!("{base}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
                let r = http.get(target).send().await.unwrap();
                let status = r.status().as_u16();
                let ctype = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let mut body = r.text().await.unwrap_or_default();
                for (from, to) in rep.lock().unwrap().iter() {
                    body = body.replace(from, to);
                }
                let rewrite = rw.lock().unwrap().clone();
                if let Some(f) = rewrite {
                    body = f(uri.path(), body);
                }
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", ctype)],
                    body,
                )
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            upstream,
            replace,
            rewrite,
        }
    }

    /// Rewrites every answer with `f` (after the replacements); `None` stops.
    fn set_rewrite(&self, f: Option<Rewrite>) {
        *self.rewrite.lock().unwrap() = f;
    }

    fn set_upstream(&self, url: &str) {
        *self.upstream.lock().unwrap() = url.to_owned();
    }

    /// Replaces `from` by `to` in answers, both as plain text and inside JSON strings.
    fn set_replacements(&self, pairs: &[(&str, &str)]) {
        let esc = |s: &str| {
            let j = serde_json::to_string(s).unwrap();
            j[1..j.len() - 1].to_owned()
        };
        let mut r = Vec::new();
        for (from, to) in pairs {
            r.push((esc(from), esc(to)));
            if esc(from) != *from {
                r.push(((*from).to_owned(), (*to).to_owned()));
            }
        }
        *self.replace.lock().unwrap() = r;
    }
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium over the DevTools Protocol

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One headless Chromium with one page, driven over the DevTools Protocol.
pub(crate) struct Browser {
    child: tokio::process::Child,
    ws: Ws,
    next: u64,
    _profile: PathBuf,
}

/// Whether Chromium is there; without it the browser tests fail on CI and are skipped locally.
pub(crate) fn have_chromium() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{CHROMIUM} is missing (scripts/test installs Debian's chromium)"
    );
    eprintln!("note: {CHROMIUM} is missing; skipping the browser tests (apt-get install chromium)");
    false
}

async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Browser {
    pub(crate) async fn launch() -> Self {
        let profile = temp_dir("chromium");
        let child = tokio::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Chromium writes its DevTools port into the profile once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let port: u16 = poll("DevToolsActivePort", Duration::from_secs(60), || {
            let f = port_file.clone();
            async move {
                let s = std::fs::read_to_string(f).ok()?;
                s.lines().next()?.trim().parse().ok()
            }
        })
        .await;
        let http = reqwest::Client::new();
        let ws_url: String = poll("a page target", Duration::from_secs(30), || {
            let http = http.clone();
            async move {
                let list: Value = http
                    .get(format!("http://127.0.0.1:{port}/json/list"))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                list.as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_owned)
            }
        })
        .await;
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        Self {
            child,
            ws,
            next: 0,
            _profile: profile,
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg.into())).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("devtools connection closed")
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Evaluates a JS expression (awaiting promises) and returns its JSON value.
    pub(crate) async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(
            r["exceptionDetails"].is_null(),
            "{expr}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Loads `url` afresh (a new document, so every check runs again).
    pub(crate) async fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": "about:blank"}))
            .await;
        self.call("Page.navigate", json!({"url": url})).await;
        let expr = format!(
            "location.href === {} && document.readyState === 'complete' && !document.getElementById('loading')",
            serde_json::to_string(url).unwrap()
        );
        self.wait_for(&format!("{url} to load"), &expr).await;
    }

    /// Waits until `expr` is a non-null, non-false value and returns it.
    pub(crate) async fn wait_for(&mut self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.eval(expr).await;
            if !v.is_null() && v != json!(false) && v != json!("") {
                return v;
            }
            if Instant::now() >= deadline {
                let text = self.eval("document.body.innerText").await;
                panic!("timed out waiting for {what}; page text:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `data-state` of an element once it is no longer pending, with its text.
    pub(crate) async fn settled(&mut self, selector: &str) -> (String, String) {
        let sel = serde_json::to_string(selector).unwrap();
        let v = self
            .wait_for(
                &format!("{selector} to settle"),
                &format!(
                    "(() => {{ const e = document.querySelector({sel}); \
                     return e && e.dataset.state !== 'pending' ? [e.dataset.state, e.innerText] : null; }})()"
                ),
            )
            .await;
        (
            v[0].as_str().unwrap().to_owned(),
            v[1].as_str().unwrap().to_owned(),
        )
    }

    /// Saves a full-page PNG of the current page at `width` CSS pixels.
    pub(crate) async fn screenshot(&mut self, name: &str, width: u32) {
        let mobile = width < 600;
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
        let height = self
            .eval("document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 6000);
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            r["data"].as_str().unwrap(),
        )
        .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/explorer-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        self.call("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
    }

    pub(crate) async fn close(mut self) {
        let msg = json!({"id": 0, "method": "Browser.close", "params": {}}).to_string();
        let _ = self.ws.send(Message::Text(msg.into())).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages in Chromium

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_verify_in_the_browser_and_show_every_failure() {
    if !have_chromium() {
        return;
    }
    let log = TestLog::start().await;
    let p = populate(&log).await;
    let proxy = Proxy::start(&log.url).await;
    let base = proxy.url.clone();
    let mut b = Browser::launch().await;

    // Overview: the checkpoint verifies, no witness policy is stated, growth is shown.
    b.open(&format!("{base}/#/")).await;
    let (state, text) = b.settled("#checkpoint-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(text.contains("Checkpoint signature"), "{text}");
    let policy = b
        .eval("document.getElementById('witness-policy').innerText")
        .await;
    assert!(
        policy.as_str().unwrap().contains("No witness policy"),
        "{policy}"
    );
    b.wait_for(
        "growth table",
        "document.querySelector('#growth-h ~ table')",
    )
    .await;
    let (state, text) = b.settled("#log-status").await;
    assert_eq!(state, "verified", "{text}");
    b.screenshot("overview", 1280).await;
    let before = log.state.shared.published().size;

    // The log grows; the next visit checks the new checkpoint extends the one remembered.
    let k = vendor_key(72);
    let (s, body) = log
        .submit(&sign_value(
            &k,
            &attestation(
                "Nimbus Cloud Security GmbH",
                7102,
                "Nimbus Mail Filter",
                vec![flow(
                    "content_data",
                    "mail.nimbus.test",
                    ("IE", "Dublin"),
                    &["IE"],
                )],
                &["RU"],
            ),
        ))
        .await;
    assert_eq!(s, 201, "{body}");

    // A good entry: every check passes, the flows and the diff are rendered.
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    for check in [
        "Trusted log key",
        "Checkpoint signature",
        "Inclusion proof",
        "Vendor signature and enrolment",
        "Consistency",
    ] {
        assert!(text.contains(check), "{check} missing: {text}");
    }
    assert!(!text.contains("FAILED"), "{text}");
    assert!(
        text.contains(&format!("extends the tree of size {before}")),
        "{text}"
    );
    let body = b.eval("document.getElementById('main').innerText").await;
    let body = body.as_str().unwrap();
    for shown in [
        "threat samples → ksn-ch.example-av.test",
        "Zurich",
        "Remote access from",
        "Colo Services AG",
        "90 days (P90D)",
        "Russia (RU)",
        "soc2_type2",
        "Excluded jurisdictions",
    ] {
        assert!(body.contains(shown), "{shown:?} not shown:\n{body}");
    }
    let diff = b
        .wait_for("the diff", "document.getElementById('diff')?.innerText")
        .await;
    let diff = diff.as_str().unwrap();
    assert!(diff.contains("countries.storage"), "{diff}");
    assert!(diff.contains("+ added: CH"), "{diff}");
    assert!(
        diff.contains("− removed: threat_samples: ksn-eu.example-av.test"),
        "{diff}"
    );
    let status = b
        .wait_for(
            "status",
            "document.querySelector('#entry-status .badge')?.innerText",
        )
        .await;
    assert!(status.as_str().unwrap().contains("active"), "{status}");
    b.screenshot("attestation", 1280).await;
    b.screenshot("attestation-phone", 390).await;
    // Nothing on the attestation page is wider than a phone's screen.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 900, "deviceScaleFactor": 1, "mobile": true}),
    )
    .await;
    let widths = b
        .eval("(() => { const w = document.documentElement.clientWidth; return [...document.querySelectorAll('main *, footer *')].filter(e => e.getBoundingClientRect().right > w + 1).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + e.textContent.slice(0, 40)).slice(0, 10); })()")
        .await;
    assert_eq!(widths, json!([]), "wider than a phone's screen");
    b.call("Emulation.clearDeviceMetricsOverride", json!({}))
        .await;

    // The superseded version says so and links to the current one.
    b.open(&format!("{base}/#/entry/{}", p.superseded)).await;
    let status = b
        .wait_for(
            "status",
            "document.querySelector('#entry-status')?.innerText.includes('current version') && document.getElementById('entry-status').innerText",
        )
        .await;
    assert!(status.as_str().unwrap().contains("superseded"), "{status}");
    let (state, _) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified");

    // An attestation signed before its key was revoked still verifies (enrolment at the time).
    b.open(&format!("{base}/#/entry/{}", p.by_revoked_key))
        .await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");

    // An enrolment entry: decoded from its bytes, signed by the log.
    b.open(&format!("{base}/#/entry/0")).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(text.contains("Log signature on the enrolment"), "{text}");
    let main = b.eval("document.getElementById('main').innerText").await;
    let main = main.as_str().unwrap();
    assert!(
        main.contains("Entry 0: key enrolment") && main.contains("Example AV AG"),
        "{main}"
    );

    // Vendors: enrolled and revoked keys, linked to their enrolment entries.
    b.open(&format!("{base}/#/vendors")).await;
    let text = b
        .wait_for("vendors", "document.querySelector('main table')?.innerText")
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("Tunnel VPN Ltd") && text.contains("revoked"),
        "{text}"
    );
    assert!(text.contains("enrolled at entry 0"), "{text}");
    b.screenshot("vendors", 1280).await;

    // A vendor: products with the status of their attestations.
    b.open(&format!("{base}/#/vendor/Example%20AV%20AG")).await;
    let text = b
        .wait_for(
            "products",
            "document.querySelector('section.product') && document.getElementById('main').innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("Example Endpoint Security"), "{text}");
    assert!(text.contains("Example Mobile Security"), "{text}");
    assert!(
        text.contains("superseded") && text.contains("active"),
        "{text}"
    );
    // Every status, in words: the lapsed attestation is expired, the revoked one revoked.
    for (product, status) in [
        ("Example Legacy Scanner", "expired"),
        ("Example Browser Addon", "revoked"),
    ] {
        let line = b
            .eval(&format!(
                "[...document.querySelectorAll('section.product')].find(s => s.innerText.includes({product:?}))?.innerText ?? ''"
            ))
            .await;
        let line = line.as_str().unwrap();
        assert!(line.contains(status), "{product}: {line}");
    }
    b.screenshot("vendor", 1280).await;

    // Search by country: storage in Austria is only Nimbus.
    b.open(&format!("{base}/#/search?country=AT")).await;
    let text = b
        .wait_for(
            "results",
            "document.querySelector('#results table')?.innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("Nimbus Gateway"), "{text}");
    assert!(!text.contains("Tunnel VPN"), "{text}");
    b.screenshot("search", 1280).await;

    // Entry by index, through the header form with the keyboard.
    b.open(&format!("{base}/#/")).await;
    b.eval(&format!(
        "document.getElementById('goto-index').value = '{}'; \
         document.getElementById('goto').requestSubmit(); true",
        p.superseded
    ))
    .await;
    b.wait_for(
        "entry page",
        &format!("location.hash === '#/entry/{}'", p.superseded),
    )
    .await;
    let (state, _) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified");

    // A tampered inclusion proof fails, naming the inclusion proof.
    let size = log.state.shared.published().size;
    let (_, proof) = log
        .get_json(&format!(
            "/v1/proof/inclusion?index={}&tree_size={size}",
            p.good
        ))
        .await;
    let first_hash = proof["hashes"][0].as_str().unwrap().to_owned();
    let mut tampered = first_hash.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    proxy.set_replacements(&[(&first_hash, &tampered)]);
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "failed", "{text}");
    assert!(text.contains("Verification FAILED"), "{text}");
    let failed_line = b
        .eval("[...document.querySelectorAll('.checks li.fail')].map(l => l.innerText).join('\\n')")
        .await;
    assert!(
        failed_line.as_str().unwrap().contains("Inclusion proof"),
        "{failed_line}"
    );
    let alert = b
        .eval("document.querySelector('#entry-verification [role=alert]')?.innerText ?? ''")
        .await;
    assert!(alert.as_str().unwrap().contains("FAILED"), "{alert}");
    b.screenshot("attestation-tampered-proof", 1280).await;
    proxy.set_replacements(&[]);

    // Witness cosignatures against the policy the page shows: a good one meets the quorum, a
    // bad one fails the checkpoint.
    let witness =
        SignerKey::from_seed("witness.test/w1", TYPE_COSIGNATURE_V1, &[0x57; 32]).unwrap();
    let note = String::from_utf8(log.state.shared.published().note.clone()).unwrap();
    let text_part = note.split("\n\n").next().unwrap().to_owned() + "\n";
    let cosig = cosign(&witness, 1_790_000_000, &text_part)
        .unwrap()
        .to_line();
    let cosigned = format!("{note}{cosig}\n");
    let policy = format!(
        "log {}\nwitness w1 {}\nquorum w1\n",
        log.log_key(),
        witness.verifier()
    );
    let policy_json = format!(
        "\"witness_policy\":{}",
        serde_json::to_string(&policy).unwrap()
    );
    proxy.set_replacements(&[
        (note.as_str(), cosigned.as_str()),
        ("\"witness_policy\":null", policy_json.as_str()),
    ]);
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(
        text.contains("quorum w1 of the witness policy this server sent met by 1 of 1 witnesses"),
        "{text}"
    );
    assert!(text.contains("witness.test/w1 at 2026-"), "{text}");
    b.open(&format!("{base}/#/")).await;
    let (state, text) = b.settled("#checkpoint-verification").await;
    assert_eq!(state, "verified", "{text}");
    let shown = b
        .eval("document.getElementById('witness-policy').innerText")
        .await;
    assert!(shown.as_str().unwrap().contains("quorum w1"), "{shown}");
    b.wait_for(
        "growth table",
        "document.querySelector('#growth-h ~ table')",
    )
    .await;
    b.screenshot("overview-witnessed", 1280).await;
    let mut bad_cosig = cosig.clone().into_bytes();
    // A byte inside the Ed25519 signature (not the base64 padding).
    let last = bad_cosig.len() - 20;
    bad_cosig[last] = if bad_cosig[last] == b'A' { b'B' } else { b'A' };
    let bad_cosigned = format!("{note}{}\n", String::from_utf8(bad_cosig).unwrap());
    proxy.set_replacements(&[
        (note.as_str(), bad_cosigned.as_str()),
        ("\"witness_policy\":null", policy_json.as_str()),
    ]);
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "failed", "{text}");
    assert!(
        text.contains("cosignature by witness.test/w1 does not verify"),
        "{text}"
    );
    proxy.set_replacements(&[]);

    // A wrong pinned key (same name, another key), entered in the settings form: every
    // checkpoint fails, and the page says the pin differs from the served key.
    let wrong = SignerKey::from_seed(log.log_key().name(), TYPE_ED25519, &[0x66; 32])
        .unwrap()
        .verifier()
        .to_string();
    b.open(&format!("{base}/#/settings")).await;
    b.eval(&format!(
        "document.getElementById('pin-key').value = {}; \
         document.getElementById('pin-form').requestSubmit(); true",
        serde_json::to_string(&wrong).unwrap()
    ))
    .await;
    let msg = b
        .wait_for(
            "pin message",
            "document.getElementById('pin-message').innerText",
        )
        .await;
    assert!(msg.as_str().unwrap().contains("Pinned"), "{msg}");
    b.screenshot("settings", 1280).await;
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "failed", "{text}");
    assert!(text.contains("is not the key this page serves"), "{text}");
    assert!(text.contains("Checkpoint signature"), "{text}");
    let (state, _) = b.settled("#log-status").await;
    assert_eq!(state, "failed");
    b.screenshot("attestation-wrong-pinned-key", 1280).await;
    // Pinning the right key (with the policy the log has: none) restores the verified state.
    let pin = json!({"key": log.log_key().to_string(), "policy": null}).to_string();
    b.eval(&format!(
        "localStorage.setItem('attestlog.v1.pinned-log-key', {}); true",
        serde_json::to_string(&pin).unwrap()
    ))
    .await;
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(text.contains("pinned by you"), "{text}");
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// A server that lies, one way per test: the page turns red (or labels the fact as reported by
// the server, not verified) and says why; the same server, honest, is green.

/// A populated log behind a proxy, and a browser that verified an entry through the honest
/// proxy (so it remembers the log's checkpoint, key and policy).
struct Scene {
    log: TestLog,
    p: Populated,
    proxy: Proxy,
    b: Browser,
}

impl Scene {
    async fn start() -> Option<Self> {
        if !have_chromium() {
            return None;
        }
        let log = TestLog::start().await;
        let p = populate(&log).await;
        let proxy = Proxy::start(&log.url).await;
        let b = Browser::launch().await;
        let mut s = Self { log, p, proxy, b };
        let (state, text) = s.entry(s.p.good).await;
        assert_eq!(state, "verified", "the honest server is green: {text}");
        assert!(
            text.contains("trusting the key this server sent"),
            "an unpinned key is said to be the server's: {text}"
        );
        let (state, text) = s.b.settled("#log-status").await;
        assert_eq!(state, "verified", "{text}");
        assert!(text.contains("trusting the key this server sent"), "{text}");
        // What a browser cannot protect against, and the CLI that can, with this log's key.
        let limits = s.text_of("limits").await;
        assert!(
            limits.contains("this page's own code comes from the log server it checks"),
            "{limits}"
        );
        let cli = s.text_of("without-this-page").await;
        let key = s.log.log_key().to_string();
        for command in [
            format!("attestlog verify receipt-{}.json --log-key {key}", s.p.good),
            format!(
                "attestlog monitor --log {} --log-key {key} --state DIR",
                s.proxy.url
            ),
        ] {
            assert!(cli.contains(&command), "{command} missing: {cli}");
        }
        Some(s)
    }

    /// Opens entry `index` afresh and waits for its verification to settle.
    async fn entry(&mut self, index: u64) -> (String, String) {
        self.b
            .open(&format!("{}/#/entry/{index}", self.proxy.url))
            .await;
        self.b.settled("#entry-verification").await
    }

    async fn text_of(&mut self, id: &str) -> String {
        let v = self
            .b
            .eval(&format!(
                "document.getElementById({})?.innerText ?? ''",
                serde_json::to_string(id).unwrap()
            ))
            .await;
        v.as_str().unwrap().to_owned()
    }

    /// The checkpoint this browser remembers (`attestlog.v1.seen`).
    async fn remembered(&mut self) -> Value {
        let v = self
            .b
            .eval("JSON.parse(localStorage.getItem('attestlog.v1.seen'))")
            .await;
        assert!(v.is_object(), "{v}");
        v
    }

    fn note(&self) -> String {
        String::from_utf8(self.log.state.shared.published().note.clone()).unwrap()
    }

    async fn close(self) {
        self.b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_swapped_in_the_servers_json_turns_the_page_red() {
    let Some(mut s) = Scene::start().await else {
        return;
    };
    let main = s.text_of("main").await;
    assert!(main.contains("ksn-ch.example-av.test"), "{main}");
    // The server's parsed view of the entry names another host; the entry bytes (base64) are
    // untouched, so every proof and signature still verifies.
    s.proxy
        .set_replacements(&[("ksn-ch.example-av.test", "ksn-ru.example-av.test")]);
    let (state, text) = s.entry(s.p.good).await;
    assert_eq!(state, "failed", "{text}");
    assert!(
        text.contains("is not what the signed entry bytes say"),
        "{text}"
    );
    assert!(
        text.contains("payload.predicate.data_flows[0].destinations[0].hostnames[0]"),
        "{text}"
    );
    let main = s.text_of("main").await;
    assert!(
        main.contains("threat samples → ksn-ch.example-av.test"),
        "the claim comes from the verified bytes:\n{main}"
    );
    assert!(
        !main.contains("ksn-ru"),
        "the server's claim is shown:\n{main}"
    );
    s.b.screenshot("lie-payload-json", 1280).await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_witness_policy_turns_the_page_red() {
    let Some(mut s) = Scene::start().await else {
        return;
    };
    let note = s.note();
    let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
    let log_key = s.log.log_key();
    let witnessed = |seed: u8, name: &str| {
        let w = SignerKey::from_seed(name, TYPE_COSIGNATURE_V1, &[seed; 32]).unwrap();
        let line = cosign(&w, 1_790_000_000, &body).unwrap().to_line();
        let policy = format!("log {log_key}\nwitness w {}\nquorum w\n", w.verifier());
        let json = format!(
            "\"witness_policy\":{}",
            serde_json::to_string(&policy).unwrap()
        );
        (format!("{note}{line}\n"), policy, json)
    };
    // The log's witness cosigns; the visitor pins the key with the policy the form shows.
    let (honest_note, honest_policy, honest_json) = witnessed(0x57, "witness.test/w1");
    s.proxy.set_replacements(&[
        (note.as_str(), honest_note.as_str()),
        ("\"witness_policy\":null", honest_json.as_str()),
    ]);
    s.b.open(&format!("{}/#/settings", s.proxy.url)).await;
    let shown =
        s.b.wait_for(
            "the policy field",
            "document.getElementById('pin-policy')?.value",
        )
        .await;
    assert_eq!(shown.as_str().unwrap(), honest_policy);
    s.b.eval(&format!(
        "document.getElementById('pin-key').value = {}; \
         document.getElementById('pin-form').requestSubmit(); true",
        serde_json::to_string(&s.log.log_key().to_string()).unwrap()
    ))
    .await;
    let msg =
        s.b.wait_for(
            "pin message",
            "document.getElementById('pin-message').innerText",
        )
        .await;
    assert!(
        msg.as_str()
            .unwrap()
            .contains("with the witness policy above"),
        "{msg}"
    );
    let (state, text) = s.entry(s.p.good).await;
    assert_eq!(state, "verified", "{text}");
    assert!(text.contains("pinned by you"), "{text}");
    assert!(
        text.contains("quorum w of the witness policy you pinned met"),
        "{text}"
    );

    // The server now names another witness (one it controls) and carries its cosignature.
    let (lying_note, _, lying_json) = witnessed(0x58, "witness.test/evil");
    s.proxy.set_replacements(&[
        (note.as_str(), lying_note.as_str()),
        ("\"witness_policy\":null", lying_json.as_str()),
    ]);
    let (state, text) = s.entry(s.p.good).await;
    assert_eq!(state, "failed", "{text}");
    assert!(
        text.contains("the witness policy this server sends")
            && text.contains("is not the one you pinned with the log key"),
        "{text}"
    );
    assert!(
        text.contains("quorum w of the witness policy you pinned not met"),
        "{text}"
    );
    let (state, banner) = s.b.settled("#log-status").await;
    assert_eq!(state, "failed", "{banner}");
    assert!(banner.contains("Pinned witness policy"), "{banner}");
    s.b.screenshot("lie-witness-policy", 1280).await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_log_key_from_the_server_turns_the_page_red() {
    let Some(mut s) = Scene::start().await else {
        return;
    };
    let remembered = s.remembered().await;
    let real = s.log.log_key().to_string();
    assert_eq!(remembered["key"], real.as_str());
    // A whole fake log: another key under the same name, the same checkpoint signed by it.
    let fake = SignerKey::from_seed(s.log.log_key().name(), TYPE_ED25519, &[0x66; 32]).unwrap();
    let note = s.note();
    let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
    let mut forged = attestlog_proto::note::Note::new(body).unwrap();
    forged.sign(&fake).unwrap();
    let forged = String::from_utf8(forged.to_bytes()).unwrap();
    let fake_key = fake.verifier().to_string();
    s.proxy.set_replacements(&[
        (note.as_str(), forged.as_str()),
        (real.as_str(), fake_key.as_str()),
    ]);
    let (state, text) = s.entry(s.p.good).await;
    assert_eq!(state, "failed", "{text}");
    assert!(text.contains("Log key changed"), "{text}");
    assert!(
        text.contains(&format!("is now asked to trust {fake_key}")),
        "{text}"
    );
    assert!(text.contains("not reset"), "{text}");
    let (state, banner) = s.b.settled("#log-status").await;
    assert_eq!(state, "failed", "{banner}");
    assert!(banner.contains("Log key changed"), "{banner}");
    s.b.screenshot("lie-log-key", 1280).await;
    // The remembered checkpoint was not reset: it is still the real log's.
    let after = s.remembered().await;
    assert_eq!(after, remembered);
    s.proxy.set_replacements(&[]);
    let (state, text) = s.entry(s.p.good).await;
    assert_eq!(state, "verified", "{text}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_checkpoint_is_shown_as_stale_not_as_a_fork() {
    let Some(mut s) = Scene::start().await else {
        return;
    };
    let current = s.log.state.shared.published().size;
    let (_, list) = s.log.get_json("/v1/checkpoints?limit=64").await;
    let older = list["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            let size = c["size"].as_u64().unwrap();
            size < current && size > s.p.good + 1
        })
        .expect("an older checkpoint that holds the entry");
    let (old_size, old_note) = (
        older["size"].as_u64().unwrap(),
        older["note"].as_str().unwrap().to_owned(),
    );
    let note = s.note();
    s.proxy
        .set_replacements(&[(note.as_str(), old_note.as_str())]);
    let (state, text) = s.entry(s.p.good).await;
    assert_eq!(state, "failed", "{text}");
    assert!(text.contains("STALE OR ROLLED BACK"), "{text}");
    assert!(
        text.contains(&format!(
            "a tree of size {old_size}, older than the tree of size {current}"
        )),
        "{text}"
    );
    assert!(text.contains("consistent (no fork)"), "{text}");
    let (state, banner) = s.b.settled("#log-status").await;
    assert_eq!(state, "failed", "{banner}");
    assert!(banner.contains("STALE OR ROLLED BACK"), "{banner}");
    let fork =
        s.b.eval("document.getElementById('fork-alert') !== null")
            .await;
    assert_eq!(fork, json!(false), "a consistent older tree is no fork");
    s.b.screenshot("lie-older-checkpoint", 1280).await;
    // The newer checkpoint stays remembered.
    assert_eq!(s.remembered().await["size"], current.to_string());
    // Only a real conflict offers fork evidence: here, a proof that the remembered tree extends
    // the older one that does not verify.
    let tamper: Rewrite = Arc::new(|path: &str, body: String| {
        if path != "/v1/proof/consistency" {
            return body;
        }
        let mut v: Value = serde_json::from_str(&body).unwrap();
        let h = v["hashes"][0].as_str().unwrap().to_owned();
        let flipped = if h.starts_with('A') { "B" } else { "A" };
        v["hashes"][0] = json!(format!("{flipped}{}", &h[1..]));
        v.to_string()
    });
    s.proxy.set_rewrite(Some(tamper));
    s.b.open(&format!("{}/#/", s.proxy.url)).await;
    let alert =
        s.b.wait_for(
            "the fork alert",
            "document.querySelector('#fork-alert[role=alert]')?.innerText",
        )
        .await;
    let alert = alert.as_str().unwrap();
    assert!(
        alert.contains(&format!(
            "the log's proof that the tree of size {current} seen on"
        )) && alert.contains(&format!(
            "extends the tree of size {old_size} shown now fails"
        )),
        "{alert}"
    );
    assert_eq!(s.remembered().await["size"], current.to_string());
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_search_results_do_not_make_an_old_version_current() {
    let Some(mut s) = Scene::start().await else {
        return;
    };
    let (good, superseded) = (s.p.good, s.p.superseded);
    let status = |expected: &'static str| {
        format!(
            "(() => {{ const e = document.getElementById('entry-status'); \
             return e && !e.innerText.includes('…') && e.innerText.includes({expected:?}) && e.innerText; }})()"
        )
    };
    // Honest: the first version is superseded by the current one.
    s.entry(superseded).await;
    let line = s.b.wait_for("status", &status("superseded")).await;
    assert!(
        line.as_str()
            .unwrap()
            .contains(&format!("the current version is entry {good}")),
        "{line}"
    );
    // The server lists the versions oldest first, as if the old one were the newest.
    let reverse: Rewrite = Arc::new(|path: &str, body: String| {
        if path != "/v1/search" {
            return body;
        }
        let mut v: Value = serde_json::from_str(&body).unwrap();
        v["entries"].as_array_mut().unwrap().reverse();
        v.to_string()
    });
    s.proxy.set_rewrite(Some(reverse));
    let (state, text) = s.entry(superseded).await;
    assert_eq!(state, "verified", "{text}");
    let line = s.b.wait_for("status", &status("superseded")).await;
    let line = line.as_str().unwrap();
    assert!(
        line.contains(&format!("the current version is entry {good}"))
            && line.contains("derived in your browser from the verified version chain"),
        "{line}"
    );
    assert!(!line.contains("active"), "{line}");
    s.b.screenshot("lie-reordered-search", 1280).await;
    // The vendor page too: the current version of that attestation is the newer entry.
    s.b.open(&format!("{}/#/vendor/Example%20AV%20AG", s.proxy.url))
        .await;
    let row = s
        .b
        .wait_for(
            "the product",
            "[...document.querySelectorAll('section.product')].find(s => s.innerText.includes('Example Endpoint Security'))?.querySelector('tbody tr')?.innerText",
        )
        .await;
    let cells: Vec<&str> = row.as_str().unwrap().split('\t').collect();
    assert!(cells[1].contains(&format!("entry {good}")), "{row}");
    assert!(cells[2].contains("active"), "{row}");
    assert!(cells[4].contains(&superseded.to_string()), "{row}");
    // A server that leaves the newer version out cannot be caught by a browser: the page says
    // that this fact is the server's.
    let hide: Rewrite = Arc::new(move |path: &str, body: String| {
        if path != "/v1/search" {
            return body;
        }
        let mut v: Value = serde_json::from_str(&body).unwrap();
        v["entries"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e["index"] != good);
        v.to_string()
    });
    s.proxy.set_rewrite(Some(hide));
    s.entry(superseded).await;
    let line = s.b.wait_for("status", &status("active")).await;
    assert!(
        line.as_str()
            .unwrap()
            .contains("Reported by the server, not verified: that no newer version exists"),
        "{line}"
    );
    s.b.screenshot("lie-hidden-version", 1280).await;
    s.close().await;
}

/// Starts a log on `dir` with a shared log key and origin.
async fn log_with_key(key_file: &Path, origin: &str) -> TestLog {
    let (key_file, origin) = (key_file.to_owned(), origin.to_owned());
    TestLog::start_with(move |c: &mut Config| {
        c.key_file = Some(key_file);
        c.origin = Some(origin);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_log_raises_an_alert_with_verifiable_evidence() {
    if !have_chromium() {
        return;
    }
    // Two servers with the same key and origin but different histories, behind one proxy
    // port, so the browser's local storage (per origin) carries over between visits.
    let origin = "fork.test/log";
    let signer = SignerKey::from_seed(origin, TYPE_ED25519, &[0x42; 32]).unwrap();
    let key_dir = temp_dir("fork-key");
    let key_file = key_dir.join("log-key");
    std::fs::write(&key_file, signer.to_secret_string()).unwrap();
    let a = log_with_key(&key_file, origin).await;
    let b_log = log_with_key(&key_file, origin).await;
    let k = vendor_key(81);
    a.enrol("Honest AG", &k.verifier()).await;
    b_log.enrol("Other AG", &k.verifier()).await;
    for n in 0..3 {
        let (s, body) = b_log
            .submit(&sign_value(
                &k,
                &statement("Other AG", &att_id(8100 + n), "Other"),
            ))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    assert!(b_log.state.shared.published().size > a.state.shared.published().size);
    let proxy = Proxy::start(&a.url).await;
    let mut b = Browser::launch().await;
    b.open(&format!("{}/#/", proxy.url)).await;
    let (state, text) = b.settled("#log-status").await;
    assert_eq!(state, "verified", "{text}");

    proxy.set_upstream(&b_log.url);
    b.open(&format!("{}/#/", proxy.url)).await;
    let alert = b
        .wait_for(
            "the fork alert",
            "document.querySelector('#fork-alert[role=alert]')?.innerText",
        )
        .await;
    let alert = alert.as_str().unwrap();
    assert!(alert.contains("fork"), "{alert}");
    assert!(alert.contains("Download the fork evidence"), "{alert}");
    let (state, text) = b.settled("#checkpoint-verification").await;
    assert_eq!(state, "failed", "{text}");
    b.screenshot("fork-warning", 1280).await;
    let link = b
        .eval("[document.getElementById('fork-evidence').href, document.getElementById('fork-evidence').download]")
        .await;
    assert!(link[0].as_str().unwrap().starts_with("blob:"), "{link}");
    assert_eq!(link[1], "attestlog-fork-evidence.json");
    // The file's content is also shown on the page (the CSP keeps blob: out of fetch).
    let evidence = b
        .eval("document.getElementById('fork-evidence-text').textContent")
        .await;
    let evidence = ForkEvidence::from_json(evidence.as_str().unwrap().as_bytes()).unwrap();
    match evidence.verify(&[signer.verifier()]).unwrap() {
        ForkProof::Inconsistent { first, second, .. } => {
            assert_eq!(first, a.state.shared.published().size);
            assert_eq!(second, b_log.state.shared.published().size);
        }
        other => panic!("unexpected proof {other:?}"),
    }
    // The same file through the CLI.
    let file = key_dir.join("fork-evidence.json");
    std::fs::write(&file, serde_json::to_vec(&evidence).unwrap()).unwrap();
    let mut out = Vec::new();
    let code = attestlog_client::cli::run(
        [
            "attestlog",
            "verify-fork",
            file.to_str().unwrap(),
            "--log-key",
            &signer.verifier().to_string(),
        ]
        .map(String::from),
        &mut out,
    )
    .unwrap();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out));
    assert!(String::from_utf8_lossy(&out).contains("fork proven"));
    b.close().await;
}

/// The 14 encodings of the eight points of small order: y ∈ {0, 1, p−1} and the two y of the
/// points of order 8, and the non-canonical y + p of y = 0 and y = 1 (the only y < 19), each
/// with either sign bit. Every point of small order has one of these y modulo p, so the list
/// is complete.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let le = |h: &str| -> [u8; 32] { hex::decode(h).unwrap().try_into().unwrap() };
    let ys = [
        le("0000000000000000000000000000000000000000000000000000000000000000"),
        le("0100000000000000000000000000000000000000000000000000000000000000"),
        le("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        le("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        le("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        le("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        le("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    let mut out = Vec::new();
    for y in ys {
        let mut negative = y;
        negative[31] |= 0x80;
        out.extend([y, negative]);
    }
    out
}

/// The explorer's Ed25519 check (WebCrypto) accepts exactly what the log's `verify_strict`
/// accepts on the cases where plain Ed25519 implementations differ: keys and R of small order
/// (including non-canonical encodings) and S not below the group order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_signature_checks_match_verify_strict() {
    use ed25519_dalek::{Signature, VerifyingKey};
    if !have_chromium() {
        return;
    }
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let strict = |pub_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]| {
        VerifyingKey::from_bytes(pub_key)
            .is_ok_and(|k| k.verify_strict(msg, &Signature::from_bytes(sig)).is_ok())
    };
    let small = small_order_encodings();
    let distinct: std::collections::BTreeSet<_> = small.iter().collect();
    assert_eq!(distinct.len(), 14);
    for e in &small {
        let k = VerifyingKey::from_bytes(e).expect("decodes");
        assert!(k.is_weak(), "{} is of small order", hex::encode(e));
    }

    let key = vendor_key(7);
    let pub_key = key.verifier().public_key().to_bytes();
    let msg = b"attestlog signature edge cases".to_vec();
    let good = key.sign(&msg);
    // S + L: the same signature with a non-canonical scalar.
    let mut high_s = good;
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(high_s[32 + i]) + u16::from(l[i]) + carry;
        high_s[32 + i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    let mut cases = vec![
        ("valid", pub_key, msg.clone(), good),
        ("other message", pub_key, b"another message".to_vec(), good),
        ("S + L", pub_key, msg.clone(), high_s),
    ];
    // A small-order key with R = the same point and S = 0 passes the cofactorless equation
    // [S]B = R + [k]A for every message whose k kills the point: without the small-order
    // check such a key signs without a secret.
    for e in &small {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(e);
        for m in [&b"m"[..], b"n", b"attestlog"] {
            cases.push(("small-order key", *e, m.to_vec(), sig));
        }
    }
    let expected: Vec<bool> = cases.iter().map(|(_, k, m, s)| strict(k, m, s)).collect();
    assert!(expected[0] && !expected[1..].iter().any(|x| *x));

    let log = TestLog::start().await;
    let mut b = Browser::launch().await;
    b.open(&format!("{}/", log.url)).await;
    let input: Vec<Value> = cases
        .iter()
        .map(|(_, k, m, s)| json!([b64(k), b64(m), b64(s)]))
        .collect();
    let small_input: Vec<String> = small.iter().map(|e| b64(e)).collect();
    let out = b
        .eval(&format!(
            "(async () => {{
               const v = await import('/assets/verify.js');
               const cases = {};
               const d = v.b64decode;
               const checked = [];
               const plain = [];
               for (const [k, m, s] of cases) {{
                 checked.push(await v.ed25519Verify(d(k), d(m), d(s)));
                 let ok;
                 try {{
                   const key = await crypto.subtle.importKey('raw', d(k), {{name: 'Ed25519'}}, false, ['verify']);
                   ok = await crypto.subtle.verify({{name: 'Ed25519'}}, key, d(s), d(m));
                 }} catch {{ ok = false; }}
                 plain.push(ok);
               }}
               const small = {}.map((e) => v.isSmallOrderEncoding(d(e)));
               return {{checked, plain, small, key: v.isSmallOrderEncoding(d(cases[0][0]))}};
             }})()",
            Value::from(input),
            serde_json::to_string(&small_input).unwrap(),
        ))
        .await;
    b.close().await;
    let checked: Vec<bool> = serde_json::from_value(out["checked"].clone()).unwrap();
    for (i, ((name, k, _, _), (got, want))) in
        cases.iter().zip(checked.iter().zip(&expected)).enumerate()
    {
        assert_eq!(
            got,
            want,
            "case {i} ({name}, key {}): browser {got}, verify_strict {want}",
            hex::encode(k)
        );
    }
    assert_eq!(out["small"], json!(vec![true; 14]));
    assert_eq!(out["key"], json!(false));
    // Plain WebCrypto is more lenient than the log: the explorer's own checks are what reject.
    let plain: Vec<bool> = serde_json::from_value(out["plain"].clone()).unwrap();
    eprintln!(
        "plain WebCrypto accepted: {:?}",
        plain
            .iter()
            .enumerate()
            .filter(|(_, x)| **x)
            .map(|(i, _)| cases[i].0)
            .collect::<Vec<_>>()
    );
    assert!(plain[0]);
    assert!(
        plain[3..].iter().any(|x| *x),
        "WebCrypto alone rejects every small-order case"
    );
}

// ---------------------------------------------------------------------------------------------
// Independent verifications beside the claim and on the verifier's page; COSE entries

/// Submits a COSE_Sign1 signed statement of `v` by `key` at `POST /entries`; returns its
/// entry bytes and log index.
async fn submit_cose(log: &TestLog, key: &SignerKey, v: Value) -> (Vec<u8>, u64) {
    let st = attestlog_proto::predicate::statement_from_value(v).unwrap();
    let id = st.predicate.attestation_id.clone();
    let entry =
        attestlog_proto::cose::SignedStatement::sign(&st.canonical_bytes(), key, &id).to_entry();
    assert_eq!(log.post_cose(&entry).await.0, 201);
    let (s, found) = log
        .get_json(&format!("/v1/search?attestation_id={id}"))
        .await;
    assert_eq!(s, 200, "{found}");
    (entry, found["entries"][0]["index"].as_u64().unwrap())
}

/// The text of the alert a contradicting verification raises beside the claim.
pub(crate) async fn contradiction_alert(b: &mut Browser) -> String {
    let v = b
        .wait_for(
            "the contradiction",
            "document.getElementById('contradicted')?.innerText",
        )
        .await;
    v.as_str().unwrap().to_owned()
}

/// Every failed check's line on the page.
async fn failed_checks(b: &mut Browser) -> String {
    let v = b
        .eval("[...document.querySelectorAll('.checks li.fail')].map(l => l.innerText).join('\\n')")
        .await;
    v.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifications_and_cose_entries_verify_in_the_browser() {
    use crate::verifications::{LAB, sign_verification, verification_of};
    if !have_chromium() {
        return;
    }
    let policy = attestlog_proto::registration::RegistrationPolicy {
        max_entry_bytes: 32_768,
        ..attestlog_proto::registration::RegistrationPolicy::built_in(1)
    };
    let log = TestLog::start_with(move |c: &mut Config| c.scitt_policy = Some(policy)).await;
    // The log logs the policy as it starts serving (entry 0), before anything else.
    poll(
        "the registration policy logged",
        Duration::from_secs(30),
        || async {
            log.state
                .registration_policy(&log.state.shared.published())
                .unwrap()
        },
    )
    .await;
    let p = populate(&log).await;
    // A test lab enrolled with a verifier key checks the current Example AV attestation:
    // first consistent, then (a newer version of its verification) contradicted, having seen
    // an undeclared host in an excluded country.
    let lab = vendor_key(81);
    let (s, body) = log
        .vendors(&json!({"vendor": LAB, "key": lab.verifier().to_string(), "action": "enrol", "role": "verifier"}))
        .await;
    assert_eq!(s, 201, "{body}");
    let (_, good) = log.get_json(&format!("/v1/entries/{}", p.good)).await;
    let good_bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        good["entry"].as_str().unwrap(),
    )
    .unwrap();
    let first = verification_of(p.good, &good_bytes, &att_id(7001), "consistent");
    let (s, body) = log.submit(&sign_verification(&lab, &first)).await;
    assert_eq!(s, 201, "{body}");
    let consistent = body["index"].as_u64().unwrap();
    let mut second = verification_of(p.good, &good_bytes, &att_id(7001), "contradicted");
    second["predicate"]["issued_at"] = json!("2026-12-06T10:00:00Z");
    second["predicate"]["supersedes"] = json!({"log_index": consistent});
    second["predicate"]["undeclared"] = json!([{"hostname": "collector.tracker.example", "ip": "203.0.113.50", "port": 443, "country": "RU", "bytes": 2000}]);
    let (s, body) = log.submit(&sign_verification(&lab, &second)).await;
    assert_eq!(s, 201, "{body}");
    let contradicted = body["index"].as_u64().unwrap();
    // The lab had also found the claim's first version lying (another chain: another
    // subject): shown on the current version's page, apart and marked as about that version.
    let (_, old) = log.get_json(&format!("/v1/entries/{}", p.superseded)).await;
    let old_bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        old["entry"].as_str().unwrap(),
    )
    .unwrap();
    let mut of_old = verification_of(p.superseded, &old_bytes, &att_id(7001), "contradicted");
    of_old["predicate"]["undeclared"] = json!([{"hostname": "old-collector.tracker.example", "ip": "203.0.113.60", "port": 443, "country": "CN", "bytes": 500}]);
    let (s, body) = log.submit(&sign_verification(&lab, &of_old)).await;
    assert_eq!(s, 201, "{body}");
    let of_old = body["index"].as_u64().unwrap();
    // A SCITT signed statement (COSE_Sign1) of another product of the same vendor.
    let (cose_entry, cose) = submit_cose(
        &log,
        &vendor_key(71),
        attestation(
            "Example AV AG",
            7005,
            "Example Cose Scanner",
            vec![flow(
                "telemetry",
                "cose.example-av.test",
                ("CH", "Zug"),
                &["CH"],
            )],
            &["RU"],
        ),
    )
    .await;
    let proxy = Proxy::start(&log.url).await;
    let base = proxy.url.clone();
    let mut b = Browser::launch().await;

    // The claim's page: verified, the contradicting verification raised beside the claim,
    // the superseded consistent one listed as such.
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#verifications").await;
    assert_eq!(state, "verified", "{text}");
    for shown in [
        &format!("entry {contradicted}"),
        &format!("entry {consistent}"),
        "contradicted",
        "superseded",
        LAB,
        "✔ verified",
    ] {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
    let alert = contradiction_alert(&mut b).await;
    assert!(
        alert.contains("CONTRADICTED") && alert.contains(LAB),
        "{alert}"
    );
    assert!(
        alert.contains("collector.tracker.example") && alert.contains("Russia (RU)"),
        "{alert}"
    );
    assert!(alert.contains(&format!("entry {contradicted}")), "{alert}");
    assert!(
        !alert.contains(&format!("entry {of_old}")) && !alert.contains("old-collector"),
        "{alert}"
    );
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(
        text.contains("Independent verifications: 2 verifications of this entry verified")
            && text.contains("a verification CONTRADICTS this claim"),
        "{text}"
    );
    // The verification of the earlier version: not among this version's verifications, but
    // in a block of its own naming the version it verifies, and raised as a contradiction of
    // that earlier version.
    let own = b
        .eval("document.querySelector('#verifications > table').innerText")
        .await;
    assert!(
        !own.as_str().unwrap().contains(&format!("entry {of_old}")),
        "{own}"
    );
    let earlier = b
        .eval("document.getElementById('earlier-verifications')?.innerText ?? ''")
        .await;
    let earlier = earlier.as_str().unwrap();
    for shown in [
        "Verifications of earlier versions of this attestation",
        &format!("entry {of_old}"),
        &format!("version 1: entry {}", p.superseded),
        "not the claim as it reads now",
        LAB,
        "✔ verified",
    ] {
        assert!(earlier.contains(shown), "{shown:?} not in:\n{earlier}");
    }
    assert!(
        !earlier.contains(&format!("entry {contradicted}")),
        "{earlier}"
    );
    let alert = b
        .eval("document.getElementById('contradicted-earlier')?.innerText ?? ''")
        .await;
    let alert = alert.as_str().unwrap();
    assert!(
        alert.contains("An earlier version of this claim was CONTRADICTED")
            && alert.contains(&format!("version 1 (entry {})", p.superseded))
            && alert.contains("old-collector.tracker.example")
            && alert.contains(LAB),
        "{alert}"
    );
    assert!(
        text.contains(
            "Verifications of earlier versions: 1 verification of 1 earlier version verified"
        ) && text.contains(&format!(
            "CONTRADICTED an earlier version (entry {} by {LAB} at entry {of_old})",
            p.superseded
        )),
        "{text}"
    );
    b.screenshot("attestation-contradicted", 1280).await;
    // The first version's own page lists that verification as its own; it has no earlier
    // version.
    b.open(&format!("{base}/#/entry/{}", p.superseded)).await;
    let (state, text) = b.settled("#verifications").await;
    assert_eq!(state, "verified", "{text}");
    assert!(text.contains(&format!("entry {of_old}")), "{text}");
    let alert = contradiction_alert(&mut b).await;
    assert!(alert.contains("old-collector.tracker.example"), "{alert}");
    assert_eq!(
        b.eval("document.getElementById('earlier-verifications') === null")
            .await,
        true
    );

    // A server whose search lies about the verdict changes nothing shown: the verdict comes
    // from the verified entry bytes. One that lists a non-verification turns the page red.
    proxy.set_replacements(&[("\"verdict\":\"contradicted\"", "\"verdict\":\"consistent\"")]);
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, _) = b.settled("#verifications").await;
    assert_eq!(state, "verified");
    let alert = contradiction_alert(&mut b).await;
    assert!(alert.contains("CONTRADICTED"), "{alert}");
    let bogus = format!(
        "\"verifications\":[{{\"index\":{},\"verifier\":\"{LAB}\",\"subject\":{},\"attestation_id\":\"x\",\"verdict\":\"consistent\",\"issued_at\":\"2026-12-06T10:00:00Z\"}},",
        p.superseded, p.good
    );
    proxy.set_replacements(&[("\"verifications\":[", bogus.as_str())]);
    b.open(&format!("{base}/#/entry/{}", p.good)).await;
    let (state, text) = b.settled("#verifications").await;
    assert_eq!(state, "failed", "{text}");
    assert!(
        text.contains(&format!(
            "not verified: entry {} is not a verification",
            p.superseded
        )),
        "{text}"
    );
    let (state, _) = b.settled("#entry-verification").await;
    assert_eq!(state, "failed");
    assert!(
        failed_checks(&mut b)
            .await
            .contains("Independent verifications")
    );
    proxy.set_replacements(&[]);

    // The verification's own page: its predicate, its verifier and its subject, verified.
    b.open(&format!("{base}/#/entry/{contradicted}")).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    for check in [
        "Server’s decoded view",
        "Verifier signature and enrolment",
        "enrolled as a verifier key",
        "Subject",
    ] {
        assert!(text.contains(check), "{check} missing: {text}");
    }
    let main = b.eval("document.getElementById('main').innerText").await;
    let main = main.as_str().unwrap();
    for shown in [
        "Verification: contradicted — Example Test Lab GmbH",
        "✖ contradicted",
        &format!(
            "entry {} — Example Endpoint Security by Example AV AG (verified)",
            p.good
        ),
        "collector.tracker.example 203.0.113.50:443 (Russia (RU)), 2,000 bytes",
        "traffic capture",
        &format!("entry {consistent}"),
        "0 (threat samples)",
    ] {
        assert!(main.contains(shown), "{shown:?} not shown:\n{main}");
    }
    b.screenshot("verification", 1280).await;
    // The server names the entry a verification; one that calls it an attestation is caught.
    proxy.set_replacements(&[("\"kind\":\"verification\"", "\"kind\":\"attestation\"")]);
    b.open(&format!("{base}/#/entry/{contradicted}")).await;
    let (state, _) = b.settled("#entry-verification").await;
    assert_eq!(state, "failed");
    let failed = failed_checks(&mut b).await;
    assert!(
        failed.contains("Server’s decoded view")
            && failed.contains(
                "the server calls the entry “attestation”, the bytes are a verification entry"
            ),
        "{failed}"
    );
    proxy.set_replacements(&[]);

    // The verifier's page: its key (role verifier) and the verifications it published.
    b.open(&format!("{base}/#/vendor/{}", LAB.replace(' ', "%20")))
        .await;
    let (state, text) = b.settled("#published").await;
    assert_eq!(state, "verified", "{text}");
    for shown in [
        &format!("entry {contradicted}"),
        &format!("entry {consistent}"),
        "Example Endpoint Security by Example AV AG",
        "contradicted",
        "superseded",
    ] {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
    assert!(text.contains(&format!("entry {of_old}")), "{text}");
    let keys = b
        .wait_for(
            "keys",
            "document.querySelector('#keys-h ~ div table')?.innerText",
        )
        .await;
    assert!(keys.as_str().unwrap().contains("verifier ✔"), "{keys}");
    // Its only key is a verifier key, which never signs attestations: no products section
    // (present while the page loads, removed once the keys verified and none was listed).
    b.wait_for(
        "the products section to go",
        "document.getElementById('products-h') === null",
    )
    .await;
    let main = b.eval("document.getElementById('main').innerText").await;
    assert!(
        !main.as_str().unwrap().contains("Products and attestations")
            && !main
                .as_str()
                .unwrap()
                .contains("No attestations from this vendor"),
        "{main}"
    );
    b.screenshot("verifier", 1280).await;

    // Search by verdict: the contradicting verifications, verified; not the consistent one.
    b.open(&format!("{base}/#/search?verdict=contradicted"))
        .await;
    let text = b
        .wait_for(
            "verification results",
            "document.querySelector('#results table')?.innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains(&format!("entry {contradicted}"))
            && text.contains(&format!("entry {of_old}"))
            && text.contains("✔ verified"),
        "{text}"
    );
    assert!(!text.contains(&format!("entry {consistent}")), "{text}");
    let heading = b
        .eval("document.getElementById('results-h').innerText")
        .await;
    assert_eq!(heading, "2 matching verifications");

    // A COSE entry: CBOR read in the browser, EdDSA over the Sig_structure verified.
    b.open(&format!("{base}/#/entry/{cose}")).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(
        text.contains("a COSE_Sign1 signed statement (SCITT, attestation"),
        "{text}"
    );
    assert!(
        text.contains(
            "COSE_Sign1 signature (EdDSA over the Sig_structure built from the entry bytes) by"
        ),
        "{text}"
    );
    assert!(text.contains("Inclusion proof"), "{text}");
    let main = b.eval("document.getElementById('main').innerText").await;
    let main = main.as_str().unwrap();
    assert!(
        main.contains("Example Cose Scanner") && main.contains("cose.example-av.test"),
        "{main}"
    );
    // Without this page: the transparent statement of this entry and the command that checks it.
    let cli = b
        .eval("document.getElementById('without-this-page').innerText")
        .await;
    assert!(
        cli.as_str().unwrap().contains(&format!(
            "attestlog verify entry-{cose}.transparent.cose --scitt-key scitt-keys.cbor --log-key {}",
            log.log_key()
        )),
        "{cli}"
    );
    let href = b
        .eval("document.getElementById('transparent-download').getAttribute('href')")
        .await;
    let r = log.get(href.as_str().unwrap()).await;
    assert_eq!(r.status(), 200, "{href}");
    let transparent =
        attestlog_proto::scitt::TransparentStatement::parse(&r.bytes().await.unwrap());
    assert!(transparent.is_ok(), "{href}: {transparent:?}");
    b.screenshot("attestation-cose", 1280).await;

    // The same entry with one byte of its signature changed: the inclusion proof and the
    // signature both fail, and the page says NOT VERIFIED.
    let mut tampered = cose_entry.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let b64 = |x: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, x);
    proxy.set_replacements(&[(&b64(&cose_entry), &b64(&tampered))]);
    b.open(&format!("{base}/#/entry/{cose}")).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "failed", "{text}");
    let failed = failed_checks(&mut b).await;
    assert!(failed.contains("Inclusion proof"), "{failed}");
    assert!(
        failed.contains("Vendor signature and enrolment")
            && failed.contains("EdDSA over the COSE Sig_structure"),
        "{failed}"
    );
    b.wait_for("the warning", "document.getElementById('claim-unverified')")
        .await;
    proxy.set_replacements(&[]);
    // The registration policy the log logged as it started (entry 0): its log signature and
    // its terms verified here.
    b.open(&format!("{base}/#/entry/0")).await;
    let (state, text) = b.settled("#entry-verification").await;
    assert_eq!(state, "verified", "{text}");
    assert!(
        text.contains("the registration policy entry is signed (DSSE, Ed25519) by the log key"),
        "{text}"
    );
    let title = b
        .eval("document.getElementById('page-title').textContent")
        .await;
    assert_eq!(title, "Entry 0: registration policy 1", "{title}");
    let shown = b.eval("document.getElementById('claim').innerText").await;
    assert!(shown.as_str().unwrap().contains("32768 bytes"), "{shown}");
    // A lying server serves entry 0 as a registration policy signed by another key (a policy
    // of its own making), then as the logged one with a term altered under the log's
    // signature: neither is shown as verified; the page names the failed log-signature check
    // and warns that what follows is not verified.
    use attestlog_proto::registration::RegistrationPolicy;
    let (_, e0) = log.get_json("/v1/entries/0").await;
    let logged = e0["entry"].as_str().unwrap().to_owned();
    let stricter = RegistrationPolicy {
        max_entry_bytes: 1000,
        ..RegistrationPolicy::built_in(1)
    };
    let forged = stricter.to_envelope(&vendor_key(99)).canonical_bytes();
    let mut altered = attestlog_proto::dsse::Envelope::parse_entry(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &logged).unwrap(),
    )
    .unwrap();
    altered.payload = stricter.canonical_bytes();
    for (bytes, lie) in [
        (forged, "signed by another key"),
        (altered.canonical_bytes(), "altered"),
    ] {
        proxy.set_replacements(&[(&logged, &b64(&bytes))]);
        b.open(&format!("{base}/#/entry/0")).await;
        let (state, text) = b.settled("#entry-verification").await;
        assert_eq!(state, "failed", "{lie}: {text}");
        let failed = failed_checks(&mut b).await;
        assert!(
            failed.contains("Log signature on the registration policy")
                && failed.contains("the registration policy entry is not signed by the log key"),
            "{lie}: {failed}"
        );
        let warning = b
            .wait_for(
                "the warning",
                "document.getElementById('claim-unverified')?.innerText",
            )
            .await;
        assert!(
            warning.as_str().unwrap().contains("NOT VERIFIED"),
            "{lie}: {warning}"
        );
        assert!(
            !text
                .contains("the registration policy entry is signed (DSSE, Ed25519) by the log key"),
            "{lie}: {text}"
        );
    }
    proxy.set_replacements(&[]);
    b.close().await;
}

/// CBOR items (hex) `verify.js` decodes, with the item it must make of each.
type GoodCbor = Vec<(&'static str, Value)>;
/// CBOR items (hex) `verify.js` refuses, with a word of its reason.
type BadCbor = Vec<(&'static str, &'static str)>;

/// Hex of the items `verify.js` decodes and must make the given item of, and of the items it
/// must refuse.
fn cbor_vectors() -> (GoodCbor, BadCbor) {
    let good = vec![
        ("00", json!({"t": "int", "v": "0"})),
        ("1818", json!({"t": "int", "v": "24"})),
        ("3903e7", json!({"t": "int", "v": "-1000"})),
        ("1b0000000100000000", json!({"t": "int", "v": "4294967296"})),
        ("43010203", json!({"t": "bytes", "v": "010203"})),
        ("63c3a978", json!({"t": "text", "v": "éx"})),
        (
            "820127",
            json!({"t": "array", "v": [{"t": "int", "v": "1"}, {"t": "int", "v": "-8"}]}),
        ),
        (
            "a10127",
            json!({"t": "map", "v": [[{"t": "int", "v": "1"}, {"t": "int", "v": "-8"}]]}),
        ),
        (
            "d24100",
            json!({"t": "tag", "tag": "18", "v": {"t": "bytes", "v": "00"}}),
        ),
    ];
    let bad = vec![
        ("", "truncated"),
        ("1817", "shortest form"),
        ("190017", "shortest form"),
        ("5801ff", "shortest form"),
        ("9f00ff", "indefinite"),
        ("5f4100ff", "indefinite"),
        ("f5", "simple values"),
        ("f93c00", "floats"),
        ("1c", "reserved"),
        ("0000", "after the item"),
        ("430102", "past the end"),
        ("62c328", "UTF-8"),
        ("a201000100", "duplicate map key"),
        ("81d24100", "a tag inside"),
        (
            "8181818181818181818181818181818181818100",
            "nested too deeply",
        ),
    ];
    (good, bad)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_cbor_reader_is_strict_and_rebuilds_the_cose_sig_structure() {
    use attestlog_proto::cose::{SignedStatement, parse_sign1, sign1_to_tagged};
    use coset::cbor::value::Value as Value2;
    if !have_chromium() {
        return;
    }
    let key = vendor_key(71);
    let v = attestation(
        "Example AV AG",
        7006,
        "P",
        vec![flow(
            "telemetry",
            "p.example-av.test",
            ("CH", "Zug"),
            &["CH"],
        )],
        &[],
    );
    let st = attestlog_proto::predicate::statement_from_value(v).unwrap();
    let signed = SignedStatement::sign(&st.canonical_bytes(), &key, &att_id(7006));
    let entry = signed.to_entry();
    // The same statement with a non-empty unprotected header, as a submitter may send it (the
    // log empties it: such bytes are never an entry).
    let mut with_unprotected = parse_sign1(&entry).unwrap();
    with_unprotected.unprotected.rest.push((
        coset::Label::Int(99),
        coset::cbor::value::Value::Text("x".into()),
    ));
    let with_unprotected = sign1_to_tagged(with_unprotected);
    // Signed statements the log refuses, each correctly signed: the browser refuses them too
    // (or, for a CWT iss that is not the key's name, finds no signature by the key).
    let edit = |f: &dyn Fn(&mut coset::CoseSign1)| crate::scitt::resign(&key, &signed, f);
    let Value2::Tag(_, inner) = ciborium::de::from_reader::<Value2, _>(entry.as_slice()).unwrap()
    else {
        panic!("tagged")
    };
    let mut retagged = Vec::new();
    ciborium::ser::into_writer(&Value2::Tag(98, inner), &mut retagged).unwrap();
    let claims = |iss: &str| {
        Value2::Map(vec![
            (Value2::from(1), Value2::Text(iss.into())),
            (Value2::from(2), Value2::Text(att_id(7006))),
        ])
    };
    let refused: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong tag", retagged, "tag 18"),
        (
            "ES256",
            edit(&|s| {
                s.protected.header.alg = Some(coset::RegisteredLabelWithPrivate::Assigned(
                    coset::iana::Algorithm::ES256,
                ))
            }),
            "not EdDSA",
        ),
        (
            "3-byte kid",
            edit(&|s| s.protected.header.key_id.truncate(3)),
            "kid (4)",
        ),
        (
            "another content type",
            edit(&|s| {
                s.protected.header.content_type =
                    Some(coset::RegisteredLabel::Text("application/json".into()))
            }),
            "content_type (3)",
        ),
        (
            "no CWT claims",
            edit(&|s| s.protected.header.rest.clear()),
            "CWT claims (15)",
        ),
        (
            "CWT claims without iss",
            edit(&|s| {
                s.protected.header.rest = vec![(
                    coset::Label::Int(15),
                    Value2::Map(vec![(Value2::from(2), Value2::Text(att_id(7006)))]),
                )]
            }),
            "iss (1)",
        ),
        (
            "detached payload",
            edit(&|s| s.payload = None),
            "simple values",
        ),
        (
            "short signature",
            {
                let mut s = parse_sign1(&entry).unwrap();
                s.signature.truncate(63);
                sign1_to_tagged(s)
            },
            "64 bytes",
        ),
    ];
    let other_iss = edit(&|s| {
        s.protected.header.rest = vec![(coset::Label::Int(15), claims("someone-else.example/k"))]
    });
    let (good, bad) = cbor_vectors();
    let log = TestLog::start().await;
    let mut b = Browser::launch().await;
    b.open(&format!("{}/", log.url)).await;
    let out = b
        .eval(&format!(
            "(async () => {{
               const v = await import('/assets/verify.js');
               const fromHex = (s) => new Uint8Array(s.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
               const plain = (i) => JSON.parse(JSON.stringify(i, (k, x) => k === 'raw' ? undefined : typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? v.hex(x) : x));
               const good = {good}.map((h) => plain(v.cborDecode(fromHex(h))));
               const bad = {bad}.map((h) => {{ try {{ v.cborDecode(fromHex(h)); return 'accepted'; }} catch (e) {{ return e.message; }} }});
               const entry = fromHex({entry:?});
               const c = v.parseCoseSign1(entry);
               const key = await v.parseVerifierKey({key:?});
               const other = await v.parseVerifierKey({other:?});
               const flipped = entry.slice();
               flipped[flipped.length - 1] ^= 1;
               const fc = v.parseCoseSign1(flipped);
               const refuse = (h) => {{ try {{ v.parseCoseSign1(fromHex(h)); return 'accepted'; }} catch (e) {{ return e.message; }} }};
               const unprotected = refuse({unprot:?});
               const refused = {refused}.map(refuse);
               const otherIss = v.parseCoseSign1(fromHex({other_iss:?}));
               return {{
                 good, bad, unprotected, refused,
                 otherIss: [otherIss.iss, await v.coseSignedBy(otherIss, key)],
                 sig: v.hex(c.sigStructure), kid: v.hex(c.kid), iss: c.iss, sub: c.sub,
                 payload: v.hex(c.payload), protected: v.hex(c.protectedBytes),
                 ok: await v.coseSignedBy(c, key),
                 flipped: await v.coseSignedBy(fc, key),
                 otherKey: await v.coseSignedBy(c, other),
               }};
             }})()",
            good = serde_json::to_string(&good.iter().map(|g| g.0).collect::<Vec<_>>()).unwrap(),
            bad = serde_json::to_string(&bad.iter().map(|g| g.0).collect::<Vec<_>>()).unwrap(),
            entry = hex::encode(&entry),
            unprot = hex::encode(&with_unprotected),
            refused = serde_json::to_string(&refused.iter().map(|r| hex::encode(&r.1)).collect::<Vec<_>>()).unwrap(),
            other_iss = hex::encode(&other_iss),
            key = key.verifier().to_string(),
            other = vendor_key(72).verifier().to_string(),
        ))
        .await;
    b.close().await;
    for (i, (h, want)) in good.iter().enumerate() {
        assert_eq!(out["good"][i], *want, "{h}");
    }
    for (i, (h, want)) in bad.iter().enumerate() {
        let got = out["bad"][i].as_str().unwrap();
        assert!(got.contains(want), "{h}: {got} (expected {want:?})");
    }
    assert!(
        out["unprotected"]
            .as_str()
            .unwrap()
            .contains("unprotected header is not empty"),
        "{out}"
    );
    for (i, (name, _, want)) in refused.iter().enumerate() {
        let got = out["refused"][i].as_str().unwrap();
        assert!(got.contains(want), "{name}: {got} (expected {want:?})");
    }
    assert_eq!(out["otherIss"], json!(["someone-else.example/k", false]));
    // The Sig_structure the browser builds is the one the log verified, byte for byte.
    assert_eq!(out["sig"], hex::encode(signed.sig_structure()));
    assert_eq!(out["protected"], hex::encode(signed.protected_bytes()));
    assert_eq!(out["payload"], hex::encode(signed.payload()));
    assert_eq!(out["kid"], signed.kid_hex());
    assert_eq!(out["iss"], key.name());
    assert_eq!(out["sub"], att_id(7006));
    assert_eq!(out["ok"], json!(true));
    assert_eq!(out["flipped"], json!(false));
    assert_eq!(out["otherKey"], json!(false));
}
