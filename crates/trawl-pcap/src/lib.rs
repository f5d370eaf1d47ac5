//! Network IOCs from packet captures (see issue 6).
