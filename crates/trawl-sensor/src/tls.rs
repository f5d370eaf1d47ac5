//! The sensor's TLS server configuration (rustls with ring): a configured cert/key pair,
//! or a self-signed certificate generated with rcgen on first start and kept in
//! `<data_dir>/tls/` (key file mode 0600).
//!
//! The generated key is RSA 2048, as `openssl req -x509 -newkey rsa:2048` and Windows make
//! theirs: an ECDSA certificate on a mail or RDP port is a honeypot tell, and RDP clients
//! that bind CredSSP to the server key (rdesktop) accept only RSA. `rsa` generates the key
//! (ring cannot), rcgen signs the certificate with it through ring.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Duration, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Certificate generation or the rustls configuration failed.
    #[error("tls: {0}")]
    Setup(String),
}

/// Loads the configured pair, or the generated one (creating it if missing).
pub fn server_config(
    settings: &TlsSettings,
    data_dir: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert_path, key_path) = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            let dir = data_dir.join("tls");
            let pair = (dir.join("cert.pem"), dir.join("key.pem"));
            if !pair.0.exists() || !pair.1.exists() {
                generate(settings, &dir, &pair.0, &pair.1)?;
                tracing::info!(
                    "generated a self-signed certificate for {} in {}",
                    settings.subject,
                    dir.display()
                );
            }
            pair
        }
        _ => {
            return Err(TlsError::Setup(
                "[tls] needs both cert and key, or neither".into(),
            ));
        }
    };
    let chain = load_chain(&cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|err| file_error(&key_path, err))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|err| TlsError::Setup(err.to_string()))?;
    Ok(Arc::new(config))
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|err| file_error(path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| file_error(path, err))?;
    if chain.is_empty() {
        return Err(TlsError::File {
            path: path.to_owned(),
            message: "no CERTIFICATE block".into(),
        });
    }
    Ok(chain)
}

fn file_error(path: &Path, err: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        message: err.to_string(),
    }
}

/// Writes a self-signed certificate that looks like `openssl req -x509 -days 3650`:
/// random serial, validity starting a few weeks ago and lasting ten years.
fn generate(
    settings: &TlsSettings,
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), TlsError> {
    let setup = |err: rcgen::Error| TlsError::Setup(err.to_string());
    let mut params =
        rcgen::CertificateParams::new(vec![settings.subject.clone()]).map_err(setup)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, settings.subject.clone());
    if !settings.organization.is_empty() {
        params.distinguished_name.push(
            rcgen::DnType::OrganizationName,
            settings.organization.clone(),
        );
    }
    let random = uuid::Uuid::new_v4();
    let mut serial = random.as_bytes().to_vec();
    if let Some(first) = serial.first_mut() {
        *first &= 0x7f;
    }
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let start = Utc::now()
        - Duration::days(7 + i64::from(random.as_bytes().get(1).copied().unwrap_or(0) % 60));
    let end = start + Duration::days(3650);
    params.not_before = rcgen::date_time_ymd(start.year(), start.month() as u8, start.day() as u8);
    params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
    let key = rsa_key_pair()?;
    let cert = params.self_signed(&key).map_err(setup)?;
    std::fs::create_dir_all(dir).map_err(|err| file_error(dir, err))?;
    write_file(cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(key_path, key.serialize_pem().as_bytes(), 0o600)
}

/// A fresh RSA 2048 key pair in the form rcgen signs with (PKCS#8, SHA-256 signatures).
fn rsa_key_pair() -> Result<rcgen::KeyPair, TlsError> {
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rng(), RSA_BITS)
        .map_err(|err| TlsError::Setup(format!("generating the RSA key: {err}")))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|err| TlsError::Setup(format!("encoding the RSA key: {err}")))?;
    rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|err| TlsError::Setup(err.to_string()))
}

/// Modulus size of the generated key, `openssl req`'s default.
const RSA_BITS: usize = 2048;

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|err| file_error(path, err))?;
    file.write_all(contents)
        .map_err(|err| file_error(path, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = TlsSettings::default();
        assert!(server_config(&settings, dir.path()).is_ok());
        let first = std::fs::read(dir.path().join("tls/cert.pem")).expect("cert written");
        assert!(server_config(&settings, dir.path()).is_ok());
        let second = std::fs::read(dir.path().join("tls/cert.pem")).expect("cert kept");
        assert_eq!(first, second);
        let pem = String::from_utf8_lossy(&first).into_owned();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("cert parses");
        // rsaEncryption (1.2.840.113549.1.1.1) names the key; sha256WithRSAEncryption signs.
        let rsa_encryption = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        assert!(
            der.windows(rsa_encryption.len())
                .any(|w| w == rsa_encryption),
            "an RSA certificate"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
            .map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
    }

    #[test]
    fn configured_pair_is_used_and_bad_files_name_the_path() {
        let source = tempfile::tempdir().expect("tempdir");
        let data = tempfile::tempdir().expect("tempdir");
        assert!(server_config(&TlsSettings::default(), source.path()).is_ok());
        let settings = TlsSettings {
            cert: Some(source.path().join("tls/cert.pem")),
            key: Some(source.path().join("tls/key.pem")),
            ..TlsSettings::default()
        };
        assert!(server_config(&settings, data.path()).is_ok());
        assert!(
            !data.path().join("tls").exists(),
            "nothing generated when a pair is configured"
        );
        let broken = TlsSettings {
            key: Some(source.path().join("tls/cert.pem")),
            ..settings
        };
        let err = server_config(&broken, data.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("cert.pem"), "{err}");
    }

    #[test]
    fn half_configured_pair_is_refused() {
        let settings = TlsSettings {
            cert: Some("c.pem".into()),
            ..TlsSettings::default()
        };
        assert!(server_config(&settings, Path::new("/nonexistent")).is_err());
    }
}
