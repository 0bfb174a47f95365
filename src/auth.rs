//! API keys: who may call which part of the HTTP API, and how often.
//!
//! A key is 32 random bytes (`lore_` + 64 hex digits), shown once by `lore keys create` and
//! stored only as its BLAKE3 hash (in the keys file or `server.api_keys`). A fast hash is
//! enough here, unlike for passwords: a key has 256 bits of entropy, so inverting the hash
//! is as hard as guessing the key, and a deliberately slow hash (argon2, bcrypt) would only
//! buy protection for low-entropy secrets while making every request — and every forged
//! request — cost milliseconds of CPU. Hashes are compared with `blake3::Hash`'s
//! constant-time equality, against every stored key (no early exit), so response time says
//! nothing about how much of a guess was right.
//!
//! This module is pure: the server's middleware (`server::require_scope`) turns a
//! [`Denied`] into the JSON error answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota};

use crate::config::{ApiKey, Scope, ServerConfig};
use crate::error::{Error, Result};

/// Suffix of the default keys file, beside the index folder (`index` → `index.keys.toml`).
/// Beside, not inside: the index folder holds only what ingest writes (it refuses folders
/// with anything else in them), and deleting an index should not revoke a server's keys.
pub const KEYS_FILE_SUFFIX: &str = ".keys.toml";

/// Prefix of every key lore makes, so a leaked key is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "lore_";

/// The keys file: `[[key]]` tables.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    #[serde(default, rename = "key")]
    pub keys: Vec<ApiKey>,
}

/// The keys file in effect: `server.keys_file`, or `<index>.keys.toml` beside the index
/// folder.
pub fn keys_file_path(server: &ServerConfig, index_root: &Path) -> PathBuf {
    if let Some(p) = &server.keys_file {
        return p.clone();
    }
    match index_root.file_name() {
        Some(name) => {
            index_root.with_file_name(format!("{}{KEYS_FILE_SUFFIX}", name.to_string_lossy()))
        }
        None => index_root.join(format!("lore{KEYS_FILE_SUFFIX}")),
    }
}

/// Reads a keys file; a missing file holds no keys.
pub fn read_keys_file(path: &Path) -> Result<Vec<ApiKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::io(
                format!("reading keys file {}", path.display()),
                e,
            ))
        }
    };
    let file: KeysFile = toml::from_str(&text)
        .map_err(|e| Error::Config(format!("keys file {}: {e}", path.display())))?;
    for k in &file.keys {
        parse_hash(&k.hash).map_err(|m| {
            Error::Config(format!("keys file {}: key {}: {m}", path.display(), k.id))
        })?;
    }
    Ok(file.keys)
}

/// Writes the keys file atomically (temporary file + rename), readable by its owner only.
fn write_keys_file(path: &Path, keys: &[ApiKey]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let text = toml::to_string_pretty(&KeysFile {
        keys: keys.to_vec(),
    })
    .map_err(|e| Error::Config(e.to_string()))?;
    let header =
        "# lore API keys: hashes only (the keys were shown once by `lore keys create`).\n\n";
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    use std::io::Write;
    tmp.write_all(header.as_bytes())
        .and_then(|_| tmp.write_all(text.as_bytes()))
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io(format!("replacing {}", path.display()), e.error))?;
    Ok(())
}

/// The stored form of a key's hash.
pub fn hash_key(key: &str) -> String {
    format!("blake3:{}", blake3::hash(key.as_bytes()).to_hex())
}

fn parse_hash(stored: &str) -> std::result::Result<blake3::Hash, String> {
    let hex = stored
        .strip_prefix("blake3:")
        .ok_or("hash must start with `blake3:` (write keys with `lore keys create`)")?;
    blake3::Hash::from_hex(hex).map_err(|e| format!("hash is not 64 hex digits: {e}"))
}

/// A new key and its stored entry. The key is returned once and never stored.
pub fn new_key(scope: Scope, name: Option<String>) -> Result<(String, ApiKey)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("the system random source failed: {e}")))?;
    let key = format!("{KEY_PREFIX}{}", blake3::Hash::from_bytes(bytes).to_hex());
    let hash = hash_key(&key);
    // The id is public: 12 hex digits of the hash (which reveals nothing of the key).
    let id = hash["blake3:".len().."blake3:".len() + 12].to_string();
    let created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .ok();
    Ok((
        key,
        ApiKey {
            id,
            name,
            scope,
            hash,
            created_unix,
            rate_limit_per_minute: None,
        },
    ))
}

