//! `zk://host:port[,host:port]/path` URLs, as Mesos and Marathon take them in `--master` / `--zk`.
//!
//! Parsing is pure (no DNS, no connect) so a bad flag is reported before anything starts.

use std::fmt;
use std::sync::Arc;

use crate::{ZkAuth, ZkError};

/// ZooKeeper's conventional client port, used when a server is given without one.
pub const DEFAULT_PORT: u16 = 2181;

/// Why a `zk://` URL was rejected; the message names the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL does not start with `zk://`.
    #[error("it must start with zk://, e.g. zk://127.0.0.1:2181/mesos")]
    NoScheme,
    /// `zk:///path`: no server before the path.
    #[error("no ZooKeeper server before the path; write zk://host:port/path")]
    EmptyHostList,
    /// One entry of the server list is empty (`zk://a:1,,b:2/p`).
    #[error("empty server entry in the list {list:?}; separate servers with single commas")]
    EmptyHost {
        /// The comma-separated server list.
        list: String,
    },
    /// A port that is not a number in 1..=65535.
    #[error("bad port {port:?} in server {server:?}; use a number 1-65535, e.g. {host}:2181")]
    BadPort {
        /// The whole `host:port` entry.
        server: String,
        /// Its host part.
        host: String,
        /// The port text.
        port: String,
    },
    /// `user:pass@` in the URL: credentials go in their own flag, kept out of URLs that are
    /// logged and shown.
    #[error("credentials (user:pass@) in ZooKeeper URLs are not supported; remove them and give --zk-auth digest:USER:PASSWORD instead")]
    Credentials,
    /// No path after the servers, or only `/`.
    #[error("missing path after the servers; add one, e.g. zk://host:2181/mesos (\"/\" alone is not allowed)")]
    MissingPath,
    /// A path with an empty, `.` or `..` segment.
    #[error("bad path {path:?}: segments must be non-empty and not . or ..")]
    BadPath {
        /// The path as given.
        path: String,
    },
}

/// A parsed `zk://` URL: the ensemble's servers and the node path the caller works under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    servers: Vec<String>,
    path: String,
    /// Shared: URLs are cloned into every handle and kept in flag structs.
    auth: Option<Arc<ZkAuth>>,
}

impl ZkUrl {
    /// Parses `zk://host:port[,host:port]/path`; a server without a port gets [`DEFAULT_PORT`].
    /// IPv6 hosts go in brackets (`[::1]:2181`). A trailing `/` on the path is dropped.
    ///
    /// ```
    /// use cartrack_zookeeper::ZkUrl;
    /// let url = ZkUrl::parse("zk://zk1:2181,zk2/mesos")?;
    /// assert_eq!(url.servers(), ["zk1:2181", "zk2:2181"]);
    /// assert_eq!(url.path(), "/mesos");
    /// assert!(ZkUrl::parse("zk://zk1:2181").is_err()); // no path
    /// # Ok::<(), cartrack_zookeeper::ZkError>(())
    /// ```
    pub fn parse(url: &str) -> Result<ZkUrl, ZkError> {
        parse(url).map_err(|reason| ZkError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_string(),
        })
    }

    /// The servers as `host:port`, in the order given.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The absolute node path (e.g. `/mesos`), never `/` and never with a trailing `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The same URL, with sessions authenticated as `auth` and the nodes they create
    /// restricted to it. Not part of the URL's text.
    pub fn with_auth(mut self, auth: ZkAuth) -> ZkUrl {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// The credentials sessions authenticate with, if any.
    pub fn auth(&self) -> Option<&ZkAuth> {
        self.auth.as_deref()
    }

    /// The `host:port,host:port` string the client connects to.
    pub fn connect_string(&self) -> String {
        self.servers.join(",")
    }
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://{}{}", self.connect_string(), self.path)
    }
}

impl std::str::FromStr for ZkUrl {
    type Err = ZkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZkUrl::parse(s)
    }
}

