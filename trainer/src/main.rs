//! `screener-train`: placeholder until the trainer issue lands.
fn main() {
    eprintln!("screener-train: the trainer is not built yet (see the trainer issue)");
    std::process::exit(2);
}
