//! The machine's specs as register_device takes them: detected with sysinfo, each one
//! replaceable by a setting, and shaped to pass the server's validation.

use crate::accelerators::{self, Accelerator, Nvml};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use sysinfo::{CpuRefreshKind, Disks, System};

/// The server's limits (compute_devices validates the same).
const MAX_NAME_CHARS: usize = 64;
const MAX_CPU_CORES: usize = 8192;
const GIB: f64 = (1u64 << 30) as f64;
/// The name when the hostname is unknown or nothing of it is usable.
const FALLBACK_NAME: &str = "compute-agent";

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceType {
    /// `laptop` with a system battery, else `server`.
    Auto,
    Server,
    Desktop,
    Laptop,
    Phone,
}

/// register_device's arguments, in its JSON body's shape.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Specs {
    pub device_name: String,
    pub device_type: &'static str,
    pub ram_gb: f64,
    pub cpu_cores: u32,
    pub storage_gb: f64,
    /// Left out when there are none (which is what leaving it out means), so a server older
    /// than 0.6.0 still takes the body of a machine without GPUs or a country.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<Accelerator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// What the settings fix; `None` is detected.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub device_name: Option<String>,
    pub device_type: Option<DeviceType>,
    pub ram_gb: Option<f64>,
    pub cpu_cores: Option<u32>,
    pub storage_gb: Option<f64>,
    pub accelerators: Option<Vec<Accelerator>>,
    /// Not detected: `None` is no country.
    pub country_code: Option<String>,
}

/// A mounted file system as sysinfo lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// The device (`/dev/sda1`), or the ZFS dataset (`rpool/ROOT/debian`).
    pub device: String,
    pub file_system: String,
    pub mount_point: String,
    pub total_bytes: u64,
    pub removable: bool,
}

/// Specs with the settings applied; only what no setting fixes is detected (a disk scan can
/// be slow on a machine with many mounts).
pub fn resolve(overrides: &Overrides) -> Specs {
    let device_name = match &overrides.device_name {
        Some(name) => name.clone(),
        None => name_from_hostname(&System::host_name().unwrap_or_default()),
    };
    let device_type = match overrides.device_type.unwrap_or(DeviceType::Auto) {
        DeviceType::Auto if has_system_battery() => "laptop",
        DeviceType::Auto | DeviceType::Server => "server",
        DeviceType::Desktop => "desktop",
        DeviceType::Laptop => "laptop",
        DeviceType::Phone => "phone",
    };
    let ram_gb = overrides.ram_gb.unwrap_or_else(|| {
        let mut system = System::new();
        system.refresh_memory();
        gigabytes(system.total_memory())
    });
    let cpu_cores = overrides.cpu_cores.unwrap_or_else(|| {
        let mut system = System::new();
        system.refresh_cpu_list(CpuRefreshKind::nothing());
        let logical = match system.cpus().len() {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        cores(logical)
    });
    let storage_gb = overrides.storage_gb.unwrap_or_else(|| {
        let disks = Disks::new_with_refreshed_list();
        let disks: Vec<Disk> = disks
            .list()
            .iter()
            .map(|disk| Disk {
                device: disk.name().to_string_lossy().into_owned(),
                file_system: disk.file_system().to_string_lossy().into_owned(),
                mount_point: disk.mount_point().display().to_string(),
                total_bytes: disk.total_space(),
                removable: disk.is_removable(),
            })
            .collect();
        gigabytes(storage_bytes(&disks))
    });
    let accelerators = match &overrides.accelerators {
        Some(accelerators) => accelerators.clone(),
        None => accelerators::detect(Path::new(accelerators::SYSFS_ROOT), &Nvml),
    };
    Specs {
        device_name,
        device_type,
        ram_gb,
        cpu_cores,
        storage_gb,
        accelerators,
        country_code: overrides.country_code.clone(),
    }
}

/// Bytes as GB of 2^30 bytes (what `free -g` and `df -BG` show), to 2 decimals.
pub fn gigabytes(bytes: u64) -> f64 {
    round2(bytes as f64 / GIB)
}

/// The server accepts at most 9 decimals; 2 keep the numbers readable.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn cores(logical: usize) -> u32 {
    logical.clamp(1, MAX_CPU_CORES) as u32
}

