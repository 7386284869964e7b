//! `witnessed`: appends to a log that publishes only witnessed checkpoints (DESIGN.md §6,
//! §8). Three witnesses run in this process on loopback (`attestlog witness serve`'s code),
//! the real server binary runs with a policy naming them and a 2-of-3 quorum, and `submit`
//! drives it as in the SQLite runs. A submission is answered with a checkpoint that includes
//! it, and that checkpoint is published only once the quorum has cosigned it: the latency
//! `submit` reports is the time to a witnessed checkpoint. At the end the served checkpoint
//! must verify under the policy and cover every submission, or the run fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use attestlog_client::witness::{Witness, serve};
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};
use attestlog_proto::policy::{Policy, verify_checkpoint_with_policy};

use crate::load::{SubmitArgs, Workload, submit};
use crate::scale::{server_binary, start_server};

/// `witnessed` arguments.
#[derive(Debug, clap::Args)]
pub struct WitnessedArgs {
    /// How much to submit, how fast.
    #[command(flatten)]
    pub work: Workload,
    /// Working directory (log, witness states, policy), emptied first.
    #[arg(long, default_value = "target/witnessed-bench")]
    pub dir: PathBuf,
    /// The attestlog-server binary (default: next to this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
}

const ORIGIN: &str = "witnessed.bench.example/log";
const QUORUM: usize = 2;
const WITNESSES: u8 = 3;

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("working directory path is not UTF-8")
}

/// Runs the witnessed benchmark.
///
/// # Errors
/// A setup failure, a failed submission, or a served checkpoint that is not witnessed by the
/// quorum or does not cover every submission.
pub async fn run(a: WitnessedArgs) -> anyhow::Result<()> {
    let server = server_binary(a.server, "attestlog-server")?;
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&a.dir)?;
    let log_key = SignerKey::from_seed(ORIGIN, TYPE_ED25519, &[7; 32])?;
    let key_file = a.dir.join("log.key");
    std::fs::write(&key_file, format!("{}\n", log_key.to_secret_string()))?;
    let only_log = Policy::parse(&format!("log {}\nquorum none\n", log_key.verifier()))?;

    let mut policy = format!("log {}\n", log_key.verifier());
    let mut names = Vec::new();
    let mut stops = Vec::new();
    let mut joins = Vec::new();
    for i in 0..WITNESSES {
        let name = format!("w{i}");
        let key = SignerKey::from_seed(
            &format!("{name}.witness.bench.example"),
            TYPE_COSIGNATURE_V1,
            &[20 + i; 32],
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        policy.push_str(&format!("witness {name} {} {url}\n", key.verifier()));
        let witness = Arc::new(Witness::open(
            key,
            &only_log,
            &a.dir.join(format!("witness-{name}")),
        )?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        joins.push(tokio::spawn(serve(listener, witness, async move {
            let _ = rx.await;
        })));
        names.push(name);
    }
    policy.push_str(&format!("group Q {QUORUM} {}\nquorum Q\n", names.join(" ")));
    let policy_file = a.dir.join("policy");
    std::fs::write(&policy_file, &policy)?;
    let policy = Policy::parse(&policy)?;

    let data = a.dir.join("log");
    std::fs::create_dir_all(&data)?;
    let (mut child, _pid, url) = start_server(
        &server,
        &data,
        &[
            ("ATTESTLOG_KEY_FILE", path_str(&key_file)?),
            ("ATTESTLOG_ORIGIN", ORIGIN),
            ("ATTESTLOG_WITNESS_POLICY", path_str(&policy_file)?),
            ("ATTESTLOG_QUOTA_RATE", "0"),
        ],
    )
    .await?;
    println!(
        "witnessed: {WITNESSES} witnesses in process, quorum {QUORUM} of {WITNESSES}; the latency is the time to a witnessed checkpoint"
    );
    let result = submit(SubmitArgs {
        url: url.clone(),
        work: a.work.clone(),
        // start_server gives the server this admin token.
        admin_token: "scale".into(),
        ceiling: false,
        run: 1,
        format: crate::load::Format::Dsse,
    })
    .await;
    let served = async {
        result?;
        let note = reqwest::get(format!("{url}/checkpoint"))
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let w = verify_checkpoint_with_policy(&policy, &note)
            .map_err(|e| anyhow::anyhow!("the served checkpoint is not witnessed: {e}"))?;
        let size = w.checkpoint().checkpoint().size;
        let wanted = a.work.n + u64::try_from(a.work.vendors)?;
        if size < wanted {
            bail!("the witnessed checkpoint covers {size} entries; {wanted} were acknowledged");
        }
        println!(
            "witnessed checkpoint at tree size {size}, cosigned by {:?}",
            w.witnesses()
        );
        Ok(())
    }
    .await;
    child.start_kill()?;
    let _ = child.wait().await;
    for tx in stops {
        let _ = tx.send(());
    }
    for j in joins {
        j.await??;
    }
    served
}
