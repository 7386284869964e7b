//! `replicas`: several replicas of one log on one PostgreSQL database (DESIGN.md §5, §8).
//! Creates a scratch database on the given PostgreSQL server (loopback only), starts the
//! real server binary `--replicas` times on it with one key file, spreads `submit`'s
//! connections over every replica (one of them holds the sequencer lease; the others hand
//! their submissions over through the database), then reads inclusion proofs from every
//! replica at once. The scratch database is dropped at the end.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
use tokio_postgres::NoTls;

use crate::load::{ReadArgs, SubmitArgs, read, submit};
use crate::scale::{server_binary, start_server};

/// `replicas` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplicasArgs {
    /// PostgreSQL server URL of a role that may create databases (loopback only).
    #[arg(long, env = "ATTESTLOG_TEST_POSTGRES_URL")]
    pub postgres: String,
    /// Replicas.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Attestations to submit.
    #[arg(long, default_value_t = 20_000)]
    pub n: u64,
    /// Concurrent submitting connections (spread over the replicas).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Vendors (each its own key).
    #[arg(long, default_value_t = 8)]
    pub vendors: usize,
    /// Inclusion-proof requests per replica.
    #[arg(long, default_value_t = 30_000)]
    pub reads: u64,
    /// Concurrent reading connections per replica.
    #[arg(long, default_value_t = 32)]
    pub read_concurrency: usize,
    /// Stop each phase after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
    /// Working directory (one data directory per replica), emptied first.
    #[arg(long, default_value = "target/replicas-bench")]
    pub dir: PathBuf,
    /// The attestlog-server binary (default: next to this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
}

const ORIGIN: &str = "replicas.bench.example/log";

async fn execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    let task = tokio::spawn(conn);
    let r = client.batch_execute(sql).await;
    drop(client);
    let _ = task.await;
    Ok(r?)
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("working directory path is not UTF-8")
}

/// Runs the replicas benchmark.
///
/// # Errors
/// A setup failure or a failed submission or read.
pub async fn run(a: ReplicasArgs) -> anyhow::Result<()> {
    let pg = url::Url::parse(&a.postgres).context("invalid PostgreSQL URL")?;
    let loopback = match pg.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if !loopback {
        anyhow::bail!("benchmarks only use a loopback PostgreSQL server, not {pg}");
    }
    let server = server_binary(a.server.clone(), "attestlog-server")?;
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .subsec_nanos();
    let name = format!("bench_replicas_{}_{nanos}", std::process::id());
    execute(&a.postgres, &format!("CREATE DATABASE {name}")).await?;
    let mut db = pg;
    db.set_path(&format!("/{name}"));
    let result = with_database(&a, &server, db.as_str()).await;
    let dropped = execute(
        &a.postgres,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    if let Err(e) = dropped {
        eprintln!("note: could not drop the scratch database {name}: {e}");
    }
    result
}

async fn with_database(a: &ReplicasArgs, server: &Path, db: &str) -> anyhow::Result<()> {
    let key = SignerKey::from_seed(ORIGIN, TYPE_ED25519, &[9; 32])?;
    let key_file = a.dir.join("log.key");
    std::fs::write(&key_file, format!("{}\n", key.to_secret_string()))?;
    // The replicas share one SCITT receipt key too (a replica without one refuses to start).
    let scitt = SignerKey::from_seed("scitt", TYPE_ED25519, &[10; 32])?;
    let scitt_file = a.dir.join("scitt.key");
    std::fs::write(&scitt_file, format!("{}\n", scitt.to_secret_string()))?;
    let mut children = Vec::new();
    let mut urls = Vec::new();
    // One after another: the first creates the schema.
    for i in 0..a.replicas.max(1) {
        let data = a.dir.join(format!("replica-{i}"));
        std::fs::create_dir_all(&data)?;
        let (child, _pid, url) = start_server(
            server,
            &data,
            &[
                ("ATTESTLOG_DATABASE_URL", db),
                ("ATTESTLOG_KEY_FILE", path_str(&key_file)?),
                ("ATTESTLOG_SCITT_KEY_FILE", path_str(&scitt_file)?),
                ("ATTESTLOG_ORIGIN", ORIGIN),
                ("ATTESTLOG_QUOTA_RATE", "0"),
            ],
        )
        .await?;
        children.push(child);
        urls.push(url);
    }
    println!(
        "replicas: {} servers on one PostgreSQL database; submissions spread over all",
        urls.len()
    );
    let run = async {
        enrol_everywhere(&urls, a.vendors).await?;
        submit(SubmitArgs {
            url: urls.join(","),
            n: a.n,
            concurrency: a.concurrency,
            vendors: a.vendors,
            rate: 0.0,
            max_seconds: a.max_seconds,
            // start_server gives the servers this admin token.
            admin_token: "scale".into(),
            ceiling: false,
            run: 1,
        })
        .await?;
        let t = Instant::now();
        let reads = urls.iter().map(|u| {
            read(ReadArgs {
                url: u.clone(),
                endpoint: "inclusion".into(),
                n: a.reads,
                concurrency: a.read_concurrency,
                max_seconds: a.max_seconds,
            })
        });
        for r in futures_join(reads).await {
            r?;
        }
        #[allow(clippy::cast_precision_loss)]
        let total = (a.reads * urls.len() as u64) as f64;
        println!(
            "inclusion proofs across {} replicas: {total:.0} in {:.2}s = {:.0}/s",
            urls.len(),
            t.elapsed().as_secs_f64(),
            total / t.elapsed().as_secs_f64()
        );
        anyhow::Ok(())
    }
    .await;
    for mut c in children {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
    run
}

/// Enrols the vendors `submit` will use through the first replica and waits (30 s at most)
/// until every replica serves a checkpoint that includes the enrolments: a replica admits a
/// submission only once it has followed its signer's enrolment from the database.
async fn enrol_everywhere(urls: &[String], vendors: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let first = urls.first().context("no replica")?;
    let vendors = crate::workload::vendors(vendors, 1)?;
    for v in &vendors {
        let r = http
            .post(format!("{first}/v1/vendors"))
            .bearer_auth("scale")
            .json(&serde_json::json!({
                "vendor": v.name, "key": v.key.verifier().to_string(), "action": "enrol"
            }))
            .send()
            .await?;
        if !(r.status().as_u16() == 201 || r.status().as_u16() == 409) {
            anyhow::bail!("enrolment failed: {} {}", r.status(), r.text().await?);
        }
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    for u in urls {
        loop {
            let note = http
                .get(format!("{u}/checkpoint"))
                .send()
                .await?
                .text()
                .await?;
            let size: u64 = note
                .lines()
                .nth(1)
                .and_then(|l| l.parse().ok())
                .context("checkpoint without a size")?;
            if size >= vendors.len() as u64 {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!("replica {u} did not follow the enrolments within 30 s");
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Runs the futures concurrently on this runtime and collects their results in order.
async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<anyhow::Result<()>>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap_or_else(|e| Err(anyhow::anyhow!("{e}"))));
    }
    out
}
