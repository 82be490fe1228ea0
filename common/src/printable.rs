//! Text from the network, made safe to show on a terminal or in a log line.
//!
//! A peer chooses the bytes of a close reason, an HTTP body, an `Origin` header or a request
//! path. Written raw, an escape sequence could clear the user's screen or move the cursor, a
//! line break could forge a second log line, and an invisible or bidirectional format character
//! could make a line read differently from what it holds. [`Printable`] shows every control
//! character, line or paragraph separator and format character (Unicode categories Cc, Zl, Zp,
//! Cf), and the backslash, as a Rust-style escape (`\n`, `\u{1b}`, `\u{2028}`, `\\`), and cuts the
//! text at [`MAX_SHOWN`] characters, so one event stays one line of bounded length. Text is
//! escaped once, where it is shown: text already escaped would show its backslashes doubled.
use std::fmt;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The most characters of peer-chosen text shown in one place; the rest is replaced by `…`.
pub const MAX_SHOWN: usize = 200;

/// Peer-chosen text, shown escaped and cut: see the module's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

/// `text`, ready to be shown: `format!("{}", printable(text))`.
pub fn printable(text: &str) -> Printable<'_> {
    Printable(text)
}

/// Bytes that should be text, shown with invalid UTF-8 replaced by U+FFFD, escaped and cut.
pub fn printable_bytes(bytes: &[u8]) -> String {
    printable(&String::from_utf8_lossy(bytes)).to_string()
}

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, MAX_SHOWN)
    }
}

/// Text a server sent as data, shown whole as [`Printable`] shows text: see [`escaped`].
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

/// `text` escaped as [`printable`] escapes it, but whole: for data, which is the output itself
/// rather than a message about it, so that a message printed stays one line of the terminal.
pub fn escaped(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, usize::MAX)
    }
}

/// Whether `text` can be a line of output as it is: nothing in it moves a terminal's cursor,
/// breaks the line or hides text. Most data is printable ASCII, checked a byte at a time.
pub fn shows_as_is(text: &str) -> bool {
    let plain_ascii = |b: &u8| (0x20..0x7f).contains(b) || *b == b'\t';
    text.as_bytes().iter().all(plain_ascii) || !text.chars().any(unsafe_in_a_line)
}

/// Whether `c`, raw in a line of output, could move a terminal's cursor, break the line or hide
/// text: whatever [`printable`] escapes but the backslash and the tab, so that data holding
/// those alone is printed exactly.
pub fn unsafe_in_a_line(c: char) -> bool {
    c != '\\' && c != '\t' && is_escaped(c)
}

/// Writes `text`, escaped, cut after `most` characters with `…`.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str, most: usize) -> fmt::Result {
    use fmt::Write;
    for (shown, c) in text.chars().enumerate() {
        if shown == most {
            return f.write_char('…');
        }
        if is_escaped(c) {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Whether `c` is shown as an escape; the backslash is, so that an escape in the text cannot
/// pass for one made here.
fn is_escaped(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::Format
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_are_escaped() {
        let shown = printable("a\u{1b}[2J\r\nb\tc\\").to_string();
        assert_eq!(shown, r"a\u{1b}[2J\r\nb\tc\\");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        assert_eq!(
            printable("slow consumer: é 42").to_string(),
            "slow consumer: é 42"
        );
    }

    #[test]
    fn long_text_is_cut() {
        let shown = printable(&"x".repeat(MAX_SHOWN + 50)).to_string();
        assert_eq!(shown.chars().count(), MAX_SHOWN + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(printable_bytes(b"ok \xff\x07"), "ok \u{fffd}\\u{7}");
    }

    #[test]
    fn separators_and_format_characters_are_escaped() {
        let text =
            "a\u{2028}b\u{2029}c\u{200b}\u{200f}\u{61c}\u{feff}\u{ad}\u{202e}\u{2066}\u{85}d";
        assert_eq!(
            printable(text).to_string(),
            r"a\u{2028}b\u{2029}c\u{200b}\u{200f}\u{61c}\u{feff}\u{ad}\u{202e}\u{2066}\u{85}d"
        );
    }

    #[test]
    fn format_characters_beyond_the_basic_plane_are_escaped() {
        // U+E0001 LANGUAGE TAG and U+1D173 MUSICAL SYMBOL BEGIN BEAM: both Cf.
        assert_eq!(
            printable("x\u{e0001}\u{1d173}").to_string(),
            r"x\u{e0001}\u{1d173}"
        );
    }

    /// Whether `c` may break or reorder a line in a viewer: Cc, Zl, Zp or Cf.
    fn breaks_or_hides(c: char) -> bool {
        c.is_control()
            || matches!(
                c.general_category(),
                GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
                    | GeneralCategory::Format
            )
    }

    #[test]
    fn data_shows_as_is_unless_it_could_move_the_cursor_break_the_line_or_hide_text() {
        for text in ["42", "a\tb", r"C:\dir", "é€ 😀", ""] {
            assert!(shows_as_is(text), "{text:?}");
        }
        for text in [
            "a\nb",
            "\r",
            "\u{1b}[2J",
            "\u{7f}",
            "\u{9b}",
            "a\u{2028}",
            "\u{200f}",
        ] {
            assert!(!shows_as_is(text), "{text:?}");
        }
    }

    #[test]
    fn escaped_data_is_whole() {
        let long = format!("{}\n", "x".repeat(MAX_SHOWN * 2));
        assert_eq!(
            escaped(&long).to_string(),
            format!("{}\\n", "x".repeat(MAX_SHOWN * 2))
        );
    }

    proptest! {
        #[test]
        fn what_shows_as_is_or_escaped_is_one_safe_line(text in any::<String>()) {
            let shown = if shows_as_is(&text) { text.clone() } else { escaped(&text).to_string() };
            prop_assert!(!shown.chars().any(|c| c != '\t' && breaks_or_hides(c)));
        }

        #[test]
        fn never_a_control_separator_or_format_character_and_bounded(text in any::<String>()) {
            let shown = printable(&text).to_string();
            prop_assert!(!shown.chars().any(breaks_or_hides));
            // Each character shows as at most 10 (`\u{10ffff}`), and the cut adds one.
            prop_assert!(shown.chars().count() <= MAX_SHOWN * 10 + 1);
        }
    }
}
