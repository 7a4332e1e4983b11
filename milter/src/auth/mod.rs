//! Sender authentication: the [`gate`] refuses a customer's submission that DKIM does not prove
//! theirs; the [`evidence`] only records how an answer authenticated, for certd to weigh.

mod domain;
pub mod evidence;
pub mod gate;
mod phrase;
pub mod resolver;
#[cfg(test)]
mod tests;

pub use evidence::{authentication_results, Arrival};
pub use gate::{verify_aligned, DkimVerdict};
pub use resolver::{Resolver, ResolverError};
