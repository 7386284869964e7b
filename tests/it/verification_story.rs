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

/// Runs the CLI and expects an error; returns its text.
fn run_err(args: &[&str]) -> String {
    let mut out = Vec::new();
    match attestlog_client::cli::run(
        std::iter::once("attestlog").chain(args.iter().copied()),
        &mut out,
    ) {
        Ok(code) => panic!(
            "attestlog {args:?} exited {code} instead of failing:\n{}",
            String::from_utf8_lossy(&out)
        ),
        Err(e) => format!("{e:#}"),
    }
}

/// The files in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `check-traffic --attestation INDEX` fetches the claim from the log and verifies its
/// receipt. With `--sign -o`, a capture that cannot be read (corrupt, another link type, a CSV
/// without its columns) is a clear error naming the file, and the output is left as it was
/// (no statement, no temporary file); a good capture writes a signed statement the log
/// accepts as a verification of that claim.
#[test]
fn check_traffic_signs_whole_verifications_only() {
    use attestlog_client::traffic::testing::pcap_file;
    let rt = server_runtime();
    let log = rt.block_on(TestLog::start());
    let vendor = vendor_key(51);
    rt.block_on(log.enrol("Example AV AG", &vendor.verifier()));
    let claim = sign_value(
        &vendor,
        &statement("Example AV AG", &att_id(51), "Example Endpoint Security"),
    );
    let (status, body) = rt.block_on(log.submit(&claim));
    assert_eq!(status, 201, "{body}");
    let claim_index = body["index"].as_u64().unwrap().to_string();
    let dir = temp_dir("check-traffic-sign");
    let lab_key_file = dir.join("lab.key");
    let lab_key = ok(&[
        "key",
        "generate",
        "--name",
        "lab.example/verify",
        "--out",
        lab_key_file.to_str().unwrap(),
    ]);
    let (status, body) = rt.block_on(log.vendors(&serde_json::json!({
        "vendor": "Example Test Lab GmbH", "key": lab_key.trim(), "action": "enrol", "role": "verifier"
    })));
    assert_eq!(status, 201, "{body}");
    std::fs::write(
        dir.join("geo.mmdb"),
        geoip_db(&[("192.0.2.0/24", "CH"), ("203.0.113.0/24", "RU")]),
    )
    .unwrap();
    std::fs::write(dir.join("good.pcapng"), capture()).unwrap();
    let mut corrupt = pcap_file(LinkType::Ethernet, &[]);
    corrupt.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    corrupt.extend_from_slice(&[0u8; 300_000]);
    std::fs::write(dir.join("corrupt.pcap"), corrupt).unwrap();
    std::fs::write(
        dir.join("wifi.pcapng"),
        pcapng_file(LinkType::Other(105), &[]),
    )
    .unwrap();
    std::fs::write(
        dir.join("cols.csv"),
        "ts,dst_ip,bytes\n2026-12-01T10:00:00Z,203.0.113.50,5\n",
    )
    .unwrap();
    let out = dir.join("verification.json");
    std::fs::write(&out, "the previous statement\n").unwrap();
    let before = listing(&dir);
    let log_key = log.log_key().to_string();
    let path = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let args = |capture: &str| -> Vec<String> {
        [
            "--log",
            &log.url,
            "--json",
            "check-traffic",
            "--attestation",
            &claim_index,
            "--log-key",
            &log_key,
            "--capture",
            &path(capture),
            "--geoip",
            &path("geo.mmdb"),
            "--sign",
            &path("lab.key"),
            "-o",
            &path("verification.json"),
            "--verifier",
            "Example Test Lab GmbH",
            "--verifier-jurisdiction",
            "DE",
            "--product-version",
            "21.3.10",
            "--platform",
            "windows-x64",
            "--network-country",
            "DE",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    for (capture, says) in [
        ("corrupt.pcap", "corrupt.pcap is not a valid capture"),
        ("wifi.pcapng", "wifi.pcapng: link type 105 is not supported"),
        (
            "cols.csv",
            "cols.csv: the connections CSV lacks the required column(s) dst_port",
        ),
        ("missing.pcap", "missing.pcap"),
    ] {
        let a = args(capture);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let e = run_err(&a);
        assert!(e.contains(says), "{capture}: {e}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "the previous statement\n",
            "{capture}: the output was touched"
        );
        assert_eq!(listing(&dir), before, "{capture}: a file was left behind");
    }
    // --attestation verifies the claim's receipt: it needs the log key.
    let e = run_err(&[
        "--log",
        &log.url,
        "check-traffic",
        "--attestation",
        &claim_index,
        "--capture",
        &path("good.pcapng"),
    ]);
    assert!(e.contains("give --log-key or --policy"), "{e}");

    // The good capture: contradicted (exit 1), the statement written, the log takes it.
    let a = args("good.pcapng");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, printed) = run(&a);
    assert_eq!(code, EXIT_FAILURE, "{printed}");
    let report: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(report["verdict"], "contradicted", "{report}");
    assert_eq!(report["written"], path("verification.json"), "{report}");
    assert_eq!(listing(&dir), before, "no temporary file left");
    let signed = std::fs::read(&out).unwrap();
    let (status, body) = rt.block_on(log.submit(signed.trim_ascii_end()));
    assert_eq!(status, 201, "{body}");
    let (_, entry) = rt.block_on(log.get_json(&format!("/v1/entries/{}", body["index"])));
    assert_eq!(entry["kind"], "verification", "{entry}");
    assert_eq!(
        entry["payload"]["predicate"]["subject_entry"]["log_index"].to_string(),
        claim_index,
        "{entry}"
    );
    assert_eq!(entry["payload"]["predicate"]["verdict"], "contradicted");

    // `--format cose`: a verification of another claim as a SCITT signed statement, signed by
    // the lab key over the attached statement, its `sub` that claim's attestation id;
    // `attestlog submit` registers it at POST /entries.
    let other = sign_value(
        &vendor,
        &statement("Example AV AG", &att_id(52), "Example Endpoint Security"),
    );
    let (status, other) = rt.block_on(log.submit(&other));
    assert_eq!(status, 201, "{other}");
    let mut a = args("good.pcapng");
    let cose_out = path("verification.cose");
    for (flag, value) in [
        ("-o", cose_out.as_str()),
        ("--format", "cose"),
        ("--attestation", &other["index"].to_string()),
    ] {
        match a.iter().position(|x| x == flag) {
            Some(i) => a[i + 1] = value.to_owned(),
            None => a.extend([flag.to_owned(), value.to_owned()]),
        }
    }
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, printed) = run(&a);
    assert_eq!(code, EXIT_FAILURE, "{printed}");
    let cose = std::fs::read(&cose_out).unwrap();
    let st = attestlog_proto::cose::SignedStatement::parse(&cose).unwrap();
    let lab = attestlog_proto::keys::VerifierKey::parse(lab_key.trim()).unwrap();
    assert!(st.verify_with(&lab), "signed by the lab key");
    assert_eq!(st.iss(), lab.name());
    assert_eq!(st.sub(), att_id(52));
    let v: serde_json::Value = serde_json::from_slice(st.payload()).unwrap();
    assert_eq!(
        v["predicateType"],
        attestlog_proto::verification::PREDICATE_TYPE
    );
    let submitted = ok(&["--log", &log.url, "--json", "submit", &cose_out]);
    let submitted: serde_json::Value = serde_json::from_str(&submitted).unwrap();
    assert_eq!(submitted["created"], true, "{submitted}");
    let (_, entry) = rt.block_on(log.get_json(&format!("/v1/entries/{}", submitted["index"])));
    assert_eq!(entry["kind"], "verification", "{entry}");
    assert_eq!(
        entry["payload"]["predicate"]["subject_entry"]["log_index"], other["index"],
        "{entry}"
    );
    // Refused where it means nothing: without --sign, a usage error.
    let (code, _) = run(&[
        "check-traffic",
        "--capture",
        &path("good.pcapng"),
        "--format",
        "cose",
        &path("verification.json"),
    ]);
    assert_eq!(code, attestlog_client::cli::EXIT_USAGE);
    drop(log);
}
