//! A real ZooKeeper 3.8 server for tests (feature `testkit`): Debian's `zookeeper` package run
//! in the foreground on a free 127.0.0.1 port with a temporary data directory.
//!
//! No server outlives its test process: each runs in its own process group, is killed (with
//! its JVM) on drop, and carries `PR_SET_PDEATHSIG = SIGKILL` bound to a spawner thread that
//! lives as long as the process, so even a shared server (never dropped) or a killed test
//! binary leaves no java behind.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cartrack_runtime::parent_death::{die_with_parent, Signal};
use rustix::process::{kill_process_group, Pid};

/// Where Debian's package puts the start script; override with `CARTRACK_ZOOKEEPER_SERVER`.
pub const DEFAULT_SERVER_SCRIPT: &str = "/usr/share/zookeeper/bin/zkServer.sh";

/// How long a server may take to answer `ruok` (a JVM start takes ~1 s here, more on a busy CI).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The server's tick: session timeouts are clamped to [2, 20] ticks unless configured, so a
/// short tick lets tests use sub-second to few-second sessions.
pub const TICK: Duration = Duration::from_millis(250);

/// Why a test server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The ZooKeeper server script is not installed.
    #[error("ZooKeeper server not found at {path}; install it with `apt-get install -y zookeeper` (or set CARTRACK_ZOOKEEPER_SERVER)")]
    NotInstalled {
        /// The script path looked for.
        path: PathBuf,
    },
    /// A file or process operation failed.
    #[error("test ZooKeeper: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not answer `ruok` in time, or exited.
    #[error("test ZooKeeper on port {port} not ready after {waited:?}; its output:\n{output}")]
    NotReady {
        /// The client port.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The tail of the server's output.
        output: String,
    },
    /// The process-wide shared server failed to start earlier.
    #[error("shared test ZooKeeper failed to start: {0}")]
    Shared(String),
    /// A fake master could not register its `json.info_` node.
    #[error("registering a fake master under {path}: {source}")]
    Register {
        /// The master group path.
        path: String,
        /// The client's reason.
        #[source]
        source: zookeeper_client::Error,
    },
}

/// A fake Mesos master as ZooKeeper sees it: its own session holding one ephemeral sequential
/// `json.info_` node under `path` (the lowest such node leads). Dropping it closes the session,
/// so the node goes and the next master leads — a master failover.
pub async fn register_master(
    server_port: u16,
    path: &str,
    host: &str,
    port: u16,
) -> Result<zookeeper_client::Client, TestkitError> {
    let failed = |source| TestkitError::Register {
        path: path.to_owned(),
        source,
    };
    let client = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(5))
        .connect(&format!("127.0.0.1:{server_port}"))
        .await
        .map_err(failed)?;
    let persistent =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        match client.create(&prefix, b"", &persistent).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    let info = format!(
        r#"{{"address":{{"hostname":"{host}","ip":"127.0.0.1","port":{port}}},"hostname":"{host}","id":"{host}-id","ip":16777343,"pid":"master@127.0.0.1:{port}","port":{port},"version":"1.12.0"}}"#
    );
    let ephemeral = zookeeper_client::CreateMode::EphemeralSequential
        .with_acls(zookeeper_client::Acls::anyone_all());
    client
        .create(&format!("{path}/json.info_"), info.as_bytes(), &ephemeral)
        .await
        .map_err(failed)?;
    Ok(client)
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestkitError {
    let what = what.into();
    move |source| TestkitError::Io { what, source }
}

/// A running ZooKeeper server owned by a test; killed (with its JVM) on drop.
#[derive(Debug)]
pub struct TestZooKeeper {
    port: u16,
    script: PathBuf,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
}

