//! A Server-Sent Events client over a plain TCP connection: it reads events as the server
//! sends them (HTTP/1.1, chunked), so a test can tell when each arrived.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One event: its name (`message` when unnamed), id and data (lines joined with `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub id: Option<String>,
    pub data: String,
}

pub struct Sse {
    reader: BufReader<TcpStream>,
    /// Body bytes received and not parsed into events yet.
    buffer: String,
    pub status: u16,
    pub content_type: String,
}

impl Sse {
    /// `GET url` with `Accept: text/event-stream` and the headers given.
    pub async fn open(addr: std::net::SocketAddr, path: &str, headers: &[(&str, String)]) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nConnection: close\r\n"
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).await.unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-type")
            {
                content_type = value.trim().to_owned();
            }
        }
        Self {
            reader,
            buffer: String::new(),
            status,
            content_type,
        }
    }

    /// The next event (comments skipped), or `None` once the stream has closed.
    pub async fn next(&mut self, within: Duration) -> Option<Event> {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    if let Some(event) = parse(&block) {
                        return Some(event);
                    }
                    continue;
                }
                if !self.read_chunk().await {
                    return None;
                }
            }
        })
        .await
        .expect("no event in time")
    }

    /// Reads one HTTP chunk into the buffer; false at the end of the body.
    async fn read_chunk(&mut self) -> bool {
        let mut size = String::new();
        if self.reader.read_line(&mut size).await.unwrap_or(0) == 0 {
            return false;
        }
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            return false;
        }
        let mut bytes = vec![0; size + 2];
        self.reader.read_exact(&mut bytes).await.unwrap();
        bytes.truncate(size);
        self.buffer.push_str(&String::from_utf8(bytes).unwrap());
        true
    }
}

fn parse(block: &str) -> Option<Event> {
    let mut event = Event {
        name: "message".into(),
        id: None,
        data: String::new(),
    };
    let mut data = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event.name = value.into(),
            "id" => event.id = Some(value.into()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() {
        return None;
    }
    event.data = data.join("\n");
    Some(event)
}
