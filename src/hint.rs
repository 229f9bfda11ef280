//! The next step an error suggests. Every error a user sees answers [`Hint::hint`], each
//! variant in one exhaustive `match`, so a new variant cannot lose its hint unnoticed;
//! `run::error::report` prints the message as `error: …` and the hint as `hint: …`.

/// An error that may know the next step.
pub trait Hint: std::error::Error {
    /// What to do about it, when there is an obvious next step.
    fn hint(&self) -> Option<String>;
}
