//! A PEM file named on a command line (`--tls-cert`, `--tls-key`, `--ca`), read without
//! trusting it to be small: `/dev/zero` or a wrong file given by mistake must be refused in one
//! line, not read into memory until the machine runs out of it.

use std::io::{self, Read};

/// The most a PEM file may hold. A certificate chain or a key is a few KiB, and even a bundle of
/// every public authority (Debian's `ca-certificates.crt`) about 220 KiB: a larger file is not
/// the one meant, and reading it whole is what must not happen.
pub const MAX_LEN: u64 = 1024 * 1024;

/// [`MAX_LEN`] as people read it, for the messages that refuse a larger file.
pub const MAX_LEN_TEXT: &str = "1 MiB";

/// Everything `file` holds, or, once it holds more than [`MAX_LEN`] bytes, an error of kind
/// [`io::ErrorKind::FileTooLarge`]: reading one byte past the limit tells, and nothing more is
/// read.
pub fn read(file: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_LEN + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_LEN {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {MAX_LEN_TEXT}"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_up_to_the_limit_is_read_whole() {
        let full = vec![b'-'; MAX_LEN as usize];
        assert_eq!(read(&full[..]).unwrap(), full);
        assert_eq!(read(&b""[..]).unwrap(), b"");
    }

    #[test]
    fn a_byte_more_or_an_endless_file_is_refused() {
        let over = vec![b'-'; MAX_LEN as usize + 1];
        let error = read(&over[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(error.to_string(), "larger than 1 MiB");
        let endless = read(io::repeat(0)).unwrap_err();
        assert_eq!(endless.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn the_limit_in_words_is_the_limit() {
        assert_eq!(MAX_LEN_TEXT, format!("{} MiB", MAX_LEN / (1024 * 1024)));
    }
}
