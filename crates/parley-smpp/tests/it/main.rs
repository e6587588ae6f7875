//! Integration tests of parley-smpp against a real SMSC: the npm `smpp` package's server,
//! driven by `tests/smsc/smsc.js`. Assertions are on the raw PDU fields the SMSC logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod bind;
mod harness;
mod inbound;
mod reconnect;
mod submit;
