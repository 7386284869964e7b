//! `replicas`: several replicas of one log on one PostgreSQL database (DESIGN.md §5, §8).
//! Creates a scratch database on the given PostgreSQL server (loopback only), starts the
//! real server binary `--replicas` times on it with one key file, spreads `submit`'s
//! connections over every replica (one of them holds the sequencer lease; the others hand
//! their submissions over through the database), then reads inclusion proofs from every
//! replica at once. The scratch database is dropped at the end.
//!
//! With `--kill-leader-at F`, the replica holding the sequencer lease is killed (SIGKILL)
//! once a fraction F of the submissions is acknowledged; `submit` then moves the connections
//! of the dead replica to live ones and sends their unanswered submissions again. The run
//! records when another replica took the lease over, how long appends went unacknowledged
//! (the recovery time: from the kill to the first new entry acknowledged among submissions
//! sent after it) and the throughput before, during and after; it fails unless the log ends
//! up holding every submission exactly once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
use tokio_postgres::NoTls;

use crate::load::{Ack, Format, Observer, ReadArgs, SubmitArgs, Workload, read, submit_observed};
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
    /// How much to submit, how fast.
    #[command(flatten)]
    pub work: Workload,
    /// Inclusion-proof requests per replica.
    #[arg(long, default_value_t = 30_000)]
    pub reads: u64,
    /// Concurrent reading connections per replica.
    #[arg(long, default_value_t = 32)]
    pub read_concurrency: usize,
    /// Working directory (one data directory per replica), emptied first.
    #[arg(long, default_value = "target/replicas-bench")]
    pub dir: PathBuf,
    /// The attestlog-server binary (default: next to this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// Kill the replica holding the sequencer lease once this fraction of the submissions
    /// is acknowledged (0 < F < 1), and measure the take-over.
    #[arg(long)]
    pub kill_leader_at: Option<f64>,
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
    let run = with_replicas(a, &mut children, &urls).await;
    for mut c in children {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
    run
}