impl TestZooKeeper {
    /// Starts a server and waits until it answers `ruok` with `imok`. The start script is
    /// `$CARTRACK_ZOOKEEPER_SERVER` or [`DEFAULT_SERVER_SCRIPT`].
    pub fn start() -> Result<TestZooKeeper, TestkitError> {
        let script = std::env::var_os("CARTRACK_ZOOKEEPER_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SERVER_SCRIPT));
        TestZooKeeper::start_with_script(&script)
    }

    /// [`TestZooKeeper::start`] with an explicit `zkServer.sh`.
    pub fn start_with_script(script: &Path) -> Result<TestZooKeeper, TestkitError> {
        let script = script.to_owned();
        if !script.is_file() {
            return Err(TestkitError::NotInstalled { path: script });
        }
        let dir = tempfile::Builder::new()
            .prefix("cartrack-zk-")
            .tempdir()
            .map_err(io_error("create temp dir"))?;
        let port = free_port()?;
        write_config(dir.path(), port)?;
        let child = launch(&script, dir.path(), port)?;
        Ok(TestZooKeeper {
            port,
            script,
            dir,
            child: Mutex::new(Some(child)),
        })
    }

    /// A server shared by every test of this process (started on first use, never restarted).
    /// Give each test its own root path ([`unique_path`]); use [`TestZooKeeper::start`] for
    /// tests that restart or stop the server.
    pub fn shared() -> Result<&'static TestZooKeeper, TestkitError> {
        static SHARED: OnceLock<Result<TestZooKeeper, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| TestZooKeeper::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TestkitError::Shared(e.clone()))
    }

    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `zk://127.0.0.1:PORT/path` (`path` with or without the leading `/`).
    pub fn url(&self, path: &str) -> String {
        loopback_url(self.port, path)
    }

    /// The server's process id (the JVM: the start script `exec`s java), if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok()?.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL (no clean shutdown) and starts it again on the same port
    /// and data directory, waiting until it answers: ZooKeeper's "crash and recover".
    pub async fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill();
        let (script, dir, port) = (self.script.clone(), self.dir.path().to_owned(), self.port);
        let child = tokio::task::spawn_blocking(move || launch(&script, &dir, port))
            .await
            .map_err(|e| TestkitError::Io {
                what: "join restart task".into(),
                source: std::io::Error::other(e),
            })??;
        if let Ok(mut slot) = self.child.lock() {
            *slot = Some(child);
        }
        Ok(())
    }

    /// Kills the server (and anything in its process group) and reaps it. Idempotent.
    pub fn kill(&self) {
        let Ok(mut slot) = self.child.lock() else {
            return;
        };
        if let Some(mut child) = slot.take() {
            kill_group(&mut child);
        }
    }
}

impl Drop for TestZooKeeper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `zk://127.0.0.1:PORT/path`, `path` with or without the leading `/`.
fn loopback_url(port: u16, path: &str) -> String {
    format!("zk://127.0.0.1:{port}/{}", path.trim_start_matches('/'))
}

/// A fresh absolute node path per call, so tests sharing a server never collide.
pub fn unique_path(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "/test-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        name
    )
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
/// For tests: wait on an observable condition, never for a fixed time.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> Result<u16, TestkitError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_error("find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("find a free port"))?
        .port();
    Ok(port)
}

fn write_config(dir: &Path, port: u16) -> Result<(), TestkitError> {
    let data = dir.join("data");
    let logs = dir.join("logs");
    for sub in [&data, &logs] {
        std::fs::create_dir_all(sub).map_err(io_error(format!("create {}", sub.display())))?;
    }
    let config = format!(
        "tickTime={tick}\n\
         minSessionTimeout={min}\n\
         maxSessionTimeout=60000\n\
         dataDir={data}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=ruok,stat\n\
         preAllocSize=1024\n\
         forceSync=no\n",
        tick = TICK.as_millis(),
        min = 2 * TICK.as_millis(),
        data = data.display(),
    );
    let path = dir.join("zoo.cfg");
    std::fs::write(&path, config).map_err(io_error(format!("write {}", path.display())))
}

