//! Countries of addresses from a MaxMind DB file (read with the `maxminddb` crate).

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, path};

use super::TrafficError;

/// An open GeoIP database.
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
    path: String,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("path", &self.path).finish()
    }
}

impl GeoIp {
    /// Opens a MaxMind DB file (e.g. GeoLite2-Country.mmdb).
    ///
    /// # Errors
    /// The file cannot be read or is not a MaxMind DB.
    pub fn open(p: &Path) -> Result<Self, TrafficError> {
        let path = p.display().to_string();
        let reader = Reader::open_readfile(p).map_err(|e| TrafficError::GeoIp {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self { reader, path })
    }

    /// A short description: the file and its database type.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{} ({})", self.path, self.reader.metadata().database_type)
    }

    /// The ISO 3166-1 alpha-2 country of `ip` (`country.iso_code`, else
    /// `registered_country.iso_code`), if the database knows it.
    ///
    /// # Errors
    /// The database is corrupt where the lookup led.
    pub fn country(&self, ip: IpAddr) -> Result<Option<String>, TrafficError> {
        let bad = |e: maxminddb::MaxMindDbError| TrafficError::GeoIp {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let found = self.reader.lookup(ip).map_err(bad)?;
        if !found.has_data() {
            return Ok(None);
        }
        let code: Option<String> = found
            .decode_path(&path!["country", "iso_code"])
            .map_err(bad)?;
        let code = match code {
            Some(c) => Some(c),
            None => found
                .decode_path(&path!["registered_country", "iso_code"])
                .map_err(bad)?,
        };
        Ok(code
            .map(|c| c.to_ascii_uppercase())
            .filter(|c| attestlog_proto::predicate::is_country(c)))
    }
}
