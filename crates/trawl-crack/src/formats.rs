//! The hash lines the sensor writes to `password_hash`, parsed into [`Target`]s that check a
//! candidate password. Each format is documented where the sensor makes it
//! (docs/sensor-db.md, docs/sensor-mail.md, docs/sensor-net.md, docs/sensor-rdp.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Highest SCRAM iteration count accepted from a hash file (a hostile file must not make
/// one guess take minutes); servers use 4096 to 15000.
pub const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;
/// Longest hash line parsed.
pub const MAX_HASH_LEN: usize = 16 * 1024;

/// The digest a SCRAM exchange uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramDigest {
    /// SCRAM-SHA-1 (MongoDB).
    Sha1,
    /// SCRAM-SHA-256 (PostgreSQL, MongoDB).
    Sha256,
}

/// One crackable hash and what checking a guess against it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A captured SCRAM exchange: `$scram-sha-256$` (the password itself is the secret) or
    /// `$mongodb-scram-sha-1$` (MongoDB hashes `user:mongo:password` with MD5 first).
    Scram {
        /// SHA-1 or SHA-256.
        digest: ScramDigest,
        /// For MongoDB SCRAM-SHA-1: the user name from the AuthMessage.
        mongo_user: Option<Vec<u8>>,
        /// PBKDF2 iterations.
        iterations: u32,
        /// PBKDF2 salt.
        salt: Vec<u8>,
        /// client-first-bare,server-first,client-final-without-proof.
        auth_message: Vec<u8>,
        /// The client's proof.
        proof: Vec<u8>,
    },
    /// `$mysql-sha2$<salt hex>*<scramble hex>` (caching_sha2_password).
    MysqlSha2 {
        /// The server's 20-byte salt.
        salt: Vec<u8>,
        /// The client's 32-byte scramble.
        scramble: [u8; 32],
    },
    /// `$mysqlna$<salt hex>*<scramble hex>` (mysql_native_password, hashcat 11200).
    MysqlNative {
        /// The server's 20-byte salt.
        salt: Vec<u8>,
        /// The client's 20-byte scramble.
        scramble: [u8; 20],
    },
    /// `$postgres$<user>*<salt hex>*<md5 hex>` (hashcat 11100).
    PostgresMd5 {
        /// The user name (PostgreSQL salts the inner MD5 with it).
        user: Vec<u8>,
        /// The 4-byte salt.
        salt: Vec<u8>,
        /// The client's digest.
        digest: [u8; 16],
    },
    /// `$vnc$*<challenge hex>*<response hex>` (John `vnc`).
    Vnc {
        /// The server's challenge.
        challenge: [u8; 16],
        /// The client's response.
        response: [u8; 16],
    },
    /// `$cram_md5$<b64 challenge>$<b64 "user hexdigest">` (hashcat 10200).
    CramMd5 {
        /// The server's challenge.
        challenge: Vec<u8>,
        /// HMAC-MD5(password, challenge).
        digest: [u8; 16],
    },
    /// `<hexdigest>:<challenge>` for POP3 APOP (hashcat 20).
    Apop {
        /// The server's `<...@...>` timestamp.
        challenge: Vec<u8>,
        /// MD5(challenge || password).
        digest: [u8; 16],
    },
    /// `user::domain:challenge:ntproofstr:blob` (NetNTLMv2, hashcat 5600).
    NetNtlmV2 {
        /// UTF-16LE of upper-case user name followed by the domain.
        identity: Vec<u8>,
        /// The server's challenge.
        challenge: [u8; 8],
        /// The NTProofStr.
        proof: [u8; 16],
        /// The rest of the NTLMv2 response.
        blob: Vec<u8>,
    },
}

impl Target {
    /// Parses one hash line; `None` for anything that is not a crackable format (such as
    /// an SSH key fingerprint) or is malformed.
    pub fn parse(line: &str) -> Option<Target> {
        let line = line.trim();
        if line.len() > MAX_HASH_LEN {
            return None;
        }
        if let Some(rest) = line.strip_prefix("$scram-sha-256$") {
            return scram(ScramDigest::Sha256, rest);
        }
        if let Some(rest) = line.strip_prefix("$mongodb-scram-sha-1$") {
            return scram(ScramDigest::Sha1, rest);
        }
        if let Some(rest) = line.strip_prefix("$mysql-sha2$") {
            let (salt, scramble) = rest.split_once('*')?;
            return Some(Target::MysqlSha2 {
                salt: unhex(salt)?,
                scramble: unhex_array(scramble)?,
            });
        }
        if let Some(rest) = line.strip_prefix("$mysqlna$") {
            let (salt, scramble) = rest.split_once('*')?;
            return Some(Target::MysqlNative {
                salt: unhex(salt)?,
                scramble: unhex_array(scramble)?,
            });
        }
        if let Some(rest) = line.strip_prefix("$postgres$") {
            let (rest, digest) = rest.rsplit_once('*')?;
            let (user, salt) = rest.rsplit_once('*')?;
            return Some(Target::PostgresMd5 {
                user: user.as_bytes().to_vec(),
                salt: unhex(salt)?,
                digest: unhex_array(digest)?,
            });
        }
        if let Some(rest) = line.strip_prefix("$vnc$*") {
            let (challenge, response) = rest.split_once('*')?;
            return Some(Target::Vnc {
                challenge: unhex_array(challenge)?,
                response: unhex_array(response)?,
            });
        }
        if let Some(rest) = line.strip_prefix("$cram_md5$") {
            return cram_md5(rest);
        }
        apop(line).or_else(|| net_ntlm_v2(line))
    }

