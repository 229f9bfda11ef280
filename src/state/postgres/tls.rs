//! TLS for the PostgreSQL connection, over the rustls that the HTTP client already brings.
//!
//! Written here rather than taken from `tokio-postgres-rustls`: that crate adds eight crates
//! (X.509 parsing with `der`, `spki`, `x509-cert`, and a second `syn`), 26 s of compile time on
//! CI's 2 cores, for what is these few lines and a short walk over the certificate's DER for
//! channel binding.
//!
//! As libpq does, `prefer` and `require` encrypt without checking who answers (any
//! certificate); only `verify-full` checks the chain (against `sslrootcert`, or the public web
//! roots) and the host name.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::state::StateError;

/// Makes TLS connections for tokio-postgres.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    /// Verifies the server against the certificates in `root_cert` (PEM), or the public roots.
    pub fn verifying(root_cert: Option<&Path>) -> Result<MakeRustls, StateError> {
        let mut roots = RootCertStore::empty();
        match root_cert {
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<_, _>>())
                    .map_err(|e| {
                        StateError::Tls(format!("failed to read `sslrootcert` file `{}`: {e}", path.display()))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(StateError::Tls(format!(
                        "`sslrootcert` file `{}` holds no usable certificate",
                        path.display()
                    )));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_setup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }

    /// Encrypts without verifying the server (`sslmode=prefer` and `require`).
    pub fn unverified() -> Result<MakeRustls, StateError> {
        let provider = provider();
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_setup)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }
}

fn tls_setup(error: rustls::Error) -> StateError {
    StateError::Tls(format!("failed to set up TLS: {error}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{domain}` is not a valid server name"),
            )
        })?;
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

/// One TLS handshake to come.
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            Ok(TlsStream(connector.connect(self.name, stream).await?))
        })
    }
}

/// The encrypted stream.
pub struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    /// `tls-server-end-point` (RFC 5929): the server certificate's hash, with the hash of its
    /// signature algorithm (SHA-256 for SHA-1, MD5 and anything unknown), so that SCRAM can
    /// bind the password exchange to this TLS session.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        let Some(cert) = session.peer_certificates().and_then(|certs| certs.first()) else {
            return ChannelBinding::none();
        };
        let hash = match signature_hash(cert) {
            Some(Hash::Sha384) => sha2::Sha384::digest(cert).to_vec(),
            Some(Hash::Sha512) => sha2::Sha512::digest(cert).to_vec(),
            Some(Hash::Sha256) => sha2::Sha256::digest(cert).to_vec(),
            None => return ChannelBinding::none(),
        };
        ChannelBinding::tls_server_end_point(hash)
    }
}

enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// The hash of a certificate's signature algorithm, from its DER: `Certificate ::= SEQUENCE {
/// tbsCertificate, signatureAlgorithm SEQUENCE { algorithm OID, … }, signature }`.
fn signature_hash(der: &[u8]) -> Option<Hash> {
    let (tag, certificate, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, after_tbs) = tlv(certificate)?;
    let (tag, algorithm, _) = tlv(after_tbs)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = tlv(algorithm)?;
    if tag != 0x06 {
        return None;
    }
    // sha384WithRSAEncryption, ecdsa-with-SHA384; sha512WithRSAEncryption, ecdsa-with-SHA512.
    const SHA384: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ];
    const SHA512: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ];
    Some(if SHA384.contains(&oid) {
        Hash::Sha384
    } else if SHA512.contains(&oid) {
        Hash::Sha512
    } else {
        Hash::Sha256
    })
}

/// One DER tag-length-value: the tag, the value, and what follows it.
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count].iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (length, &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// Accepts any certificate, still checking that the server holds its key.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_hash_is_read_from_the_certificate() {
        // SEQUENCE { SEQUENCE {} (tbs), SEQUENCE { OID }, BIT STRING }
        let cert = |oid: &[u8]| {
            let mut algorithm = vec![0x06, oid.len() as u8];
            algorithm.extend_from_slice(oid);
            let mut body = vec![0x30, 0x00, 0x30, algorithm.len() as u8];
            body.extend(algorithm);
            body.extend([0x03, 0x01, 0x00]);
            let mut der = vec![0x30, body.len() as u8];
            der.extend(body);
            der
        };
        let sha384 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
        let sha256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        assert!(matches!(signature_hash(&cert(&sha384)), Some(Hash::Sha384)));
        assert!(matches!(signature_hash(&cert(&sha256)), Some(Hash::Sha256)));
        assert!(signature_hash(&[0x30, 0x05, 0x00]).is_none(), "truncated");
        assert!(signature_hash(&[]).is_none());
    }
}
