//! Where messages come from.

pub mod counter;
