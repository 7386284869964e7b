//! An independent client written only from the C2SP specs (signed-note, tlog-checkpoint,
//! tlog-tiles) and the JSON API, using none of `attestlog-proto`: it verifies the checkpoint
//! signature, fetches every entry bundle and tile, and recomputes the tree with its own
//! RFC 9162 code.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

type H = [u8; 32];

fn leaf(e: &[u8]) -> H {
    let mut h = Sha256::new();
    h.update([0]);
    h.update(e);
    h.finalize().into()
}

fn node(l: &H, r: &H) -> H {
    let mut h = Sha256::new();
    h.update([1]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// RFC 9162 §2.1.1 MTH.
pub(crate) fn mth(leaves: &[H]) -> H {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// Largest power of two smaller than n (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
pub(crate) fn path(m: usize, leaves: &[H]) -> Vec<H> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// tlog-tiles index encoding: 3-digit groups, `x` before all but the last.
fn tile_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn width_suffix(w: u64) -> String {
    if w == 256 {
        String::new()
    } else {
        format!(".p/{w}")
    }
}

pub async fn check_whole_log(url: &str, verifier_key: &str) {
    let http = reqwest::Client::new();
    let get = |p: String| {
        let http = http.clone();
        let url = url.to_owned();
        async move {
            let r = http.get(format!("{url}{p}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{p}");
            r.bytes().await.unwrap().to_vec()
        }
    };

    // Verifier key: <name>+<hex id>+<base64(0x01 ‖ key)>.
    let mut parts = verifier_key.splitn(3, '+');
    let (name, id_hex, key_b64) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let raw = STANDARD.decode(key_b64).unwrap();
    assert_eq!(raw[0], 1);
    let mut idh = Sha256::new();
    idh.update(name.as_bytes());
    idh.update([b'\n', 1]);
    idh.update(&raw[1..]);
    let id: [u8; 4] = idh.finalize()[..4].try_into().unwrap();
    assert_eq!(hex::encode(id), id_hex);
    let pk = VerifyingKey::from_bytes(&raw[1..].try_into().unwrap()).unwrap();

    // Checkpoint: body, blank line, signature lines.
    let note = String::from_utf8(get("/checkpoint".into()).await).unwrap();
    let (body, sigs) = note.split_once("\n\n").unwrap();
    let body = format!("{body}\n");
    let mut verified = false;
    for line in sigs.lines() {
        let rest = line.strip_prefix("\u{2014} ").unwrap();
        let (signer, sig_b64) = rest.split_once(' ').unwrap();
        let sig = STANDARD.decode(sig_b64).unwrap();
        if signer == name && sig[..4] == id {
            let s = Signature::from_slice(&sig[4..]).unwrap();
            pk.verify_strict(body.as_bytes(), &s).unwrap();
            verified = true;
        }
    }
    assert!(verified, "no signature by the log key");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], name);
    let size: u64 = lines[1].parse().unwrap();
    let root: H = STANDARD.decode(lines[2]).unwrap().try_into().unwrap();

    // Every entry bundle.
    let mut leaves = Vec::new();
    let mut n = 0;
    while n * 256 < size {
        let w = (size - n * 256).min(256);
        let data = get(format!(
            "/tile/entries/{}{}",
            tile_index(n),
            width_suffix(w)
        ))
        .await;
        let mut rest = &data[..];
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            leaves.push(leaf(&rest[2..2 + len]));
            rest = &rest[2 + len..];
        }
        n += 1;
    }
    assert_eq!(leaves.len() as u64, size);
    assert_eq!(
        mth(&leaves),
        root,
        "recomputed root differs from the checkpoint"
    );

    // Level-0 and level-1 tiles hold the leaf hashes and the 256-leaf subtree hashes.
    let level1: Vec<H> = leaves.chunks_exact(256).map(mth).collect();
    for (level, hashes) in [(0, &leaves), (1, &level1)] {
        let count = hashes.len() as u64;
        let mut t = 0;
        while t * 256 < count {
            let w = (count - t * 256).min(256);
            let data = get(format!(
                "/tile/{level}/{}{}",
                tile_index(t),
                width_suffix(w)
            ))
            .await;
            let lo = usize::try_from(t * 256).unwrap();
            let want: Vec<u8> = hashes[lo..lo + usize::try_from(w).unwrap()]
                .iter()
                .flatten()
                .copied()
                .collect();
            assert_eq!(data, want, "tile {level}/{t}");
            t += 1;
        }
    }

    // The JSON API's inclusion proofs equal RFC 9162 PATH.
    for i in [0usize, 1, 300, leaves.len() / 2, leaves.len() - 1] {
        let body = get(format!("/v1/proof/inclusion?index={i}&tree_size={size}")).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let got: Vec<H> = v["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                STANDARD
                    .decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        assert_eq!(got, path(i, &leaves), "inclusion proof of {i}");
    }
}

#[test]
fn tile_index_encoding() {
    assert_eq!(tile_index(1_234_067), "x001/x234/067");
    assert_eq!(tile_index(0), "000");
    assert_eq!(tile_index(1000), "x001/000");
}
