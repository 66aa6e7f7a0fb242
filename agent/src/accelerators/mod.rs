//! The machine's accelerators as register_device takes them: groups of identical GPUs,
//! NVIDIA's from NVML, AMD's and Intel's from sysfs. Finding none is never an error.

mod nvml;
mod sysfs;

pub use nvml::{Nvml, Probe};
pub use sysfs::SYSFS_ROOT;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The vendors register_device knows.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Nvidia,
    Amd,
    Intel,
    Apple,
    Qualcomm,
    Other,
}

/// One group of identical accelerators: an element of register_device's `accelerators`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Accelerator {
    pub vendor: Vendor,
    pub product_name: String,
    /// 0: memory shared with the system (an integrated GPU).
    pub memory_mib: u32,
    pub count: u32,
}

/// The server's longest product name, in characters.
const MAX_PRODUCT_NAME_CHARS: usize = 128;
const MIB: u64 = 1 << 20;

/// Every GPU found, grouped: NVML's (through `probe`) and those sysfs under `sysfs_root` lists.
pub fn detect(sysfs_root: &Path, probe: &dyn Probe) -> Vec<Accelerator> {
    let mut gpus = match probe.gpus() {
        Ok(gpus) => gpus,
        // Logged once: detection runs once, at start.
        Err(error) => {
            tracing::info!("no NVIDIA GPUs: {error}");
            Vec::new()
        }
    };
    gpus.extend(sysfs::gpus(sysfs_root));
    group(gpus)
}

/// Identical GPUs (vendor, name and memory alike) as one group with their count, in a stable
/// order: the server refuses a group given twice.
fn group(gpus: Vec<Accelerator>) -> Vec<Accelerator> {
    let mut groups: BTreeMap<(Vendor, String, u32), u32> = BTreeMap::new();
    for gpu in gpus {
        *groups
            .entry((gpu.vendor, gpu.product_name, gpu.memory_mib))
            .or_default() += gpu.count;
    }
    groups
        .into_iter()
        .map(|((vendor, product_name, memory_mib), count)| Accelerator {
            vendor,
            product_name,
            memory_mib,
            count,
        })
        .collect()
}

/// One GPU, its name as the server accepts it: control characters dropped, trimmed, cut at
/// the server's length; `fallback` when nothing is left.
fn gpu(vendor: Vendor, name: &str, fallback: impl FnOnce() -> String, bytes: u64) -> Accelerator {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    let clean: String = clean.trim().chars().take(MAX_PRODUCT_NAME_CHARS).collect();
    let product_name = match clean.trim_end() {
        "" => fallback(),
        name => name.to_string(),
    };
    Accelerator {
        vendor,
        product_name,
        memory_mib: u32::try_from(bytes / MIB).unwrap_or(u32::MAX),
        count: 1,
    }
}

