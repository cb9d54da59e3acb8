//! Container ids from the command line (container::validate_id): an id becomes a path.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(id) = std::str::from_utf8(data) else {
            return;
        };
        if runw::container::validate_id(id).is_ok() {
            // An accepted id names one directory entry below --root, never another place.
            assert!(!id.is_empty() && id.len() <= runw::container::MAX_ID_LEN);
            assert!(id != "." && id != ".." && !id.contains('/') && !id.contains('\0'));
            assert!(!id.contains(':'), "{id:?} could collide with a lock file");
        }
    });
}
