//! A small rtnetlink client: one `NETLINK_ROUTE` socket, requests built
//! attribute by attribute, acknowledgements and dumps read back.
//!
//! It is what legacy tc attachment (a `clsact` qdisc and a `cls_bpf`
//! filter in direct-action mode) and network device set-up need; the
//! message formats are those of `include/uapi/linux/netlink.h`,
//! `rtnetlink.h` and `pkt_sched.h`/`pkt_cls.h`.
//!
//! The socket belongs to the network namespace of the thread that opened
//! it: every request made through it applies there, whichever thread
//! makes it later.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::error::{Error, Result};

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multi-message answer ending in `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: answer with an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_ECHO`: send the created object back.
pub const NLM_F_ECHO: u16 = 0x8;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_REPLACE`: replace an existing object.
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_EXCL`: fail if the object exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`: create the object if missing.
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 1 << 15;

const HDR_LEN: usize = 16;
/// `NETLINK_EXT_ACK` (socket option of `SOL_NETLINK`).
const NETLINK_EXT_ACK: u32 = 11;
/// `NLM_F_ACK_TLVS`: the error message carries attributes.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`.
const NLMSGERR_ATTR_MSG: u16 = 1;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink request under construction: header, family header, then
/// attributes (possibly nested).
#[derive(Clone, Debug)]
pub struct NlMsg {
    buf: Vec<u8>,
}

/// An open nested attribute, closed by [`NlMsg::end_nested`].
#[derive(Debug)]
#[must_use = "close the nest with NlMsg::end_nested"]
pub struct Nest(usize);

impl NlMsg {
    /// A message of `msg_type` (`RTM_NEWQDISC`...) with `flags`
    /// (`NLM_F_REQUEST` is added) and the family header `header`
    /// (`struct tcmsg`, `struct ifinfomsg`...).
    pub fn new(msg_type: u16, flags: u16, header: &[u8]) -> NlMsg {
        let mut buf = vec![0u8; HDR_LEN];
        buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(header);
        buf.resize(align4(buf.len()), 0);
        NlMsg { buf }
    }

    /// Appends attribute `ty` with `data`.
    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.buf
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    /// Appends a `u32` attribute.
    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(ty, &data)
    }

    /// Opens nested attribute `ty`; attributes appended until
    /// [`NlMsg::end_nested`] go inside it.
    pub fn begin_nested(&mut self, ty: u16) -> Nest {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        Nest(at)
    }

    /// Closes a nest: writes its length.
    pub fn end_nested(&mut self, nest: Nest) -> &mut Self {
        let len = self.buf.len() - nest.0;
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf[nest.0..nest.0 + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The message type.
    pub fn msg_type(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    /// The finished bytes, with length and sequence number set.
    pub fn finish(&mut self, seq: u32) -> Result<&[u8]> {
        let len = u32::try_from(self.buf.len())
            .map_err(|_| Error::invalid("netlink message larger than 4 GiB"))?;
        if self.buf.len() > u16::MAX as usize * 4 {
            return Err(Error::invalid(format!(
                "netlink message of {} bytes",
                self.buf.len()
            )));
        }
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        Ok(&self.buf)
    }
}

/// The attributes `(type without flags, payload)` of `bytes`, stopping at
/// the first malformed one.
pub fn attrs(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if bytes.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        let ty = u16::from_ne_bytes([bytes[2], bytes[3]]) & !(NLA_F_NESTED | 1 << 14);
        if len < 4 || len > bytes.len() {
            return None;
        }
        let payload = &bytes[4..len];
        bytes = &bytes[align4(len).min(bytes.len())..];
        Some((ty, payload))
    })
}

/// Turns on `NETLINK_EXT_ACK`, best effort: without it, refusals come
/// without the kernel's message.
fn set_ext_ack(fd: &OwnedFd) {
    const SOL_NETLINK: libc::c_int = 270;
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket; the option value is a live c_int
    // whose size is passed, which the kernel only reads.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_NETLINK,
            NETLINK_EXT_ACK as libc::c_int,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        log::debug!(target: "oxbpf::syscalls", "NETLINK_EXT_ACK not available");
    }
}

/// A reply message: its type and what follows the netlink header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NlReply {
    /// `nlmsg_type`.
    pub msg_type: u16,
    /// The family header and attributes.
    pub payload: Vec<u8>,
}

/// A `NETLINK_ROUTE` socket.
#[derive(Debug)]
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn io_err(what: &'static str, errno: rustix::io::Errno) -> Error {
    Error::Io {
        what,
        path: PathBuf::from("(rtnetlink socket)"),
        source: std::io::Error::from_raw_os_error(errno.raw_os_error()),
    }
}

