//! The SSH host keys: ed25519 and RSA-3072, generated on first start into
//! `<data_dir>/ssh/` in OpenSSH format (mode 0600, with a `.pub` beside each, like
//! `ssh-keygen -A`), and loaded from there afterwards so the sensor keeps one identity.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::keyfile::write_new;

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{KeypairData, RsaKeypair};
use russh::keys::{Algorithm, PrivateKey};

/// RSA modulus size, as `ssh-keygen -A` makes on Debian 12.
const RSA_BITS: usize = 3072;

/// Which key a file holds.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    Ed25519,
    Rsa,
}

/// The key files, most preferred first.
const KEY_FILES: [(&str, KeyKind); 2] = [
    ("ssh_host_ed25519_key", KeyKind::Ed25519),
    ("ssh_host_rsa_key", KeyKind::Rsa),
];

/// Loads the host keys from `dir`, generating any that are missing.
pub fn load_or_generate(dir: &Path) -> Result<Vec<PrivateKey>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    KEY_FILES
        .iter()
        .map(|(file, kind)| load_or_generate_one(&dir.join(file), *kind))
        .collect()
}

fn load_or_generate_one(path: &Path, kind: KeyKind) -> Result<PrivateKey, String> {
    let shown = path.display();
    if path.exists() {
        return PrivateKey::read_openssh_file(path).map_err(|e| format!("{shown}: {e}"));
    }
    let key = generate(kind).map_err(|e| format!("generating {shown}: {e}"))?;
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("{shown}: {e}"))?;
    write_new(path, private.as_bytes(), 0o600)?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format!("{shown}.pub: {e}"))?;
    write_new(
        &path.with_extension("pub"),
        format!("{public}\n").as_bytes(),
        0o644,
    )?;
    tracing::info!(
        "ssh: generated host key {shown} ({})",
        key.public_key().fingerprint(russh::keys::HashAlg::Sha256)
    );
    Ok(key)
}

fn generate(kind: KeyKind) -> Result<PrivateKey, russh::keys::ssh_key::Error> {
    let mut rng = rand::rng();
    match kind {
        KeyKind::Rsa => {
            let pair = RsaKeypair::random(&mut rng, RSA_BITS)?;
            PrivateKey::new(KeypairData::from(pair), "")
        }
        KeyKind::Ed25519 => PrivateKey::random(&mut rng, Algorithm::Ed25519),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::HashAlg;

    #[test]
    fn keys_are_generated_once_then_reused_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("ssh");
        let first = load_or_generate(&keys_dir).unwrap();
        let second = load_or_generate(&keys_dir).unwrap();
        let prints = |keys: &[PrivateKey]| -> Vec<String> {
            keys.iter()
                .map(|k| k.public_key().fingerprint(HashAlg::Sha256).to_string())
                .collect()
        };
        assert_eq!(prints(&first), prints(&second));
        assert_eq!(first[0].algorithm(), Algorithm::Ed25519);
        assert!(matches!(first[1].algorithm(), Algorithm::Rsa { .. }));
        for (file, _) in KEY_FILES {
            let mode = fs::metadata(keys_dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
            assert!(keys_dir.join(file).with_extension("pub").exists());
        }
    }

    #[test]
    fn a_corrupt_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("ssh_host_ed25519_key"), "not a key").unwrap();
        let err = load_or_generate(dir.path()).unwrap_err();
        assert!(err.contains("ssh_host_ed25519_key"), "{err}");
    }
}