    /// Short name of the format, for summaries.
    pub fn format_name(&self) -> &'static str {
        match self {
            Target::Scram {
                digest: ScramDigest::Sha256,
                ..
            } => "scram-sha-256",
            Target::Scram { .. } => "mongodb-scram-sha-1",
            Target::MysqlSha2 { .. } => "mysql-sha2",
            Target::MysqlNative { .. } => "mysqlna",
            Target::PostgresMd5 { .. } => "postgres-md5",
            Target::Vnc { .. } => "vnc",
            Target::CramMd5 { .. } => "cram-md5",
            Target::Apop { .. } => "apop",
            Target::NetNtlmV2 { .. } => "netntlmv2",
        }
    }

    /// Whether `password` produces this material.
    pub fn verifies(&self, password: &[u8]) -> bool {
        match self {
            Target::Scram {
                digest,
                mongo_user,
                iterations,
                salt,
                auth_message,
                proof,
            } => {
                let secret = match mongo_user {
                    Some(user) => mongo_secret(user, password),
                    None => password.to_vec(),
                };
                let exchange = ScramExchange {
                    iterations: *iterations,
                    salt,
                    auth_message,
                };
                exchange.client_proof(*digest, &secret) == *proof
            }
            Target::MysqlSha2 { salt, scramble } => mysql_sha2(password, salt) == *scramble,
            Target::MysqlNative { salt, scramble } => mysql_native(password, salt) == *scramble,
            Target::PostgresMd5 { user, salt, digest } => {
                let inner = hex(&Md5::digest([password, user].concat()));
                Md5::digest([inner.as_bytes(), salt].concat()).as_slice() == digest
            }
            Target::Vnc {
                challenge,
                response,
            } => vnc_response(password, challenge) == *response,
            Target::CramMd5 { challenge, digest } => hmac_md5(password, &[challenge]) == *digest,
            Target::Apop { challenge, digest } => {
                Md5::digest([challenge.as_slice(), password].concat()).as_slice() == digest
            }
            Target::NetNtlmV2 {
                identity,
                challenge,
                proof,
                blob,
            } => {
                let key = hmac_md5(&nt_hash(password), &[identity]);
                hmac_md5(&key, &[challenge, blob]) == *proof
            }
        }
    }
}

/// The public half of a SCRAM exchange (RFC 5802 §3).
pub struct ScramExchange<'a> {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// PBKDF2 salt.
    pub salt: &'a [u8],
    /// client-first-bare,server-first,client-final-without-proof.
    pub auth_message: &'a [u8],
}

impl ScramExchange<'_> {
    /// ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage) for `secret`.
    pub fn client_proof(&self, digest: ScramDigest, secret: &[u8]) -> Vec<u8> {
        match digest {
            ScramDigest::Sha1 => self.proof_with::<Sha1, 20>(secret),
            ScramDigest::Sha256 => self.proof_with::<Sha256, 32>(secret),
        }
    }

    fn proof_with<D, const N: usize>(&self, secret: &[u8]) -> Vec<u8>
    where
        D: Digest + hmac::digest::block_api::EagerHash + Clone,
        Hmac<D>: KeyInit + Mac,
    {
        let salted: [u8; N] = pbkdf2::pbkdf2_hmac_array::<D, N>(secret, self.salt, self.iterations);
        let client_key = hmac::<D>(&salted, &[b"Client Key"]);
        let stored_key = D::digest(&client_key);
        let signature = hmac::<D>(&stored_key, &[self.auth_message]);
        client_key
            .iter()
            .zip(signature.iter())
            .map(|(key, sig)| key ^ sig)
            .collect()
    }
}

fn hmac<D>(key: &[u8], parts: &[&[u8]]) -> Vec<u8>
where
    D: hmac::digest::block_api::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    hmac::<Md5>(key, parts).try_into().unwrap_or([0; 16])
}