/// Total size of the local disks: removable ones (USB sticks, SD cards) are left out, and
/// each device counts once however often it is mounted (bind mounts, btrfs subvolumes). ZFS
/// datasets of one pool all report the pool's space, so a pool counts once, at its largest.
/// sysinfo already leaves out pseudo file systems, tmpfs and network shares.
pub fn storage_bytes(disks: &[Disk]) -> u64 {
    let mut devices: BTreeMap<&str, u64> = BTreeMap::new();
    for disk in disks.iter().filter(|d| !d.removable && d.total_bytes > 0) {
        let key = if disk.file_system == "zfs" {
            disk.device.split('/').next().unwrap_or(&disk.device)
        } else {
            disk.device.as_str()
        };
        tracing::debug!(device = %disk.device, mount = %disk.mount_point, bytes = disk.total_bytes, "disk");
        let size = devices.entry(key).or_default();
        *size = (*size).max(disk.total_bytes);
    }
    devices.values().sum()
}

/// A name the server accepts, from a hostname: control characters dropped; a name over 64
/// characters loses domain labels from the right (`build-7.ci.example.com` keeps its host
/// part first), and is cut at 64 characters only if its first label alone is too long.
pub fn name_from_hostname(hostname: &str) -> String {
    let clean: String = hostname.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    let mut name = clean;
    while name.chars().count() > MAX_NAME_CHARS {
        match name.rfind('.') {
            Some(dot) if dot > 0 => name = &name[..dot],
            _ => break,
        }
    }
    let name: String = name.chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_end_matches(['.', '-']).trim();
    if name.is_empty() {
        FALLBACK_NAME.to_string()
    } else {
        name.to_string()
    }
}

/// A name given in the settings, checked as the server checks it: refused rather than changed.
pub fn device_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("must not be empty or only whitespace".to_string());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_string());
    }
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(format!(
            "is {length} characters long; the most is {MAX_NAME_CHARS}"
        ));
    }
    Ok(name.to_string())
}

/// A country given in the settings: two letters, upper case as the server stores it. Whether
/// the country exists is the server's to say (it ships the list).
pub fn country_code(text: &str) -> Result<String, String> {
    let code = text.trim();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err("must be an ISO 3166-1 alpha-2 code: two letters, like DE".to_string());
    }
    Ok(code.to_ascii_uppercase())
}

/// Linux lists power supplies in /sys/class/power_supply. Elsewhere no battery is found and
/// `auto` means `server`: set the type.
fn has_system_battery() -> bool {
    let Ok(entries) = std::fs::read_dir("/sys/class/power_supply") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let read = |file: &str| std::fs::read_to_string(entry.path().join(file)).ok();
        is_system_battery(
            read("type").as_deref().unwrap_or(""),
            read("scope").as_deref(),
        )
    })
}

