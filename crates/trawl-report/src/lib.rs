//! Honeypot analytics (see issue 4).