/// Makes a key, appends its hash to the keys file at `path`, and returns the key (the only
/// time it exists outside the caller).
pub fn create_key(
    path: &Path,
    scope: Scope,
    name: Option<String>,
    rate_limit_per_minute: Option<u32>,
) -> Result<(String, ApiKey)> {
    let mut keys = read_keys_file(path)?;
    let (key, mut entry) = new_key(scope, name)?;
    entry.rate_limit_per_minute = rate_limit_per_minute;
    keys.push(entry.clone());
    write_keys_file(path, &keys)?;
    Ok((key, entry))
}

/// Removes the key with this id (or name) from the keys file; false when none matched.
pub fn revoke_key(path: &Path, id_or_name: &str) -> Result<bool> {
    let mut keys = read_keys_file(path)?;
    let before = keys.len();
    keys.retain(|k| k.id != id_or_name && k.name.as_deref() != Some(id_or_name));
    if keys.len() == before {
        return Ok(false);
    }
    write_keys_file(path, &keys)?;
    Ok(true)
}

/// A key the server accepts.
pub struct LoadedKey {
    pub id: String,
    pub name: Option<String>,
    pub scope: Scope,
    hash: blake3::Hash,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Denied {
    /// No `Authorization: Bearer` header (or an unreadable one).
    Missing,
    /// A key that is not (or no longer) configured.
    Unknown,
    /// A valid key without the scope the route needs.
    Scope { have: Scope, need: Scope },
    /// The key's rate limit is spent; retry after this long.
    RateLimited(Duration),
}

/// Every key the server accepts; empty means the API is open.
#[derive(Default)]
pub struct Auth {
    keys: Vec<LoadedKey>,
    /// Where file keys came from, for messages.
    pub keys_file: Option<PathBuf>,
}

impl Auth {
    /// The keys of `server.api_keys` and the keys file (see [`keys_file_path`]), each with
    /// its rate limiter.
    pub fn load(server: &ServerConfig, index_root: &Path) -> Result<Auth> {
        let path = keys_file_path(server, index_root);
        let mut entries = server.api_keys.clone();
        entries.extend(read_keys_file(&path)?);
        let mut keys = Vec::with_capacity(entries.len());
        for e in entries {
            let hash = parse_hash(&e.hash)
                .map_err(|m| Error::Config(format!("server.api_keys: key {}: {m}", e.id)))?;
            let per_minute = e
                .rate_limit_per_minute
                .unwrap_or(server.rate_limit_per_minute);
            let limiter = quota(per_minute, server.rate_limit_burst).map(|q| {
                // One bucket per key, made at start: no map of clients to grow.
                DefaultDirectRateLimiter::direct(q)
            });
            keys.push(LoadedKey {
                id: e.id,
                name: e.name,
                scope: e.scope,
                hash,
                limiter,
            });
        }
        Ok(Auth {
            keys,
            keys_file: Some(path),
        })
    }

    /// True when at least one key is configured (and so every non-public route needs one).
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Number of keys accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks an `Authorization` header value for a route needing `need`, and takes one
    /// token from the key's bucket. Returns the key that was used.
    pub fn check(
        &self,
        authorization: Option<&[u8]>,
        need: Scope,
    ) -> std::result::Result<&LoadedKey, Denied> {
        let presented = authorization.and_then(bearer).ok_or(Denied::Missing)?;
        let hash = blake3::hash(presented);
        let mut found = None;
        for k in &self.keys {
            // Constant-time comparison (blake3::Hash's PartialEq), over every key.
            if k.hash == hash && found.is_none() {
                found = Some(k);
            }
        }
        let key = found.ok_or(Denied::Unknown)?;
        if key.scope < need {
            return Err(Denied::Scope {
                have: key.scope,
                need,
            });
        }
        if let Some(limiter) = &key.limiter {
            if let Err(not_until) = limiter.check() {
                let clock = governor::clock::DefaultClock::default();
                return Err(Denied::RateLimited(not_until.wait_time_from(clock.now())));
            }
        }
        Ok(key)
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive, as RFC 7235 says).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.as_bytes())
}

