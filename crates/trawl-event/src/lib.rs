//! Event model: login attempts and sessions (see issue 2).
