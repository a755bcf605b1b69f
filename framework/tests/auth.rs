//! Authentication to the master: HTTP Basic against a dev cluster that
//! requires it (the real scheduler process), and the DC/OS service account login against a
//! fake IAM login endpoint that verifies the signed login token with the fixture's public key
//! and a fake master that checks `Authorization: token=...`; both fakes also serve HTTPS
//! with a certificate of a test CA, as DC/OS Enterprise does with its cluster CA.

mod support;

use std::collections::HashSet;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cartrack_devcluster::{ClusterConfig, DevCluster};
use cartrack_framework::auth::token::LoginClaims;
use cartrack_framework::auth::{AuthError, AuthFlags, Authenticator, Credentials, LoginError};
use cartrack_framework::mesos::calls::{self, FrameworkSettings};
use cartrack_framework::mesos::{
    spawn_subscription, CallError, Caller, HttpCaller, Session, StreamEvent, SubscribeConfig,
};
use cartrack_framework::tls::Trust;
use futures::channel::mpsc as fmpsc;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mesos_proto::v1::scheduler::{call, event, Call, Event};
use prost::Message;
use support::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const T: Duration = Duration::from_secs(60);

const ONE_POD: &str = "[[groups]]\nname = \"ingester\"\ncount = 1\n[[groups.tasks]]\nname = \"main\"\ncommand = \"./cartrack-worker\"\ncpus = 0.1\nmem = 64\ndisk = 16\n";

async fn cluster_requiring_basic(dir: &Path) -> DevCluster {
    DevCluster::start(ClusterConfig {
        agents: 1,
        work_dir: dir.join("cluster"),
        heartbeat_interval: Duration::from_secs(1),
        status_update_retry: Duration::from_secs(1),
        require_basic_auth: Some(("cartrack".into(), "s3cret".into())),
        ..ClusterConfig::default()
    })
    .await
    .expect("dev cluster starts")
}

/// The body is shared with the real-Mesos variant in `real_mesos_ha.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_401_without_credentials_then_subscribes_and_launches_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = cluster_requiring_basic(dir.path()).await;
    let spec = write_spec(dir.path(), ONE_POD);
    real_ha::basic_auth_refused_then_subscribes(
        dir.path(),
        &spec,
        real_ha::BasicAuthMaster::Dev(&cluster),
        "cartrack",
        "s3cret",
    )
    .await;
    cluster.shutdown().await;
}

#[test]
fn unreadable_or_empty_secret_file_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(dir.path(), ONE_POD);
    let empty = dir.path().join("empty-secret");
    std::fs::write(&empty, "\n").expect("write");
    let missing = dir.path().join("missing-secret");
    for path in [&empty, &missing] {
        let out = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
            .arg("--spec")
            .arg(&spec)
            .args(["--principal", "cartrack", "--secret-file"])
            .arg(path)
            .arg("--check")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--secret-file"), "{stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "names the path: {stderr}"
        );
    }
}

// ---- DC/OS service account ------------------------------------------------------------------

type Body = BoxBody<Bytes, Infallible>;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/service-account")
        .join(name)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Serves `handler` over HTTP/1 on 127.0.0.1:0 until the test ends, over TLS with `tls`;
/// returns the base URL (`http://` or `https://127.0.0.1:port`).
async fn serve<F, Fut>(handler: F, tls: Option<TlsAcceptor>) -> String
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let http1 = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    None => {
                        http1
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await
                    }
                    // A client that refuses our certificate ends the handshake here.
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => {
                            http1
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await
                        }
                        Err(_) => Ok(()),
                    },
                };
            });
        }
    });
    format!("{scheme}://{addr}")
}

/// A test CA and a server certificate it signed for 127.0.0.1: the CA's PEM file (what
/// `--ca-file` takes) and an acceptor serving the certificate.
fn test_ca(dir: &Path) -> (PathBuf, TlsAcceptor) {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let issued = cartrack_http::test_certs::issue_for_localhost().expect("test certificate");
    let ca_pem = dir.join("test-ca.crt");
    std::fs::write(&ca_pem, &issued.ca).expect("write CA");
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(issued.cert.as_bytes())
        .expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    (ca_pem, TlsAcceptor::from(Arc::new(config)))
}