/// The token bucket for `per_minute` requests with bursts of `burst` (None: unlimited).
fn quota(per_minute: u32, burst: u32) -> Option<Quota> {
    let per_minute = std::num::NonZeroU32::new(per_minute)?;
    let burst = std::num::NonZeroU32::new(burst.max(1))?;
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(keys: &[(&str, Scope)], per_minute: u32, burst: u32) -> Auth {
        let server = ServerConfig {
            api_keys: keys
                .iter()
                .enumerate()
                .map(|(i, (k, s))| ApiKey {
                    id: format!("k{i}"),
                    name: None,
                    scope: *s,
                    hash: hash_key(k),
                    created_unix: None,
                    rate_limit_per_minute: None,
                })
                .collect(),
            rate_limit_per_minute: per_minute,
            rate_limit_burst: burst,
            ..ServerConfig::default()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        Auth::load(&server, dir.path()).expect("keys load")
    }

    #[test]
    fn scopes_and_bearer_parsing() {
        let auth = auth_with(
            &[
                ("s3cret-search", Scope::Search),
                ("s3cret-admin", Scope::Admin),
            ],
            0,
            1,
        );
        let check = |h: &str, need| auth.check(Some(h.as_bytes()), need).map(|k| k.scope);
        assert_eq!(
            check("Bearer s3cret-search", Scope::Search),
            Ok(Scope::Search)
        );
        assert_eq!(
            check("bearer  s3cret-admin ", Scope::Search),
            Ok(Scope::Admin)
        );
        assert_eq!(check("Bearer s3cret-admin", Scope::Admin), Ok(Scope::Admin));
        assert_eq!(
            check("Bearer s3cret-search", Scope::Admin),
            Err(Denied::Scope {
                have: Scope::Search,
                need: Scope::Admin
            })
        );
        assert_eq!(
            check("Bearer s3cret-searcH", Scope::Search),
            Err(Denied::Unknown)
        );
        assert_eq!(
            check("Basic s3cret-search", Scope::Search),
            Err(Denied::Missing)
        );
        assert_eq!(check("Bearer", Scope::Search), Err(Denied::Missing));
        assert_eq!(
            auth.check(None, Scope::Search).map(|k| k.scope),
            Err(Denied::Missing)
        );
        assert_eq!(
            auth.check(Some(&[0xff, 0xfe]), Scope::Search)
                .map(|k| k.scope),
            Err(Denied::Missing)
        );
    }

    #[test]
    fn rate_limit_allows_the_burst_then_says_when_to_retry() {
        let auth = auth_with(&[("k", Scope::Search)], 60, 3);
        for i in 0..3 {
            assert!(
                auth.check(Some(b"Bearer k"), Scope::Search).is_ok(),
                "request {i}"
            );
        }
        match auth.check(Some(b"Bearer k"), Scope::Search) {
            Err(Denied::RateLimited(wait)) => {
                assert!(
                    wait > Duration::ZERO && wait <= Duration::from_secs(1),
                    "{wait:?}"
                )
            }
            other => panic!("expected a rate limit, got {:?}", other.map(|k| k.scope)),
        }
    }

    #[test]
    fn keys_file_round_trip_stores_only_hashes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join("keys.toml");
        let (key, entry) =
            create_key(&path, Scope::Admin, Some("ops".into()), None).expect("create");
        let (other, _) = create_key(&path, Scope::Search, None, Some(5)).expect("create");
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 64);
        assert_ne!(key, other);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&key) && !text.contains(&other), "{text}");
        let keys = read_keys_file(&path).expect("parse");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], entry);
        let server = ServerConfig {
            keys_file: Some(path.clone()),
            ..ServerConfig::default()
        };
        let auth = Auth::load(&server, dir.path()).expect("load");
        assert_eq!(
            keys_file_path(&ServerConfig::default(), Path::new("/srv/lore/index")),
            Path::new("/srv/lore/index.keys.toml")
        );
        let bearer = format!("Bearer {key}");
        assert!(auth.check(Some(bearer.as_bytes()), Scope::Admin).is_ok());
        assert!(revoke_key(&path, "ops").expect("revoke"));
        assert!(!revoke_key(&path, "ops").expect("revoke again"));
        let auth = Auth::load(&server, dir.path()).expect("load");
        assert_eq!(
            auth.check(Some(bearer.as_bytes()), Scope::Search)
                .map(|k| k.scope),
            Err(Denied::Unknown)
        );
        assert_eq!(auth.len(), 1);
    }
}
