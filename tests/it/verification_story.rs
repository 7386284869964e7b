//! The README's independent-verification story (DESIGN.md §13), line by line through the real
//! `attestlog` CLI against a real server: a vendor attests; a lab enrols a verifier key, runs
//! `check-traffic` on a capture this test builds (the product reached an undeclared host in an
//! excluded country), signs and submits the verification; `verify` checks it with its subject;
//! search finds it by verdict; the monitor alerts `verification_contradicted`; the explorer
//! shows the contradicting verification on the claim's page, verified in headless Chromium.

use std::net::IpAddr;

use attestlog_client::cli::{EXIT_FAILURE, EXIT_OK};
use attestlog_client::monitor::Alert;
use attestlog_client::traffic::testing::{
    Frames, LinkType, Packet, Tcp, client_hello, dns_response, geoip_db, pcapng_file,
};

use crate::common::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The lab's capture: DNS answers for both names, TLS to the declared
/// `ksn-eu.vendor.example` (192.0.2.10, CH) and to the undeclared `collector.tracker.example`
/// (203.0.113.50, RU, which the claim excludes).
fn capture() -> Vec<u8> {
    let f = Frames {
        link: LinkType::Ethernet,
    };
    let (dev, resolver) = (ip("10.0.0.2"), ip("10.0.0.1"));
    let mut packets = Vec::new();
    let mut push = |data: Vec<u8>| {
        let time = 1_764_900_000 + u32::try_from(packets.len()).unwrap();
        packets.push(Packet { time, data });
    };
    for (n, (name, addr)) in [
        ("ksn-eu.vendor.example", "192.0.2.10"),
        ("collector.tracker.example", "203.0.113.50"),
    ]
    .into_iter()
    .enumerate()
    {
        let port = 40_000 + u16::try_from(n).unwrap();
        push(f.udp(
            (resolver, 53),
            (dev, port),
            &dns_response(name, None, &[ip(addr)]),
        ));
        let srv = (ip(addr), 443);
        let me = (dev, port + 10_000);
        push(f.tcp(me, srv, Tcp::Syn, &[]));
        push(f.tcp(srv, me, Tcp::SynAck, &[]));
        push(f.tcp(me, srv, Tcp::Data, &client_hello(name, 0)));
        push(f.tcp(me, srv, Tcp::Data, &[7; 2000]));
    }
    pcapng_file(LinkType::Ethernet, &packets)
}

fn readme_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("<!-- verification-story -->")
        .expect("story marker");
    let end = readme
        .find("<!-- /verification-story -->")
        .expect("end marker");
    readme[start..end]
        .lines()
        .filter(|l| l.starts_with("attestlog "))
        .map(str::to_owned)
        .collect()
}

