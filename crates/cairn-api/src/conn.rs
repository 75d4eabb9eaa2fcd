//! hyper answers a few malformed requests by itself, before any middleware runs: a request line
//! too long (414), a head too large (431), an unreadable header line, such as one holding a
//! control byte (400), each with an empty body. Every connection is wrapped here so that those
//! answers carry the spec's error body like every other error (JSON, or an HTML page under the
//! pages' paths), made by `error.rs` and `web` as usual.
//!
//! Under TLS the wrapper sits inside the TLS session (it sees the plain HTTP), and the handshake
//! is made by the connection's own task on its first read or write, so a slow client never holds
//! up the accepting loop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{ApiError, HYPER_STATUSES};
use crate::tls::Tls;

/// How much of a request's first bytes is kept to find its path (for JSON or HTML).
const KEPT: usize = 512;

/// The whole answers (head and body) that replace hyper's, by status and JSON/HTML.
struct Answers(Vec<(StatusCode, bool, Vec<u8>)>);

impl Answers {
    async fn make() -> Answers {
        let mut all = Vec::new();
        for status in HYPER_STATUSES {
            for web in [false, true] {
                let response = if web {
                    crate::web::framework_error_page(status, &HeaderMap::new())
                } else {
                    ApiError::for_status(status).into_response()
                };
                let (parts, body) = response.into_parts();
                let body = axum::body::to_bytes(body, 64 * 1024)
                    .await
                    .unwrap_or_default();
                let mut bytes = format!(
                    "HTTP/1.1 {} {}\r\n",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .into_bytes();
                for (name, value) in &parts.headers {
                    if name != "content-length" {
                        bytes.extend_from_slice(name.as_str().as_bytes());
                        bytes.extend_from_slice(b": ");
                        bytes.extend_from_slice(value.as_bytes());
                        bytes.extend_from_slice(b"\r\n");
                    }
                }
                bytes.extend_from_slice(
                    format!(
                        "content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                bytes.extend_from_slice(&body);
                all.push((status, web, bytes));
            }
        }
        Answers(all)
    }

    fn get(&self, status: StatusCode, web: bool) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(s, w, _)| *s == status && *w == web)
            .map(|(_, _, b)| b.as_slice())
    }
}

/// hyper's own answer to a request it could not parse: a bare head of one of its statuses, with
/// no body, no content type and nothing but `content-length: 0`, `date` and `connection`
/// (every answer of the router has a body and a type, so none is taken for one).
fn hyper_answer(buf: &[u8]) -> Option<StatusCode> {
    if buf.len() > 256 || !buf.starts_with(b"HTTP/1.1 ") || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?;
    let mut lines = head.trim_end().split("\r\n");
    let status_line = lines.next()?;
    let status = StatusCode::from_bytes(status_line.get(9..12)?.as_bytes()).ok()?;
    let mut empty = false;
    for line in lines {
        let line = line.to_ascii_lowercase();
        if line == "content-length: 0" {
            empty = true;
        } else if !line.starts_with("date:") && !line.starts_with("connection:") {
            return None;
        }
    }
    (empty && HYPER_STATUSES.contains(&status)).then_some(status)
}

/// The path of a request from its first bytes, if they hold it.
fn path_of(start: &[u8]) -> Option<&str> {
    let line = start.split(|b| *b == b' ').nth(1)?;
    let line = std::str::from_utf8(line).ok().or_else(|| {
        // Cut inside a character: the valid part is enough.
        let n = std::str::from_utf8(line).err()?.valid_up_to();
        std::str::from_utf8(&line[..n]).ok()
    })?;
    line.split('?').next()
}

/// Accepts connections, each wrapped in a [`Conn`] (inside TLS when the server has it).
pub struct Listener {
    inner: TcpListener,
    answers: Arc<Answers>,
    tls: Option<Arc<Tls>>,
}

impl Listener {
    pub async fn new(inner: TcpListener, tls: Option<Arc<Tls>>) -> Listener {
        Listener {
            inner,
            answers: Arc::new(Answers::make().await),
            tls,
        }
    }
}

/// A connection's byte stream: plain TCP, or TLS once its handshake is done.
enum Stream {
    Plain(TcpStream),
    Handshake(Box<tokio_rustls::Accept<TcpStream>>),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// Drives a pending handshake; ready once the stream can carry bytes.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Stream::Handshake(accept) = self {
            let tls = ready!(Pin::new(accept.as_mut()).poll(cx))?;
            *self = Stream::Tls(Box::new(tls));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_ready(cx))?;
        match self {
            Stream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
            Stream::Handshake(_) => Poll::Pending,
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_ready(cx))?;
        match self {
            Stream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
            Stream::Handshake(_) => Poll::Pending,
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(io) => Pin::new(io).poll_flush(cx),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
            Stream::Handshake(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Stream::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
            Stream::Handshake(_) => Poll::Ready(Ok(())),
        }
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let io = match &self.tls {
            Some(tls) => Stream::Handshake(Box::new(tls.acceptor().accept(io))),
            None => Stream::Plain(io),
        };
        let conn = Conn {
            io,
            start: Vec::new(),
            wrote: false,
            pending: None,
            answers: self.answers.clone(),
        };
        (conn, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that replaces hyper's empty error answers (see the module's comment).
pub struct Conn {
    io: Stream,
    /// The first bytes read since the last write: the start of the request being read.
    start: Vec<u8>,
    wrote: bool,
    /// A replacement being written: its bytes, how many are out, and the length of hyper's.
    pending: Option<(Vec<u8>, usize, usize)>,
    answers: Arc<Answers>,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(self.io.poll_read(cx, buf))?;
        let this = &mut *self;
        if this.wrote {
            this.start.clear();
            this.wrote = false;
        }
        let room = KEPT.saturating_sub(this.start.len());
        let new = &buf.filled()[before..];
        this.start.extend_from_slice(&new[..new.len().min(room)]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none()
            && let Some(status) = hyper_answer(buf)
        {
            let web = path_of(&this.start).is_some_and(crate::web::is_web_path);
            if let Some(answer) = this.answers.get(status, web) {
                this.pending = Some((answer.to_vec(), 0, buf.len()));
            }
        }
        if let Some((bytes, sent, replaced)) = &mut this.pending {
            while *sent < bytes.len() {
                let n = ready!(this.io.poll_write(cx, &bytes[*sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *sent += n;
            }
            let replaced = *replaced;
            this.pending = None;
            this.wrote = true;
            return Poll::Ready(Ok(replaced));
        }
        let n = ready!(this.io.poll_write(cx, buf))?;
        this.wrote = true;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bare_heads_are_replaced() {
        let date = "date: Fri, 04 Dec 2026 20:00:00 GMT";
        let bare =
            |status: &str| format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n{date}\r\n\r\n");
        let code = |head: String| hyper_answer(head.as_bytes()).map(|s| s.as_u16());
        assert_eq!(code(bare("431 Request Header Fields Too Large")), Some(431));
        assert_eq!(code(bare("414 URI Too Long")), Some(414));
        assert_eq!(hyper_answer(bare("404 Not Found").as_bytes()), None);
        let typed = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n{date}\r\n\r\n"
        );
        assert_eq!(hyper_answer(typed.as_bytes()), None);
        assert_eq!(path_of(b"GET /login?next=/ HTTP/1.1\r\n"), Some("/login"));
        assert_eq!(path_of(b"GET /admin"), Some("/admin"));
    }
}
