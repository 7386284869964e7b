//! The vendor → auditor → monitor story through the real `attestlog` CLI (`cli::run`) against
//! in-process servers, and fork detection with two servers sharing one log key.
//!
//! These tests are plain `#[test]`s: the server runs on its own multi-threaded runtime and
//! the CLI, which is synchronous, builds its own runtime per command.

use std::path::{Path, PathBuf};

use attestlog_client::cli::{self, EXIT_FAILURE, EXIT_FORK, EXIT_OK};
use attestlog_client::monitor::{Alert, EVIDENCE_FILE};
use attestlog_server::config::Config;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::common::*;

const VENDOR: &str = "Example AV AG";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn alerts(out: &str) -> Vec<Alert> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn kinds(alerts: &[Alert]) -> Vec<(String, Option<u64>)> {
    alerts.iter().map(|a| (a.alert.clone(), a.index)).collect()
}

/// Writes a statement for `id` with a storage country into `path` via `attest new` + edit.
fn write_statement(dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let path = dir.join(name);
    ok(&["attest", "new", "-o", p(&path)]);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    path
}

fn sign_and_submit(dir: &Path, url: &str, key: &Path, stmt: &Path, name: &str) -> PathBuf {
    let env = dir.join(format!("{name}.dsse.json"));
    let receipt = dir.join(format!("{name}.receipt.json"));
    ok(&["attest", "sign", "--key", p(key), p(stmt), "-o", p(&env)]);
    ok(&["--log", url, "submit", p(&env), "--receipt", p(&receipt)]);
    receipt
}

