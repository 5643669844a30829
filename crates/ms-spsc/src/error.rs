//! Errors of the queue operations: small enums that never lose a value.

use std::fmt;

/// The error of [`Producer::try_push`](crate::Producer::try_push): the queue was full, and here
/// is the value back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The queue had no free slot; the value was not pushed.
    Full(T),
}

impl<T> PushError<T> {
    /// Returns the value that could not be pushed.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) => value,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.pad("Full(_)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.pad("full spsc queue"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// The error of [`Consumer::try_pop`](crate::Consumer::try_pop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopError {
    /// The queue held no item.
    Empty,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.pad("empty spsc queue"),
        }
    }
}

impl std::error::Error for PopError {}