fn reply(status: u16, body: String) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("response")
}

/// How long the tokens the fake IAM hands out live.
#[derive(Clone, Copy)]
enum Lifetime {
    /// An opaque token (no expiry known: renewed only after a 401).
    Opaque,
    /// A JWT expiring in this many seconds.
    Jwt(u64),
}

/// The IAM's side: verifies each login token against the fixture's public key, hands out
/// numbered tokens, and remembers which it issued (the fake master accepts only those).
#[derive(Default)]
struct Iam {
    logins: Vec<String>,
    refusals: Vec<String>,
    issued: HashSet<String>,
    /// The master refuses every token (the account lacks the framework permission).
    master_refuses: bool,
}

async fn fake_iam(
    uid: &'static str,
    lifetime: Lifetime,
    tls: Option<TlsAcceptor>,
) -> (String, Arc<Mutex<Iam>>) {
    let public = std::fs::read(fixture("public.pem")).expect("public key");
    let key = Arc::new(DecodingKey::from_rsa_pem(&public).expect("public key parses"));
    let iam = Arc::new(Mutex::new(Iam::default()));
    let shared = iam.clone();
    let base = serve(
        move |req: hyper::Request<hyper::body::Incoming>| {
            let (key, iam) = (key.clone(), shared.clone());
            async move {
                let body = req.into_body().collect().await.expect("body").to_bytes();
                let login: serde_json::Value = serde_json::from_slice(&body).expect("login JSON");
                let token = login["token"].as_str().unwrap_or_default();
                let mut validation = Validation::new(Algorithm::RS256);
                validation.set_required_spec_claims(&["exp"]);
                let verdict = match jsonwebtoken::decode::<LoginClaims>(token, &key, &validation) {
                    Err(e) => Err(format!("signature or claims refused: {e}")),
                    Ok(data) if data.claims.uid != uid || login["uid"] != uid => {
                        Err(format!("uid {:?} unknown", data.claims.uid))
                    }
                    Ok(data) if data.claims.exp > unix_now() + 600 => {
                        Err("login token lives too long".into())
                    }
                    Ok(_) => Ok(()),
                };
                let mut iam = iam.lock().expect("iam");
                match verdict {
                    Err(reason) => {
                        iam.refusals.push(reason);
                        reply(
                            401,
                            r#"{"title":"Bad login","description":"the login token is invalid"}"#
                                .into(),
                        )
                    }
                    Ok(()) => {
                        let n = iam.logins.len() + 1;
                        let token = match lifetime {
                            Lifetime::Opaque => format!("auth-token-{n}"),
                            Lifetime::Jwt(secs) => {
                                use base64::Engine;
                                let b64 = |s: String| {
                                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
                                };
                                format!(
                                    "{}.{}.sig{n}",
                                    b64(r#"{"alg":"RS256","typ":"JWT"}"#.into()),
                                    b64(format!(
                                        r#"{{"uid":"{uid}","exp":{}}}"#,
                                        unix_now() + secs
                                    ))
                                )
                            }
                        };
                        iam.logins.push(token.clone());
                        iam.issued.insert(token.clone());
                        reply(200, serde_json::json!({ "token": token }).to_string())
                    }
                }
            }
        },
        tls,
    )
    .await;
    (format!("{base}/acs/api/v1/auth/login"), iam)
}

/// A master that accepts only `Authorization: token=<a token the IAM issued and the test did
/// not revoke>`, records every header it saw, answers SUBSCRIBE with SUBSCRIBED on an open
/// stream and other calls with 202.
#[derive(Default)]
struct MasterLog {
    authorizations: Vec<(String, Option<String>)>,
    open_streams: Vec<fmpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>>,
}

async fn fake_master(
    iam: Arc<Mutex<Iam>>,
    tls: Option<TlsAcceptor>,
) -> (String, Arc<Mutex<MasterLog>>) {
    let log = Arc::new(Mutex::new(MasterLog::default()));
    let shared = log.clone();
    let base = serve(
        move |req: hyper::Request<hyper::body::Incoming>| {
            let (iam, log) = (iam.clone(), shared.clone());
            async move {
                let authorization = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let body = req.into_body().collect().await.expect("body").to_bytes();
                let call = Call::decode(body).expect("a Call");
                let name = format!("{:?}", call.r#type());
                let mut log = log.lock().expect("log");
                log.authorizations.push((name, authorization.clone()));
                let accepted = authorization
                    .as_deref()
                    .and_then(|a| a.strip_prefix("token="))
                    .is_some_and(|t| {
                        let iam = iam.lock().expect("iam");
                        !iam.master_refuses && iam.issued.contains(t)
                    });
                if !accepted {
                    return reply(401, "Unauthorized".into());
                }
                if call.r#type() != call::Type::Subscribe {
                    return reply(202, String::new());
                }
                let subscribed = Event {
                    r#type: Some(event::Type::Subscribed as i32),
                    subscribed: Some(event::Subscribed {
                        framework_id: mesos_proto::v1::FrameworkId {
                            value: "fw-1".into(),
                        },
                        heartbeat_interval_seconds: Some(15.0),
                        ..Default::default()
                    }),
                    ..Event::default()
                };
                let bytes = subscribed.encode_to_vec();
                let mut record = format!("{}\n", bytes.len()).into_bytes();
                record.extend_from_slice(&bytes);
                let (tx, rx) = fmpsc::unbounded();
                let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(record))));
                log.open_streams.push(tx);
                hyper::Response::builder()
                    .status(200)
                    .header("Mesos-Stream-Id", "stream-1")
                    .body(StreamBody::new(rx).boxed())
                    .expect("response")
            }
        },
        tls,
    )
    .await;
    (base, log)
}