#[test]
fn vendor_auditor_monitor_story() {
    let rt = server_runtime();
    let log = rt.block_on(TestLog::start());
    let url = log.url.clone();
    let log_key = log.log_key().to_string();
    let dir = temp_dir("story");

    // Vendor: a key, enrolled by the operator.
    let key = dir.join("vendor.key");
    let vkey = ok(&[
        "key",
        "generate",
        "--name",
        "example-av.ch/attest",
        "--out",
        p(&key),
    ]);
    let vkey = vkey.trim().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = ok(&[
        "--log", &url, "vendor", "enrol", "--vendor", VENDOR, "--key", &vkey, "--token", &log.token,
    ]);
    assert!(out.contains("at index 0"), "{out}");

    // Vendor: write, check, sign and submit a statement.
    let stmt = write_statement(&dir, "v1.json", |v| {
        v["predicate"]["product"]["name"] = json!("Endpoint");
        v["predicate"]["data_flows"][0]
            .as_object_mut()
            .unwrap()
            .remove("onward_transfers");
    });
    let id = {
        let v: Value = serde_json::from_slice(&std::fs::read(&stmt).unwrap()).unwrap();
        v["predicate"]["attestation_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(id, "00000000-0000-4000-8000-000000000000", "a fresh id");
    ok(&["attest", "check", p(&stmt)]);
    let bad = write_statement(&dir, "bad.json", |v| {
        v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = json!("XX");
    });
    let (code, out) = run(&["attest", "check", p(&bad)]);
    assert_eq!(code, EXIT_FAILURE);
    assert!(
        out.contains("processing_locations") && out.contains("country"),
        "{out}"
    );
    let receipt = sign_and_submit(&dir, &url, &key, &stmt, "v1");

    // Auditor: offline verification, and tampering fails with the reason.
    let out = ok(&["verify", p(&receipt), "--log-key", &log_key]);
    assert!(out.contains("Verified attestation at index 1"), "{out}");
    assert!(out.contains(VENDOR), "{out}");
    let original: Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    let tampered_entry = {
        let mut entry = STANDARD
            .decode(original["entry"].as_str().unwrap())
            .unwrap();
        let s = String::from_utf8(entry.clone()).unwrap();
        let at = s.find("\"sig\":\"").unwrap() + 8;
        entry[at] = if entry[at] == b'A' { b'B' } else { b'A' };
        let mut r = original.clone();
        r["entry"] = json!(STANDARD.encode(entry));
        r
    };
    let tampered_proof = {
        let mut r = original.clone();
        let proof = r["proof"]
            .as_str()
            .unwrap()
            .replacen("index ", "index 9", 1);
        r["proof"] = json!(proof);
        r
    };
    let no_enrolment = {
        let mut r = original.clone();
        r.as_object_mut().unwrap().remove("enrolment");
        r
    };
    let enrolment_entry = {
        let mut r = original.clone();
        let mut e = STANDARD
            .decode(r["enrolment"]["entry"].as_str().unwrap())
            .unwrap();
        let n = e.len() - 5;
        e[n] ^= 1;
        r["enrolment"]["entry"] = json!(STANDARD.encode(e));
        r
    };
    let enrolment_proof = {
        let mut r = original.clone();
        let proof = r["enrolment"]["proof"]
            .as_str()
            .unwrap()
            .replacen("index 0", "index 1", 1);
        r["enrolment"]["proof"] = json!(proof);
        r
    };
    for (name, bad) in [
        ("enrolment entry", enrolment_entry),
        ("enrolment proof", enrolment_proof),
        ("entry", tampered_entry),
        ("proof", tampered_proof),
        ("enrolment", no_enrolment),
    ] {
        let f = dir.join(format!("tampered-{name}.json"));
        std::fs::write(&f, serde_json::to_vec(&bad).unwrap()).unwrap();
        let (code, out) = run(&["verify", p(&f), "--log-key", &log_key]);
        assert_eq!(code, EXIT_FAILURE, "tampered {name}: {out}");
        assert!(out.contains("does NOT verify"), "{out}");
    }
    let other_key = attestlog_proto::keys::SignerKey::from_seed(
        log.log_key().name(),
        attestlog_proto::keys::TYPE_ED25519,
        &[9; 32],
    )
    .unwrap()
    .verifier()
    .to_string();
    let (code, out) = run(&["verify", p(&receipt), "--log-key", &other_key]);
    assert_eq!(code, EXIT_FAILURE, "{out}");
    assert!(out.contains("checkpoint"), "{out}");

    // Monitor: first run sees the enrolment and the new attestation in a watched country.
    let state = dir.join("monitor");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        format!("vendors = [\"{VENDOR}\"]\ncountries = [\"CH\", \"DE\"]\n"),
    )
    .unwrap();
    // A webhook receiver on loopback collects what the monitor posts.
    let received: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let hook = {
        let received = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push(v);
                    "ok"
                }
            }),
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    };
    let monitor = |url: &str| {
        run(&[
            "--log",
            url,
            "monitor",
            "--log-key",
            &log_key,
            "--state",
            p(&state),
            "--rules",
            p(&rules),
            "--once",
            "--webhook",
            &hook,
        ])
    };
    let (code, out) = monitor(&url);
    assert_eq!(code, EXIT_OK, "{out}");
    let a = alerts(&out);
    let posted: Vec<Alert> = received
        .lock()
        .unwrap()
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    assert_eq!(
        kinds(&posted),
        kinds(&a),
        "webhook got the same alerts as stdout"
    );
    assert_eq!(
        kinds(&a),
        vec![
            ("key_enrolled".to_owned(), Some(0)),
            ("new_attestation".to_owned(), Some(1)),
            ("watched_country".to_owned(), Some(1)),
        ],
        "{out}"
    );
    assert_eq!(a[2].country.as_deref(), Some("CH"));
    assert_eq!(a[1].attestation_id.as_deref(), Some(id.as_str()));

    // Vendor: a new version moving storage to DE, superseding index 1.
    let stmt2 = write_statement(&dir, "v2.json", |v| {
        v["predicate"]["product"]["name"] = json!("Endpoint");
        v["predicate"]["attestation_id"] = json!(id);
        v["predicate"]["supersedes"] = json!({"attestation_id": id, "log_index": 1});
        v["predicate"]["issued_at"] = json!("2026-06-01T00:00:00Z");
        v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = json!("DE");
        v["predicate"]["data_flows"][0]["remote_access_jurisdictions"] = json!(["DE"]);
    });
    let receipt2 = sign_and_submit(&dir, &url, &key, &stmt2, "v2");
    ok(&["verify", p(&receipt2), "--log-key", &log_key]);

    // A second claim for the same product that excludes DE contradicts the current v2.
    let stmt_x = write_statement(&dir, "x.json", |v| {
        v["predicate"]["product"]["name"] = json!("Endpoint");
        v["predicate"]["excluded_jurisdictions"] = json!(["DE"]);
        v["predicate"]["data_flows"][0]
            .as_object_mut()
            .unwrap()
            .remove("onward_transfers");
    });
    sign_and_submit(&dir, &url, &key, &stmt_x, "x");

    // Auditor: status, diff, search, get, proofs.
    let out = ok(&["--log", &url, "status", &id, "--log-key", &log_key]);
    assert!(out.contains("index 2") && out.contains("active"), "{out}");
    assert!(out.contains("index 1: superseded"), "{out}");
    let out = ok(&["--log", &url, "--json", "diff", "1", p(&receipt2)]);
    let d: Value = serde_json::from_str(&out).unwrap();
    let storage = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["aspect"] == "countries.storage")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(storage["added"], json!(["DE"]));
    assert_eq!(storage["removed"], json!(["CH"]));
    let out = ok(&["--log", &url, "--json", "search", "--vendor", VENDOR]);
    let s: Value = serde_json::from_str(&out).unwrap();
    let idx: Vec<u64> = s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert!(idx.contains(&1) && idx.contains(&2), "{out}");
    let out = ok(&["--log", &url, "--json", "get", "2", "--log-key", &log_key]);
    let g: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(g["index"], 2);
    let out = ok(&[
        "--log",
        &url,
        "--json",
        "prove",
        "inclusion",
        "1",
        "--log-key",
        &log_key,
    ]);
    let pr: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pr["tree_size"], 4);
    assert_eq!(pr["verified"], true);
    let leaf = pr["leaf_hash"].as_str().unwrap();
    let leaf_hex = hex::encode(STANDARD.decode(leaf).unwrap());
    let out = ok(&[
        "--log",
        &url,
        "--json",
        "prove",
        "inclusion",
        "--leaf-hash",
        &leaf_hex,
        "--log-key",
        &log_key,
    ]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["index"], 1);
    ok(&[
        "--log",
        &url,
        "prove",
        "consistency",
        "1",
        "3",
        "--log-key",
        &log_key,
    ]);

    // Operator revokes the key; the monitor continues from its state.
    ok(&[
        "--log", &url, "vendor", "revoke", "--vendor", VENDOR, "--key", &vkey, "--token",
        &log.token,
    ]);
    let (code, out) = monitor(&url);
    assert_eq!(code, EXIT_OK, "{out}");
    let a = alerts(&out);
    assert_eq!(
        kinds(&a),
        vec![
            ("superseding_attestation".to_owned(), Some(2)),
            ("watched_country".to_owned(), Some(2)),
            ("new_attestation".to_owned(), Some(3)),
            ("contradiction".to_owned(), Some(3)),
            ("watched_country".to_owned(), Some(3)),
            ("key_revoked".to_owned(), Some(4)),
        ],
        "{out}"
    );
    assert_eq!(a[1].country.as_deref(), Some("DE"));
    assert!(a[3].message.contains("index 2"), "{}", a[3].message);
    assert_eq!(a[4].country.as_deref(), Some("CH"));
    // Nothing new: no alerts, no evidence.
    let (code, out) = monitor(&url);
    assert_eq!(code, EXIT_OK);
    assert!(out.is_empty(), "{out}");
    assert!(!state.join(EVIDENCE_FILE).exists());

    // A signed envelope by the revoked key is refused with the server's reason.
    let stmt3 = write_statement(&dir, "v3.json", |v| {
        v["predicate"]["product"]["name"] = json!("Other");
    });
    let env3 = dir.join("v3.dsse.json");
    ok(&[
        "attest",
        "sign",
        "--key",
        p(&key),
        p(&stmt3),
        "-o",
        p(&env3),
    ]);
    let mut buf = Vec::new();
    let err = cli::run(["attestlog", "--log", &url, "submit", p(&env3)], &mut buf).unwrap_err();
    assert!(format!("{err:#}").contains("422"), "{err:#}");
    drop(log);
}

