//! `deploy/compose.yml`, `deploy/Dockerfile` and `deploy/replica.toml` refer to the real
//! binaries, flags, environment variables and config keys (there is no Docker engine here, so
//! they are parsed and checked rather than run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_norway::Value;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name)
}

fn server_help() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn compose_runs_postgres_three_replicas_and_a_witness_with_real_flags() {
    let text = std::fs::read_to_string(deploy("compose.yml")).unwrap();
    let mut doc: Value = serde_norway::from_str(&text).unwrap();
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().unwrap();
    let help = server_help();

    let pg = &doc["services"]["postgres"];
    assert!(pg["image"].as_str().unwrap().starts_with("postgres:"));
    assert!(strs(&pg["healthcheck"]["test"]).contains(&"pg_isready".to_owned()));

    let replicas: Vec<&Value> = services
        .iter()
        .filter(|(k, _)| k.as_str().unwrap().starts_with("replica-"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(replicas.len(), 3);
    for r in &replicas {
        assert_eq!(
            r["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy")
        );
        let check = strs(&r["healthcheck"]["test"]).join(" ");
        assert!(check.contains("/readyz"), "{check}");
        // Every flag of the command exists.
        for arg in strs(&r["command"]) {
            if arg.starts_with("--") {
                assert!(
                    help.contains(&arg),
                    "{arg} is not a flag of attestlog-server"
                );
            }
        }
        // Every ATTESTLOG_* variable is one the server reads (clap lists them in --help;
        // the admin token and log format are read by the binary directly).
        for (k, v) in r["environment"].as_mapping().unwrap() {
            let k = k.as_str().unwrap();
            if !k.starts_with("ATTESTLOG_") {
                continue;
            }
            let known = help.contains(&format!("[env: {k}"))
                || k == "ATTESTLOG_ADMIN_TOKEN"
                || k == "ATTESTLOG_LOG_FORMAT";
            assert!(known, "{k} is not read by attestlog-server");
            if k == "ATTESTLOG_DATABASE_URL" {
                assert!(v.as_str().unwrap().starts_with("postgres://"));
            }
        }
        let mounts = strs(&r["volumes"]).join("\n");
        assert!(mounts.contains("./replica.toml:/etc/attestlog/replica.toml"));
        assert!(mounts.contains("log.key"), "replicas share the log key");
        assert!(
            mounts.contains("./secrets/scitt.key:/etc/attestlog/scitt.key:ro"),
            "replicas share the SCITT receipt key"
        );
    }
    // The config file they use parses with the server's own (strict) reader and selects the
    // shared key file.
    let cfg = attestlog_server::config::read_file(&deploy("replica.toml")).unwrap();
    assert_eq!(
        cfg.key_file.as_deref(),
        Some(Path::new("/etc/attestlog/log.key"))
    );
    assert!(cfg.database.is_none(), "the password stays out of the file");
    assert_eq!(
        cfg.scitt.key_file.as_deref(),
        Some(Path::new("/etc/attestlog/scitt.key"))
    );

    let w = &doc["services"]["witness"];
    assert_eq!(strs(&w["entrypoint"]), vec!["attestlog"]);
    let cmd = strs(&w["command"]);
    assert_eq!(&cmd[..2], &["witness", "serve"]);
    for flag in ["--key", "--logs", "--state"] {
        assert!(cmd.iter().any(|a| a == flag), "witness serve needs {flag}");
    }
    // It listens where the replicas and its health check reach it.
    let listen = cmd
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| cmd.get(i + 1))
        .expect("witness serve --listen");
    assert!(listen.starts_with("0.0.0.0:"), "{listen}");
    let port = listen.rsplit(':').next().unwrap();
    let health = strs(&w["healthcheck"]["test"]).join(" ");
    assert!(health.contains(&format!("127.0.0.1:{port}/")), "{health}");
    // The replicas' policy file is the one replica.toml names, and it is mounted.
    let policy = cfg
        .witness_policy
        .as_deref()
        .expect("replica.toml witness_policy");
    let mounts = strs(&doc["x-replica"]["volumes"]).join(" ");
    assert!(
        mounts.contains(&format!(":{}:ro", policy.display())),
        "{mounts}"
    );
}

#[test]
fn dockerfile_builds_and_ships_the_real_binaries() {
    let text = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let server = Path::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // The package names built are the workspace's.
    let root = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .unwrap();
    for member in ["server", "client"] {
        assert!(root.contains(&format!("\"{member}\"")));
    }
    assert!(text.contains("-p attestlog-server") && text.contains("-p attestlog-client"));
    let client_manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/Cargo.toml"))
            .unwrap();
    assert!(client_manifest.contains("name = \"attestlog\""));
    for bin in [server.as_str(), "attestlog"] {
        assert!(
            text.contains(&format!("target/release/{bin} /usr/local/bin/{bin}")),
            "{bin} not shipped"
        );
    }
    assert!(text.contains("ENTRYPOINT [\"attestlog-server\"]"));
    let help = server_help();
    for var in ["ATTESTLOG_LISTEN", "ATTESTLOG_DATA_DIR"] {
        assert!(text.contains(var) && help.contains(&format!("[env: {var}")));
    }
    assert!(text.contains("/healthz"));
}
