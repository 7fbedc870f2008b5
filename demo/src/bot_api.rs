//! The homework bot's way of answering in bot mode (`--bot-api`): as aiogram
//! does, the webhook takes the update at once and the answer goes later through
//! the Bot API, `POST /bot<TOKEN>/sendMessage`. A plain HTTP/1.1 request per
//! answer (no client library in the demo); at most `MAX_IN_FLIGHT` answers are
//! being worked on at once, and past that the webhook waits.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Answers being worked on at once; more updates wait in the webhook.
const MAX_IN_FLIGHT: usize = 256;
/// What is read of the Bot API's answer.
const MAX_ANSWER: u64 = 64 << 10;

pub struct BotApi {
    /// `HOST:PORT` of the Bot API server.
    addr: String,
    token: String,
    pub in_flight: Arc<Semaphore>,
}

impl BotApi {
    pub fn new(base: &str, token: &str) -> BotApi {
        let addr = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        BotApi {
            addr,
            token: token.to_string(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Sends `text` to `chat`; `Err` says why the Bot API did not take it.
    pub async fn send_message(&self, chat: i64, text: &str) -> std::io::Result<()> {
        let body = serde_json::json!({ "chat_id": chat, "text": text }).to_string();
        let request = format!(
            "POST /bot{}/sendMessage HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.token,
            self.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&self.addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut answer).await?;
        let status_line = answer.split(|b| *b == b'\n').next().unwrap_or_default();
        if status_line.starts_with(b"HTTP/1.1 200") || status_line.starts_with(b"HTTP/1.0 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "the Bot API answered {}",
                String::from_utf8_lossy(status_line).trim()
            )))
        }
    }
}
