//! Helper function ids (`enum bpf_func_id`) and their names.

use crate::helper_table::HELPERS;

/// The name of helper `id` as the verifier prints it (`"bpf_map_lookup_elem"`
/// for 1), or `None` for 0 and ids this table (kernel 6.18) does not know.
pub fn helper_name(id: i32) -> Option<&'static str> {
    let name = *HELPERS.get(usize::try_from(id).ok()?)?;
    (!name.is_empty()).then_some(name)
}

/// The id of the helper called `name` (with its `bpf_` prefix, as
/// [`helper_name`] returns it), or `None`.
pub fn helper_id(name: &str) -> Option<i32> {
    if name.is_empty() {
        return None;
    }
    HELPERS
        .iter()
        .position(|&n| n == name)
        .and_then(|i| i32::try_from(i).ok())
}

/// Number of helper ids known, including the unused id 0
/// (`__BPF_FUNC_MAX_ID` of the kernel the table was generated from).
pub fn helper_count() -> usize {
    HELPERS.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert_eq!(helper_name(1), Some("bpf_map_lookup_elem"));
        assert_eq!(helper_name(181), Some("bpf_loop"));
        assert_eq!(helper_name(211), Some("bpf_cgrp_storage_delete"));
        assert_eq!(helper_name(0), None);
        assert_eq!(helper_name(-1), None);
        assert_eq!(helper_name(212), None);
        assert_eq!(helper_id("bpf_map_lookup_elem"), Some(1));
        assert_eq!(helper_id("bpf_ringbuf_discard_dynptr"), Some(200));
        assert_eq!(helper_id("map_lookup_elem"), None);
        assert_eq!(helper_id(""), None);
        assert_eq!(helper_count(), 212);
        // Every id maps to a unique name and back.
        for id in 1..helper_count() as i32 {
            let name = helper_name(id).unwrap();
            assert!(name.starts_with("bpf_"), "{name}");
            assert_eq!(helper_id(name), Some(id));
        }
    }
}
