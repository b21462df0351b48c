//! Field tables of the UAPI structs, so their layout can be checked against
//! the kernel's BTF and field offsets can be looked up by name (the
//! gen-loader patches fds into attributes by offset).

/// One field of a UAPI struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// The field's name, as in `include/uapi/linux/bpf.h` (padding fields
    /// this crate adds start with `_pad`).
    pub name: &'static str,
    /// Byte offset from the start of the struct.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

impl FieldLayout {
    /// Whether this is a padding field added to make every byte explicit.
    pub fn is_padding(&self) -> bool {
        self.name.starts_with("_pad")
    }
}

/// A `#[repr(C)]` mirror of a kernel UAPI struct.
///
/// Every byte belongs to a field (explicit `_pad*` fields, zero by
/// construction), so the whole value can be handed to the kernel.
pub trait UapiStruct:
    zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + zerocopy::KnownLayout + Sized
{
    /// Which kernel definition this mirrors, e.g. `bpf_prog_info`,
    /// `bpf_attr:prog_type` (the anonymous struct of `union bpf_attr`
    /// that has a member `prog_type`) or `bpf_attr.link_create.tcx`.
    const KERNEL_NAME: &'static str;
    /// Every field in declaration order, padding included.
    const FIELDS: &'static [FieldLayout];

    /// The field called `name`, if any.
    fn field(name: &str) -> Option<FieldLayout> {
        Self::FIELDS.iter().copied().find(|f| f.name == name)
    }
}

/// `r#type` -> `type`.
pub(crate) const fn strip_raw(s: &'static str) -> &'static str {
    let b = s.as_bytes();
    if b.len() > 2 && b[0] == b'r' && b[1] == b'#' {
        let (_, rest) = b.split_at(2);
        match core::str::from_utf8(rest) {
            Ok(r) => r,
            Err(_) => s,
        }
    } else {
        s
    }
}

/// Defines a `#[repr(C)]` zerocopy struct and its [`UapiStruct`] table.
macro_rules! uapi_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $kname:literal {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq,
            zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
        pub struct $name {
            $( $(#[$fmeta])* $fvis $field: $fty, )*
        }

        impl Default for $name {
            /// All bytes zero.
            fn default() -> Self {
                <Self as zerocopy::FromZeros>::new_zeroed()
            }
        }

        impl $crate::layout::UapiStruct for $name {
            const KERNEL_NAME: &'static str = $kname;
            const FIELDS: &'static [$crate::layout::FieldLayout] = &[
                $( $crate::layout::FieldLayout {
                    name: $crate::layout::strip_raw(stringify!($field)),
                    offset: core::mem::offset_of!($name, $field),
                    size: core::mem::size_of::<$fty>(),
                }, )*
            ];
        }
    };
}

pub(crate) use uapi_struct;

#[cfg(test)]
mod tests {
    use super::*;

    uapi_struct! {
        /// A test struct.
        pub struct T = "t" {
            /// a
            pub r#type: u32,
            _pad0: [u8; 4],
            /// b
            pub b: u64,
        }
    }

    #[test]
    fn table_lists_every_field_with_offsets() {
        assert_eq!(
            T::FIELDS,
            &[
                FieldLayout {
                    name: "type",
                    offset: 0,
                    size: 4
                },
                FieldLayout {
                    name: "_pad0",
                    offset: 4,
                    size: 4
                },
                FieldLayout {
                    name: "b",
                    offset: 8,
                    size: 8
                },
            ]
        );
        assert!(T::FIELDS[1].is_padding());
        assert_eq!(T::field("b").map(|f| f.offset), Some(8));
        assert_eq!(
            T::default(),
            T {
                r#type: 0,
                _pad0: [0; 4],
                b: 0
            }
        );
    }
}
