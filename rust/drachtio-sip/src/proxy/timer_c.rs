//! Timer C of a proxied INVITE (RFC 3261 §16.6 item 11, §16.7 step 2,
//! §16.8): a proxy core's timer, one per client transaction it forwards an
//! INVITE in, that ends a branch whose callee rings for ever.

use std::time::{Duration, Instant};

/// What Timer C asks of the proxy core when it fires (§16.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerCExpiry {
    /// The branch had a provisional response: CANCEL it.
    Cancel,
    /// It had none: act as if it had received 408 (Request Timeout).
    RequestTimeout,
}

/// Timer C of one client transaction, sans-IO: every call takes `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerC {
    duration: Duration,
    deadline: Option<Instant>,
    provisional: bool,
}

impl TimerC {
    /// The shortest Timer C: it "MUST be larger than 3 minutes" (§16.6).
    pub const MIN: Duration = Duration::from_secs(180);

    /// The default: 3 minutes and 5 seconds.
    pub const DEFAULT: Duration = Duration::from_secs(185);

    /// Armed when the INVITE is forwarded, at `now`. `duration` must be
    /// over [`TimerC::MIN`]; `None` when it is not.
    pub fn start(now: Instant, duration: Duration) -> Option<TimerC> {
        (duration > TimerC::MIN).then_some(TimerC {
            duration,
            deadline: Some(now + duration),
            provisional: false,
        })
    }

    /// A response of the branch arrived at `now` (§16.7 step 2): a
    /// provisional response other than 100 resets the timer; a final one
    /// stops it.
    pub fn on_response(&mut self, now: Instant, status: u16) {
        if self.deadline.is_none() {
            return;
        }
        match status {
            100 => self.provisional = true,
            101..=199 => {
                self.provisional = true;
                self.deadline = Some(now + self.duration);
            }
            _ => self.deadline = None,
        }
    }

    /// When [`TimerC::handle_timeout`] must be called; `None` once stopped
    /// or fired.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// What to do, if the timer has fired by `now`. It fires once.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerCExpiry> {
        let deadline = self.deadline?;
        if now < deadline {
            return None;
        }
        self.deadline = None;
        Some(if self.provisional {
            TimerCExpiry::Cancel
        } else {
            TimerCExpiry::RequestTimeout
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Duration = TimerC::DEFAULT;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rfc3261_s16_6_timer_c_is_over_three_minutes() {
        let now = Instant::now();
        assert!(TimerC::start(now, secs(180)).is_none());
        assert!(TimerC::start(now, secs(60)).is_none());
        let c = TimerC::start(now, C).unwrap();
        assert_eq!(c.poll_timeout(), Some(now + C));
    }

    #[test]
    fn rfc3261_s16_8_no_provisional_acts_as_408() {
        let t0 = Instant::now();
        let mut c = TimerC::start(t0, C).unwrap();
        assert_eq!(c.handle_timeout(t0 + C - secs(1)), None);
        assert_eq!(c.handle_timeout(t0 + C), Some(TimerCExpiry::RequestTimeout));
        // It fires once.
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + C * 2), None);
    }

    #[test]
    fn rfc3261_s16_7_step2_provisional_but_100_resets_and_expiry_cancels() {
        let t0 = Instant::now();
        let mut c = TimerC::start(t0, C).unwrap();
        // 100 Trying does not reset the timer, but a CANCEL may follow it.
        c.on_response(t0 + secs(1), 100);
        assert_eq!(c.poll_timeout(), Some(t0 + C));
        assert_eq!(c.handle_timeout(t0 + C), Some(TimerCExpiry::Cancel));

        let mut c = TimerC::start(t0, C).unwrap();
        c.on_response(t0 + secs(100), 180);
        assert_eq!(c.poll_timeout(), Some(t0 + secs(100) + C));
        assert_eq!(c.handle_timeout(t0 + C), None);
        c.on_response(t0 + secs(250), 183);
        assert_eq!(c.handle_timeout(t0 + secs(250) + C - secs(1)), None);
        assert_eq!(
            c.handle_timeout(t0 + secs(250) + C),
            Some(TimerCExpiry::Cancel)
        );
    }

    #[test]
    fn rfc3261_s16_7_a_final_response_stops_timer_c() {
        let t0 = Instant::now();
        for status in [200, 486, 603] {
            let mut c = TimerC::start(t0, C).unwrap();
            c.on_response(t0 + secs(1), 180);
            c.on_response(t0 + secs(2), status);
            assert_eq!(c.poll_timeout(), None);
            assert_eq!(c.handle_timeout(t0 + C * 10), None);
            // A late provisional does not re-arm it.
            c.on_response(t0 + secs(3), 180);
            assert_eq!(c.poll_timeout(), None);
        }
    }
}