/// MongoDB's SCRAM-SHA-1 secret: hex MD5 of `user:mongo:password`.
fn mongo_secret(user: &[u8], password: &[u8]) -> Vec<u8> {
    let digest = Md5::digest([user, b":mongo:", password].concat());
    hex(&digest).into_bytes()
}

/// caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || salt).
pub fn mysql_sha2(password: &[u8], salt: &[u8]) -> [u8; 32] {
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mix = Sha256::digest([stage2.as_slice(), salt].concat());
    let mut out = [0u8; 32];
    for ((slot, a), b) in out.iter_mut().zip(stage1.iter()).zip(mix.iter()) {
        *slot = a ^ b;
    }
    out
}

/// mysql_native_password: SHA1(pw) XOR SHA1(salt || SHA1(SHA1(pw))).
pub fn mysql_native(password: &[u8], salt: &[u8]) -> [u8; 20] {
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mix = Sha1::digest([salt, stage2.as_slice()].concat());
    let mut out = [0u8; 20];
    for ((slot, a), b) in out.iter_mut().zip(stage1.iter()).zip(mix.iter()) {
        *slot = a ^ b;
    }
    out
}

/// The DES key VNC derives from a password: its first 8 bytes, zero-padded, each byte
/// with its bits reversed (VNC's historical d3des quirk).
pub fn vnc_key(password: &[u8]) -> [u8; 8] {
    let mut key = [0u8; 8];
    for (slot, byte) in key.iter_mut().zip(password) {
        *slot = byte.reverse_bits();
    }
    key
}

/// The response a VNC client knowing `password` sends: the challenge DES-ECB encrypted.
pub fn vnc_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    vnc_encrypt(&vnc_key(password), challenge)
}

/// The challenge DES-ECB encrypted under an already derived VNC key.
pub fn vnc_encrypt(key: &[u8; 8], challenge: &[u8; 16]) -> [u8; 16] {
    let cipher = Des::new(&(*key).into());
    let mut out = [0u8; 16];
    for (source, target) in challenge.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        let mut block = des::cipher::Block::<Des>::default();
        block.copy_from_slice(source);
        cipher.encrypt_block(&mut block);
        target.copy_from_slice(&block);
    }
    out
}

/// The NT hash: MD4 of the UTF-16LE password (non-UTF-8 bytes replaced).
fn nt_hash(password: &[u8]) -> [u8; 16] {
    let text = String::from_utf8_lossy(password);
    let wide: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    md4::Md4::digest(wide).into()
}

fn scram(digest: ScramDigest, rest: &str) -> Option<Target> {
    let mut fields = rest.split('$');
    let iterations: u32 = fields.next()?.parse().ok()?;
    let salt = BASE64.decode(fields.next()?).ok()?;
    let auth_message = BASE64.decode(fields.next()?).ok()?;
    let proof = BASE64.decode(fields.next()?).ok()?;
    let proof_len = match digest {
        ScramDigest::Sha1 => 20,
        ScramDigest::Sha256 => 32,
    };
    if fields.next().is_some()
        || iterations == 0
        || iterations > MAX_SCRAM_ITERATIONS
        || proof.len() != proof_len
    {
        return None;
    }
    let mongo_user = match digest {
        ScramDigest::Sha1 => Some(scram_user(&auth_message)?),
        ScramDigest::Sha256 => None,
    };
    Some(Target::Scram {
        digest,
        mongo_user,
        iterations,
        salt,
        auth_message,
        proof,
    })
}

/// The `n=` user name of the client-first-bare at the start of an AuthMessage, with
/// RFC 5802's `=2C` and `=3D` escapes undone.
fn scram_user(auth_message: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(auth_message).ok()?;
    let field = text.split(',').find_map(|part| part.strip_prefix("n="))?;
    Some(field.replace("=2C", ",").replace("=3D", "=").into_bytes())
}

fn cram_md5(rest: &str) -> Option<Target> {
    let (challenge, response) = rest.split_once('$')?;
    let challenge = BASE64.decode(challenge).ok()?;
    let response = BASE64.decode(response).ok()?;
    let response = std::str::from_utf8(&response).ok()?;
    let (_, digest) = response.rsplit_once(' ')?;
    Some(Target::CramMd5 {
        challenge,
        digest: unhex_array(digest)?,
    })
}

fn apop(line: &str) -> Option<Target> {
    let (digest, challenge) = line.split_once(':')?;
    if !(challenge.starts_with('<') && challenge.ends_with('>')) {
        return None;
    }
    Some(Target::Apop {
        challenge: challenge.as_bytes().to_vec(),
        digest: unhex_array(digest)?,
    })
}

