//! SIP capture: a copy of every message received and sent, with its
//! addresses and time, for a Homer collector, in HEP version 3 (also
//! called EEP, [`hep`]) over UDP (`docs/metrics.md`, "Capture").
//!
//! Copies leave in batches ([`batch`]), one `sendmmsg` each: at once when
//! a batch is full, else from the stack's timers within
//! [`batch::MAX_WAIT`] (and 10 ms) of its oldest copy, and when the stack
//! stops. Sends never wait: the socket is non-blocking, and copies the
//! system cannot take at once are dropped and counted, never queued.

mod batch;
mod hep;

use crate::hub::{lock, Shared};
use crate::stats::Counters;
use batch::Batch;
use drachtio_sip::transaction::Transport;
use hep::Packet;
use socket2::SockAddr;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where and how to send the copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// The collector's UDP address.
    pub collector: SocketAddr,
    /// The capture agent id each packet carries, which tells the collector
    /// which server the copy came from.
    pub agent_id: u32,
    /// The collector's password, sent in each packet when set.
    pub password: Option<String>,
}

/// The socket copies leave from, what each carries, and the batch waiting.
#[derive(Debug)]
pub(crate) struct Capture {
    socket: UdpSocket,
    /// The collector's address, as the system takes it.
    collector: SockAddr,
    config: CaptureConfig,
    batch: Mutex<Batch>,
}

impl Capture {
    /// A non-blocking socket of the collector's address family.
    pub(crate) fn open(config: CaptureConfig) -> std::io::Result<Capture> {
        let any: SocketAddr = if config.collector.is_ipv6() {
            "[::]:0".parse().expect("address")
        } else {
            "0.0.0.0:0".parse().expect("address")
        };
        let socket = UdpSocket::bind(any)?;
        socket.set_nonblocking(true)?;
        Ok(Capture {
            socket,
            collector: SockAddr::from(config.collector),
            config,
            batch: Mutex::new(Batch::default()),
        })
    }

    /// Adds a copy of `payload`, which went from `src` to `dst` over
    /// `transport` at `now` (the copy carries the wall clock's time), to
    /// the batch, and sends the batch when that makes it full. Returns the
    /// batch's deadline when this copy is the first of a batch.
    pub(crate) fn record(
        &self,
        counters: &Counters,
        now: Instant,
        transport: Transport,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Option<Instant> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let packet = Packet {
            transport,
            src,
            dst,
            time: (since_epoch.as_secs() as u32, since_epoch.subsec_micros()),
            agent_id: self.config.agent_id,
            password: self.config.password.as_deref(),
            payload,
        };
        let mut batch = lock(&self.batch);
        let first = batch.is_empty();
        if batch.push(now, &packet) {
            self.send(counters, &mut batch);
            return None;
        }
        if first {
            batch.deadline()
        } else {
            None
        }
    }

    /// Sends the batch if it is due at `now`.
    pub(crate) fn flush_due(&self, counters: &Counters, now: Instant) {
        let mut batch = lock(&self.batch);
        if batch.is_due(now) {
            self.send(counters, &mut batch);
        }
    }

    /// When the batch waiting is due; `None` when nothing waits.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        lock(&self.batch).deadline()
    }

    /// Sends whatever waits.
    pub(crate) fn flush(&self, counters: &Counters) {
        self.send(counters, &mut lock(&self.batch));
    }

    /// Sends the batch, counts what left and what was dropped, and empties it.
    fn send(&self, counters: &Counters, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        let sent = send_all(&self.socket, &self.collector, batch);
        let dropped = batch.len() - sent;
        counters.capture_sent.fetch_add(sent as u64, Relaxed);
        counters.capture_failed.fetch_add(dropped as u64, Relaxed);
        batch.clear();
    }
}

/// Sends the packets of `batch` to `dest`, as many per `sendmmsg` as it
/// takes, in order; stops at the first the system refuses (a full buffer
/// refuses the rest too; so does a bad destination). Returns how many left.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn send_all(socket: &UdpSocket, dest: &SockAddr, batch: &Batch) -> usize {
    use std::os::fd::AsRawFd;
    let mut iovecs: Vec<libc::iovec> = batch
        .packets()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr().cast_mut().cast(),
            iov_len: p.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: all-zero is a valid mmsghdr.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_name = dest.as_ptr().cast_mut().cast();
            header.msg_hdr.msg_namelen = dest.len();
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            header
        })
        .collect();
    let mut sent = 0;
    while sent < headers.len() {
        let rest = &mut headers[sent..];
        // SAFETY: each header points to `dest` and to one iovec, which
        // points into `batch`; all outlive the call, and `rest.len()`
        // headers follow the pointer.
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                rest.as_mut_ptr(),
                rest.len() as libc::c_uint,
                0,
            )
        };
        match n {
            n if n > 0 => sent += n as usize,
            -1 if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    sent
}

/// [`send_all`] one packet at a time, where `sendmmsg` is missing.
#[cfg(not(target_os = "linux"))]
fn send_all(socket: &UdpSocket, dest: &SockAddr, batch: &Batch) -> usize {
    let Some(dest) = dest.as_socket() else {
        return 0;
    };
    batch
        .packets()
        .take_while(|p| socket.send_to(p, dest).is_ok())
        .count()
}