/// Splits a README command line like a shell would for its simple quoting, dropping a
/// trailing `# comment`.
fn words(line: &str) -> Vec<String> {
    let line = line.split("  #").next().unwrap_or(line);
    let mut out = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn file_word(w: &str) -> bool {
    [".key", ".json", ".pcapng", ".mmdb"]
        .iter()
        .any(|e| w.ends_with(e))
        || w == "monitor-state"
}

#[test]
fn readme_verification_story_runs() {
    let lines = readme_lines();
    assert!(lines.len() >= 12, "{lines:?}");
    let rt = server_runtime();
    let log = rt.block_on(TestLog::start());
    let dir = temp_dir("verification-story");
    std::fs::write(dir.join("capture.pcapng"), capture()).unwrap();
    std::fs::write(
        dir.join("geo.mmdb"),
        geoip_db(&[("192.0.2.0/24", "CH"), ("203.0.113.0/24", "RU")]),
    )
    .unwrap();
    let in_dir = |w: &str| dir.join(w).to_str().unwrap().to_owned();
    let log_key = log.log_key().to_string();
    let (mut vendor_key, mut lab_key) = (String::new(), String::new());
    let mut seen = Vec::new();
    for line in &lines {
        let mut args: Vec<String> = vec!["--log".into(), log.url.clone()];
        for w in words(line).into_iter().skip(1) {
            args.push(match w.as_str() {
                "$LOG_KEY" => log_key.clone(),
                "$VENDOR_KEY" => vendor_key.clone(),
                "$LAB_KEY" => lab_key.clone(),
                w if file_word(w) => in_dir(w),
                w => w.to_owned(),
            });
        }
        if args.contains(&"vendor".to_owned()) {
            args.extend(["--token".to_owned(), log.token.clone()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = run(&refs);
        let cmd = words(line)[1..3].join(" ");
        if line.starts_with("attestlog check-traffic") {
            // The capture contradicts the claim: exit 1, the statement written anyway.
            assert_eq!(code, EXIT_FAILURE, "{line}\n{out}");
            assert!(out.contains("collector.tracker.example"), "{out}");
            assert!(out.contains("RU"), "{out}");
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("verification.json")).unwrap())
                    .unwrap();
            let payload = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                v["payload"].as_str().unwrap(),
            )
            .unwrap();
            let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(st["predicate"]["verdict"], "contradicted", "{st}");
            assert_eq!(
                st["predicate"]["undeclared"][0]["hostname"], "collector.tracker.example",
                "{st}"
            );
        } else {
            assert_eq!(code, EXIT_OK, "{line}\n{out}");
        }
        match cmd.as_str() {
            "key generate" if line.contains("vendor.key") => vendor_key = out.trim().to_owned(),
            "key generate" => lab_key = out.trim().to_owned(),
            "vendor enrol" if line.contains("--role verifier") => {
                assert!(out.contains("verifier key"), "{out}");
            }
            "verify verification.receipt.json" => {
                assert!(out.contains("Verified verification at index"), "{out}");
                assert!(out.contains("Verdict: contradicted"), "{out}");
                assert!(out.contains("receipt verified"), "{out}");
            }
            "search --verdict" => assert!(out.contains("contradicted  verifies 1"), "{out}"),
            "monitor --log-key" => {
                let alerts: Vec<Alert> = out
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                    .collect();
                let contradicted = alerts
                    .iter()
                    .find(|a| a.alert == "verification_contradicted")
                    .unwrap_or_else(|| panic!("no verification_contradicted in {out}"));
                assert_eq!(contradicted.vendor.as_deref(), Some("Example AV AG"));
                assert!(
                    contradicted
                        .message
                        .contains("collector.tracker.example (RU)"),
                    "{contradicted:?}"
                );
                assert!(alerts.iter().any(|a| a.alert == "verification_added"));
            }
            _ => {}
        }
        seen.push(cmd);
    }
    assert!(seen.iter().any(|c| c == "monitor --log-key"), "{seen:?}");

    // The explorer shows it on the claim: in a browser, the claim's page lists the
    // contradicting verification beside the claim, verified there.
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("verification.json")).unwrap()).unwrap();
    let st: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            v["payload"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let claim = st["predicate"]["subject_entry"]["log_index"]
        .as_u64()
        .unwrap();
    if crate::explorer::have_chromium() {
        rt.block_on(async {
            let mut b = crate::explorer::Browser::launch().await;
            b.open(&format!("{}/#/entry/{claim}", log.url)).await;
            let (state, text) = b.settled("#entry-verification").await;
            assert_eq!(state, "verified", "{text}");
            assert!(
                text.contains("a verification CONTRADICTS this claim"),
                "{text}"
            );
            let (state, text) = b.settled("#verifications").await;
            assert_eq!(state, "verified", "{text}");
            assert!(text.contains("✔ verified"), "{text}");
            let alert = crate::explorer::contradiction_alert(&mut b).await;
            assert!(alert.contains("CONTRADICTED"), "{alert}");
            assert!(alert.contains("Example Test Lab GmbH"), "{alert}");
            assert!(alert.contains("collector.tracker.example"), "{alert}");
            b.close().await;
        });
    }

    // `attestlog get` names the entry a verification, as the server does.
    let (_, found) = rt.block_on(log.get_json("/v1/search?verdict=contradicted"));
    let index = found["verifications"][0]["index"].as_u64().unwrap();
    let (code, out) = run(&["--log", &log.url, "get", &index.to_string()]);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(out.contains("kind       verification"), "{out}");
    let (code, out) = run(&["--log", &log.url, "get", &claim.to_string()]);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(out.contains("kind       attestation"), "{out}");

    // The verification's subject is checked: another entry's receipt is refused.
    let (code, out) = run(&[
        "verify",
        &in_dir("verification.receipt.json"),
        "--subject",
        &in_dir("verification.receipt.json"),
        "--log-key",
        &log_key,
    ]);
    assert_eq!(code, EXIT_FAILURE, "{out}");
    assert!(out.contains("subject"), "{out}");
    drop(log);
}
