//! Read-only views of the headers beyond the core routing set: Content-Type,
//! RAck, Session-Expires, authentication credentials and challenges, Event
//! and Subscription-State. Like those in `views`, each wraps the core's value
//! and is built from a header value, either by a message property or by its
//! constructor.

use crate::errors::IntoPyResult;
use crate::views::{param_list, param_value, view_methods, ParamList};
use drachtio_sip::{
    AuthParam, Challenge, Credentials, EventHeader, MediaType, RAck, SessionExpires,
    SubscriptionState, Text,
};
use pyo3::prelude::*;

fn auth_params(params: &[AuthParam]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect()
}

/// A media type: the value of Content-Type (RFC 3261 §20.15).
#[pyclass(name = "MediaType", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyMediaType {
    pub(crate) media: MediaType,
}

view_methods!(PyMediaType, media, "MediaType", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyMediaType {
            media: MediaType::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The type as written: `application` in `application/sdp`.
    #[getter]
    fn maintype(&self) -> &str {
        &self.media.mtype
    }

    /// The subtype as written: `sdp` in `application/sdp`.
    #[getter]
    fn subtype(&self) -> &str {
        &self.media.subtype
    }

    /// `type/subtype` in lower case, parameters left out: compare with this.
    #[getter]
    fn essence(&self) -> String {
        self.media.essence()
    }

    /// The parameters in order, values as written (quotes kept).
    #[getter]
    fn params(&self) -> Vec<(&str, &str)> {
        self.media
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_deref().unwrap_or_default()))
            .collect()
    }

    /// A parameter's value without quotes (any case), e.g. `boundary`.
    fn param(&self, name: &str) -> Option<String> {
        self.media.param(name)
    }
});

/// The RAck header of a PRACK (RFC 3262 §7.2).
#[pyclass(name = "RAck", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyRAck {
    pub(crate) rack: RAck,
}

view_methods!(PyRAck, rack, "RAck", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyRAck {
            rack: RAck::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The RSeq of the acknowledged provisional response.
    #[getter]
    fn response_num(&self) -> u32 {
        self.rack.response_num
    }

    /// The CSeq number of the acknowledged response.
    #[getter]
    fn cseq_num(&self) -> u32 {
        self.rack.cseq_num
    }

    /// The CSeq method of the acknowledged response.
    #[getter]
    fn method(&self) -> &str {
        self.rack.method.as_str()
    }
});

/// The Session-Expires header (RFC 4028 §4).
#[pyclass(name = "SessionExpires", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PySessionExpires {
    pub(crate) se: SessionExpires,
}

view_methods!(PySessionExpires, se, "SessionExpires", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PySessionExpires {
            se: SessionExpires::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The session interval in seconds.
    #[getter]
    fn delta(&self) -> u32 {
        self.se.delta
    }

    /// `uac` or `uas`; `None` when the refresher parameter is absent.
    #[getter]
    fn refresher(&self) -> Option<&'static str> {
        self.se.refresher.map(|r| r.as_str())
    }

    /// The other parameters, in order.
    #[getter]
    fn params(&self) -> ParamList<'_> {
        param_list(&self.se.params)
    }

    /// Another parameter's value (any case): `""` for a flag, `None` when absent.
    fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.se.params, name)
    }
});

/// The value of Authorization or Proxy-Authorization (RFC 3261 §22.4).
#[pyclass(name = "Credentials", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyCredentials {
    pub(crate) creds: Credentials,
}

view_methods!(PyCredentials, creds, "Credentials", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyCredentials {
            creds: Credentials::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The scheme as written, e.g. `Digest`.
    #[getter]
    fn scheme(&self) -> &str {
        &self.creds.scheme
    }

    /// Whether the scheme is Digest (any case).
    #[getter]
    fn is_digest(&self) -> bool {
        self.creds.is_digest()
    }

    /// A single token in place of parameters (`Bearer <token>`, RFC 8898).
    #[getter]
    fn token68(&self) -> Option<&str> {
        self.creds.token68.as_deref()
    }

    /// The auth-params in order, values as written (quotes kept).
    #[getter]
    fn params(&self) -> Vec<(&str, &str)> {
        auth_params(&self.creds.params)
    }

    /// A parameter's value without quotes (any case).
    fn param(&self, name: &str) -> Option<String> {
        self.creds.param(name)
    }

    /// The `username` parameter.
    #[getter]
    fn username(&self) -> Option<String> {
        self.creds.username()
    }

    /// The `realm` parameter.
    #[getter]
    fn realm(&self) -> Option<String> {
        self.creds.realm()
    }

    /// The `nonce` parameter.
    #[getter]
    fn nonce(&self) -> Option<String> {
        self.creds.nonce()
    }

    /// The `uri` parameter (the digest-uri).
    #[getter]
    fn uri(&self) -> Option<String> {
        self.creds.uri()
    }

    /// The `response` parameter (the request digest).
    #[getter]
    fn response(&self) -> Option<String> {
        self.creds.response()
    }
});

