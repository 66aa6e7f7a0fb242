//! AMD and Intel GPUs as Linux lists them: each DRM card's PCI device under
//! `<root>/class/drm/card<N>/device`. NVIDIA's are NVML's to report, with their memory.

use super::{gpu, Accelerator, Vendor};
use std::fs;
use std::path::{Path, PathBuf};

pub const SYSFS_ROOT: &str = "/sys";

/// A PCI display controller (VGA, 3D or other): class 0x03xxxx.
const DISPLAY_CLASS: u32 = 0x03;

pub fn gpus(root: &Path) -> Vec<Accelerator> {
    let Ok(entries) = fs::read_dir(root.join("class/drm")) else {
        return Vec::new();
    };
    let mut cards: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| is_card(&entry.file_name().to_string_lossy()))
        .map(|entry| entry.path().join("device"))
        .collect();
    // Directory order is the file system's: sort for the same output every time.
    cards.sort();
    cards.iter().filter_map(|device| card(device)).collect()
}

/// `card0`, not a connector (`card0-HDMI-A-1`) nor a render node (`renderD128`).
fn is_card(name: &str) -> bool {
    name.strip_prefix("card")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn card(device: &Path) -> Option<Accelerator> {
    let read = |file: &str| fs::read_to_string(device.join(file)).ok();
    let hex =
        |file: &str| u32::from_str_radix(read(file)?.trim().trim_start_matches("0x"), 16).ok();
    // A card without a PCI device (simpledrm's framebuffer) has no vendor file.
    let (vendor, label) = match hex("vendor")? {
        0x1002 => (Vendor::Amd, "AMD"),
        0x8086 => (Vendor::Intel, "Intel"),
        _ => return None,
    };
    if hex("class")? >> 16 != DISPLAY_CLASS {
        return None;
    }
    // amdgpu's dedicated memory; an integrated GPU has none of its own: 0, shared.
    let vram = read("mem_info_vram_total").and_then(|text| text.trim().parse().ok());
    let name = read("product_name").unwrap_or_default();
    // Without a product name, the PCI device id names the model: stable, and distinct per model.
    let fallback = || match hex("device") {
        Some(id) => format!("{label} GPU 0x{id:04x}"),
        None => format!("{label} GPU"),
    };
    Some(gpu(vendor, &name, fallback, vram.unwrap_or(0)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::tests::accelerator;
    use super::*;

    /// A sysfs tree of a test's own under the temporary directory, removed when dropped.
    pub(crate) struct FakeSysfs(pub PathBuf);

    impl FakeSysfs {
        pub(crate) fn new(name: &str) -> FakeSysfs {
            let root = std::env::temp_dir()
                .join(format!("compute-agent-sysfs-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("class/drm")).unwrap();
            FakeSysfs(root)
        }

        pub(crate) fn card(
            &self,
            card: &str,
            vendor: &str,
            class: &str,
            device_id: &str,
            product_name: Option<&str>,
            vram_bytes: Option<u64>,
        ) {
            let device = self.0.join("class/drm").join(card).join("device");
            fs::create_dir_all(&device).unwrap();
            let write = |file: &str, text: &str| fs::write(device.join(file), text).unwrap();
            write("vendor", &format!("{vendor}\n"));
            write("class", &format!("{class}\n"));
            write("device", &format!("{device_id}\n"));
            if let Some(name) = product_name {
                write("product_name", &format!("{name}\n"));
            }
            if let Some(bytes) = vram_bytes {
                write("mem_info_vram_total", &format!("{bytes}\n"));
            }
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn amd_and_intel_cards_are_found_and_the_rest_skipped() {
        let sysfs = FakeSysfs::new("cards");
        // An AMD card with its own memory and a product name.
        sysfs.card(
            "card1",
            "0x1002",
            "0x030000",
            "0x744c",
            Some("AMD Radeon RX 7900 XTX"),
            Some(25_753_026_560),
        );
        // An Intel iGPU: no product name, no memory of its own.
        sysfs.card("card0", "0x8086", "0x030000", "0x46a6", None, None);
        // Its connector: an entry of the card's, not a card.
        let connector = sysfs.0.join("class/drm/card0-HDMI-A-1");
        fs::create_dir_all(&connector).unwrap();
        fs::write(connector.join("status"), "disconnected\n").unwrap();
        // An NVIDIA card: NVML reports it.
        sysfs.card("card2", "0x10de", "0x030000", "0x2684", None, None);
        // An AMD device that is not a display controller, and a card with no PCI device.
        sysfs.card("card3", "0x1002", "0x048000", "0x1234", None, None);
        fs::create_dir_all(sysfs.0.join("class/drm/card4/device")).unwrap();
        fs::create_dir_all(sysfs.0.join("class/drm/renderD128")).unwrap();

        assert_eq!(
            gpus(&sysfs.0),
            [
                accelerator(Vendor::Intel, "Intel GPU 0x46a6", 0, 1),
                accelerator(Vendor::Amd, "AMD Radeon RX 7900 XTX", 24560, 1),
            ]
        );
    }

    #[test]
    fn no_drm_class_means_no_gpus() {
        let sysfs = FakeSysfs::new("empty");
        fs::remove_dir_all(sysfs.0.join("class")).unwrap();
        assert_eq!(gpus(&sysfs.0), []);
    }

    #[test]
    fn only_card_entries_are_cards() {
        assert!(is_card("card0"));
        assert!(is_card("card12"));
        assert!(!is_card("card"));
        assert!(!is_card("card0-HDMI-A-1"));
        assert!(!is_card("card1-eDP-1"));
        assert!(!is_card("renderD128"));
        assert!(!is_card("version"));
    }
}
