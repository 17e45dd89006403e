//! The main flow once through, as the README shows it.

mod common;

use common::{stdout, Scratch};

#[test]
fn main_flow_init_add_render_export() {
    let scratch = Scratch::new();
    scratch.init();
    let keys = scratch.add(&["github", "node1"]);
    assert_eq!(keys.len(), 2);

    let conf = scratch.nkvault().arg("render-conf").output().unwrap();
    let conf = stdout(&conf);
    for key in &keys {
        assert!(conf.contains(&format!("nkey: \"{key}\"")), "{conf}");
    }

    let seed = scratch.seed("node1");
    assert!(
        seed.starts_with("SU") && seed.len() == 58,
        "not a user seed"
    );
}
