//! OpenAPI schemas for the domain enums of `parley-core`: the engine's, which its service inputs
//! use too, so the API's document and the inputs cannot disagree.

pub use parley_engine::service::schema::*;
