//! The kinds of device: the four the table's CHECK allows, in the CHECK's order. That order is
//! also how shared memory numbers them (a slot keeps the number, the totals keep a row per
//! number) and the order get_network_stats_by_type answers in, so never reorder them.

use std::fmt;

/// The default is only the type of the empty spec a slot holds when it has no device (an empty
/// or deleted slot), which never counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum DeviceType {
    #[default]
    Phone = 0,
    Laptop = 1,
    Desktop = 2,
    Server = 3,
}

impl DeviceType {
    /// Every type, in the CHECK's order (sql/schema.sql).
    pub const ALL: [DeviceType; 4] = [
        DeviceType::Phone,
        DeviceType::Laptop,
        DeviceType::Desktop,
        DeviceType::Server,
    ];
    pub const COUNT: usize = DeviceType::ALL.len();

    /// The type's name in SQL: the `device_type` column's text.
    pub const fn sql_name(self) -> &'static str {
        match self {
            DeviceType::Phone => "phone",
            DeviceType::Laptop => "laptop",
            DeviceType::Desktop => "desktop",
            DeviceType::Server => "server",
        }
    }

    /// The type with exactly this name (case matters, as in the CHECK).
    pub fn parse(name: &str) -> Option<DeviceType> {
        DeviceType::ALL
            .into_iter()
            .find(|known| known.sql_name() == name)
    }

    /// The type of a row as the triggers and the worker see it. A name the CHECK does not allow
    /// counts as the last type: the CHECK rejects such a row anyway, after the triggers have run.
    pub fn of_row(name: &str) -> DeviceType {
        DeviceType::parse(name).unwrap_or(DeviceType::Server)
    }

    /// Its position in ALL: the number a slot keeps, and its row in the totals.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The type a slot's number stands for. Slots hold only numbers written from a DeviceType;
    /// anything else (none is ever stored) counts as the last type, as `of_row` does.
    pub fn from_index(index: u32) -> DeviceType {
        let last = DeviceType::COUNT - 1;
        DeviceType::ALL[usize::try_from(index).map_or(last, |index| index.min(last))]
    }

    /// "phone, laptop, desktop, server", for messages.
    pub fn names() -> String {
        DeviceType::ALL.map(DeviceType::sql_name).join(", ")
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sql_name())
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn test_names_parse_back_and_numbers_follow_all() {
        for (index, device_type) in DeviceType::ALL.into_iter().enumerate() {
            assert_eq!(DeviceType::parse(device_type.sql_name()), Some(device_type));
            assert_eq!(device_type.index(), index);
            assert_eq!(DeviceType::from_index(index as u32), device_type);
        }
        assert_eq!(DeviceType::parse("Laptop"), None);
        assert_eq!(DeviceType::parse(" laptop"), None);
        assert_eq!(DeviceType::of_row("toaster"), DeviceType::Server);
        assert_eq!(DeviceType::from_index(u32::MAX), DeviceType::Server);
        assert_eq!(DeviceType::names(), "phone, laptop, desktop, server");
    }

    /// The table's CHECK allows exactly these names, in this order.
    #[pg_test]
    fn test_the_tables_check_lists_all_in_order() {
        let check = Spi::get_one::<Vec<String>>(
            "SELECT regexp_split_to_array(
                        (regexp_match(pg_get_constraintdef(c.oid), 'ARRAY\\[(.*)\\]'))[1], ', ')
               FROM pg_constraint AS c
              WHERE c.conrelid = 'compute_devices'::regclass AND c.contype = 'c'",
        )
        .unwrap()
        .unwrap();
        let expected: Vec<String> = DeviceType::ALL
            .iter()
            .map(|device_type| format!("'{device_type}'::text"))
            .collect();
        assert_eq!(check, expected);
    }
}
