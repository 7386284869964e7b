//! A minimal HTTP/1.1 keep-alive client for the load loops: requests are rendered once, before
//! the clock starts, and responses are read by `Content-Length` without parsing the body.
//! The load generator shares the two cores with the server, so every microsecond it spends
//! per request is taken from the figure being measured (reqwest cost about 170 µs of CPU per
//! submission; this costs a few syscalls).

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// The loopback address and `Host` header of a URL (`http://127.0.0.1:8080`).
///
/// # Errors
/// Not an `http://` URL with a host and port that resolve.
pub fn target(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let u = reqwest::Url::parse(url).context("invalid url")?;
    if u.scheme() != "http" {
        bail!("the load generator speaks plain http to a loopback address, not {url}");
    }
    let addr = u
        .socket_addrs(|| Some(80))?
        .into_iter()
        .next()
        .context("url does not resolve")?;
    let host = u.host_str().unwrap_or("localhost");
    Ok((addr, format!("{host}:{}", addr.port())))
}

/// `GET path` as bytes.
#[must_use]
pub fn get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// `POST path` with a JSON body, as bytes.
#[must_use]
pub fn post_json(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    post(host, path, "application/json", body)
}

/// `POST path` with a body of the given media type, as bytes.
#[must_use]
pub fn post(host: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// One keep-alive connection; reconnects after the server closes it.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    line: Vec<u8>,
    body: Vec<u8>,
}

impl Conn {
    /// A connection to `addr`, opened on first use.
    #[must_use]
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            line: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The body of the last answer read with a `Content-Length` (for a chunked answer, its
    /// last chunk): what an error answer said.
    #[must_use]
    pub fn last_body(&self) -> &[u8] {
        &self.body
    }

    /// Sends `request` and reads the whole response; returns its status and body length.
    ///
    /// # Errors
    /// Connection errors, a malformed response head or chunk (the connection is dropped and
    /// reopened by the next call).
    pub async fn round_trip(&mut self, request: &[u8]) -> anyhow::Result<(u16, usize)> {
        let r = self.exchange(request).await;
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, usize)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let Some(stream) = self.stream.as_mut() else {
            bail!("no connection");
        };
        stream.get_mut().write_all(request).await?;
        let mut status = None;
        let mut length = None;
        let mut close = false;
        let mut chunked = false;
        let mut head = 0;
        loop {
            self.line.clear();
            let n = stream.read_until(b'\n', &mut self.line).await?;
            head += n;
            if n == 0 || head > MAX_HEAD {
                bail!("connection closed or response head too large");
            }
            let line = self.line.trim_ascii_end();
            if line.is_empty() {
                break;
            }
            let text = std::str::from_utf8(line).context("response head is not utf-8")?;
            if status.is_none() {
                status = Some(
                    text.split(' ')
                        .nth(1)
                        .and_then(|c| c.parse::<u16>().ok())
                        .context("malformed status line")?,
                );
            } else if let Some((name, value)) = text.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse::<usize>().context("bad content-length")?);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    if !value.eq_ignore_ascii_case("chunked") {
                        bail!("unsupported transfer-encoding {value:?}");
                    }
                    chunked = true;
                }
            }
        }
        let status = status.context("empty response")?;
        let length = if chunked {
            // A streamed answer (an entry bundle read from storage as it is sent): chunks of
            // `<hex size>[;ext]\r\n<data>\r\n`, ended by a zero-size chunk and an empty line.
            let mut total = 0usize;
            loop {
                self.line.clear();
                if stream.read_until(b'\n', &mut self.line).await? == 0 {
                    bail!("connection closed inside a chunked body");
                }
                let size_text = std::str::from_utf8(self.line.trim_ascii())
                    .context("chunk size is not utf-8")?;
                let size_text = size_text.split(';').next().unwrap_or_default();
                let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
                if size == 0 {
                    // Trailers, if any, end with an empty line.
                    loop {
                        self.line.clear();
                        if stream.read_until(b'\n', &mut self.line).await? == 0
                            || self.line.trim_ascii().is_empty()
                        {
                            break;
                        }
                    }
                    break;
                }
                self.body.resize(size + 2, 0);
                stream.read_exact(&mut self.body).await?;
                total += size;
            }
            total
        } else {
            let length = length.unwrap_or(0);
            self.body.resize(length, 0);
            stream.read_exact(&mut self.body).await?;
            length
        };
        if close {
            self.stream = None;
        }
        Ok((status, length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers each request with one canned response (loopback, bounded).
    async fn serve(responses: Vec<&'static str>) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let mut s = BufReader::new(s);
            for r in responses {
                let mut line = Vec::new();
                loop {
                    line.clear();
                    s.read_until(b'\n', &mut line).await.unwrap();
                    if line == b"\r\n" {
                        break;
                    }
                }
                s.get_mut().write_all(r.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_keep_alive_responses_by_content_length() {
        let addr = serve(vec![
            "HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhello",
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\na;x=1\r\n0123456789\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ])
        .await;
        let mut c = Conn::new(addr);
        let req = get("127.0.0.1", "/checkpoint");
        assert_eq!(c.round_trip(&req).await.unwrap(), (201, 5));
        assert_eq!(c.round_trip(&req).await.unwrap(), (503, 0));
        // A streamed (chunked) answer is read to its end; the connection stays usable.
        assert_eq!(c.round_trip(&req).await.unwrap(), (200, 15));
        assert_eq!(c.round_trip(&req).await.unwrap(), (200, 2));
        let e = c.round_trip(&req).await.unwrap_err().to_string();
        assert!(e.contains("transfer-encoding"), "{e}");
    }

    #[test]
    fn renders_requests_and_refuses_other_schemes() {
        let r = post_json("127.0.0.1:8080", "/v1/entries", b"{}");
        assert_eq!(
            r,
            b"POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
        let (addr, host) = target("http://127.0.0.1:18080").unwrap();
        assert_eq!((addr.port(), host.as_str()), (18080, "127.0.0.1:18080"));
        assert!(target("https://127.0.0.1:18080").is_err());
    }
}
