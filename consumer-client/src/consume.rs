//! Reading one connection: decoding frames, keeping the stream in order, printing.

use crate::connection::{Connection, Socket};
use crate::error::{ClientError, CloseInfo};
use crate::output::Printer;
use crate::pacing::Pacer;
use crate::runtime;
use crate::watchdog::Watchdog;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use common::{close, Format, FrameRef, LostRange, ServerFrame};
use futures::future::poll_fn;
use futures::{FutureExt, SinkExt, StreamExt};
use std::io::Write;
use std::task::Poll;
use std::time::Duration;

/// How long to wait for the server's side of a closing handshake before dropping the socket.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Where the stream stands, kept across connections so that a resumed stream neither repeats
/// nor skips a message without saying so.
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages printed so far.
    pub printed: u64,
    /// The sequence number wanted next, once known: the `from` of the next connection.
    pub expected: Option<u64>,
}

/// When to stop waiting.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop after printing this many messages in all.
    pub count: Option<u64>,
    /// Give up on a server silent (no frame at all, not even a ping) for this long; zero for never.
    pub silence: Duration,
}

impl Progress {
    /// Reports the numbers from the one expected up to `seq` (excluded) as skipped, if any.
    fn skip_to(&self, seq: u64, notices: &mut impl Notices) {
        if let Some(expected) = self.expected.filter(|&expected| expected < seq) {
            let skipped = LostRange {
                first: expected,
                last: seq - 1,
            };
            notices.lost(skipped, "skipped by the server");
        }
    }
}

/// A planned end of consuming.
#[derive(Debug)]
pub enum Stop {
    /// `--count` messages were printed.
    CountReached,
    /// The server closed the connection normally.
    ServerClosed(CloseInfo),
}

/// Something the stream says that is not a message: reported on stderr, not on stdout.
pub trait Notices {
    /// Messages `range` will never be printed.
    fn lost(&mut self, range: LostRange, why: &str);
}

