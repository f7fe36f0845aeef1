//! Agent reports in: checked, turned into domain values, assessed, and stored in one transaction
//! (§7.2 automatic scanning, §8.5 inventory, §14.1 roaming hosts catch up on reconnect).

use std::io::Read;

use axum::http::HeaderMap;
use patchwarden_domain::ecosystem::Ecosystem;
use patchwarden_domain::inventory::{InstalledPackage, InventoryFormat};
use patchwarden_domain::version::Version;
use patchwarden_proto::{Inventory, Report, ReportResponse};
use patchwarden_store::{AddressRow, AgentSession, Audit, InventoryRecord, ReportRecord, SoftwareRow};

use crate::advisories;
use crate::error::ApiError;
use crate::secrets::sha256_hex;
use crate::state::AppState;

/// The largest report body accepted on the wire (compressed or not).
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// The largest report once decompressed: a host with 20,000 packages is about 4 MB of JSON.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// The hash an inventory is known by: SHA-256 of its JSON, which serde writes in field order.
pub fn inventory_hash(inventory: &Inventory) -> String {
    sha256_hex(serde_json::to_vec(inventory).unwrap_or_default())
}

/// Decodes a report body: gzip if `Content-Encoding: gzip`, then JSON; errors say where.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Report, ApiError> {
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let mut plain = Vec::new();
    let json: &[u8] = if gzip {
        let mut decoder = flate2::read::GzDecoder::new(body).take(MAX_REPORT_BYTES + 1);
        decoder
            .read_to_end(&mut plain)
            .map_err(|e| ApiError::bad_request("bad_encoding", format!("body is not valid gzip: {e}")))?;
        if plain.len() as u64 > MAX_REPORT_BYTES {
            return Err(ApiError::too_large(MAX_REPORT_BYTES as usize));
        }
        &plain
    } else {
        body
    };
    serde_json::from_slice(json).map_err(|e| {
        ApiError::bad_request(
            "invalid_report",
            format!("report is not valid: {e} (line {}, column {})", e.line(), e.column()),
        )
    })
}

/// A report's checked contents: the host's ecosystem and, when sent, its packages.
struct Checked {
    ecosystem: Option<Ecosystem>,
    inventory: Option<(InventoryFormat, Vec<InstalledPackage>)>,
}

/// Checks a report against what the domain needs; nothing is stored unless all of it is good.
fn check(report: &Report) -> Result<Checked, ApiError> {
    let invalid = |message: String| ApiError::unprocessable("invalid_report", message);
    if report.sequence == 0 || i64::try_from(report.sequence).is_err() {
        return Err(invalid(format!(
            "sequence must be from 1 to {}, found {}",
            i64::MAX,
            report.sequence
        )));
    }
    if report.created_at.parse::<jiff::Timestamp>().is_err() {
        return Err(invalid(format!(
            "created_at {:?} is not an RFC 3339 time",
            report.created_at
        )));
    }
    let ecosystem = if report.facts.os.is_empty() {
        None
    } else {
        Some(Ecosystem::parse(&report.facts.os).map_err(|e| invalid(format!("facts.os: {e}")))?)
    };
    let Some(inventory) = &report.inventory else {
        return Ok(Checked {
            ecosystem,
            inventory: None,
        });
    };
    if inventory_hash(inventory) != report.inventory_hash {
        return Err(invalid(
            "inventory_hash is not the SHA-256 of the inventory sent".into(),
        ));
    }
    let format = InventoryFormat::from_name(&inventory.format).ok_or_else(|| {
        invalid(format!(
            "inventory.format {:?} is not dpkg-status, rpm-qa or apk",
            inventory.format
        ))
    })?;
    let Some(host_ecosystem) = &ecosystem else {
        return Err(invalid("an inventory needs facts.os, the host's ecosystem".into()));
    };
    if host_ecosystem.scheme() != format.scheme() {
        return Err(invalid(format!(
            "inventory.format {} does not fit facts.os {host_ecosystem}",
            inventory.format
        )));
    }
    let scheme = format.scheme();
    let mut packages = Vec::with_capacity(inventory.packages.len());
    for (index, p) in inventory.packages.iter().enumerate() {
        let version = |text: &str| {
            Version::parse(scheme, text).map_err(|e| {
                invalid(format!(
                    "inventory.packages[{index}] ({}): version {text:?}: {e}",
                    p.name
                ))
            })
        };
        if p.name.is_empty() {
            return Err(invalid(format!("inventory.packages[{index}]: name is empty")));
        }
        packages.push(InstalledPackage {
            name: p.name.clone(),
            version: version(&p.version)?,
            arch: p.arch.clone(),
            source: p.source.clone(),
            source_version: p.source_version.as_deref().map(version).transpose()?,
            module: p.module.clone(),
        });
    }
    Ok(Checked {
        ecosystem,
        inventory: Some((format, packages)),
    })
}