impl Shared {
    /// Copies `payload`, which went from `src` to `dst` over `transport`
    /// just now, to the collector when capture is on. The copy that starts
    /// a batch wakes the stack's timers when they would wake later than
    /// the batch's deadline.
    pub(crate) fn capture(
        &self,
        transport: Transport,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) {
        let Some(capture) = &self.capture else {
            return;
        };
        let deadline = capture.record(&self.counters, Instant::now(), transport, src, dst, payload);
        if let Some(deadline) = deadline {
            // Under the lock the timers are armed with: see `capture_deadline`.
            let armed = lock(&self.core).armed;
            if armed.map_or(true, |armed| deadline < armed) {
                self.wake.notify_one();
            }
        }
    }

    /// Sends the copies due at `now` (the stack's timers).
    pub(crate) fn flush_capture(&self, now: Instant) {
        if let Some(capture) = &self.capture {
            capture.flush_due(&self.counters, now);
        }
    }

    /// When the copies waiting are due. The timers read it with the core
    /// locked, where they store when they will wake: a copy that starts a
    /// batch meanwhile then sees them as they are armed.
    pub(crate) fn capture_deadline(&self) -> Option<Instant> {
        self.capture.as_ref().and_then(Capture::deadline)
    }

    /// Sends every copy still waiting: the stack stops.
    pub(crate) fn flush_all_captures(&self) {
        if let Some(capture) = &self.capture {
            capture.flush(&self.counters);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A collector: a bound UDP socket that reads what it was sent.
    fn collector() -> (UdpSocket, CaptureConfig) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let config = CaptureConfig {
            collector: socket.local_addr().unwrap(),
            agent_id: 7,
            password: None,
        };
        (socket, config)
    }

    fn record(
        capture: &Capture,
        counters: &Counters,
        now: Instant,
        payload: &[u8],
    ) -> Option<Instant> {
        capture.record(
            counters,
            now,
            Transport::Udp,
            "127.0.0.1:5060".parse().unwrap(),
            "127.0.0.1:5070".parse().unwrap(),
            payload,
        )
    }

    /// The messages of the next `n` packets the collector reads.
    fn received(socket: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        (0..n)
            .map(|_| {
                let len = socket.recv(&mut buf).unwrap();
                hep::chunks(&buf[..len]).pop().unwrap().1
            })
            .collect()
    }

    fn counts(counters: &Counters) -> (u64, u64) {
        (
            counters.capture_sent.load(Relaxed),
            counters.capture_failed.load(Relaxed),
        )
    }

    #[test]
    fn a_full_batch_leaves_at_once_in_order() {
        let (socket, config) = collector();
        let capture = Capture::open(config).unwrap();
        let counters = Counters::default();
        let t0 = Instant::now();
        let messages: Vec<Vec<u8>> = (0..batch::MAX_COPIES)
            .map(|i| format!("message {i}").into_bytes())
            .collect();
        assert_eq!(
            record(&capture, &counters, t0, &messages[0]),
            Some(t0 + batch::MAX_WAIT)
        );
        for m in &messages[1..] {
            assert_eq!(record(&capture, &counters, t0, m), None);
        }
        assert_eq!(counts(&counters), (batch::MAX_COPIES as u64, 0));
        assert_eq!(received(&socket, batch::MAX_COPIES), messages);
        // Nothing waits: the timers have nothing to send.
        assert_eq!(capture.deadline(), None);
    }

    #[test]
    fn a_batch_not_full_leaves_when_its_wait_is_over() {
        let (socket, config) = collector();
        let capture = Capture::open(config).unwrap();
        let counters = Counters::default();
        let t0 = Instant::now();
        let deadline = record(&capture, &counters, t0, b"one").unwrap();
        assert_eq!(
            record(&capture, &counters, t0 + Duration::from_millis(5), b"two"),
            None
        );
        capture.flush_due(&counters, deadline - Duration::from_nanos(1));
        assert_eq!(counts(&counters), (0, 0));
        assert_eq!(capture.deadline(), Some(deadline));
        capture.flush_due(&counters, deadline);
        assert_eq!(counts(&counters), (2, 0));
        assert_eq!(capture.deadline(), None);
        assert_eq!(received(&socket, 2), [b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn copies_still_waiting_leave_when_flushed() {
        let (socket, config) = collector();
        let capture = Capture::open(config).unwrap();
        let counters = Counters::default();
        record(&capture, &counters, Instant::now(), b"last");
        capture.flush(&counters);
        assert_eq!(counts(&counters), (1, 0));
        assert_eq!(received(&socket, 1), [b"last".to_vec()]);
    }

    #[test]
    fn copies_the_system_refuses_are_dropped_and_counted() {
        // Broadcast without SO_BROADCAST: the system refuses every send.
        let capture = Capture::open(CaptureConfig {
            collector: "255.255.255.255:9060".parse().unwrap(),
            agent_id: 7,
            password: None,
        })
        .unwrap();
        let counters = Counters::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            record(&capture, &counters, t0, b"x");
        }
        capture.flush_due(&counters, t0 + batch::MAX_WAIT);
        assert_eq!(counts(&counters), (0, 3));
        // The batch was emptied: the next copy starts a new one.
        assert!(record(&capture, &counters, t0, b"y").is_some());
    }
}
