//! ICMP errors of UDP sends (Linux `IP_RECVERR`, `IPV6_RECVERR`): the
//! destinations a port or host unreachable came back for, read from the
//! socket's error queue. Elsewhere nothing is reported.

use std::net::{SocketAddr, UdpSocket};

/// Sends `bytes` to `dest`. With `IP_RECVERR` the system reports an ICMP
/// error on the next call on the socket, whatever its destination: a send
/// failing that way is told of an earlier datagram (whose destination the
/// error queue names), so it is tried once more.
pub(crate) fn send_to(
    socket: &UdpSocket,
    bytes: &[u8],
    dest: SocketAddr,
) -> std::io::Result<usize> {
    match socket.send_to(bytes, dest) {
        Err(e) if is_unreachable(&e) => socket.send_to(bytes, dest),
        result => result,
    }
}

fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable
    )
}

/// Error-queue entries read per call at most.
#[cfg(target_os = "linux")]
const MAX_ERRORS: usize = 64;

/// Asks the system to queue ICMP errors on `socket`, with their destination.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn enable(socket: &socket2::Socket, v6: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (level, name) = if v6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    let one: libc::c_int = 1;
    // SAFETY: a valid descriptor, and a pointer to an int with its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The destinations of the datagrams ICMP said are unreachable (port,
/// host or network), from the error queue, which this empties.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn take_unreachable(socket: &UdpSocket) -> Vec<SocketAddr> {
    use std::os::fd::AsRawFd;
    let mut found = Vec::new();
    for _ in 0..MAX_ERRORS {
        // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
        let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut data = [0u8; 64];
        // u64s: the control buffer must be aligned for cmsghdr.
        let mut control = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` points to a live buffer of the
        // length given.
        let n = unsafe {
            libc::recvmsg(
                socket.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            break;
        }
        let mut errno = None;
        // SAFETY: `msg` was filled by recvmsg; the CMSG macros walk its
        // control buffer within `msg_controllen`.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            let header = unsafe { &*cmsg };
            let recverr = (header.cmsg_level == libc::SOL_IP
                && header.cmsg_type == libc::IP_RECVERR)
                || (header.cmsg_level == libc::SOL_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
            if recverr {
                let err: libc::sock_extended_err = unsafe {
                    std::ptr::read_unaligned(
                        libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>(),
                    )
                };
                if err.ee_origin == libc::SO_EE_ORIGIN_ICMP
                    || err.ee_origin == libc::SO_EE_ORIGIN_ICMP6
                {
                    errno = Some(err.ee_errno as i32);
                }
            }
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
        let unreachable = matches!(
            errno,
            Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN)
        );
        if let (true, Some(addr)) = (unreachable, socket_addr(&name)) {
            found.push(addr);
        }
    }
    found
}

/// The address recvmsg wrote in `name`: IPv4 or IPv6, else `None`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned((name as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 =
                unsafe { std::ptr::read_unaligned((name as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn enable(_socket: &socket2::Socket, _v6: bool) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn take_unreachable(_socket: &UdpSocket) -> Vec<SocketAddr> {
    Vec::new()
}
