//! Privacy and data protection (issue 16): the rules as pure functions.
//!
//! - [`rules`]: sensitive-data rules (PRIV-03), masking text before it is stored or shown;
//! - [`erasure`]: what an erasure removes and what it keeps (PRIV-04..06, SE-11);
//! - [`retention`]: retention periods and what is due for deletion (TM-08, PRIV-10).

pub mod erasure;
pub mod retention;
pub mod rules;
