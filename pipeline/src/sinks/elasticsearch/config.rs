//! Connection settings for Elasticsearch, validated into a form the service can use directly.

use reqwest::Url;

/// What is wrong with the Elasticsearch settings, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElasticsearchConfigError {
    /// Not a URL.
    #[error("--elasticsearch {0:?} is not a URL; expected e.g. http://127.0.0.1:9200 or https://user:pass@es.example:9200")]
    NotAUrl(String),
    /// A scheme other than http or https.
    #[error("--elasticsearch {0:?}: only http:// and https:// URLs are supported")]
    Scheme(String),
    /// Both an API key and a user name.
    #[error("give either credentials in the --elasticsearch URL (user:password@) or --elasticsearch-api-key, not both")]
    TwoCredentials,
}

/// How to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No authentication (a local or proxied cluster).
    None,
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An Elasticsearch API key (the base64 `id:key` form).
    ApiKey(String),
}

impl std::fmt::Debug for Credentials {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::ApiKey(_) => f.write_str("ApiKey(***)"),
        }
    }
}

/// A validated Elasticsearch endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticsearchConfig {
    /// Base URL, without credentials, ending in `/`.
    pub base_url: Url,
    /// How to authenticate.
    pub credentials: Credentials,
}

impl ElasticsearchConfig {
    /// Validates the `--elasticsearch` URL (credentials may be embedded as `user:pass@`) and the
    /// optional API key.
    pub fn new(url: &str, api_key: Option<&str>) -> Result<Self, ElasticsearchConfigError> {
        let mut base_url = Url::parse(url.trim())
            .map_err(|_| ElasticsearchConfigError::NotAUrl(url.to_owned()))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(ElasticsearchConfigError::Scheme(url.to_owned()));
        }
        let username = base_url.username().to_owned();
        let password = base_url.password().unwrap_or_default().to_owned();
        // ok: http(s) URLs always accept (and so clear) credentials.
        let _ = base_url.set_username("");
        let _ = base_url.set_password(None);
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let api_key = api_key.map(str::trim).filter(|key| !key.is_empty());
        let credentials = match (username.is_empty(), api_key) {
            (false, Some(_)) => return Err(ElasticsearchConfigError::TwoCredentials),
            (true, Some(key)) => Credentials::ApiKey(key.to_owned()),
            (false, None) => Credentials::Basic { username, password },
            (true, None) => Credentials::None,
        };
        Ok(Self {
            base_url,
            credentials,
        })
    }

    /// The URL of an API path such as `_bulk`.
    pub fn endpoint(&self, path: &str) -> Url {
        // ok: joining a relative path onto a validated http(s) base cannot fail.
        self.base_url
            .join(path)
            .unwrap_or_else(|_| self.base_url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_credentials_out_of_the_url() {
        let config =
            ElasticsearchConfig::new("https://elastic:s3cret@es.local:9200/prefix", None).unwrap();
        assert_eq!(config.base_url.as_str(), "https://es.local:9200/prefix/");
        assert_eq!(
            config.endpoint("_bulk").as_str(),
            "https://es.local:9200/prefix/_bulk"
        );
        assert!(
            matches!(config.credentials, Credentials::Basic { ref password, .. } if password == "s3cret")
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn explains_bad_settings() {
        assert!(matches!(
            ElasticsearchConfig::new("es:9200", None),
            Err(ElasticsearchConfigError::Scheme(_))
        ));
        assert!(matches!(
            ElasticsearchConfig::new("not a url", None),
            Err(ElasticsearchConfigError::NotAUrl(_))
        ));
        assert_eq!(
            ElasticsearchConfig::new("http://u:p@h:9200", Some("key")),
            Err(ElasticsearchConfigError::TwoCredentials)
        );
        let keyed = ElasticsearchConfig::new("http://h:9200", Some("abc")).unwrap();
        assert_eq!(keyed.credentials, Credentials::ApiKey("abc".into()));
    }
}