/// Copies a log's identity (key and origin) into a fresh data directory.
fn clone_identity(from: &Path) -> PathBuf {
    let dir = temp_dir("fork-b");
    for f in ["log.key", "origin"] {
        std::fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    dir
}

#[test]
fn monitor_detects_fork_between_two_servers_with_one_key() {
    let rt = server_runtime();
    let a = rt.block_on(TestLog::start());
    let dir_b = clone_identity(&a.dir);
    let mut config = Config::with_data_dir(&dir_b);
    config.admin_token = Some("test-admin-token".into());
    config.max_wait = std::time::Duration::from_millis(2);
    let b = rt.block_on(TestLog::start_in(dir_b, config));
    assert_eq!(a.log_key(), b.log_key(), "same log identity");
    let log_key = a.log_key().to_string();

    let key = vendor_key(3);
    rt.block_on(async {
        a.enrol(VENDOR, &key.verifier()).await;
        b.enrol(VENDOR, &key.verifier()).await;
        let (s, body) = a
            .submit(&sign_value(&key, &statement(VENDOR, &att_id(1), "A")))
            .await;
        assert_eq!(s, 201, "{body}");
        for n in [2, 3] {
            let (s, body) = b
                .submit(&sign_value(&key, &statement(VENDOR, &att_id(n), "B")))
                .await;
            assert_eq!(s, 201, "{body}");
        }
    });

    let dir = temp_dir("fork");
    let state = dir.join("state");
    let monitor = |url: &str, state: &Path| {
        run(&[
            "--log",
            url,
            "monitor",
            "--log-key",
            &log_key,
            "--state",
            p(state),
            "--once",
        ])
    };
    // Following A: clean.
    let (code, out) = monitor(&a.url, &state);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(!state.join(EVIDENCE_FILE).exists());
    // Pointed at B (size 3, not an extension of A's size 2): evidence and exit status 3.
    let (code, out) = monitor(&b.url, &state);
    assert_eq!(code, EXIT_FORK, "{out}");
    assert!(alerts(&out).iter().any(|a| a.alert == "fork"), "{out}");
    let evidence = state.join(EVIDENCE_FILE);
    assert!(evidence.exists());
    let out = ok(&["verify-fork", p(&evidence), "--log-key", &log_key]);
    assert!(out.contains("fork proven"), "{out}");
    // Size 2 is a power of two: the file carries the root B's tree had at size 2, and a
    // consistency proof tying it to B's checkpoint. Without either, nothing is proven.
    let good: Value = serde_json::from_slice(&std::fs::read(&evidence).unwrap()).unwrap();
    assert!(good["prefix_root"].is_string(), "{good}");
    for tamper in ["prefix_root", "consistency_proof"] {
        let mut e = good.clone();
        e.as_object_mut().unwrap().remove(tamper);
        if tamper == "consistency_proof" {
            e[tamper] = serde_json::json!([]);
        }
        let f = dir.join(format!("no-{tamper}.json"));
        std::fs::write(&f, serde_json::to_vec(&e).unwrap()).unwrap();
        let (code, out) = run(&["verify-fork", p(&f), "--log-key", &log_key]);
        assert_eq!(code, EXIT_FAILURE, "{tamper}: {out}");
    }
    // The stored state still follows A, so A stays clean.
    std::fs::remove_file(&evidence).unwrap();
    let (code, _) = monitor(&a.url, &state);
    assert_eq!(code, EXIT_OK);
    assert!(!evidence.exists());

    // Same size, different roots: A grows to 3 as well.
    rt.block_on(async {
        let (s, body) = a
            .submit(&sign_value(&key, &statement(VENDOR, &att_id(4), "A")))
            .await;
        assert_eq!(s, 201, "{body}");
    });
    let (code, _) = monitor(&a.url, &state);
    assert_eq!(code, EXIT_OK);
    let (code, _) = monitor(&b.url, &state);
    assert_eq!(code, EXIT_FORK);
    let out = ok(&["--json", "verify-fork", p(&evidence), "--log-key", &log_key]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["proof"]["kind"], "same_size_different_roots", "{out}");

    // Evidence does not verify under another key, nor when tampered into two equal views.
    let other = vendor_key(9).verifier().to_string();
    let (code, _) = run(&["verify-fork", p(&evidence), "--log-key", &other]);
    assert_eq!(code, EXIT_FAILURE);
    let mut e: Value = serde_json::from_slice(&std::fs::read(&evidence).unwrap()).unwrap();
    e["second"] = e["first"].clone();
    let same = dir.join("same.json");
    std::fs::write(&same, serde_json::to_vec(&e).unwrap()).unwrap();
    let (code, out) = run(&["verify-fork", p(&same), "--log-key", &log_key]);
    assert_eq!(code, EXIT_FAILURE, "{out}");

    // A log with the same key serving a smaller tree: a rollback alert, not a fork.
    std::fs::remove_file(&evidence).unwrap();
    let dir_c = clone_identity(&a.dir);
    let mut config = Config::with_data_dir(&dir_c);
    config.admin_token = Some("test-admin-token".into());
    let c = rt.block_on(TestLog::start_in(dir_c, config));
    let (code, out) = monitor(&c.url, &state);
    assert_eq!(code, EXIT_FAILURE, "{out}");
    assert!(alerts(&out).iter().any(|a| a.alert == "rollback"), "{out}");
    assert!(!evidence.exists());
    drop(c);

    // A clean log followed from scratch by a fresh monitor: no evidence.
    let clean = dir.join("clean");
    let (code, _) = monitor(&a.url, &clean);
    assert_eq!(code, EXIT_OK);
    assert!(!clean.join(EVIDENCE_FILE).exists());
    drop((a, b));
}

/// Splits a README command line like a shell would for the simple quoting it uses, dropping
/// a trailing `# comment`.
fn shell_words(line: &str) -> Vec<String> {
    let line = line.split("  #").next().unwrap_or(line);
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The README's CLI walk-through, line by line, against a real server.
#[test]
fn readme_cli_walkthrough_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("<!-- cli-walkthrough -->")
        .expect("walk-through marker");
    let end = readme
        .find("<!-- /cli-walkthrough -->")
        .expect("end marker");
    let lines: Vec<&str> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("attestlog "))
        .collect();
    assert!(lines.len() >= 8, "{lines:?}");

    let rt = server_runtime();
    let log = rt.block_on(TestLog::start());
    let dir = temp_dir("readme");
    let log_key = log.log_key().to_string();
    let mut vendor_key = String::new();
    for line in lines {
        let mut args: Vec<String> = vec!["--log".into(), log.url.clone()];
        for w in shell_words(line).into_iter().skip(1) {
            args.push(match w.as_str() {
                "$LOG_KEY" => log_key.clone(),
                "$VENDOR_KEY" => vendor_key.clone(),
                w if w.ends_with(".key") || w.ends_with(".json") || w == "monitor-state" => {
                    dir.join(w).to_str().unwrap().to_owned()
                }
                w => w.to_owned(),
            });
        }
        if args.contains(&"vendor".to_owned()) {
            // The README takes the token from ATTESTLOG_ADMIN_TOKEN.
            args.extend(["--token".to_owned(), log.token.clone()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&refs);
        if line.starts_with("attestlog key generate") {
            vendor_key = out.trim().to_owned();
        }
        if line.starts_with("attestlog monitor") {
            let a = alerts(&out);
            assert_eq!(a.len(), 1, "{out}");
            assert_eq!(a[0].alert, "key_enrolled");
        }
        if line.starts_with("attestlog verify") {
            assert!(out.contains("receipt verified"), "{out}");
        }
    }
    drop(log);
}
