//! Printing messages: one line each, written in batches and flushed whenever the stream pauses,
//! so that a pipe sees each message promptly and a fast stream costs few system calls.

use common::{Envelope, Format};
use std::io::{self, BufWriter, Write};

/// Where messages go, and in what form.
pub struct Printer<W: Write> {
    /// The output, buffered until the next [`Printer::flush`].
    out: BufWriter<W>,
    /// Print whole envelopes as JSON (`--json`) rather than their data.
    json: bool,
    /// Messages printed from plain-text servers, which number nothing themselves.
    plain_count: u64,
}

impl<W: Write> Printer<W> {
    /// Prints to `out`: each message's data, or with `json` its whole envelope.
    pub fn new(out: W, json: bool) -> Self {
        Printer {
            out: BufWriter::with_capacity(64 * 1024, out),
            json,
            plain_count: 0,
        }
    }

    /// Prints one text frame received in `format`. For `prodcon.v1`, `data` is the message's
    /// data, decoded, and `text` the frame itself, already the JSON line `--json` prints.
    pub fn print(&mut self, format: Format, text: &str, data: Option<&str>) -> io::Result<()> {
        match (self.json, format, data) {
            (false, _, Some(data)) => self.line(data),
            (false, _, None) | (true, Format::JsonV1, _) => self.line(text),
            (true, Format::Plain, _) => {
                // A plain server sends bare data: number it in arrival order, stamp it on arrival.
                self.plain_count += 1;
                let envelope = Envelope::now(self.plain_count, text.to_string());
                self.line(&envelope.encode())
            }
        }
    }

    /// Writes `text` and a line ending: two copies into the buffer, no formatting machinery,
    /// since messages come by the million.
    fn line(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// The output behind the buffer.
    #[cfg(test)]
    pub fn inner_mut(&mut self) -> &mut W {
        self.out.get_mut()
    }

    /// Hands everything printed so far to the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::ServerFrame;

    fn printed(json: bool, frames: &[(Format, &str)]) -> String {
        let mut printer = Printer::new(Vec::new(), json);
        for (format, text) in frames {
            let envelope = match (format, ServerFrame::decode(text)) {
                (Format::JsonV1, Ok(ServerFrame::Message(envelope))) => Some(envelope),
                _ => None,
            };
            let data = envelope.as_ref().map(|envelope| envelope.data.as_str());
            printer.print(*format, text, data).unwrap();
        }
        String::from_utf8(printer.out.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn data_alone_by_default() {
        let frame = r#"{"seq":7,"time":1,"data":"seven"}"#;
        assert_eq!(printed(false, &[(Format::JsonV1, frame)]), "seven\n");
        assert_eq!(
            printed(false, &[(Format::Plain, "1"), (Format::Plain, "2")]),
            "1\n2\n"
        );
    }

    #[test]
    fn json_prints_envelopes() {
        let frame = r#"{"seq":7,"time":1,"data":"seven"}"#;
        assert_eq!(
            printed(true, &[(Format::JsonV1, frame)]),
            format!("{frame}\n")
        );
        let line = printed(true, &[(Format::Plain, "a \"b\"")]);
        let ServerFrame::Message(envelope) = ServerFrame::decode(line.trim_end()).unwrap() else {
            panic!("not an envelope: {line}");
        };
        assert_eq!((envelope.seq, envelope.data.as_str()), (1, "a \"b\""));
    }
}
