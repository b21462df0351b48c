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