/// Stores one report of `host_id` and says what the agent should do next.
pub async fn receive(
    state: &AppState,
    host: &AgentSession,
    report: Report,
    now: i64,
) -> Result<ReportResponse, ApiError> {
    let host_id = host.host_id.as_str();
    let Checked { ecosystem, inventory } = check(&report)?;
    let advisories = state.advisories();
    let has_inventory = inventory.is_some();
    let (inventory_record, findings) = match (inventory, &ecosystem) {
        (Some((format, packages)), Some(ecosystem)) => {
            let findings = tokio::task::block_in_place(|| advisories::findings(&advisories, ecosystem, &packages));
            let record = InventoryRecord {
                hash: report.inventory_hash.clone(),
                format: format.name().to_owned(),
                ecosystem: ecosystem.name().to_owned(),
                packages: report
                    .inventory
                    .iter()
                    .flat_map(|i| &i.packages)
                    .map(|p| SoftwareRow {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        arch: p.arch.clone(),
                        source: p.source.clone(),
                        source_version: p.source_version.clone(),
                        module: p.module.clone(),
                    })
                    .collect(),
            };
            (Some(record), Some(findings))
        }
        _ => (None, None),
    };
    let record = ReportRecord {
        host_id: host_id.to_owned(),
        sequence: i64::try_from(report.sequence).unwrap_or(i64::MAX),
        created_at: report.created_at.clone(),
        received_at: now,
        hostname: report.facts.hostname.clone(),
        os: ecosystem.as_ref().map(|e| e.name().to_owned()).unwrap_or_default(),
        facts_json: serde_json::to_string(&report.facts).unwrap_or_default(),
        addresses: report
            .facts
            .addresses
            .iter()
            .map(|a| AddressRow {
                interface: a.interface.clone(),
                ip: a.ip.clone(),
                mac: a.mac.clone(),
            })
            .collect(),
        platform_class: host.platform_class.clone(),
        dropped: i64::try_from(report.dropped).unwrap_or(i64::MAX),
        inventory: inventory_record,
        findings,
    };
    let audit = Audit {
        actor: format!("host:{host_id}"),
        at: now,
    };
    let stored = state.store.store_report(&audit, &record, &host.facts).await?;
    let known_hash = if has_inventory && stored.stored {
        report.inventory_hash.clone()
    } else {
        host.inventory_hash.clone()
    };
    if has_inventory && stored.stored {
        crate::changes::verify_host(state, host_id, now).await?;
    }
    Ok(ReportResponse {
        stored_through: u64::try_from(stored.stored_through).unwrap_or(0),
        // A post-patch audit scan asks for the whole inventory, even unchanged (§13.1).
        send_inventory: known_hash != report.inventory_hash
            || (host.scan_requested && !(has_inventory && stored.stored)),
        interval_seconds: state.check_in_interval,
        jobs: crate::changes::dispatch(state, host_id, now).await?,
    })
}
