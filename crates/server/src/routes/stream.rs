//! Response bodies produced by blocking code: [`stream_body`] runs a producer on the blocking
//! pool and sends what it writes to the client in chunks as it goes (gzipped if asked), so a
//! large answer (a shard tar, a KV snapshot, a query's CSV) never sits in memory whole. The
//! channel holds a few chunks: a slow client slows the producer down instead of letting the
//! answer pile up, and a client that goes away stops it at its next write.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use flate2::Compression;
use tokio::sync::mpsc;

/// Bytes per chunk sent to the client.
const CHUNK: usize = 256 * 1024;

/// A `Write` that hands its bytes to the response body in chunks. Dropping it ends the body;
/// [`ChannelWriter::fail`] ends it with an error (the client sees a broken transfer, never a
/// silently short one).
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Ends the body with an error.
    pub fn fail(mut self, e: String) {
        self.buf.clear();
        let _ = self.tx.blocking_send(Err(io::Error::other(e)));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Runs `produce` on a blocking thread, streaming what it writes as the response body
/// (gzipped at `gzip` if set). Errors after the headers went out abort the body.
pub fn stream_body<F>(gzip: Option<Compression>, produce: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> Result<(), String> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            let mut w = ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            let result = match gzip {
                Some(level) => {
                    let mut gz = flate2::write::GzEncoder::new(&mut w, level);
                    produce(&mut gz)
                        .and_then(|()| gz.finish().map(|_| ()).map_err(|e| e.to_string()))
                }
                None => produce(&mut w),
            };
            let result = result.and_then(|()| w.flush().map_err(|e| e.to_string()));
            if let Err(e) = result {
                tracing::error!(error = %e, "response stream failed");
                w.fail(e);
            }
        })
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(stream)
}
