//! Serving certificate: a rustls `ServerConfig` (ring provider, TLS 1.3 and 1.2 only), and a
//! poller that reloads it when the mounted files change.
//!
//! cert-manager (through the kubelet's atomic writer) updates a Secret volume by writing a new
//! timestamped folder and swapping the `..data` symlink, so inotify on the file paths sees
//! nothing useful and mtimes of the symlinks do not change. Reading both files on every poll and
//! comparing their bytes is cheap (a few KiB) and catches every kind of swap. A pair that does
//! not load (half-written, key not matching the certificate, garbage) is logged and ignored: the
//! old certificate keeps serving until a valid pair appears.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::metrics::{Metrics, ResultLabels};

/// Whether `e` (anywhere in its chain) is running out of file descriptors.
fn is_fd_exhaustion(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(super::conn::is_fd_exhaustion)
}

/// Install ring as the process-wide rustls provider (kube's client uses the default provider).
/// Installing twice is harmless.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A server config from PEM bytes: TLS 1.3 and 1.2, ALPN h2 and http/1.1.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(anyhow!("certificate file holds no PEM certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| anyhow!("key file: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        // Fails when the key does not match the certificate.
        .with_single_cert(certs, key)
        .context("certificate and key")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The two files, read once.
#[derive(PartialEq, Eq)]
struct Pair {
    cert: Vec<u8>,
    key: Vec<u8>,
}

fn read_pair(cert: &Path, key: &Path) -> std::io::Result<Pair> {
    Ok(Pair {
        cert: std::fs::read(cert)?,
        key: std::fs::read(key)?,
    })
}

/// The serving certificate and where it comes from.
pub struct CertSource {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub config: RustlsConfig,
    last: Pair,
}

impl CertSource {
    /// Load the pair once; an error here stops the server (nothing valid to serve).
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<CertSource> {
        let pair = read_pair(cert_path, key_path).with_context(|| {
            format!("reading {} and {}", cert_path.display(), key_path.display())
        })?;
        let cfg = server_config(&pair.cert, &pair.key).with_context(|| {
            format!("loading {} and {}", cert_path.display(), key_path.display())
        })?;
        Ok(CertSource {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            config: RustlsConfig::from_config(Arc::new(cfg)),
            last: pair,
        })
    }

    /// Reload if the files changed. `Ok(true)`: a new certificate is serving; `Ok(false)`:
    /// unchanged; `Err`: changed but invalid (the old certificate keeps serving).
    pub fn poll(&mut self) -> anyhow::Result<bool> {
        let pair = read_pair(&self.cert_path, &self.key_path).context("reading")?;
        if pair == self.last {
            return Ok(false);
        }
        let cfg = server_config(&pair.cert, &pair.key)?;
        self.config.reload_from_config(Arc::new(cfg));
        self.last = pair;
        Ok(true)
    }

    /// Poll every `interval` until the process ends.
    pub async fn watch(mut self, interval: Duration, metrics: Arc<Metrics>) {
        let mut failing = false;
        loop {
            tokio::time::sleep(interval).await;
            match self.poll() {
                Ok(false) => failing = false,
                Ok(true) => {
                    failing = false;
                    metrics
                        .cert_reloads
                        .get_or_create(&ResultLabels { result: "ok" })
                        .inc();
                    tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded");
                }
                Err(e) if is_fd_exhaustion(&e) => {
                    // Not the files' fault: reported as what it is, and retried next poll.
                    tracing::error!(
                        cert = %self.cert_path.display(),
                        error = format!("{e:#}"),
                        "cannot read the certificate files: the open-file table is full (EMFILE/ENFILE); \
                         keeping the current certificate"
                    );
                }
                Err(e) => {
                    // Log once per bad state, not every poll.
                    if !failing {
                        metrics
                            .cert_reloads
                            .get_or_create(&ResultLabels { result: "error" })
                            .inc();
                        tracing::error!(
                            cert = %self.cert_path.display(),
                            error = format!("{e:#}"),
                            "certificate files changed but do not load; keeping the previous certificate"
                        );
                    }
                    failing = true;
                }
            }
        }
    }
}
