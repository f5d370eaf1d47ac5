//! One module per subcommand; each owns its flags and its output.

pub mod crack;
pub mod dga;
pub mod domains;
pub mod pcap;
pub mod report;
pub mod sensor;
pub mod watch;
pub mod whois;
