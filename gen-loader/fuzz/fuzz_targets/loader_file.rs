//! What `oxbpf explain` does with a file: read it as a loader file, decode
//! the loader back into its plan, print the plan. Any bytes give a plan
//! or an error. A file that reads writes back to bytes that read as the
//! same loader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxbpf_gen_loader::{Loader, decode};

fuzz_target!(|data: &[u8]| {
    let loader = match Loader::from_bytes(data) {
        Ok(l) => l,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let again = Loader::from_bytes(&loader.to_bytes()).expect("a loader's own bytes read back");
    assert_eq!(again, loader);
    match decode(&loader) {
        Ok(plan) => drop(plan.to_string()),
        Err(e) => drop(e.to_string()),
    }
});
