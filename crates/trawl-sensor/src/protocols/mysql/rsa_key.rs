//! The MySQL server's RSA key pair, kept as MySQL 8 keeps its own: `private_key.pem`
//! (PKCS#8, mode 0600) and `public_key.pem` (SubjectPublicKeyInfo) in `<data_dir>/mysql/`,
//! 2048 bits, generated on first start and reused afterwards.
//!
//! A `caching_sha2_password` client on a plain connection, told to perform full
//! authentication, asks for this public key and answers with
//! `RSA-OAEP-SHA1(password || NUL, XOR-ed with the salt)`;
//! [`MysqlRsaKey::decrypt_password`] undoes both and yields the password in clear.
//!
//! `rsa` 0.10.0-rc.18 is the release candidate russh already links for SSH's RSA host keys;
//! using the same one keeps a single RSA implementation in the binary.

use std::fs;
use std::path::Path;

use crate::keyfile::write_new;

use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};

/// Modulus size, as MySQL's auto-generated keys.
const RSA_BITS: usize = 2048;
const PRIVATE_FILE: &str = "private_key.pem";
const PUBLIC_FILE: &str = "public_key.pem";

/// The server key and its public half in PEM, as sent to clients.
pub struct MysqlRsaKey {
    private: RsaPrivateKey,
    public_pem: String,
}

impl MysqlRsaKey {
    /// Loads `<dir>/private_key.pem`, or generates the pair into `dir` when it is missing.
    pub fn load_or_generate(dir: &Path) -> Result<MysqlRsaKey, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let private_path = dir.join(PRIVATE_FILE);
        let shown = private_path.display();
        let private = if private_path.exists() {
            let pem = fs::read_to_string(&private_path).map_err(|e| format!("{shown}: {e}"))?;
            RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| format!("{shown}: {e}"))?
        } else {
            let key = RsaPrivateKey::new(&mut rand::rng(), RSA_BITS)
                .map_err(|e| format!("generating {shown}: {e}"))?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| format!("{shown}: {e}"))?;
            write_new(&private_path, pem.as_bytes(), 0o600)?;
            tracing::info!("mysql: generated RSA key {shown}");
            key
        };
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("{shown}: public key: {e}"))?;
        let public_path = dir.join(PUBLIC_FILE);
        if !public_path.exists() {
            write_new(&public_path, public_pem.as_bytes(), 0o644)?;
        }
        Ok(MysqlRsaKey {
            private,
            public_pem,
        })
    }

    /// The public key in PEM, the payload of the server's key packet.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The password inside a client's encrypted answer, or `None` when it does not decrypt.
    pub fn decrypt_password(&self, ciphertext: &[u8], salt: &[u8; 20]) -> Option<Vec<u8>> {
        let mut plain = self
            .private
            .decrypt_blinded(&mut rand::rng(), Oaep::<sha1::Sha1>::new(), ciphertext)
            .ok()?;
        for (byte, key) in plain.iter_mut().zip(salt.iter().cycle()) {
            *byte ^= key;
        }
        let end = plain.iter().position(|&b| b == 0).unwrap_or(plain.len());
        plain.truncate(end);
        Some(plain)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use rsa::RsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;

    use super::*;

    fn client_encrypt(public_pem: &str, password: &[u8], salt: &[u8; 20]) -> Vec<u8> {
        let public = RsaPublicKey::from_public_key_pem(public_pem).unwrap();
        let mut plain = password.to_vec();
        plain.push(0);
        for (byte, key) in plain.iter_mut().zip(salt.iter().cycle()) {
            *byte ^= key;
        }
        public
            .encrypt(&mut rand::rng(), Oaep::<sha1::Sha1>::new(), &plain)
            .unwrap()
    }

    #[test]
    fn key_is_generated_once_and_decrypts_what_a_client_encrypts() {
        let dir = tempfile::tempdir().unwrap();
        let first = MysqlRsaKey::load_or_generate(dir.path()).unwrap();
        let second = MysqlRsaKey::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.public_pem(), second.public_pem());
        assert!(first.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        let mode = fs::metadata(dir.path().join(PRIVATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let salt = *b"abcdefghijklmnopqrst";
        let long = vec![b'p'; 45]; // longer than the salt: the XOR key repeats
        for password in [&b"hunter2"[..], &long, b""] {
            let sealed = client_encrypt(first.public_pem(), password, &salt);
            assert_eq!(
                second.decrypt_password(&sealed, &salt).as_deref(),
                Some(password)
            );
        }
        assert_eq!(second.decrypt_password(&[7; 256], &salt), None);
        assert_eq!(second.decrypt_password(b"", &salt), None);
    }
}
