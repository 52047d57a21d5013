//! A local server speaking the `OpenAI` completions API, with scripted faults: the test fixture of
//! the HTTP backend and the far end of `codeloop bench llm`. It is never used to answer a real run.
//!
//! Every request gets a sequence number (0, 1, ... in arrival order); a [`Script`] maps it to a
//! [`Behavior`]. Answers are deterministic: choice `i` of request `seq` says `completion seq.i`,
//! with usage 12 prompt tokens and 20 completion tokens per choice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// Answer normally.
    Ok,
    /// Answer with this status (and `Retry-After` seconds, if given).
    Status(u16, Option<u32>),
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Send the headers and half the body, then close the connection.
    ResetMidBody,
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer normally but without the usage block.
    NoUsage,
}

/// Maps a request's sequence number to its behaviour.
pub type Script = Arc<dyn Fn(u64) -> Behavior + Send + Sync>;

/// A scripted model: the text of choice `i` given the request body (JSON). Used by tests and
/// benchmarks of the run loop; answers are whatever the script says, never a real model's.
pub type Responder = Arc<dyn Fn(&Value, u64) -> String + Send + Sync>;

/// What the server tells its log.
#[derive(Debug)]
pub enum MockEvent<'a> {
    /// Request `seq` was read completely.
    Received {
        /// Its sequence number.
        seq: u64,
        /// The connection it came on (0, 1, ... in order of acceptance).
        conn: u64,
        /// The bearer token of its `Authorization` header, if any.
        token: Option<&'a str>,
        /// Its body.
        body: &'a Value,
    },
    /// The whole answer to request `seq` was written to the connection.
    Answered {
        /// Its sequence number.
        seq: u64,
    },
    /// Connection `conn` was closed (by the client, or by an error).
    Closed {
        /// The connection.
        conn: u64,
    },
}

/// Told of every [`MockEvent`], in the order they happen on each connection.
pub type MockLog = Arc<dyn Fn(&MockEvent<'_>) + Send + Sync>;

/// How the server behaves.
#[derive(Clone)]
pub struct MockConfig {
    /// Fixed delay before every answer.
    pub latency: Duration,
    /// Whether `n` is honoured (otherwise one choice per request, as Ollama does).
    pub honor_n: bool,
    /// Faults by sequence number.
    pub script: Script,
    /// The scripted model (`None`: choice `i` of request `seq` says `completion seq.i`).
    pub responder: Option<Responder>,
    /// Where to tell what happened, request by request.
    pub log: Option<MockLog>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            latency: Duration::ZERO,
            honor_n: true,
            script: Arc::new(|_| Behavior::Ok),
            responder: None,
            log: None,
        }
    }
}

/// Counters of what the server saw and did.
#[derive(Debug, Default)]
pub struct MockCounters {
    /// Requests read completely.
    pub received: AtomicU64,
    /// Normal answers sent (`Ok`, `Slow` and `NoUsage`).
    pub answered: AtomicU64,
    /// Choices in normal answers.
    pub choices: AtomicU64,
    /// Faults injected (`Status`, `ResetMidBody`, `Malformed`).
    pub faults: AtomicU64,
}

