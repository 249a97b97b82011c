//! Shared helpers for Screener's end-to-end tests (the tests themselves are in `tests/tests/`).
