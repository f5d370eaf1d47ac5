//! The client half of Telnet option negotiation (RFC 854/855), answered the way netkit
//! telnet does it: the server's `WILL ECHO`/`WILL SGA` are accepted (`DO`), every other
//! offer refused (`DONT`), every request for a client option refused (`WONT`). Each
//! request is answered once, so a misbehaving server cannot start a loop. Without these
//! answers a server that waits for the client's reply before its prompt (BusyBox telnetd,
//! trawl) pays its whole negotiation timeout on every connection, which no real client
//! causes. Hand-written: the few bytes of state are smaller than any crate's API.

use std::collections::HashSet;

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const ECHO: u8 = 1;
const SGA: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Data,
    Iac,
    Command(u8),
    Sub,
    SubIac,
}

/// Incremental parser of the server's IAC sequences (they may be split across reads).
#[derive(Debug, Default)]
pub struct OptionAnswerer {
    state: State,
    answered: HashSet<(u8, u8)>,
}

impl OptionAnswerer {
    /// Reads `bytes` from the server and appends the client's answers to `reply`.
    pub fn feed(&mut self, bytes: &[u8], reply: &mut Vec<u8>) {
        for &byte in bytes {
            self.state = match (self.state, byte) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => State::Data,
                (State::Iac, WILL | WONT | DO | DONT) => State::Command(byte),
                (State::Iac, SB) => State::Sub,
                (State::Iac, _) => State::Data,
                (State::Command(command), option) => {
                    self.answer(command, option, reply);
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => State::Sub,
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
    }

    fn answer(&mut self, command: u8, option: u8, reply: &mut Vec<u8>) {
        let answer = match command {
            WILL if option == ECHO || option == SGA => DO,
            WILL => DONT,
            DO => WONT,
            // DONT/WONT: our side is already off, nothing to confirm.
            _ => return,
        };
        if self.answered.insert((command, option)) {
            reply.extend_from_slice(&[IAC, answer, option]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_offers_get_netkit_answers() {
        let mut answerer = OptionAnswerer::default();
        let mut reply = Vec::new();
        answerer.feed(
            &[IAC, DO, ECHO, IAC, DO, 31, IAC, WILL, ECHO, IAC, WILL, SGA],
            &mut reply,
        );
        assert_eq!(
            reply,
            [IAC, WONT, ECHO, IAC, WONT, 31, IAC, DO, ECHO, IAC, DO, SGA]
        );
    }

    #[test]
    fn split_sequences_subnegotiation_and_repeats() {
        let mut answerer = OptionAnswerer::default();
        let mut reply = Vec::new();
        answerer.feed(b"hi\xff", &mut reply);
        answerer.feed(&[WILL], &mut reply);
        answerer.feed(&[24, IAC, SB, 24, 1, IAC, IAC, 7, IAC, SE], &mut reply);
        answerer.feed(&[IAC, WILL, 24, IAC, DONT, 1, IAC, IAC], &mut reply);
        assert_eq!(reply, [IAC, DONT, 24]);
    }
}
