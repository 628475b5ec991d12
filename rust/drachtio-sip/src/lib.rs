//! The sans-IO SIP message core of drachtio: parser, serializer, stream
//! framer, typed header views, URIs and the JSON form of messages.
//!
//! No sockets, no clock, no Python: everything here is a pure function of its
//! inputs and is tested with `cargo test` alone.

#![warn(missing_docs)]

pub mod error;
pub mod fields;
pub mod framer;
pub mod header;
pub mod json;
pub mod message;
mod parse;
pub mod proxy;
pub mod routing;
mod scan;
mod serialize;
pub mod text;
pub mod transaction;
pub mod transport;
pub mod typed;
pub mod uri;

pub use error::{ParseError, ParseErrorKind};
pub use fields::{
    parse_delta_seconds, Auth, AuthParam, Challenge, ChallengeKind, Credentials, CredentialsKind,
    EventHeader, MediaType, MinSe, OptionTags, RAck, RSeq, Refresher, SessionExpires,
    SubscriptionState, Substate,
};
pub use framer::{FrameLimits, StreamFramer, StreamItem};
pub use header::{is_header_value, Header, HeaderName, Headers};
pub use message::{is_reason_phrase, reason_phrase, Message, Method, Request, Response};
pub use parse::{parse, parse_bytes};
pub use scan::{split_list, unescape};
pub use text::Text;
pub use transport::{Transport, TransportError};
pub use typed::{CSeq, Contact, NameAddr, Via};
pub use uri::{Host, HostKind, Param, SipUri, TelUri, Uri};
