//! The model key: what filters and groups match accelerators by. Derived here only, from the
//! product name as registered: lower case, the vendor's name removed from the start, every run
//! of characters other than a-z and 0-9 one `-`, none at either end. "NVIDIA GeForce RTX 4090"
//! is `geforce-rtx-4090`; an unknown model keeps a key of its own, never lumped with others.

use crate::accelerators::vendor::Vendor;

/// The model key of a product name of this vendor. Empty only when the name holds no letter or
/// digit besides the vendor's name ("NVIDIA"); then the key is the vendor's name.
pub fn model_key(vendor: Vendor, product_name: &str) -> String {
    let lower = product_name.to_lowercase();
    let without_vendor = lower
        .trim_start()
        .strip_prefix(vendor.sql_name())
        .filter(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
        .unwrap_or(&lower);
    let key = dashed(without_vendor);
    if key.is_empty() {
        dashed(&lower).if_empty(vendor.sql_name())
    } else {
        key
    }
}

/// A filter's model as get_capacity matches it: the same runs of other characters as one `-`,
/// and a vendor's name at the start removed, so "GeForce RTX 4090" and "NVIDIA GeForce RTX
/// 4090" find `geforce-rtx-4090`.
pub fn filter_key(model: &str) -> String {
    let key = dashed(&model.to_lowercase());
    Vendor::ALL
        .iter()
        .find_map(|vendor| key.strip_prefix(vendor.sql_name())?.strip_prefix('-'))
        .map_or(key.clone(), str::to_string)
}

/// Lower-case letters and digits kept, every run of anything else one `-`, none at the ends.
fn dashed(lower: &str) -> String {
    let mut key = String::with_capacity(lower.len());
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            key.push(c);
        } else if !key.is_empty() && !key.ends_with('-') {
            key.push('-');
        }
    }
    key.truncate(key.trim_end_matches('-').len());
    key
}

trait IfEmpty {
    fn if_empty(self, instead: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, instead: &str) -> String {
        if self.is_empty() {
            instead.to_string()
        } else {
            self
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn test_model_keys_follow_the_rule() {
        let cases = [
            (
                Vendor::Nvidia,
                "NVIDIA GeForce RTX 4090",
                "geforce-rtx-4090",
            ),
            (Vendor::Amd, "AMD Radeon RX 7900 XTX", "radeon-rx-7900-xtx"),
            (Vendor::Apple, "Apple M2 Max", "m2-max"),
            (
                Vendor::Nvidia,
                "  NVIDIA  A100-SXM4-80GB ",
                "a100-sxm4-80gb",
            ),
            (Vendor::Nvidia, "Tesla T4", "tesla-t4"),
            (Vendor::Intel, "Intel(R) Arc(TM) A770", "r-arc-tm-a770"),
            (Vendor::Amd, "AMDX 100", "amdx-100"),
            (Vendor::Other, "Über-Chip ²", "ber-chip"),
            (Vendor::Nvidia, "NVIDIA", "nvidia"),
            (Vendor::Other, "日本", "other"),
        ];
        for (vendor, product, key) in cases {
            assert_eq!(model_key(vendor, product), key, "{product}");
        }
        assert_eq!(filter_key("GeForce RTX 4090"), "geforce-rtx-4090");
        assert_eq!(filter_key("NVIDIA GeForce RTX 4090"), "geforce-rtx-4090");
        assert_eq!(filter_key("nvidia"), "nvidia");
    }
}
