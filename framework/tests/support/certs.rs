//! Test certificates: a fresh CA and a server certificate it signed for 127.0.0.1.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

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
pub fn issue_for_localhost() -> Issued {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    Issued {
        ca: ca.pem(),
        cert: server.pem(),
        key: key.serialize_pem(),
    }
}