/// A running mock server; stops when dropped.
pub struct MockServer {
    addr: std::net::SocketAddr,
    counters: Arc<MockCounters>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Starts on a free loopback port. Must be called inside a tokio runtime.
    pub async fn start(config: MockConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(MockCounters::default());
        let seq = Arc::new(AtomicU64::new(0));
        let c = counters.clone();
        let task = tokio::spawn(async move {
            let mut conn = 0;
            while let Ok((stream, _)) = listener.accept().await {
                let (config, counters, seq) = (config.clone(), c.clone(), seq.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, conn, &config, &counters, &seq).await;
                    if let Some(log) = &config.log {
                        log(&MockEvent::Closed { conn });
                    }
                });
                conn += 1;
            }
        });
        Ok(MockServer {
            addr,
            counters,
            task,
        })
    }

    /// Base URL including `/v1`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// What the server saw.
    #[must_use]
    pub fn counters(&self) -> &MockCounters {
        &self.counters
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    conn: u64,
    config: &MockConfig,
    counters: &MockCounters,
    seq: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(8192);
    loop {
        // Headers.
        let header_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < header_end + length {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Value =
            serde_json::from_slice(&buf[header_end..header_end + length]).unwrap_or(Value::Null);
        buf.drain(..header_end + length);
        let chat = head.starts_with("POST /v1/chat/completions");
        let n = if config.honor_n {
            body["n"].as_u64().unwrap_or(1).max(1)
        } else {
            1
        };
        let me = seq.fetch_add(1, Ordering::SeqCst);
        counters.received.fetch_add(1, Ordering::SeqCst);
        if let Some(log) = &config.log {
            let token = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("authorization")
                    .then(|| v.trim().strip_prefix("Bearer "))?
            });
            log(&MockEvent::Received {
                seq: me,
                conn,
                token,
                body: &body,
            });
        }
        let behavior = (config.script)(me);
        let delay = match &behavior {
            Behavior::Slow(d) => config.latency + *d,
            _ => config.latency,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match behavior {
            Behavior::Status(code, retry_after) => {
                counters.faults.fetch_add(1, Ordering::SeqCst);
                let body = format!("{{\"error\":{{\"message\":\"injected {code}\"}}}}");
                let extra = retry_after
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(body.as_bytes()).await?;
            }
            Behavior::ResetMidBody => {
                counters.faults.fetch_add(1, Ordering::SeqCst);
                let body = answer(me, n, chat, true).to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&body.as_bytes()[..body.len() / 2]).await?;
                stream.flush().await?;
                return Ok(()); // dropping the stream closes the connection mid-body
            }
            Behavior::Malformed => {
                counters.faults.fetch_add(1, Ordering::SeqCst);
                let body = "{\"choices\": [{\"index\": 0, \"message\": ";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(body.as_bytes()).await?;
            }
            Behavior::Ok | Behavior::Slow(_) | Behavior::NoUsage => {
                let mut reply = answer(me, n, chat, behavior != Behavior::NoUsage);
                if let Some(responder) = &config.responder {
                    for i in 0..n {
                        let text = Value::String(responder(&body, i));
                        if chat {
                            reply["choices"][i as usize]["message"]["content"] = text;
                        } else {
                            reply["choices"][i as usize]["text"] = text;
                        }
                    }
                }
                let body = reply.to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await?;
                // Counted before the body goes out: once the client has the whole answer, the
                // counts must already include it (counting after the write raced the client's
                // accounting checks). A write that fails takes it back.
                counters.answered.fetch_add(1, Ordering::SeqCst);
                counters.choices.fetch_add(n, Ordering::SeqCst);
                if let Err(e) = stream.write_all(body.as_bytes()).await {
                    counters.answered.fetch_sub(1, Ordering::SeqCst);
                    counters.choices.fetch_sub(n, Ordering::SeqCst);
                    return Err(e);
                }
                if let Some(log) = &config.log {
                    log(&MockEvent::Answered { seq: me });
                }
            }
        }
    }
}

fn answer(seq: u64, n: u64, chat: bool, usage: bool) -> Value {
    let choices: Vec<Value> = (0..n)
        .map(|i| {
            let text = format!("completion {seq}.{i}");
            if chat {
                json!({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
            } else {
                json!({"index": i, "text": text, "finish_reason": "stop"})
            }
        })
        .collect();
    let mut v = json!({
        "id": format!("mock-{seq}"),
        "object": if chat { "chat.completion" } else { "text_completion" },
        "choices": choices,
    });
    if usage {
        v["usage"] =
            json!({"prompt_tokens": 12, "completion_tokens": 20 * n, "total_tokens": 12 + 20 * n});
    }
    v
}
