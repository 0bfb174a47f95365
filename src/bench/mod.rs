//! The retrieval benchmark (BEIR data sets).

pub mod beir;
pub mod metrics;
