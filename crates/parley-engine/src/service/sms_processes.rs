//! SMS keyword processes (KP-01..07). Their service functions live in [`crate::processes`], beside
//! the plan `parley apply` checks with the same rule ([`crate::processes::check`]); this module is
//! where the API finds them with the other resources.

pub use crate::processes::{ProcessDraft, act, create, delete, update};
