//! Printing messages: one line each, written in batches and flushed whenever the stream pauses,
//! so that a pipe sees each message promptly and a fast stream costs few system calls.
//!
//! A message is one line, and nothing in it reaches the terminal raw that could move the
//! cursor, break the line or hide text: data holding such a character is printed escaped
//! (`\u{1b}`, `\n`, as the client's messages about a server are), and a `--json` line holds it
//! as a JSON escape (`\u001b`), which means the same to a JSON reader: `--json` is the output
//! that keeps every message exactly.

use common::{escaped, shows_as_is, unsafe_in_a_line, Envelope, Format};
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
            (false, _, None) => self.line(text),
            (true, Format::JsonV1, _) => self.json_line(text),
            (true, Format::Plain, _) => {
                // A plain server sends bare data: number it in arrival order, stamp it on arrival.
                self.plain_count += 1;
                let envelope = Envelope::now(self.plain_count, text.to_string());
                self.json_line(&envelope.encode())
            }
        }
    }

    /// Writes `text` and a line ending, escaped if it must be.
    fn line(&mut self, text: &str) -> io::Result<()> {
        if shows_as_is(text) {
            self.raw_line(text)
        } else {
            writeln!(self.out, "{}", escaped(text))
        }
    }

    /// Writes the JSON text `json` as one line, with JSON escapes if it must have them.
    fn json_line(&mut self, json: &str) -> io::Result<()> {
        if shows_as_is(json) {
            self.raw_line(json)
        } else {
            self.raw_line(&json_escaped(json))
        }
    }

    /// Writes `text` and a line ending: two copies into the buffer, no formatting machinery,
    /// since messages come by the million.
    fn raw_line(&mut self, text: &str) -> io::Result<()> {
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

/// `json`, each character that could move the cursor, break the line or hide text taken out,
/// the rest kept as it is (the order of its keys too). JSON that decoded holds a raw line break
/// only between tokens, as whitespace, which can go; every other such character (DEL, C1
/// controls, separators, format characters) only in a string, where a JSON escape means the same.
fn json_escaped(json: &str) -> String {
    let mut line = String::with_capacity(json.len() + 16);
    let mut units = [0u16; 2];
    for c in json.chars() {
        match c {
            '\n' | '\r' => {}
            c if unsafe_in_a_line(c) => {
                for unit in c.encode_utf16(&mut units) {
                    line.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => line.push(c),
        }
    }
    line
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
    fn data_that_could_drive_the_terminal_is_one_escaped_line() {
        let frame = r#"{"seq":7,"time":1,"data":"a\u001b[2J\r\nb\u2028\t\\"}"#;
        assert_eq!(
            printed(false, &[(Format::JsonV1, frame)]),
            "a\\u{1b}[2J\\r\\nb\\u{2028}\\t\\\\\n"
        );
        assert_eq!(
            printed(false, &[(Format::Plain, "a\nb"), (Format::Plain, "c\td\\")]),
            "a\\nb\nc\td\\\n"
        );
    }

    #[test]
    fn json_lines_hold_such_characters_as_json_escapes() {
        let data = "x\u{7f}\u{9b}\u{2028}\u{e0001}\u{1b}\ny";
        let frames = [
            format!(
                r#"{{"seq":7,"time":1,"data":{}}}"#,
                serde_json::to_string(data).unwrap()
            ),
            // Line breaks between the tokens are whitespace to JSON, and go.
            format!(
                "{{\n\"seq\":7,\r\n\"time\":1,\"data\":{}}}",
                serde_json::to_string(data).unwrap()
            ),
        ];
        for frame in &frames {
            for (format, text) in [(Format::JsonV1, frame.as_str()), (Format::Plain, data)] {
                let line = printed(true, &[(format, text)]);
                assert_eq!(line.matches('\n').count(), 1, "{line:?}");
                assert!(line.starts_with(r#"{"seq":"#), "{line:?}");
                assert!(shows_as_is(line.trim_end()), "{line:?}");
                let ServerFrame::Message(envelope) = ServerFrame::decode(line.trim_end()).unwrap()
                else {
                    panic!("not an envelope: {line}");
                };
                assert_eq!(envelope.data, data);
            }
        }
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