/// A battery that powers the machine, not a wireless mouse's (whose scope is `Device`).
fn is_system_battery(kind: &str, scope: Option<&str>) -> bool {
    kind.trim() == "Battery" && scope.is_none_or(|scope| scope.trim() != "Device")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(device: &str, fs: &str, gib: u64, removable: bool) -> Disk {
        Disk {
            device: device.to_string(),
            file_system: fs.to_string(),
            mount_point: format!("/mnt/{device}"),
            total_bytes: gib << 30,
            removable,
        }
    }

    #[test]
    fn sizes_are_gigabytes_of_2_30_bytes_to_2_decimals() {
        assert_eq!(gigabytes(16 << 30), 16.0);
        assert_eq!(gigabytes(16_663_117_824), 15.52);
        assert_eq!(gigabytes(0), 0.0);
        assert_eq!(gigabytes(1), 0.0);
        assert_eq!(round2(0.125_000_1), 0.13);
        assert_eq!(round2(512.0), 512.0);
        // Two decimals survive JSON as written: the server sees no more than it allows.
        assert_eq!(serde_json::to_string(&round2(15.519_999)).unwrap(), "15.52");
    }

    #[test]
    fn cores_stay_within_the_servers_bounds() {
        assert_eq!(cores(0), 1);
        assert_eq!(cores(16), 16);
        assert_eq!(cores(100_000), 8192);
    }

    #[test]
    fn storage_counts_each_local_device_once() {
        let disks = [
            disk("/dev/nvme0n1p2", "ext4", 500, false),
            // the same device bind-mounted elsewhere
            disk("/dev/nvme0n1p2", "ext4", 500, false),
            disk("/dev/sdb1", "xfs", 2000, false),
            disk("/dev/sdc1", "vfat", 64, true),
            disk("/dev/loop0", "ext4", 0, false),
            // one pool, three datasets, each reporting the pool's space (about)
            disk("rpool/ROOT/debian", "zfs", 900, false),
            disk("rpool/home", "zfs", 901, false),
            disk("tank/data", "zfs", 4000, false),
        ];
        assert_eq!(storage_bytes(&disks), (500 + 2000 + 901 + 4000) << 30);
        assert_eq!(storage_bytes(&[]), 0);
    }

    #[test]
    fn hostnames_become_names_the_server_accepts() {
        assert_eq!(name_from_hostname("build-7"), "build-7");
        assert_eq!(name_from_hostname(" web\t01\n"), "web01");
        assert_eq!(name_from_hostname(""), FALLBACK_NAME);
        assert_eq!(name_from_hostname("\u{7}"), FALLBACK_NAME);
        // Too long: domain labels go first.
        let fqdn = format!("gpu-node-12.{}.example.com", "rack".repeat(14));
        assert_eq!(name_from_hostname(&fqdn), "gpu-node-12");
        // One long label: cut at 64 characters, not bytes, and not ending in a dash.
        let label = format!("{}-{}", "é".repeat(63), "x".repeat(10));
        let name = name_from_hostname(&label);
        assert_eq!(name, "é".repeat(63));
        assert!(device_name(&name).is_ok());
        let exactly = "a".repeat(64);
        assert_eq!(name_from_hostname(&exactly), exactly);
    }

    #[test]
    fn given_names_are_checked_like_the_server_does() {
        assert_eq!(device_name("  rack 4 ").unwrap(), "rack 4");
        assert!(device_name("").is_err());
        assert!(device_name(" \t ").is_err());
        assert!(device_name("a\u{0}b").is_err());
        assert!(device_name(&"x".repeat(64)).is_ok());
        assert!(device_name(&"x".repeat(65)).is_err());
        assert!(
            device_name(&"ü".repeat(64)).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn only_a_battery_that_powers_the_machine_makes_a_laptop() {
        assert!(is_system_battery("Battery\n", Some("System\n")));
        assert!(is_system_battery("Battery\n", None));
        assert!(!is_system_battery("Battery\n", Some("Device\n")));
        assert!(!is_system_battery("Mains\n", None));
        assert!(!is_system_battery("", None));
    }

    #[test]
    fn countries_are_two_letters_sent_upper_case() {
        assert_eq!(country_code("de").unwrap(), "DE");
        assert_eq!(country_code(" US\n").unwrap(), "US");
        for bad in ["", "D", "DEU", "d1", "ÄB", "276"] {
            assert!(country_code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_body_is_register_devices_arguments() {
        let mut specs = Specs {
            device_name: "rack 4".to_string(),
            device_type: "server",
            ram_gb: 15.52,
            cpu_cores: 8,
            storage_gb: 512.0,
            accelerators: Vec::new(),
            country_code: None,
        };
        // No accelerators and no country: the seed's five fields, as before.
        assert_eq!(
            serde_json::to_value(&specs).unwrap(),
            serde_json::json!({"device_name": "rack 4", "device_type": "server", "ram_gb": 15.52, "cpu_cores": 8, "storage_gb": 512.0})
        );
        specs.accelerators = accelerators::parse_override(
            r#"[{"vendor":"nvidia","product_name":"NVIDIA L4","memory_mib":23034,"count":2}]"#,
        )
        .unwrap();
        specs.country_code = Some("DE".to_string());
        assert_eq!(
            serde_json::to_value(&specs).unwrap(),
            serde_json::json!({"device_name": "rack 4", "device_type": "server", "ram_gb": 15.52, "cpu_cores": 8, "storage_gb": 512.0,
                "accelerators": [{"vendor": "nvidia", "product_name": "NVIDIA L4", "memory_mib": 23034, "count": 2}],
                "country_code": "DE"})
        );
    }

    #[test]
    fn set_accelerators_are_not_detected() {
        let overrides = Overrides {
            device_name: Some("x".to_string()),
            ram_gb: Some(1.0),
            cpu_cores: Some(1),
            storage_gb: Some(1.0),
            accelerators: Some(Vec::new()),
            country_code: Some("FR".to_string()),
            ..Overrides::default()
        };
        let specs = resolve(&overrides);
        assert_eq!(specs.accelerators, []);
        assert_eq!(specs.country_code.as_deref(), Some("FR"));
    }
}
