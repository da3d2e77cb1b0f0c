//! Test harness pieces shared by the integration tests.

pub mod moto;
