//! Sensor runtime and protocol sources (see issue 2).
