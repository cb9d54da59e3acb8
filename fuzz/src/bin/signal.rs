//! `runw kill` and `--signal` values: signal names and numbers (signal::parse).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match runw::signal::parse(text) {
            Ok(n) => assert!((1..=64).contains(&n), "{text:?} gave signal {n}"),
            Err(err) => {
                runw_fuzz::report(&err);
            }
        }
    });
}
