//! Which server to try next: the URLs given, in turn, leaving out those that refused for good.
//!
//! Several URLs name nodes of one stream: after a failure the client goes on with the next one,
//! and, asking for `?from=` the next number it needs, resumes there with no gap and no repeat.

use crate::connection::Target;

/// The URLs and where the client stands among them.
pub struct Rotation<'a> {
    /// The URLs, in the order given.
    targets: &'a [Target],
    /// Whether each URL may still be tried: one that refused for good is not asked again.
    usable: Vec<bool>,
    /// The URL tried now.
    current: usize,
}

impl<'a> Rotation<'a> {
    /// Starts with the first of `targets`, which must not be empty.
    pub fn new(targets: &'a [Target]) -> Self {
        assert!(
            !targets.is_empty(),
            "at least one URL, the default if none is given"
        );
        Rotation {
            targets,
            usable: vec![true; targets.len()],
            current: 0,
        }
    }

    /// The URL to try now.
    pub fn current(&self) -> &'a Target {
        &self.targets[self.current]
    }

    /// Whether several URLs were given, so that messages say which one is tried next.
    pub fn has_several(&self) -> bool {
        self.targets.len() > 1
    }

    /// Leaves the current URL out from now on.
    pub fn drop_current(&mut self) {
        self.usable[self.current] = false;
    }

    /// Moves to the next URL still usable after the current one (the current one itself if it
    /// is the last left). `false` when none is left.
    pub fn advance(&mut self) -> bool {
        let count = self.targets.len();
        let next = (1..=count)
            .map(|step| (self.current + step) % count)
            .find(|&index| self.usable[index]);
        match next {
            Some(index) => {
                self.current = index;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(urls: &[&str]) -> Vec<Target> {
        urls.iter().map(|url| Target::parse(url).unwrap()).collect()
    }

    #[test]
    fn urls_come_in_turn_and_wrap_around() {
        let targets = targets(&["ws://a/", "ws://b/", "ws://c/"]);
        let mut rotation = Rotation::new(&targets);
        let mut seen = vec![rotation.current().to_string()];
        for _ in 0..3 {
            assert!(rotation.advance());
            seen.push(rotation.current().to_string());
        }
        assert_eq!(seen, ["ws://a/", "ws://b/", "ws://c/", "ws://a/"]);
    }

    #[test]
    fn refused_urls_are_left_out_until_none_is_left() {
        let targets = targets(&["ws://a/", "ws://b/"]);
        let mut rotation = Rotation::new(&targets);
        rotation.drop_current();
        assert!(rotation.advance());
        assert_eq!(rotation.current().to_string(), "ws://b/");
        assert!(rotation.advance());
        assert_eq!(rotation.current().to_string(), "ws://b/");
        rotation.drop_current();
        assert!(!rotation.advance());
    }
}