async fn with_replicas(
    a: &ReplicasArgs,
    children: &mut [tokio::process::Child],
    urls: &[String],
) -> anyhow::Result<()> {
    if let Some(f) = a.kill_leader_at
        && !(f > 0.0 && f < 1.0)
    {
        anyhow::bail!("--kill-leader-at takes a fraction between 0 and 1, not {f}");
    }
    if a.kill_leader_at.is_some() && urls.len() < 2 {
        anyhow::bail!("killing the lease holder needs at least two replicas");
    }
    enrol_everywhere(urls, a.work.vendors).await?;
    let observer = Observer {
        failover: a.kill_leader_at.is_some(),
        ..Observer::default()
    };
    let acked = observer.acked.clone();
    let done = AtomicBool::new(false);
    let submitting = async {
        let r = submit_observed(
            SubmitArgs {
                url: urls.join(","),
                work: a.work.clone(),
                // start_server gives the servers this admin token.
                admin_token: "scale".into(),
                ceiling: false,
                run: 1,
                format: Format::Dsse,
            },
            observer,
        )
        .await;
        done.store(true, Ordering::Release);
        r
    };
    let killing = async {
        let Some(f) = a.kill_leader_at else {
            return anyhow::Ok(None);
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let threshold = (a.work.n as f64 * f) as u64;
        while acked.load(Ordering::Acquire) < threshold {
            if done.load(Ordering::Acquire) {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let acknowledged = acked.load(Ordering::Acquire);
        let mut k = kill_leader(children, urls).await?;
        k.acknowledged = acknowledged;
        Ok(Some(k))
    };
    let (report, kill) = tokio::join!(submitting, killing);
    let report = report?;
    let live: Vec<String> = match kill? {
        None if a.kill_leader_at.is_some() => {
            anyhow::bail!("the submissions ended before the lease holder was killed")
        }
        None => urls.to_vec(),
        Some(k) => {
            let f = kill_figures(k.at, &report.acks)
                .context("no submission sent after the kill was acknowledged")?;
            println!(
                "killed the lease holder {} after {} acknowledgements; {} took the lease over \
                 after {:.0} ms",
                k.killed,
                k.acknowledged,
                k.successor,
                k.take_over.as_secs_f64() * 1000.0
            );
            println!(
                "recovery (kill to the first new entry acknowledged of those sent after it): \
                 {:.0} ms; longest time without an acknowledgement: {:.0} ms",
                f.recovery.as_secs_f64() * 1000.0,
                f.longest_gap.as_secs_f64() * 1000.0
            );
            println!(
                "acknowledgements: {:.0}/s in the second before the kill, {:.0}/s until the \
                 recovery, {:.0}/s in the second after; submissions moved to another replica: {}",
                f.rate_before, f.rate_during, f.rate_after, report.moved
            );
            urls.iter().filter(|u| **u != k.killed).cloned().collect()
        }
    };
    // Nothing lost, nothing doubled: every replica still up serves a log of exactly the
    // enrolments and the submissions.
    let wanted = a.work.n + u64::try_from(a.work.vendors)?;
    for u in &live {
        let size = wait_for_size(u, wanted).await?;
        if size != wanted {
            anyhow::bail!("replica {u} serves {size} entries; the log should hold {wanted}");
        }
    }
    let t = Instant::now();
    let reads = live.iter().map(|u| {
        read(ReadArgs {
            url: u.clone(),
            endpoint: "inclusion".into(),
            n: a.reads,
            concurrency: a.read_concurrency,
            max_seconds: a.work.max_seconds,
        })
    });
    for r in futures_join(reads).await {
        r?;
    }
    #[allow(clippy::cast_precision_loss)]
    let total = (a.reads * live.len() as u64) as f64;
    println!(
        "inclusion proofs across {} replicas: {total:.0} in {:.2}s = {:.0}/s",
        live.len(),
        t.elapsed().as_secs_f64(),
        total / t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What killing the lease holder did.
#[derive(Debug)]
struct Kill {
    /// When it was killed.
    at: Instant,
    /// Its URL.
    killed: String,
    /// Acknowledgements before the kill.
    acknowledged: u64,
    /// The replica that took the lease over.
    successor: String,
    /// From the kill until the successor reported the sequencer role.
    take_over: Duration,
}

/// `/readyz` of `url` names the sequencer role (`ready (sequencer)`).
async fn is_sequencer(http: &reqwest::Client, url: &str) -> bool {
    match http.get(format!("{url}/readyz")).send().await {
        Ok(r) => r.text().await.is_ok_and(|t| t.contains("(sequencer)")),
        Err(_) => false,
    }
}

/// Kills the replica that holds the lease and waits (30 s at most) until another one holds it.
async fn kill_leader(
    children: &mut [tokio::process::Child],
    urls: &[String],
) -> anyhow::Result<Kill> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut leader = None;
    for (i, u) in urls.iter().enumerate() {
        if is_sequencer(&http, u).await {
            leader = Some(i);
            break;
        }
    }
    let leader = leader.context("no replica reports the sequencer role")?;
    let child = children.get_mut(leader).context("no such replica")?;
    child.start_kill()?;
    let at = Instant::now();
    child.wait().await?;
    let deadline = at + Duration::from_secs(30);
    loop {
        for (i, u) in urls.iter().enumerate() {
            if i != leader && is_sequencer(&http, u).await {
                return Ok(Kill {
                    at,
                    killed: urls[leader].clone(),
                    acknowledged: 0,
                    successor: u.clone(),
                    take_over: at.elapsed(),
                });
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("no replica took the sequencer lease over within 30 s of the kill");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (30 s at most) until `url` serves a checkpoint of at least `wanted` entries; returns
/// its size.
async fn wait_for_size(url: &str, wanted: u64) -> anyhow::Result<u64> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let size = checkpoint_size(&http, url).await?;
        if size >= wanted || Instant::now() > deadline {
            return Ok(size);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn checkpoint_size(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let note = http
        .get(format!("{url}/checkpoint"))
        .send()
        .await?
        .text()
        .await?;
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("checkpoint without a size")
}

/// Throughput and recovery around a kill.
#[derive(Debug, Clone, PartialEq)]
struct KillFigures {
    /// From the kill to the first new entry (201) acknowledged among submissions sent after
    /// the kill: appends work again.
    recovery: Duration,
    /// The longest time without any acknowledgement, from the kill on.
    longest_gap: Duration,
    /// Acknowledgements per second in the second before the kill (from the first
    /// acknowledgement when that came later).
    rate_before: f64,
    /// Acknowledgements per second from the kill to the recovery.
    rate_during: f64,
    /// Acknowledgements per second in the second after the recovery.
    rate_after: f64,
}

/// The figures of a kill at `kill`; `None` when no submission sent after it was appended.
fn kill_figures(kill: Instant, acks: &[Ack]) -> Option<KillFigures> {
    let recovered = acks
        .iter()
        .filter(|a| a.appended && a.sent >= kill)
        .map(|a| a.acknowledged)
        .min()?;
    let second = Duration::from_secs(1);
    let count = |from: Instant, to: Instant| {
        acks.iter()
            .filter(|a| a.acknowledged >= from && a.acknowledged < to)
            .count()
    };
    #[allow(clippy::cast_precision_loss)]
    let rate = |from: Instant, to: Instant| {
        let secs = to.duration_since(from).as_secs_f64();
        if secs > 0.0 {
            count(from, to) as f64 / secs
        } else {
            0.0
        }
    };
    // The second before the kill, or less when the first acknowledgement came later.
    let first = acks.iter().map(|a| a.acknowledged).min().unwrap_or(kill);
    let before_from = kill
        .checked_sub(second)
        .unwrap_or(kill)
        .max(first)
        .min(kill);
    let mut after: Vec<Instant> = acks
        .iter()
        .map(|a| a.acknowledged)
        .filter(|t| *t >= kill)
        .collect();
    after.sort_unstable();
    let mut longest_gap = Duration::ZERO;
    let mut last = kill;
    for t in after {
        longest_gap = longest_gap.max(t.duration_since(last));
        last = t;
    }
    Some(KillFigures {
        recovery: recovered.duration_since(kill),
        longest_gap,
        rate_before: rate(before_from, kill),
        rate_during: rate(kill, recovered),
        rate_after: rate(recovered, recovered + second),
    })
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
    let deadline = Instant::now() + Duration::from_secs(30);
    for u in urls {
        while checkpoint_size(&http, u).await? < vendors.len() as u64 {
            if Instant::now() > deadline {
                anyhow::bail!("replica {u} did not follow the enrolments within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(base: Instant, sent_ms: u64, acked_ms: u64, appended: bool) -> Ack {
        Ack {
            sent: base + Duration::from_millis(sent_ms),
            acknowledged: base + Duration::from_millis(acked_ms),
            appended,
        }
    }

    #[test]
    fn recovery_is_the_first_append_sent_after_the_kill() {
        let base = Instant::now();
        let kill = base + Duration::from_millis(2_000);
        let mut acks = Vec::new();
        // 100/s for the two seconds before the kill.
        for i in 0..200 {
            acks.push(ack(base, i * 10, i * 10 + 5, true));
        }
        // Answered just after the kill but sent before it: not a recovery.
        acks.push(ack(base, 1_999, 2_010, true));
        // Sent after the kill and answered as already logged (200): not a recovery either.
        acks.push(ack(base, 2_100, 2_300, false));
        // The first new entry sent after the kill: recovery 800 ms after it.
        acks.push(ack(base, 2_200, 2_800, true));
        // 50/s for the second after.
        for i in 0..50 {
            acks.push(ack(base, 2_800 + i * 20, 2_805 + i * 20, true));
        }
        let f = kill_figures(kill, &acks).unwrap();
        assert_eq!(f.recovery, Duration::from_millis(800));
        // 2,010 → 2,300 → 2,800: the longest silence is the last 500 ms.
        assert_eq!(f.longest_gap, Duration::from_millis(500));
        assert!((f.rate_before - 100.0).abs() < 1e-9, "{f:?}");
        // Two answers (2,010 and 2,300) in the 0.8 s from the kill to the recovery.
        assert!((f.rate_during - 2.5).abs() < 1e-9, "{f:?}");
        // The recovering ack and the 50 after it, within the next second.
        assert!((f.rate_after - 51.0).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn no_figures_without_an_append_after_the_kill() {
        let base = Instant::now();
        let kill = base + Duration::from_millis(100);
        let acks = [ack(base, 50, 150, true), ack(base, 120, 160, false)];
        assert_eq!(kill_figures(kill, &acks), None);
    }

    #[test]
    fn a_run_shorter_than_a_second_rates_from_its_first_acknowledgement() {
        let base = Instant::now();
        let kill = base + Duration::from_millis(500);
        let acks = [
            ack(base, 0, 300, true),
            ack(base, 0, 400, true),
            ack(base, 600, 700, true),
        ];
        let f = kill_figures(kill, &acks).unwrap();
        // Two acknowledgements in the 200 ms from the first one to the kill.
        assert!((f.rate_before - 10.0).abs() < 1e-9, "{f:?}");
        assert_eq!(f.recovery, Duration::from_millis(200));
    }
}