/// Writes a service account key file for `uid` with `private_key` and `login_endpoint`.
fn key_file(dir: &Path, uid: &str, private_key: &str, login_endpoint: &str) -> PathBuf {
    let pem = std::fs::read_to_string(fixture(private_key)).expect("private key");
    let path = dir.join(format!("{private_key}.json"));
    let json = serde_json::json!({
        "scheme": "RS256",
        "uid": uid,
        "private_key": pem,
        "login_endpoint": login_endpoint,
    });
    std::fs::write(&path, json.to_string()).expect("key file");
    path
}

fn service_account(path: PathBuf) -> Credentials {
    let flags = AuthFlags {
        service_account_key: Some(path),
        ..AuthFlags::default()
    };
    Credentials::load(&flags, None, |_| None).expect("key file loads")
}

/// A running subscription: its session, its task, and the receiver of its events (the loop
/// ends when that is dropped, so the test keeps it).
struct Subscribed {
    session: Arc<Session>,
    handle: tokio::task::JoinHandle<()>,
    _events: mpsc::Receiver<StreamEvent>,
}

/// Subscribes to `master` as the service account of `credentials`; returns once connected.
async fn subscribed(
    master: &str,
    credentials: &Credentials,
    auth: &Authenticator,
    trust: &Trust,
    iam: &Mutex<Iam>,
) -> Subscribed {
    let session = Arc::new(Session::new(None));
    let (tx, mut rx) = mpsc::channel(16);
    let config = SubscribeConfig {
        masters: cartrack_framework::mesos::Masters::List(vec![master.to_string()]),
        fence: cartrack_framework::ha::Fence::none(),
        framework: FrameworkSettings {
            user: "nobody".into(),
            name: "cartrack".into(),
            roles: vec!["*".into()],
            principal: credentials.principal().map(String::from),
            failover_timeout_seconds: 604_800.0,
            webui_url: None,
        },
        default_heartbeat: Duration::from_secs(15),
        missed_heartbeats: 5,
        trust: trust.clone(),
    };
    let handle = spawn_subscription(config, session.clone(), auth.clone(), tx);
    let first = tokio::time::timeout(T, rx.recv()).await.expect("in time");
    assert!(
        matches!(first, Some(StreamEvent::Connected { .. })),
        "{first:?}; IAM refusals: {:?}",
        iam.lock().expect("iam").refusals
    );
    Subscribed {
        session,
        handle,
        _events: rx,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_login_and_the_master_are_trusted_only_with_the_clusters_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_file, tls) = test_ca(dir.path());
    let (login, iam) = fake_iam("cartrack-sa", Lifetime::Opaque, Some(tls.clone())).await;
    let (master, log) = fake_master(iam.clone(), Some(tls)).await;
    assert!(login.starts_with("https://") && master.starts_with("https://"));
    let credentials = service_account(key_file(dir.path(), "cartrack-sa", "private.pem", &login));

    // Public roots only: the handshake fails before any login, and the error says what to do.
    let err = Authenticator::new(&credentials, &Trust::default())
        .header()
        .await
        .expect_err("the test CA is unknown");
    let text = err.to_string();
    assert!(
        text.contains("certificate") && text.contains("--ca-file"),
        "{text}"
    );
    assert!(iam.lock().expect("iam").logins.is_empty());

    // With the CA (as --ca-file gives it): login, SUBSCRIBE and a call, all over TLS.
    let trust = Trust::load(&ca_file).expect("the test CA loads");
    let auth = Authenticator::new(&credentials, &trust);
    let subscription = subscribed(&master, &credentials, &auth, &trust, &iam).await;
    HttpCaller::new(
        subscription.session.clone(),
        auth,
        &trust,
        std::time::Duration::from_secs(10),
    )
    .call(calls::revive("fw-1"))
    .await
    .expect("REVIVE over https");
    assert_eq!(
        log.lock().expect("log").authorizations,
        vec![
            (
                "Subscribe".to_string(),
                Some("token=auth-token-1".to_string())
            ),
            ("Revive".to_string(), Some("token=auth-token-1".to_string())),
        ]
    );
    subscription.handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_logs_in_and_the_master_sees_its_token_then_a_401_logs_in_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (login, iam) = fake_iam("cartrack-sa", Lifetime::Opaque, None).await;
    let (master, log) = fake_master(iam.clone(), None).await;
    let credentials = service_account(key_file(dir.path(), "cartrack-sa", "private.pem", &login));
    assert_eq!(credentials.principal(), Some("cartrack-sa"));
    let trust = Trust::default();
    let auth = Authenticator::new(&credentials, &trust);
    let subscription = subscribed(&master, &credentials, &auth, &trust, &iam).await;
    let caller = HttpCaller::new(
        subscription.session.clone(),
        auth.clone(),
        &trust,
        std::time::Duration::from_secs(10),
    );
    caller
        .call(calls::revive("fw-1"))
        .await
        .expect("REVIVE accepted with the token");
    {
        let log = log.lock().expect("log");
        assert_eq!(
            log.authorizations,
            vec![
                (
                    "Subscribe".to_string(),
                    Some("token=auth-token-1".to_string())
                ),
                ("Revive".to_string(), Some("token=auth-token-1".to_string())),
            ],
            "SUBSCRIBE and the call carry the token of one login"
        );
    }
    assert_eq!(
        iam.lock().expect("iam").logins.len(),
        1,
        "one login serves both"
    );

    // The IAM revokes the token: the next call gets 401, logs in once more, succeeds.
    iam.lock().expect("iam").issued.remove("auth-token-1");
    caller
        .call(calls::revive("fw-1"))
        .await
        .expect("REVIVE accepted after a fresh login");
    let seen: Vec<Option<String>> = log
        .lock()
        .expect("log")
        .authorizations
        .iter()
        .skip(2)
        .map(|(_, a)| a.clone())
        .collect();
    assert_eq!(
        seen,
        vec![
            Some("token=auth-token-1".to_string()),
            Some("token=auth-token-2".to_string())
        ]
    );

    // The master refuses even fresh tokens (the account lacks the permission): the call
    // fails with an error naming the flag, after exactly one more login.
    iam.lock().expect("iam").master_refuses = true;
    let err = caller
        .call(calls::revive("fw-1"))
        .await
        .expect_err("no valid token");
    let text = err.to_string();
    assert!(matches!(err, CallError::Unauthorized { .. }), "{text}");
    assert!(text.contains("--service-account-key"), "{text}");
    assert_eq!(
        iam.lock().expect("iam").logins.len(),
        3,
        "one re-login per 401"
    );
    subscription.handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_close_to_expiry_is_renewed_before_use_and_a_long_one_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (lifetime, logins) in [(Lifetime::Jwt(30), 2), (Lifetime::Jwt(5 * 86_400), 1)] {
        let (login, iam) = fake_iam("cartrack-sa", lifetime, None).await;
        let auth = Authenticator::new(
            &service_account(key_file(dir.path(), "cartrack-sa", "private.pem", &login)),
            &Trust::default(),
        );
        let first = auth.header().await.expect("login").expect("header");
        let second = auth.header().await.expect("header").expect("header");
        assert!(first.to_str().expect("ascii").starts_with("token="));
        assert_eq!(iam.lock().expect("iam").logins.len(), logins);
        assert_eq!(first == second, logins == 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_by_the_login_endpoint_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (login, iam) = fake_iam("cartrack-sa", Lifetime::Opaque, None).await;
    let auth = Authenticator::new(
        &service_account(key_file(
            dir.path(),
            "cartrack-sa",
            "other-private.pem",
            &login,
        )),
        &Trust::default(),
    );
    let err = auth.header().await.expect_err("the IAM refuses");
    assert!(
        matches!(
            err,
            AuthError::Login(LoginError::Refused { status: 401, .. })
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("refused") && text.contains("cartrack-sa"),
        "{text}"
    );
    assert!(text.contains("--service-account-key"), "{text}");
    let iam = iam.lock().expect("iam");
    assert!(iam.logins.is_empty());
    assert!(
        iam.refusals[0].contains("signature") || iam.refusals[0].contains("Invalid"),
        "the fake refused for the signature: {:?}",
        iam.refusals
    );
}

#[test]
fn malformed_key_files_are_config_errors_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spec(dir.path(), ONE_POD);
    let pem = std::fs::read_to_string(fixture("private.pem")).expect("pem");
    let cases = [
        (
            serde_json::json!({"scheme": "RS256", "private_key": pem}),
            "uid",
        ),
        (serde_json::json!({"uid": "sa"}), "private_key"),
        (
            serde_json::json!({"uid": "sa", "private_key": "not a key"}),
            "private_key",
        ),
        (
            serde_json::json!({"uid": "sa", "scheme": "HS256", "private_key": pem}),
            "scheme",
        ),
        (
            serde_json::json!({"uid": "sa", "private_key": pem, "login_endpoint": "leader.mesos"}),
            "login_endpoint",
        ),
    ];
    for (i, (json, field)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("key-{i}.json"));
        std::fs::write(&path, json.to_string()).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_cartrack-scheduler"))
            .arg("--spec")
            .arg(&spec)
            .arg("--service-account-key")
            .arg(&path)
            .arg("--check")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {stderr}");
        assert!(stderr.contains(field), "names {field}: {stderr}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "names the file: {stderr}"
        );
        assert!(
            !stderr.contains("BEGIN PRIVATE KEY"),
            "never prints the key"
        );
    }
}

#[test]
fn the_dcos_env_var_holds_the_same_key_json() {
    let pem = std::fs::read_to_string(fixture("private.pem")).expect("pem");
    let json = serde_json::json!({"scheme": "RS256", "uid": "cartrack-sa", "private_key": pem})
        .to_string();
    let credentials = Credentials::load(&AuthFlags::default(), None, |name| {
        (name == "DCOS_SERVICE_ACCOUNT_CREDENTIAL").then(|| json.clone())
    })
    .expect("loads from the env");
    assert_eq!(credentials.principal(), Some("cartrack-sa"));
    assert!(
        format!("{credentials:?}").contains("***"),
        "Debug hides the key"
    );
    assert!(!format!("{credentials:?}").contains("BEGIN"));
}