fn parse(url: &str) -> Result<ZkUrl, UrlError> {
    let rest = url.strip_prefix("zk://").ok_or(UrlError::NoScheme)?;
    let (hosts, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if hosts.contains('@') {
        return Err(UrlError::Credentials);
    }
    if hosts.is_empty() {
        return Err(UrlError::EmptyHostList);
    }
    let servers = hosts
        .split(',')
        .map(|server| parse_server(server, hosts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ZkUrl {
        servers,
        path: parse_path(path)?,
        auth: None,
    })
}

fn parse_server(server: &str, list: &str) -> Result<String, UrlError> {
    if server.is_empty() {
        return Err(UrlError::EmptyHost {
            list: list.to_owned(),
        });
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port) = if let Some(bracketed) = server.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((v6, "")) => (format!("[{v6}]"), None),
            Some((v6, tail)) => (
                format!("[{v6}]"),
                Some(tail.strip_prefix(':').unwrap_or(tail)),
            ),
            None => (server.to_owned(), None),
        }
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (server.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(UrlError::EmptyHost {
            list: list.to_owned(),
        });
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(UrlError::BadPort {
                    server: server.to_owned(),
                    host,
                    port: text.to_owned(),
                })
            }
        },
    };
    Ok(format!("{host}:{port}"))
}

fn parse_path(path: &str) -> Result<String, UrlError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Err(UrlError::MissingPath);
    }
    let bad = trimmed
        .split('/')
        .skip(1) // the empty text before the leading '/'
        .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if bad {
        return Err(UrlError::BadPath {
            path: path.to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> UrlError {
        parse(url).expect_err("should be rejected")
    }

    #[test]
    fn parses_servers_and_path() {
        let url = ZkUrl::parse("zk://10.0.0.1:2181,zk2:2182/mesos/sub").expect("valid");
        assert_eq!(url.servers(), ["10.0.0.1:2181", "zk2:2182"]);
        assert_eq!(url.path(), "/mesos/sub");
        assert_eq!(url.connect_string(), "10.0.0.1:2181,zk2:2182");
        assert_eq!(url.to_string(), "zk://10.0.0.1:2181,zk2:2182/mesos/sub");
    }

    #[test]
    fn default_port_ipv6_and_trailing_slash() {
        let url = ZkUrl::parse("zk://zk1,[::1]:2190,[fe80::1]/cartrack/").expect("valid");
        assert_eq!(url.servers(), ["zk1:2181", "[::1]:2190", "[fe80::1]:2181"]);
        assert_eq!(url.path(), "/cartrack");
    }

    #[test]
    fn validate_rejects_missing_scheme() {
        assert_eq!(reason("127.0.0.1:2181/mesos"), UrlError::NoScheme);
        assert_eq!(reason("http://127.0.0.1:2181/mesos"), UrlError::NoScheme);
    }

    #[test]
    fn validate_rejects_empty_host_list() {
        assert_eq!(reason("zk:///mesos"), UrlError::EmptyHostList);
        assert!(matches!(
            reason("zk://a:1,,b:2/mesos"),
            UrlError::EmptyHost { .. }
        ));
        assert!(matches!(
            reason("zk://:2181/mesos"),
            UrlError::EmptyHost { .. }
        ));
    }

    #[test]
    fn validate_rejects_bad_port() {
        for url in ["zk://h:0/p", "zk://h:70000/p", "zk://h:abc/p", "zk://h:/p"] {
            assert!(matches!(reason(url), UrlError::BadPort { .. }), "{url}");
        }
        let err = ZkUrl::parse("zk://zk1:21x81/mesos").expect_err("bad port");
        let message = err.to_string();
        assert!(
            message.contains("21x81") && message.contains("zk1:2181"),
            "{message}"
        );
    }

    #[test]
    fn validate_rejects_missing_path() {
        assert_eq!(reason("zk://h:2181"), UrlError::MissingPath);
        assert_eq!(reason("zk://h:2181/"), UrlError::MissingPath);
    }

    #[test]
    fn validate_rejects_bad_path_segments() {
        for url in ["zk://h/a//b", "zk://h/a/./b", "zk://h/a/.."] {
            assert!(matches!(reason(url), UrlError::BadPath { .. }), "{url}");
        }
    }

    #[test]
    fn validate_rejects_credentials() {
        assert_eq!(reason("zk://user:pass@h:2181/mesos"), UrlError::Credentials);
        let message = ZkUrl::parse("zk://u:p@h/m").expect_err("creds").to_string();
        assert!(message.contains("not supported"), "{message}");
    }
}