/// Prints the messages of `connection` until the server closes it, it fails, or `limit`
/// messages have been printed in all.
pub async fn consume<W: Write>(
    connection: Connection,
    progress: &mut Progress,
    printer: &mut Printer<W>,
    notices: &mut impl Notices,
    limits: Limits,
) -> Result<Stop, ClientError> {
    let Limits {
        count: limit,
        silence,
    } = limits;
    let Connection { mut ws, format } = connection;
    let mut pacer = Pacer::default();
    let mut watchdog = Watchdog::new(silence);
    loop {
        if limit.is_some_and(|limit| progress.printed >= limit) {
            printer.flush().map_err(ClientError::Output)?;
            // Polite, not required: the server learns we left on purpose.
            let goodbye = CloseFrame {
                code: close::NORMAL.into(),
                reason: "received the messages wanted".into(),
            };
            let _ = runtime::timeout(CLOSE_WAIT, ws.close(Some(goodbye))).await;
            return Ok(Stop::CountReached);
        }
        match next_frame(&mut ws, &mut pacer, &mut watchdog, printer).await? {
            Some(Ok(Message::Text(text))) => {
                receive(format, &text, progress, printer, notices)?;
            }
            Some(Ok(Message::Binary(data))) => return Err(ClientError::Binary(data.len())),
            Some(Ok(Message::Close(frame))) => {
                printer.flush().map_err(ClientError::Output)?;
                let info = CloseInfo {
                    code: frame.as_ref().map_or(1005, |f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                };
                // Reading on sends tungstenite's reply to the close.
                let _ = runtime::timeout(CLOSE_WAIT, ws.next()).await;
                let _ = ws.flush().await;
                return if close::is_normal(info.code) {
                    Ok(Stop::ServerClosed(info))
                } else {
                    Err(ClientError::Closed(info))
                };
            }
            Some(Ok(Message::Ping(_))) => {
                // tungstenite queued the pong and tries to send it as it reads; whether the
                // socket took it tells whether the server reads at all.
                let written = ws.flush().now_or_never().is_some();
                watchdog.pongs(written)?;
            }
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
            Some(Err(error)) => return Err(ClientError::Lost(error)),
            None => return Err(ClientError::Dropped),
        }
    }
}

/// The next frame of `ws`. When the socket runs dry, whatever was printed is flushed, so that
/// the reader sees each message as soon as the stream pauses; [`Pacer`] decides when to read
/// again, and [`Watchdog`] when to give up.
async fn next_frame<W: Write>(
    ws: &mut WebSocketStream<Socket>,
    pacer: &mut Pacer,
    watchdog: &mut Watchdog,
    printer: &mut Printer<W>,
) -> Result<Option<Result<Message, WsError>>, ClientError> {
    poll_fn(|cx| {
        if pacer.poll_resume(cx).is_pending() {
            return Poll::Pending;
        }
        if let Poll::Ready(next) = ws.poll_next_unpin(cx) {
            pacer.frame(frame_len(&next));
            watchdog.frame();
            return Poll::Ready(Ok(next));
        }
        if ws.get_ref().gave_way() {
            // Not dry: the read let others run, and this task is woken to read on. Only the
            // watchdog is asked, for a server that floods frames and never completes a message.
            return watchdog.poll_expired(cx).map(Err);
        }
        if pacer.drained() {
            if let Err(error) = printer.flush() {
                return Poll::Ready(Err(ClientError::Output(error)));
            }
            // After the flush: the time it waited for a reader of the output is not the
            // server's silence (nothing was read from the server meanwhile).
            watchdog.drained();
            // Sets the pause's timer, if one started.
            let _ = pacer.poll_resume(cx);
        }
        if watchdog.owes_pongs() && ws.poll_flush_unpin(cx).is_ready() {
            // The server read them after all.
            let _ = watchdog.pongs(true);
        }
        watchdog.poll_expired(cx).map(Err)
    })
    .await
}

/// The bytes of a frame's payload, for the pacing: a few large messages are a large batch.
fn frame_len(next: &Option<Result<Message, WsError>>) -> usize {
    match next {
        Some(Ok(message)) => message.len(),
        _ => 0,
    }
}

/// Handles one text frame: prints it unless it repeats one already printed, and reports gaps.
fn receive<W: Write>(
    format: Format,
    text: &str,
    progress: &mut Progress,
    printer: &mut Printer<W>,
    notices: &mut impl Notices,
) -> Result<(), ClientError> {
    let message = match format {
        Format::Plain => None,
        Format::JsonV1 => match ServerFrame::decode_ref(text)? {
            FrameRef::Message { seq, data, .. } => Some((seq, data)),
            FrameRef::Lost(range) => {
                progress.skip_to(range.first, notices);
                notices.lost(range, "no longer in the server's history");
                progress.expected = Some(progress.expected.unwrap_or(1).max(range.last + 1));
                return Ok(());
            }
        },
    };
    if let Some((seq, _)) = &message {
        let seq = *seq;
        if progress.expected.is_some_and(|expected| seq < expected) {
            // Sent again after a reconnection: printed already.
            return Ok(());
        }
        progress.skip_to(seq, notices);
        progress.expected = Some(seq + 1);
    }
    let data = message.as_ref().map(|(_, data)| data.as_ref());
    printer
        .print(format, text, data)
        .map_err(ClientError::Output)?;
    progress.printed += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorded(Vec<LostRange>);

    impl Notices for Recorded {
        fn lost(&mut self, range: LostRange, _why: &str) {
            self.0.push(range);
        }
    }

    fn feed(frames: &[&str], expected: Option<u64>) -> (String, Progress, Vec<LostRange>) {
        let mut printer = Printer::new(Vec::new(), false);
        let mut progress = Progress {
            printed: 0,
            expected,
        };
        let mut notices = Recorded::default();
        for frame in frames {
            receive(
                Format::JsonV1,
                frame,
                &mut progress,
                &mut printer,
                &mut notices,
            )
            .unwrap();
        }
        printer.flush().unwrap();
        let mut out = Vec::new();
        std::mem::swap(&mut out, printer.inner_mut());
        (String::from_utf8(out).unwrap(), progress, notices.0)
    }

    fn msg(seq: u64) -> String {
        format!(r#"{{"seq":{seq},"time":0,"data":"{seq}"}}"#)
    }

    #[test]
    fn repeats_after_a_resume_are_not_printed() {
        let frames = [msg(4), msg(5), msg(5), msg(6)];
        let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
        let (out, progress, lost) = feed(&frames, Some(4));
        assert_eq!(out, "4\n5\n6\n");
        assert_eq!((progress.printed, progress.expected), (3, Some(7)));
        assert!(lost.is_empty());
    }

    #[test]
    fn gaps_and_lost_notices_are_reported_once() {
        let notice = LostRange { first: 1, last: 3 }.encode();
        let frames = [notice, msg(4), msg(7)];
        let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
        let (out, progress, lost) = feed(&frames, Some(1));
        assert_eq!(out, "4\n7\n");
        assert_eq!(progress.expected, Some(8));
        assert_eq!(
            lost,
            [
                LostRange { first: 1, last: 3 },
                LostRange { first: 5, last: 6 }
            ]
        );
    }

    #[test]
    fn garbage_under_prodcon_v1_is_an_error() {
        let mut printer = Printer::new(Vec::new(), false);
        let result = receive(
            Format::JsonV1,
            "not json",
            &mut Progress::default(),
            &mut printer,
            &mut Recorded::default(),
        );
        assert!(matches!(result, Err(ClientError::BadFrame(_))));
    }
}
