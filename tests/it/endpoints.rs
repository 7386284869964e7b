//! Content types, cache headers, health, metrics, OpenAPI and graceful shutdown.

use crate::common::*;

async fn static_path_headers_and_json_endpoints(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let key = vendor_key(40);
    log.enrol("Headers AG", &key.verifier()).await;
    let env = sign_value(&key, &statement("Headers AG", &att_id(1), "P"));
    assert_eq!(log.submit(&env).await.0, 201);

    let r = log.get("/checkpoint").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with(&format!("{}\n2\n", log.log_key().name())),
        "{text}"
    );

    let r = log.get("/tile/0/000.p/2").await;
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["cache-control"], "public, max-age=5");
    let r = log.get("/tile/0/000").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");

    let (s, info) = log.get_json("/v1/log").await;
    assert_eq!(s, 200);
    assert_eq!(info["origin"], log.log_key().name());
    assert_eq!(info["verifier_key"], log.log_key().to_string());
    assert_eq!(info["tree_size"], 2);
    assert_eq!(info["limits"]["max_entry_bytes"], 65535);

    let (s, list) = log.get_json("/v1/vendors").await;
    assert_eq!(s, 200);
    assert_eq!(list["vendors"][0]["vendor"], "Headers AG");
    assert_eq!(list["vendors"][0]["keys"][0]["enrolled_at"], 0);

    let r = log.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let r = log.get("/readyz").await;
    assert_eq!(r.status(), 200);

    let (s, api) = log.get_json("/openapi.json").await;
    assert_eq!(s, 200);
    // Every route the server serves is described (the router's own list), the C2SP static
    // path included.
    let served = attestlog_server::http::served_paths();
    for p in ["/checkpoint", "/tile/{path}", "/v1/entries", "/entries"] {
        assert!(served.iter().any(|s| s == p), "{p} not served: {served:?}");
    }
    for p in &served {
        let ops = api["paths"].get(p.as_str());
        assert!(
            ops.is_some_and(|o| o.as_object().is_some_and(|o| !o.is_empty())),
            "{p} missing from openapi.json"
        );
    }
    assert_eq!(
        api["paths"].as_object().map(serde_json::Map::len),
        Some(served.len()),
        "openapi.json describes a path the server does not serve"
    );
    let tile = &api["paths"]["/tile/{path}"]["get"];
    assert!(
        tile["responses"]["200"]["content"]["application/octet-stream"].is_object(),
        "{tile}"
    );
    // The SCITT endpoints say what they take and answer: COSE, and CBOR problem details.
    let register = &api["paths"]["/entries"]["post"];
    assert!(
        register["requestBody"]["content"]["application/cose"].is_object(),
        "{register}"
    );
    for status in ["201", "303", "400", "415", "422"] {
        assert!(
            register["responses"][status].is_object(),
            "{status}: {register}"
        );
    }
    assert!(
        register["responses"]["400"]["content"]["application/concise-problem-details+cbor"]
            .is_object(),
        "{register}"
    );
    let entry = &api["paths"]["/entries/{id}"]["get"];
    for status in ["200", "302", "404"] {
        assert!(entry["responses"][status].is_object(), "{status}: {entry}");
    }

    // Errors by code are counted.
    assert_eq!(log.submit(b"{").await.0, 400);
    let metrics = log.get("/metrics").await.text().await.unwrap();
    for m in [
        "attestlog_submissions_total",
        "attestlog_entries_integrated_total",
        "attestlog_batch_size",
        "attestlog_integration_seconds",
        "attestlog_queue_seconds",
        "attestlog_tree_size",
        "attestlog_http_errors_total{status=\"400\"}",
    ] {
        assert!(metrics.contains(m), "{m} missing from /metrics:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_submissions() {
    let log = TestLog::start().await;
    let key = vendor_key(41);
    log.enrol("Shutdown AG", &key.verifier()).await;
    let envs: Vec<Vec<u8>> = (0..30)
        .map(|i| sign_value(&key, &statement("Shutdown AG", &att_id(i), "P")))
        .collect();
    let mut tasks = Vec::new();
    for env in envs.clone() {
        let http = log.http.clone();
        let url = log.url.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/v1/entries"))
                .body(env)
                .send()
                .await
                .ok()?;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.ok()?;
            Some((status, body))
        }));
    }
    tokio::task::yield_now().await;
    let dir = log.stop().await;
    let mut acked = Vec::new();
    for (env, t) in envs.iter().zip(tasks) {
        if let Some((201, b)) = t.await.unwrap() {
            acked.push((b["index"].as_u64().unwrap(), env.clone()));
        }
    }
    let mut config = attestlog_server::config::Config::with_data_dir(&dir);
    config.admin_token = Some("t".into());
    let log = TestLog::start_in(dir, config).await;
    for (index, env) in acked {
        let (s, b) = log.get_json(&format!("/v1/entries/{index}")).await;
        assert_eq!(s, 200);
        assert_eq!(
            b["leaf_hash"],
            attestlog_proto::Hash::leaf(&env).to_base64(),
            "entry {index}"
        );
    }
}

crate::both_backends!(static_path_headers_and_json_endpoints);
