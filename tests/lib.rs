//! End-to-end tests of herdgate: real `redis-server` processes, the real origin, and (with the
//! edge issue) the real worker under workerd. The tests are in `it/`, one binary, one module
//! per concern; run them with `cargo test -p herdgate-e2e`.
