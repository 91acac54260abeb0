//! The function library: parsers and comparisons behind `ip`, `timestamp`, `dnsName`,
//! `email`, `uri`, `matches`, `match`, `toLower`, and the canonical text of durations.

pub(crate) mod dns;
pub(crate) mod duration;
pub(crate) mod email;
pub(crate) mod ip;
pub(crate) mod regex;
pub(crate) mod text;
pub(crate) mod time;
pub(crate) mod uri;
