//! One function per write of a resource, shared by the REST API, the console and `parley apply`:
//! each validates, writes through the store, invalidates what caches the resource and emits the
//! event, so no path can skip a rule another path runs.

pub mod channels;
