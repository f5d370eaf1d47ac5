//! Whois client and parser (see issue 7).