/// The value of WWW-Authenticate or Proxy-Authenticate (RFC 3261 §22.1).
#[pyclass(name = "Challenge", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyChallenge {
    pub(crate) challenge: Challenge,
}

view_methods!(PyChallenge, challenge, "Challenge", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyChallenge {
            challenge: Challenge::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The scheme as written, e.g. `Digest`.
    #[getter]
    fn scheme(&self) -> &str {
        &self.challenge.scheme
    }

    /// Whether the scheme is Digest (any case).
    #[getter]
    fn is_digest(&self) -> bool {
        self.challenge.is_digest()
    }

    /// A single token in place of parameters.
    #[getter]
    fn token68(&self) -> Option<&str> {
        self.challenge.token68.as_deref()
    }

    /// The auth-params in order, values as written (quotes kept).
    #[getter]
    fn params(&self) -> Vec<(&str, &str)> {
        auth_params(&self.challenge.params)
    }

    /// A parameter's value without quotes (any case).
    fn param(&self, name: &str) -> Option<String> {
        self.challenge.param(name)
    }

    /// The `realm` parameter.
    #[getter]
    fn realm(&self) -> Option<String> {
        self.challenge.realm()
    }

    /// The `nonce` parameter.
    #[getter]
    fn nonce(&self) -> Option<String> {
        self.challenge.nonce()
    }

    /// The `opaque` parameter.
    #[getter]
    fn opaque(&self) -> Option<String> {
        self.challenge.opaque()
    }

    /// The `algorithm` parameter (absent means MD5, RFC 2617 §3.2.1).
    #[getter]
    fn algorithm(&self) -> Option<String> {
        self.challenge.algorithm()
    }

    /// The qop options offered, e.g. `["auth", "auth-int"]`.
    #[getter]
    fn qop(&self) -> Vec<String> {
        self.challenge.qop()
    }

    /// Whether `stale=true`: the nonce expired, the credentials were right.
    #[getter]
    fn stale(&self) -> bool {
        self.challenge.stale()
    }
});

/// The Event header (RFC 6665 §8.2.1).
#[pyclass(name = "Event", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyEvent {
    pub(crate) event: EventHeader,
}

view_methods!(PyEvent, event, "Event", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyEvent {
            event: EventHeader::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The event type as written, e.g. `presence.winfo`.
    #[getter]
    fn event_type(&self) -> &str {
        &self.event.event_type
    }

    /// The event package: the event type up to the first dot, e.g. `presence`.
    #[getter]
    fn package(&self) -> &str {
        self.event.package()
    }

    /// The `id` parameter.
    #[getter]
    fn id(&self) -> Option<&str> {
        self.event.id.as_deref()
    }

    /// The other parameters, in order.
    #[getter]
    fn params(&self) -> ParamList<'_> {
        param_list(&self.event.params)
    }

    /// Another parameter's value (any case): `""` for a flag, `None` when absent.
    fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.event.params, name)
    }
});

/// The Subscription-State header of a NOTIFY (RFC 6665 §8.2.3).
#[pyclass(name = "SubscriptionState", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PySubscriptionState {
    pub(crate) sub: SubscriptionState,
}

view_methods!(PySubscriptionState, sub, "SubscriptionState", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PySubscriptionState {
            sub: SubscriptionState::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// `active`, `pending`, `terminated`, or an extension value as written.
    #[getter]
    fn state(&self) -> &str {
        self.sub.state.as_str()
    }

    /// The `reason` parameter, e.g. `timeout`.
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.sub.reason.as_deref()
    }

    /// The `expires` parameter: seconds left in the subscription.
    #[getter]
    fn expires(&self) -> Option<u32> {
        self.sub.expires
    }

    /// The `retry-after` parameter: seconds before subscribing again.
    #[getter]
    fn retry_after(&self) -> Option<u32> {
        self.sub.retry_after
    }

    /// The other parameters, in order.
    #[getter]
    fn params(&self) -> ParamList<'_> {
        param_list(&self.sub.params)
    }

    /// Another parameter's value (any case): `""` for a flag, `None` when absent.
    fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.sub.params, name)
    }
});