/// The inventory setting: a JSON array of groups in register_device's shape. Only the shape is
/// checked here; the bounds are the server's settings, and its refusal names the field.
pub fn parse_override(text: &str) -> Result<Vec<Accelerator>, String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|error| {
        format!("expected a JSON array of {{vendor, product_name, memory_mib, count}}: {error}")
    })?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value(item).map_err(|error| format!("accelerators[{index}]: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn accelerator(
        vendor: Vendor,
        name: &str,
        memory_mib: u32,
        count: u32,
    ) -> Accelerator {
        Accelerator {
            vendor,
            product_name: name.to_string(),
            memory_mib,
            count,
        }
    }

    /// NVML as a test wants it: these GPUs, or this error.
    struct FakeProbe(Result<Vec<Accelerator>, String>);

    impl Probe for FakeProbe {
        fn gpus(&self) -> Result<Vec<Accelerator>, String> {
            self.0.clone()
        }
    }

    #[test]
    fn identical_gpus_are_one_group_in_a_stable_order() {
        let h100 = accelerator(Vendor::Nvidia, "NVIDIA H100 80GB HBM3", 81559, 1);
        let l4 = accelerator(Vendor::Nvidia, "NVIDIA L4", 23034, 1);
        let grouped = group(vec![h100.clone(), l4.clone(), h100.clone(), h100.clone()]);
        assert_eq!(
            grouped,
            [
                accelerator(Vendor::Nvidia, "NVIDIA H100 80GB HBM3", 81559, 3),
                accelerator(Vendor::Nvidia, "NVIDIA L4", 23034, 1),
            ]
        );
        // The same name with other memory is another group.
        let other = accelerator(Vendor::Nvidia, "NVIDIA L4", 24000, 1);
        assert_eq!(group(vec![l4.clone(), other.clone()]), [l4, other]);
        assert_eq!(group(Vec::new()), []);
    }

    #[test]
    fn nvml_and_sysfs_together_and_a_failing_probe_means_no_nvidia_gpus() {
        let root = sysfs::tests::FakeSysfs::new("detect");
        root.card(
            "card0",
            "0x1002",
            "0x030000",
            "0x744c",
            None,
            Some(24 << 30),
        );
        let a100 = accelerator(Vendor::Nvidia, "NVIDIA A100-SXM4-40GB", 40960, 1);
        let probe = FakeProbe(Ok(vec![a100.clone(), a100.clone()]));
        assert_eq!(
            detect(&root.0, &probe),
            [
                accelerator(Vendor::Nvidia, "NVIDIA A100-SXM4-40GB", 40960, 2),
                accelerator(Vendor::Amd, "AMD GPU 0x744c", 24576, 1),
            ]
        );
        let failing = FakeProbe(Err("NVML: nvmlInit_v2 returned 9".to_string()));
        assert_eq!(
            detect(&root.0, &failing),
            [accelerator(Vendor::Amd, "AMD GPU 0x744c", 24576, 1)]
        );
        let nothing = sysfs::tests::FakeSysfs::new("detect-nothing");
        assert_eq!(detect(&nothing.0, &failing), []);
    }

    #[test]
    fn names_are_cleaned_and_memory_is_whole_mib() {
        let named = gpu(
            Vendor::Intel,
            " Arc\tA770 \n",
            || unreachable!(),
            (16 << 30) + 5,
        );
        assert_eq!(named, accelerator(Vendor::Intel, "ArcA770", 16384, 1));
        let unnamed = gpu(Vendor::Amd, " \n", || "AMD GPU 0x1".to_string(), 0);
        assert_eq!(unnamed.product_name, "AMD GPU 0x1");
        let long = gpu(Vendor::Amd, &"é".repeat(200), String::new, 0);
        assert_eq!(long.product_name.chars().count(), MAX_PRODUCT_NAME_CHARS);
    }

    #[test]
    fn the_override_is_checked_for_shape_only() {
        assert_eq!(parse_override("[]").unwrap(), []);
        let parsed = parse_override(
            r#"[{"vendor":"nvidia","product_name":"NVIDIA L4","memory_mib":23034,"count":2},
                {"vendor":"apple","product_name":"Apple M2 Max","memory_mib":0,"count":1}]"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            [
                accelerator(Vendor::Nvidia, "NVIDIA L4", 23034, 2),
                accelerator(Vendor::Apple, "Apple M2 Max", 0, 1),
            ]
        );
        for (bad, says) in [
            ("", "expected a JSON array"),
            ("{}", "expected a JSON array"),
            (r#"[{"vendor":"nvidia"}]"#, "accelerators[0]: missing field"),
            (
                r#"[{"vendor":"ibm","product_name":"x","memory_mib":0,"count":1}]"#,
                "accelerators[0]: unknown variant `ibm`",
            ),
            (
                r#"[{"vendor":"amd","product_name":"x","memory_mib":-1,"count":1}]"#,
                "accelerators[0]: invalid value",
            ),
            (
                r#"[{"vendor":"amd","product_name":"x","memory_mib":0,"count":1,"model":"x"}]"#,
                "accelerators[0]: unknown field `model`",
            ),
        ] {
            let error = parse_override(bad).unwrap_err();
            assert!(error.starts_with(says), "{bad}: {error}");
        }
    }

    #[test]
    fn groups_serialize_as_register_device_takes_them() {
        assert_eq!(
            serde_json::to_value(accelerator(Vendor::Amd, "AMD Radeon RX 7900 XTX", 24560, 1))
                .unwrap(),
            serde_json::json!({"vendor": "amd", "product_name": "AMD Radeon RX 7900 XTX", "memory_mib": 24560, "count": 1})
        );
    }
}
