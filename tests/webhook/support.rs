//! Helpers shared by the webhook tests: a throwaway PKI (rcgen), an HTTPS client that verifies
//! the server against the test CA (tokio-rustls + hyper), AdmissionReview builders.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

/// The podinfo Service and Deployment in namespace `test` that the end-to-end tests' Canaries,
/// ServiceMonitors and VirtualServices point at, as YAML documents each followed by `---`
/// (a macro, so that `concat!` can build the tests' manifests at compile time).
#[macro_export]
macro_rules! podinfo_workload {
    () => {
        r#"apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: test, labels: {app: podinfo}}
spec:
  selector: {app: podinfo}
  ports: [{name: http, port: 9898, targetPort: 9898}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: test}
spec:
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.5.0
        ports: [{name: http, containerPort: 9898}]
---
"#
    };
}

pub struct Pki {
    params: CertificateParams,
    key: KeyPair,
    pub ca_pem: String,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        let ca_pem = params.self_signed(&key).expect("CA").pem();
        Pki {
            params,
            key,
            ca_pem,
        }
    }

    /// A serving (and client) certificate for `sans` (DNS names or IP addresses), PEM
    /// (certificate, private key).
    pub fn leaf(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let mut p = CertificateParams::new(
            sans.iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<String>>(),
        )
        .expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().expect("key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = p.signed_by(&key, &issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }
}

pub fn connector(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(cfg))
}

/// One HTTPS/1.1 keep-alive connection, verifying the server against the test CA.
pub struct Https {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    /// DER of the certificate the server presented.
    pub peer_cert: Vec<u8>,
    pub protocol: Option<rustls::ProtocolVersion>,
}

impl Https {
    pub async fn connect(addr: SocketAddr, ca_pem: &str) -> Result<Https, String> {
        Self::connect_with(addr, connector(ca_pem, rustls::ALL_VERSIONS)).await
    }

    pub async fn connect_with(addr: SocketAddr, tls: TlsConnector) -> Result<Https, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::IpAddress(addr.ip().into());
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (_, conn) = stream.get_ref();
        let peer_cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let protocol = conn.protocol_version();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Https {
            sender,
            peer_cert,
            protocol,
        })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        read_response(resp).await
    }

    /// The server closed the connection (an idle keep-alive connection it timed out): nothing
    /// can be sent on it any more.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        self.request("POST", path, body).await
    }

    pub async fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>), String> {
        self.request("GET", path, Vec::new()).await
    }
}

/// An AdmissionReview v1 request the way kube-apiserver sends it.
pub fn admission_review(uid: &str, operation: &str, object: &Value) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap_or("");
    let resource = format!("{}s", kind.to_ascii_lowercase());
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "admin", "groups": ["system:masters", "system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

pub fn virtual_service(name: &str, weights: &[i64]) -> Value {
    let route: Vec<Value> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"destination": {"host": format!("podinfo-{i}")}, "weight": w}))
        .collect();
    json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {"hosts": ["podinfo"], "http": [{"route": route}]}
    })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The response part of an AdmissionReview answer.
pub fn response_of(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).expect("response is JSON");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v}");
    assert_eq!(v["kind"], "AdmissionReview", "{v}");
    v["response"].clone()
}

/// `name` on `PATH` (or as an absolute path).
pub fn which(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_owned());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

/// The real control-plane binaries the end-to-end tests start.
pub struct KubeBinaries {
    pub apiserver: PathBuf,
    pub etcd: PathBuf,
    pub kubectl: PathBuf,
}

/// kube-apiserver (`ROLLGATE_KUBE_APISERVER`, else the one `.ci/kube-apiserver.sh` caches in
/// `ROLLGATE_CACHE` or `~/.cache/rollgate`), etcd and kubectl (`ROLLGATE_ETCD`,
/// `ROLLGATE_KUBECTL`, else on `PATH`); why not, when one is missing.
pub fn kube_binaries() -> Result<KubeBinaries, String> {
    let cache = std::env::var_os("ROLLGATE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/rollgate")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    let apiserver = std::env::var_os("ROLLGATE_KUBE_APISERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("kube-apiserver"));
    if !apiserver.is_file() {
        return Err(format!(
            "no kube-apiserver at {} (build it with .ci/kube-apiserver.sh)",
            apiserver.display()
        ));
    }
    let etcd_name = std::env::var("ROLLGATE_ETCD").unwrap_or_else(|_| "etcd".into());
    let etcd = which(&etcd_name).ok_or("no etcd on PATH (apt-get install etcd-server)")?;
    let kubectl_name = std::env::var("ROLLGATE_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let kubectl = which(&kubectl_name).ok_or("no kubectl on PATH")?;
    Ok(KubeBinaries {
        apiserver,
        etcd,
        kubectl,
    })
}

/// Serve `body` as a Prometheus exposition on `/metrics` (any path) at a free port on
/// 127.0.0.1, a thread per connection, for the life of the test process; returns the port.
pub fn exporter(body: &'static str) -> u16 {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind exporter");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                if read_request_head(&mut s).is_none() {
                    return;
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes());
            });
        }
    });
    port
}

/// A response's status and whole body.
pub async fn read_response(
    resp: hyper::Response<hyper::body::Incoming>,
) -> Result<(u16, Vec<u8>), String> {
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

/// The head of an HTTP request (up to the blank line) read from `s` with a 5 s timeout; `None`
/// when the peer closes or stalls first. For the plain-HTTP test servers.
pub fn read_request_head(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    use std::io::Read;
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(buf)
}
