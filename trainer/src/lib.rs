//! Screener trainer: learns the descriptor, condition, density and distilled models of
//! `docs/METHOD.md` with burn. Placeholder: the trainer issue builds it.
