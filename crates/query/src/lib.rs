//! Flux queries for ironflux: the language, the table model, the executor and the
//! annotated-CSV encoder that `POST /api/v2/query` answers with.

pub mod flux;
pub mod time;