impl Netlink {
    /// Opens and binds a route socket in the calling thread's network
    /// namespace, with extended acknowledgements on (so that refusals are
    /// logged with the kernel's reason).
    pub fn route() -> Result<Netlink> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None, // NETLINK_ROUTE is protocol 0
        )
        .map_err(|e| io_err("opening", e))?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, 0)).map_err(|e| io_err("binding", e))?;
        set_ext_ack(&fd);
        // Never hand out fds 0..=2 (see the crate docs).
        let fd = if fd.as_raw_fd() <= 2 {
            rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| io_err("duplicating", e))?
        } else {
            fd
        };
        Ok(Netlink { fd, seq: 1 })
    }

    /// Sends `msg` and reads the answer to the end: the acknowledgement
    /// (requests with `NLM_F_ACK`) or `NLMSG_DONE` (dumps). Returns the
    /// data messages received before it; a negative acknowledgement is an
    /// error with its errno (the kernel's extended message is logged).
    pub fn request(&mut self, what: &'static str, msg: &mut NlMsg) -> Result<Vec<NlReply>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq)?;
        let sent = rustix::net::sendto(
            &self.fd,
            bytes,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )
        .map_err(|e| io_err(what, e))?;
        if sent != bytes.len() {
            return Err(io_err(what, rustix::io::Errno::MSGSIZE));
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())
                .map_err(|e| io_err(what, e))?;
            let mut data = &buf[..n];
            while data.len() >= HDR_LEN {
                let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
                if len < HDR_LEN || len > data.len() {
                    return Err(Error::invalid(format!(
                        "{what}: malformed netlink reply (length {len} of {} bytes)",
                        data.len()
                    )));
                }
                let ty = u16::from_ne_bytes([data[4], data[5]]);
                let flags = u16::from_ne_bytes([data[6], data[7]]);
                let rseq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
                let payload = &data[HDR_LEN..len];
                data = &data[align4(len).min(data.len())..];
                if rseq != seq {
                    continue; // an answer to an earlier request
                }
                match ty {
                    NLMSG_ERROR => {
                        if payload.len() < 4 {
                            return Err(Error::invalid(format!("{what}: short NLMSG_ERROR")));
                        }
                        let code =
                            i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        if code == 0 {
                            return Ok(out);
                        }
                        if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 4 + HDR_LEN {
                            // The request's header follows the code, then
                            // the attributes.
                            for (t, v) in attrs(&payload[4 + HDR_LEN..]) {
                                if t == NLMSGERR_ATTR_MSG {
                                    let m = String::from_utf8_lossy(v);
                                    log::debug!(target: "oxbpf::syscalls", "{what}: {}", m.trim_end_matches('\0'));
                                }
                            }
                        }
                        return Err(io_err(what, crate::errno_from_raw(-code)));
                    }
                    NLMSG_DONE => return Ok(out),
                    _ => out.push(NlReply {
                        msg_type: ty,
                        payload: payload.to_vec(),
                    }),
                }
            }
        }
    }
}

/// The index of network interface `name` in the calling thread's network
/// namespace (`SIOCGIFINDEX`).
pub fn ifindex(name: &str) -> Result<u32> {
    if name.is_empty() || name.len() >= 16 || name.contains(['/', '\0']) {
        return Err(Error::invalid(format!("interface name {name:?}")));
    }
    let sock = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| io_err("opening a socket for", e))?;
    rustix::net::netdevice::name_to_index(&sock, name).map_err(|e| Error::Io {
        what: "looking up the index of interface",
        path: PathBuf::from(name),
        source: std::io::Error::from_raw_os_error(e.raw_os_error()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_nests_are_laid_out_aligned() {
        let mut m = NlMsg::new(36, NLM_F_ACK, &[1, 2, 3]);
        m.attr_str(1, "bpf");
        let n = m.begin_nested(2);
        m.attr_u32(6, 7);
        m.end_nested(n);
        let b = m.finish(9).unwrap().to_vec();
        assert_eq!(b.len(), 16 + 4 + 8 + 4 + 8);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_ACK | NLM_F_REQUEST);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 9);
        let a: Vec<_> = attrs(&b[20..]).collect();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0], (1, &b"bpf\0"[..]));
        assert_eq!(a[1].0, 2);
        let inner: Vec<_> = attrs(a[1].1).collect();
        assert_eq!(inner, [(6, &7u32.to_ne_bytes()[..])]);
    }

    #[test]
    fn malformed_attributes_end_the_iteration() {
        assert_eq!(attrs(&[0xFF, 0, 1, 0]).count(), 0);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        assert_eq!(attrs(&[]).count(), 0);
    }

    #[test]
    fn interface_indexes() {
        assert_eq!(ifindex("lo").unwrap(), 1);
        assert!(ifindex("oxbpf-none0").is_err());
        assert!(ifindex("a/b").is_err());
    }

    #[test]
    fn a_refused_request_is_an_errno() {
        let mut nl = Netlink::route().unwrap();
        // RTM_GETLINK of an interface index that cannot exist.
        let mut ifinfo = [0u8; 16];
        ifinfo[4..8].copy_from_slice(&i32::MAX.to_ne_bytes());
        let err = nl
            .request("RTM_GETLINK", &mut NlMsg::new(18, NLM_F_ACK, &ifinfo))
            .unwrap_err();
        assert_eq!(err.errno(), Some(rustix::io::Errno::NODEV), "{err}");
        // The loopback device (index 1) exists in every namespace.
        ifinfo[4..8].copy_from_slice(&1i32.to_ne_bytes());
        let replies = nl
            .request("RTM_GETLINK", &mut NlMsg::new(18, NLM_F_ACK, &ifinfo))
            .unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].msg_type, 16); // RTM_NEWLINK
    }
}
