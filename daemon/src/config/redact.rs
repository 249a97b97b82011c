//! Hides secrets before a configuration is printed or logged: the web token, the webhook
//! secret and any password in a URL.

use super::sections::Config;

pub const REDACTED: &str = "<redacted>";

impl Config {
    /// A copy with every secret replaced by `<redacted>`.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        if c.web.token.is_some() {
            c.web.token = Some(REDACTED.into());
        }
        if c.webhook.secret.is_some() {
            c.webhook.secret = Some(REDACTED.into());
        }
        c.webhook.url = c.webhook.url.as_deref().map(redact_url);
        c.store.url = redact_url(&c.store.url);
        c
    }

    /// The redacted configuration as TOML.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string(&self.redacted()).expect("a configuration always serializes")
    }
}

/// `scheme://user:secret@host/…` -> `scheme://user:<redacted>@host/…`; other URLs unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/screener"),
            "postgres://app:<redacted>@db:5432/screener"
        );
        assert_eq!(
            redact_url("postgres://app@db/screener"),
            "postgres://app@db/screener"
        );
        assert_eq!(
            redact_url("sqlite://screener.sqlite3"),
            "sqlite://screener.sqlite3"
        );
    }
}
