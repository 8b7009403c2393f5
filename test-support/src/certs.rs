//! The certificates a test cluster's TLS listeners use: a fresh CA per cluster, and one
//! broker certificate for `localhost` and `127.0.0.1` signed by it.
//!
//! Made with rcgen, in-process, in a few milliseconds: no `openssl` CLI (not on every
//! machine) and no `keytool` (a JVM start for each of its five steps). The brokers read
//! PEM directly (`ssl.keystore.type=PEM`, KIP-651), so no PKCS12 or JKS store is needed.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// PEM files written into a folder.
#[derive(Debug, Clone)]
pub(crate) struct Certificates {
    /// The CA certificate, for clients' `ssl.ca.location`.
    pub ca_pem: PathBuf,
    /// The broker's PKCS#8 private key followed by its certificate and the CA's: a
    /// `ssl.keystore.type=PEM` keystore.
    pub broker_keystore_pem: PathBuf,
}

impl Certificates {
    /// Generates a CA and a broker certificate for `localhost` and `127.0.0.1`, and
    /// writes them into `dir`.
    pub(crate) fn generate(dir: &Path) -> std::io::Result<Certificates> {
        let (ca_pem, keystore_pem) = generate_pems().map_err(std::io::Error::other)?;
        let certs = Certificates {
            ca_pem: dir.join("ca.pem"),
            broker_keystore_pem: dir.join("broker-keystore.pem"),
        };
        std::fs::write(&certs.ca_pem, ca_pem)?;
        std::fs::write(&certs.broker_keystore_pem, keystore_pem)?;
        Ok(certs)
    }
}

/// (CA certificate PEM, broker key + certificate chain PEM).
fn generate_pems() -> Result<(String, String), rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "fastkafka test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;

    let broker_key = KeyPair::generate()?;
    let mut broker = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    broker
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    broker.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    broker.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let broker_cert = broker.signed_by(&broker_key, &ca_cert, &ca_key)?;

    let keystore = format!(
        "{}{}{}",
        broker_key.serialize_pem(),
        broker_cert.pem(),
        ca_cert.pem()
    );
    Ok((ca_cert.pem(), keystore))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keystore_holds_an_unencrypted_pkcs8_key_then_the_chain() {
        let (ca, keystore) = generate_pems().unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(keystore.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(keystore.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(keystore.ends_with(&ca));
    }
}
