//! Smoke tests of the real `attestlog` binary: help for every subcommand, exit statuses for
//! bad input, and the offline vendor commands. No network.

use std::path::PathBuf;
use std::process::{Command, Output};

fn attestlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attestlog"))
        .args(args)
        // Nothing here may reach a server; a closed port makes any attempt fail fast.
        .env("ATTESTLOG_URL", "http://127.0.0.1:9")
        .env_remove("ATTESTLOG_ADMIN_TOKEN")
        .env_remove("ATTESTLOG_LOG_KEY")
        .output()
        .expect("run attestlog")
}

/// `attestlog [global...] key generate --name NAME --out OUT`.
fn key_generate(global: &[&str], name: &str, out: &str) -> Output {
    let mut args = global.to_vec();
    args.extend(["key", "generate", "--name", name, "--out", out]);
    attestlog(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("attestlog-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

const SUBCOMMANDS: &[&[&str]] = &[
    &[],
    &["key"],
    &["key", "generate"],
    &["attest"],
    &["attest", "new"],
    &["attest", "check"],
    &["attest", "sign"],
    &["submit"],
    &["verify"],
    &["get"],
    &["search"],
    &["status"],
    &["prove"],
    &["prove", "inclusion"],
    &["prove", "consistency"],
    &["diff"],
    &["vendor"],
    &["vendor", "enrol"],
    &["vendor", "revoke"],
    &["monitor"],
    &["verify-fork"],
];

#[test]
fn every_subcommand_has_help() {
    for sub in SUBCOMMANDS {
        let mut args = sub.to_vec();
        args.push("--help");
        let o = attestlog(&args);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {out}");
        assert!(out.contains("Usage: attestlog"), "{args:?}: {out}");
        assert!(out.contains("--json"), "{args:?} lacks --json: {out}");
    }
    let top = stdout(&attestlog(&["--help"]));
    for s in [
        "key",
        "attest",
        "submit",
        "verify",
        "monitor",
        "verify-fork",
        "Exit status",
    ] {
        assert!(top.contains(s), "{s}: {top}");
    }
    let o = attestlog(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("attestlog "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["get", "not-a-number"],
        &["prove", "consistency", "1"],
        &["verify"],
        &["key", "generate", "--name", "x"],
    ] {
        let o = attestlog(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn failures_exit_1_with_a_reason() {
    let d = temp("fail");
    let missing = d.join("missing.json");
    let o = attestlog(&["attest", "check", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));

    let bad = d.join("bad.json");
    std::fs::write(&bad, br#"{"_type": "nope"}"#).unwrap();
    let o = attestlog(&["attest", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("_type"), "{}", stdout(&o));

    let o = attestlog(&["--json", "attest", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);

    // A receipt that is not one, with a well-formed key: exit 1 with the reason.
    let key = d.join("k");
    let vkey = stdout(&key_generate(&[], "example/log", key.to_str().unwrap()));
    let o = attestlog(&["verify", bad.to_str().unwrap(), "--log-key", vkey.trim()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("does NOT verify"), "{}", stdout(&o));
    // Neither key nor policy.
    let o = attestlog(&["verify", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    // A bad key name, and refusing to overwrite a key file.
    let o = key_generate(&[], "bad name", "/dev/null");
    assert_eq!(o.status.code(), Some(1));
    let o = key_generate(&[], "example/log", key.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1));
    // No server listening: a network error is exit 1, not a panic.
    let o = attestlog(&["get", "0"]);
    assert_eq!(o.status.code(), Some(1));
    let o = attestlog(&[
        "verify-fork",
        bad.to_str().unwrap(),
        "--log-key",
        vkey.trim(),
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn verify_refuses_a_malformed_scitt_key_set() {
    let d = temp("scitt-keys");
    // A COSE_Key {1: 1 (OKP), -1: 6 (Ed25519), -2: x} without the kid the log serves.
    let mut key = vec![0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20, 0x01];
    key.extend([0; 31]);
    let keys = d.join("keys.cbor");
    std::fs::write(&keys, &key).unwrap();
    let statement = d.join("ts.cbor");
    std::fs::write(&statement, [0xd2, 0x80]).unwrap();
    let o = attestlog(&[
        "verify",
        statement.to_str().unwrap(),
        "--scitt-key",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no kid (2)"), "{err}");
    // With its kid (the RFC 9679 thumbprint) the key set reads, and the file is judged.
    let mut with_kid = vec![0xa4, 0x01, 0x01, 0x02, 0x58, 0x20];
    let mut body = vec![0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20, 0x01];
    body.extend([0; 31]);
    with_kid.extend(<sha2::Sha256 as sha2::Digest>::digest(&body));
    with_kid.extend(&key[3..]);
    std::fs::write(&keys, &with_kid).unwrap();
    let o = attestlog(&[
        "verify",
        statement.to_str().unwrap(),
        "--scitt-key",
        keys.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("COSE receipt keys"), "{err}");
}

#[test]
fn offline_vendor_commands() {
    let d = temp("vendor");
    let key = d.join("vendor.key");
    let o = key_generate(&["--json"], "example-av.ch/attest", key.to_str().unwrap());
    assert_eq!(o.status.code(), Some(0));
    let k: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        k["verifier_key"]
            .as_str()
            .unwrap()
            .starts_with("example-av.ch/attest+")
    );
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("PRIVATE+KEY+")
    );

    // Two templates get different attestation ids.
    let t1: serde_json::Value =
        serde_json::from_slice(&attestlog(&["attest", "new"]).stdout).unwrap();
    let t2: serde_json::Value =
        serde_json::from_slice(&attestlog(&["attest", "new"]).stdout).unwrap();
    assert_ne!(
        t1["predicate"]["attestation_id"],
        t2["predicate"]["attestation_id"]
    );
    let explain = stdout(&attestlog(&["attest", "new", "--explain"]));
    assert!(explain.contains("predicate.data_flows"), "{explain}");

    let stmt = d.join("s.json");
    std::fs::write(&stmt, serde_json::to_vec(&t1).unwrap()).unwrap();
    assert_eq!(
        attestlog(&["attest", "check", stmt.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let o = attestlog(&[
        "attest",
        "sign",
        "--key",
        key.to_str().unwrap(),
        stmt.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let env = attestlog_proto::dsse::Envelope::from_json(&o.stdout).unwrap();
    let vkey =
        attestlog_proto::keys::VerifierKey::parse(k["verifier_key"].as_str().unwrap()).unwrap();
    assert!(env.verify_with(&vkey));
    assert_eq!(env.canonical_bytes(), o.stdout.strip_suffix(b"\n").unwrap());
}
