//! The countries the extension ships (the `countries` table, sql/countries.sql): which codes
//! exist and each one's UN M49 region and sub-region. Read once a backend (the table is the
//! extension's own data, which no API writes), so registrations and capacity queries check
//! codes and resolve regions without a statement each.

use crate::errors::{internal_error, DeviceError};
use crate::spi::catalog;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::rc::Rc;

/// A country's place in M49.
#[derive(Clone, Debug, Default)]
pub struct Place {
    pub region: Option<String>,
    pub subregion: Option<String>,
}

pub struct Countries {
    /// The extension table the list was read for (a recreated extension is read again).
    table: pg_sys::Oid,
    places: HashMap<String, Place>,
}

thread_local! {
    static LOADED: std::cell::RefCell<Option<Rc<Countries>>> = const { std::cell::RefCell::new(None) };
}

/// The shipped list, read on first use in this backend.
pub fn all() -> Rc<Countries> {
    let table = catalog::extension().table;
    let loaded = LOADED
        .with_borrow(Clone::clone)
        .filter(|c| c.table == table);
    loaded.unwrap_or_else(|| {
        let countries = Rc::new(load(table));
        LOADED.with_borrow_mut(|cached| *cached = Some(Rc::clone(&countries)));
        countries
    })
}

fn load(table: pg_sys::Oid) -> Countries {
    let select = catalog::statement(
        "SELECT c.country_code, c.region, c.subregion FROM @extschema@.countries AS c",
    );
    let places = Spi::connect(|client| {
        client
            .select(&*select, None, &[])?
            .map(|row| {
                let code: String = row.get(1)?.unwrap_or_default();
                let place = Place {
                    region: row.get(2)?,
                    subregion: row.get(3)?,
                };
                Ok((code, place))
            })
            .collect::<pgrx::spi::Result<HashMap<_, _>>>()
    })
    .unwrap_or_else(internal_error);
    Countries { table, places }
}

/// The code of a shipped country, given in either case, as stored (upper case): what
/// register_device's `country_code` accepts.
pub fn code_of(given: &str) -> Result<String, DeviceError> {
    all().code(given).ok_or_else(|| DeviceError::InvalidValue {
        field: "country_code".to_string(),
        reason: format!(
            "must be an ISO 3166-1 alpha-2 country code such as \"DE\" (got {:?})",
            crate::api::validate::shortened(given)
        ),
    })
}

impl Countries {
    /// The stored form of a known code given in either case.
    pub fn code(&self, given: &str) -> Option<String> {
        if given.len() != 2 {
            return None;
        }
        let upper = given.to_ascii_uppercase();
        self.places.contains_key(&upper).then_some(upper)
    }

    pub fn place(&self, code: &str) -> Option<&Place> {
        self.places.get(code)
    }

    /// The codes whose region or sub-region is `name` (any case); None for no such name.
    pub fn in_region(&self, name: &str) -> Option<Vec<String>> {
        let named = |label: &Option<String>| {
            label
                .as_deref()
                .is_some_and(|label| label.eq_ignore_ascii_case(name))
        };
        let codes: Vec<String> = self
            .places
            .iter()
            .filter(|(_, place)| named(&place.region) || named(&place.subregion))
            .map(|(code, _)| code.clone())
            .collect();
        (!codes.is_empty()).then_some(codes)
    }
}
