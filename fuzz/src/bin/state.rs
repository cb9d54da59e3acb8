//! What runw reads back from a container's state directory: libcontainer's state.json (loaded
//! as every command loads it, then turned into runc's state JSON by runw), runw's own
//! runw.json, and the create intent recorded in the lock file. The first byte of the input
//! picks the file; the rest is its content, the other files being valid.
use runw::container::Intent;
use runw::state::{Meta, RuncState};

const STATE: &str = include_str!("../../fixtures/state.json");
const META: &str = r#"{"ociVersion":"1.0.2","rootfs":"/b/rootfs","workload":"linux"}"#;

fn main() {
    let root = runw_fuzz::scratch("state");
    let dir = root.join("c");
    std::fs::create_dir_all(&dir).expect("container directory");
    afl::fuzz!(|data: &[u8]| {
        let Some((&which, content)) = data.split_first() else {
            return;
        };
        match which % 3 {
            0 => {
                runw_fuzz::put(&dir.join("state.json"), content);
                runw_fuzz::put(&dir.join("runw.json"), META.as_bytes());
            }
            1 => {
                runw_fuzz::put(&dir.join("state.json"), STATE.as_bytes());
                runw_fuzz::put(&dir.join("runw.json"), content);
            }
            _ => {
                let _ = serde_json::from_slice::<Intent>(content);
                return;
            }
        }
        let _ = Meta::load(&dir);
        match libcontainer::container::Container::load(dir.clone()) {
            Ok(container) => {
                let state = RuncState::of(&container, "root".into());
                serde_json::to_string(&state).expect("state JSON");
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    });
}