fn net_ntlm_v2(line: &str) -> Option<Target> {
    let fields: Vec<&str> = line.split(':').collect();
    let [user, "", domain, challenge, proof, blob] = fields.as_slice() else {
        return None;
    };
    let identity: Vec<u8> = format!("{}{domain}", user.to_uppercase())
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let blob = unhex(blob)?;
    (!blob.is_empty()).then_some(())?;
    Some(Target::NetNtlmV2 {
        identity,
        challenge: unhex_array(challenge)?,
        proof: unhex_array(proof)?,
        blob,
    })
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn unhex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    unhex(text)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram_line(tag: &str, secret: &[u8], digest: ScramDigest, user: &str) -> String {
        let salt = b"0123456789abcdef";
        let auth = format!("n={user},r=abc,r=abcdef,s=MDEy,i=4096,c=biws,r=abcdef");
        let exchange = ScramExchange {
            iterations: 4096,
            salt,
            auth_message: auth.as_bytes(),
        };
        let proof = exchange.client_proof(digest, secret);
        format!(
            "${tag}$4096${}${}${}",
            BASE64.encode(salt),
            BASE64.encode(auth.as_bytes()),
            BASE64.encode(proof)
        )
    }

    fn assert_cracks(line: &str, password: &str) {
        let target = Target::parse(line).unwrap_or_else(|| panic!("{line} must parse"));
        assert!(
            target.verifies(password.as_bytes()),
            "{line} with {password}"
        );
        assert!(
            !target.verifies(b"wrong"),
            "{line} must refuse a wrong password"
        );
    }

    #[test]
    fn scram_sha_256_and_mongodb_sha_1() {
        let line = scram_line("scram-sha-256", b"pg secret", ScramDigest::Sha256, "bob");
        assert_cracks(&line, "pg secret");
        let mongo = mongo_secret(b"ad=min,x", b"m0ngo");
        let line = scram_line(
            "mongodb-scram-sha-1",
            &mongo,
            ScramDigest::Sha1,
            "ad=3Dmin=2Cx",
        );
        let target = Target::parse(&line).unwrap();
        assert!(target.verifies(b"m0ngo"));
    }

    /// Material this crate did not make: hashcat's example hashes for modes 10200 and 5600,
    /// John's VNC test vector, and mysqlna / PostgreSQL md5 / caching_sha2 lines computed
    /// with Python's hashlib (password `hashcat` / `s3cr3t`).
    #[test]
    fn published_test_vectors_crack() {
        assert_cracks(
            "$mysqlna$2576670568531371763643101056556678041327*f6305679c3ed257b212b92925c4a97bbce99429e",
            "hashcat",
        );
        assert_cracks(
            "$postgres$postgres*74402844*4e7fabaaf34d780c4a5822d28ee1c83e",
            "hashcat",
        );
        assert_cracks(
            "$cram_md5$PG5vLXJlcGx5QGhhc2hjYXQubmV0Pg==$dXNlciA0NGVhZmQyMmZlNzY2NzBmNmIyODc5MDgxYTdmNWY3MQ==",
            "hashcat",
        );
        assert_cracks(
            "0UL5G37JOI0SX::6VB1IS0KA74:ebe1afa18b7fbfa6:aab8bf8675658dd2a939458a1077ba08:010100000000000031c8aa092510945398b9f7b7dde1a9fb00000000f7876f2b04b700",
            "hashcat",
        );
        assert_cracks(
            "$vnc$*84076F040550EEA9341967633B5F3855*DD96D21781A70DA49443279975404DD0",
            "pass1234",
        );
        assert_cracks(
            "$mysql-sha2$0102030405060708090a0b0c0d0e0f1011121314*eaaa1f23aa3a7aa171e525c43fe5fe33338896b259c9cd4c8827d484a76382fc",
            "s3cr3t",
        );
    }

    #[test]
    fn mysql_sha2_and_apop_round_trip() {
        let salt = b"abcdefghijklmnopqrst";
        let line = format!(
            "$mysql-sha2${}*{}",
            hex(salt),
            hex(&mysql_sha2(b"s3cr3t", salt))
        );
        assert_cracks(&line, "s3cr3t");
        let challenge = "<1896.697170952@dbc.mtview.ca.us>";
        let digest = Md5::digest(format!("{challenge}tanstaaf"));
        assert_cracks(&format!("{}:{challenge}", hex(&digest)), "tanstaaf");
    }

    #[test]
    fn other_material_is_not_a_target() {
        for line in [
            "ssh-ed25519 SHA256:abc",
            "",
            "$mysqlna$zz*00",
            "$scram-sha-256$99999999$AA==$AA==$AA==",
            "$vnc$*00*00",
            "user::dom:1122334455667788:00:",
            "$postgres$*",
        ] {
            assert_eq!(Target::parse(line), None, "{line}");
        }
    }
}
