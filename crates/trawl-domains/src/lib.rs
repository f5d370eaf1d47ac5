//! Lookalike-domain engine (see issue 5).
