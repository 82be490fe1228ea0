//! Subprotocol names, and how a server chooses among those a client offers.
//!
//! A client that offers no subprotocol (a browser's `new WebSocket(url)`, the seed's Python
//! consumer) gets [`Format::Plain`]: text frames holding only the data, exactly as the seed sends
//! them. A client that offers `prodcon.v1` gets JSON frames (see [`crate::frame`]). A future
//! version gets a new name, and the server picks the highest one it knows.

/// The name of the JSON envelope protocol, version 1.
pub const PRODCON_V1: &str = "prodcon.v1";

/// The HTTP header a client offers its subprotocols in, and a server answers with its choice.
pub const HEADER: &str = "Sec-WebSocket-Protocol";

/// How a connection's messages are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One text frame per message, holding its data alone: `1`, `2`, `3`, ...
    Plain,
    /// One text frame per message, holding a JSON [`crate::Envelope`].
    JsonV1,
}

impl Format {
    /// Every format a server knows, best first.
    const BY_PREFERENCE: [Format; 1] = [Format::JsonV1];

    /// The subprotocol name to answer with, if any.
    pub fn subprotocol(self) -> Option<&'static str> {
        match self {
            Format::Plain => None,
            Format::JsonV1 => Some(PRODCON_V1),
        }
    }

    /// Picks the format for a client that offered `offers`: the values of its
    /// `Sec-WebSocket-Protocol` headers, each a comma-separated list of names.
    pub fn negotiate<'a>(offers: impl IntoIterator<Item = &'a str>) -> Format {
        let offered: Vec<&str> = offers
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        Self::BY_PREFERENCE
            .into_iter()
            .find(|format| {
                format
                    .subprotocol()
                    .is_some_and(|name| offered.contains(&name))
            })
            .unwrap_or(Format::Plain)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.subprotocol().unwrap_or("plain text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_offer_gives_plain_text() {
        assert_eq!(Format::negotiate([]), Format::Plain);
    }

    #[test]
    fn prodcon_v1_is_picked_among_others() {
        assert_eq!(Format::negotiate(["chat, prodcon.v1"]), Format::JsonV1);
        assert_eq!(Format::negotiate(["chat", " prodcon.v1 "]), Format::JsonV1);
    }

    #[test]
    fn unknown_offers_fall_back_to_plain() {
        assert_eq!(Format::negotiate(["prodcon.v0, chat"]), Format::Plain);
    }
}
