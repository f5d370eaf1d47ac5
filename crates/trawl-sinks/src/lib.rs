//! Event sinks: CSV, JSON lines, SQLite (see issue 2).