/// Starts the server and waits for `imok`; kills it again if it never gets ready.
fn launch(script: &Path, dir: &Path, port: u16) -> Result<Child, TestkitError> {
    let output_path = dir.join("logs").join("zookeeper.out");
    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&output_path)
        .map_err(io_error(format!("open {}", output_path.display())))?;
    let stderr = output.try_clone().map_err(io_error("dup output file"))?;
    let mut command = Command::new(script);
    command
        .arg("start-foreground")
        .arg(dir.join("zoo.cfg"))
        .env("ZOO_LOG_DIR", dir.join("logs"))
        .env(
            "JVMFLAGS",
            "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        )
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(stderr)
        .process_group(0);
    let mut child =
        spawn_supervised(command).map_err(io_error(format!("spawn {}", script.display())))?;
    let started = Instant::now();
    loop {
        if answers_imok(port) {
            return Ok(child);
        }
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if exited || started.elapsed() > READY_TIMEOUT {
            kill_group(&mut child);
            let text = std::fs::read_to_string(&output_path).unwrap_or_default();
            let tail: String = text
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(TestkitError::NotReady {
                port,
                waited: started.elapsed(),
                output: tail,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ZooKeeper's four-letter health check.
fn answers_imok(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"ruok").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer == "imok"
}

fn kill_group(child: &mut Child) {
    // The group id is the child's pid (process_group(0)).
    if let Some(group) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(group, Signal::KILL);
    }
    let _ = child.wait();
}

/// Spawns `command` from one long-lived thread, so `PR_SET_PDEATHSIG` (which fires when the
/// spawning *thread* ends) fires only when this process ends, not when a test thread finishes.
/// The child gets `PR_SET_PDEATHSIG = SIGKILL`. Other test servers (the real-Mesos test
/// clusters) spawn through it too.
pub fn spawn_supervised(mut command: Command) -> std::io::Result<Child> {
    die_with_parent(&mut command, Signal::KILL);
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("test-zookeeper-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the spawner thread"));
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = spawner
        .lock()
        .map_err(|_| std::io::Error::other("spawner lock poisoned"))?
        .send((command, reply_tx));
    sent.map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// A TCP relay on 127.0.0.1 in front of a test server that a test can cut: the way to make a
/// client's session expire "by itself" (as during a SIGSTOP or a network partition longer
/// than the session timeout) while the server keeps running.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    blocked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts relaying a free local port to `127.0.0.1:upstream_port` (on the current runtime).
    pub async fn start(upstream_port: u16) -> Result<Proxy, TestkitError> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(io_error("bind proxy"))?;
        let port = listener
            .local_addr()
            .map_err(io_error("proxy address"))?
            .port();
        let blocked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let connections = std::sync::Arc::new(Mutex::new(Vec::new()));
        let acceptor = tokio::spawn({
            let blocked = blocked.clone();
            let connections = connections.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if blocked.load(Ordering::SeqCst) {
                        drop(inbound); // refused: the client sees the connection close
                        continue;
                    }
                    let relay = tokio::spawn(async move {
                        let upstream = (Ipv4Addr::LOCALHOST, upstream_port);
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    if let Ok(mut list) = connections.lock() {
                        list.retain(|task: &tokio::task::JoinHandle<()>| !task.is_finished());
                        list.push(relay);
                    }
                }
            }
        });
        Ok(Proxy {
            port,
            blocked,
            connections,
            acceptor,
        })
    }

    /// The relay's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `zk://127.0.0.1:PROXY_PORT/path`.
    pub fn url(&self, path: &str) -> String {
        loopback_url(self.port, path)
    }

    /// Cuts every open connection and refuses new ones until [`Proxy::unblock`].
    pub fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        if let Ok(mut list) = self.connections.lock() {
            for task in list.drain(..) {
                task.abort();
            }
        }
    }

    /// Lets connections through again.
    pub fn unblock(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.block();
        self.acceptor.abort();
    }
}
