//! Screener trainer: the burn networks of `docs/METHOD.md` (descriptor, condition, density and
//! distilled models) and, later, the loops that train them.

pub mod device;
pub mod models;
