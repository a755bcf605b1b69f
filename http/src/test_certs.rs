//! Test certificates (feature `test-certs`): a fresh CA, and a server certificate it signed
//! for 127.0.0.1, for the HTTPS tests of the crates that serve.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::tls::TlsFiles;

/// PEM texts of a CA, and of a server certificate for 127.0.0.1 it signed, with its key.
pub struct Issued {
    /// The CA certificate (what a client trusts).
    pub ca: String,
    /// The server's certificate.
    pub cert: String,
    /// The server's private key (PKCS#8).
    pub key: String,
}

/// A new CA, and a certificate for 127.0.0.1 signed by it.
pub fn issue_for_localhost() -> Result<Issued, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&key, &ca)?;
    Ok(Issued {
        ca: ca.pem(),
        cert: server.pem(),
        key: key.serialize_pem(),
    })
}

impl Issued {
    /// Writes the server's certificate and key as `files`, the key first (as a renewal
    /// does), so a reload between the two writes sees a mismatch and keeps the old pair.
    pub fn write(&self, files: &TlsFiles) -> std::io::Result<()> {
        std::fs::write(&files.key, &self.key)?;
        std::fs::write(&files.cert, &self.cert)
    }

    /// A client trusting this CA only (not the public roots), so it takes exactly the
    /// certificates this CA signed.
    pub fn client(&self) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.as_bytes())?)
            .build()
    }
}
