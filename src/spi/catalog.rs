//! Where the extension's own objects are, found without the search_path.
//!
//! Every function of the extension pins `search_path = pg_catalog, pg_temp`, so that nothing
//! another role creates, even in the extension's own schema, can stand in for a function,
//! operator or type our SQL names (the class of CVE-2018-1058). Our SQL therefore names our own
//! objects with their schema: statements are written with `@extschema@.` as in the sql/
//! scripts, and `statement` puts the extension's quoted schema there; operators are written
//! `OPERATOR(pg_catalog.=)` and types `pg_catalog.int4`.
//!
//! The schema is found once a backend and then checked with one syscache probe a call: the
//! table is still there, in that schema. A dropped and recreated extension is found again.
//!
//! An object that a later version adds (a table, a type) is ours only if it is a member of the
//! extension: until `ALTER EXTENSION compute_devices UPDATE` has run after a new library was
//! installed, anyone with CREATE on the schema may have made one of that name (a table with a
//! trigger, a view over a function of theirs), and the worker (a superuser) or a SECURITY
//! DEFINER function would otherwise write or read it. Membership is read from pg_depend once a
//! backend per object found under that name, and kept with the rest of what is found here.

use crate::errors::missing_object;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

/// Where the extension lives now.
#[derive(Clone)]
pub struct Extension {
    /// The extension itself (pg_extension).
    oid: pg_sys::Oid,
    pub schema: pg_sys::Oid,
    /// The device table.
    pub table: pg_sys::Oid,
    /// The schema's name, quoted for SQL.
    quoted_schema: Rc<str>,
    /// Statements with `@extschema@` replaced, by their text.
    statements: Rc<RefCell<HashMap<&'static str, Rc<str>>>>,
    /// Whether an object (catalog, oid) found under one of our names is a member of the
    /// extension. An oid names one object until that is dropped; a member is dropped only with
    /// the extension (then it is found again, with this emptied) or by its owner.
    members: Rc<RefCell<HashMap<(pg_sys::Oid, pg_sys::Oid), bool>>>,
}

thread_local! {
    static FOUND: RefCell<Option<Extension>> = const { RefCell::new(None) };
}

/// The extension's schema and table, or None when the extension is not installed in this
/// database. Needs a transaction.
pub fn find() -> Option<Extension> {
    let cached = FOUND.with_borrow(Clone::clone);
    if let Some(extension) = cached.filter(Extension::is_current) {
        return Some(extension);
    }
    let found = look_up();
    FOUND.with_borrow_mut(|cached| cached.clone_from(&found));
    found
}

/// The extension, which an API function runs inside of: missing only in a broken installation.
pub fn extension() -> Extension {
    find().unwrap_or_else(|| missing_object("the compute_devices table"))
}

/// `sql` with `@extschema@` replaced by the extension's quoted schema, made once a backend.
pub fn statement(sql: &'static str) -> Rc<str> {
    extension().statement(sql)
}

/// The oid of the extension's type `name`, found in its schema only.
pub fn type_oid(name: &CStr) -> pg_sys::Oid {
    extension().type_oid(name)
}

impl Extension {
    /// Still this extension's: its table exists, in the schema found.
    fn is_current(&self) -> bool {
        // SAFETY: a syscache lookup by oid; InvalidOid when the table is gone.
        unsafe { pg_sys::get_rel_namespace(self.table) == self.schema }
    }

    pub fn statement(&self, sql: &'static str) -> Rc<str> {
        let mut statements = self.statements.borrow_mut();
        let made = statements
            .entry(sql)
            .or_insert_with(|| Rc::from(sql.replace("@extschema@", &self.quoted_schema)));
        Rc::clone(made)
    }

    pub fn type_oid(&self, name: &CStr) -> pg_sys::Oid {
        let oid = self.find_type(name);
        if oid == pg_sys::InvalidOid {
            missing_object(&format!("the type {}", name.to_string_lossy()))
        }
        oid
    }

    /// Whether the extension has this table (an older version may not): one of that name in
    /// its schema that is a member of it, not one someone else created there.
    pub fn has_relation(&self, name: &CStr) -> bool {
        // SAFETY: a syscache lookup of (name, namespace); InvalidOid when there is none.
        let relation = unsafe { pg_sys::get_relname_relid(name.as_ptr(), self.schema) };
        self.is_member(pg_sys::RelationRelationId, relation)
    }

    /// Whether the database is at 0.6.0 or later: devices have accelerators and a country (the
    /// table `device_accelerators`, the column `country_code`, and the types and view with them).
    pub fn has_accelerators(&self) -> bool {
        self.has_relation(c"device_accelerators")
    }

    /// Whether the database is at 0.7.0 or later: devices' spells online are recorded (the
    /// tables `online_intervals` and `unknown_periods`).
    pub fn has_intervals(&self) -> bool {
        self.has_relation(c"online_intervals")
    }

    /// Whether the extension has this type (an older version may not), as `has_relation`. A
    /// relation's row type is the extension's through its relation (the type itself depends on
    /// the relation, not on the extension).
    pub fn has_type(&self, name: &CStr) -> bool {
        let oid = self.find_type(name);
        if oid == pg_sys::InvalidOid {
            return false;
        }
        // SAFETY: a syscache lookup by oid; InvalidOid when the type is no relation's row type.
        let relation = unsafe { pg_sys::get_typ_typrelid(oid) };
        if relation == pg_sys::InvalidOid {
            self.is_member(pg_sys::TypeRelationId, oid)
        } else {
            self.is_member(pg_sys::RelationRelationId, relation)
        }
    }

    /// Whether the object `oid` of the catalog `class` is a member of the extension (pg_depend:
    /// deptype 'e' on it). InvalidOid is not. Read once a backend per object.
    fn is_member(&self, class: pg_sys::Oid, oid: pg_sys::Oid) -> bool {
        if oid == pg_sys::InvalidOid {
            return false;
        }
        *self
            .members
            .borrow_mut()
            .entry((class, oid))
            // SAFETY: an index scan of pg_depend for the object's extension dependency, in the
            // caller's transaction; InvalidOid when it is no extension's member.
            .or_insert_with(|| unsafe { pg_sys::getExtensionOfObject(class, oid) } == self.oid)
    }

    /// The type's oid in the extension's schema, InvalidOid if it has none of that name.
    fn find_type(&self, name: &CStr) -> pg_sys::Oid {
        // SAFETY: a syscache lookup of (name, namespace), as TypenameNspGetTypid does.
        unsafe {
            pg_sys::GetSysCacheOid(
                pg_sys::SysCacheIdentifier::TYPENAMENSP as i32,
                pg_sys::Anum_pg_type_oid as pg_sys::AttrNumber,
                pg_sys::Datum::from(name.as_ptr()),
                pg_sys::Datum::from(self.schema),
                pg_sys::Datum::from(0),
                pg_sys::Datum::from(0),
            )
        }
    }
}

/// Reads the catalogs: every name in this statement is pg_catalog's.
fn look_up() -> Option<Extension> {
    let row = Spi::connect(|client| {
        let rows = client.select(
            "SELECT e.oid, n.oid, pg_catalog.quote_ident(n.nspname), c.oid
               FROM pg_catalog.pg_extension AS e
               JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
               JOIN pg_catalog.pg_class AS c
                 ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
                AND c.relname OPERATOR(pg_catalog.=) 'compute_devices'::pg_catalog.name
              WHERE e.extname OPERATOR(pg_catalog.=) 'compute_devices'::pg_catalog.name",
            None,
            &[],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        let row = rows.first();
        Ok(Some((
            row.get::<pg_sys::Oid>(1)?,
            row.get::<pg_sys::Oid>(2)?,
            row.get::<String>(3)?,
            row.get::<pg_sys::Oid>(4)?,
        )))
    })
    .unwrap_or_else(crate::errors::internal_error)?;
    let (Some(oid), Some(schema), Some(quoted_schema), Some(table)) = row else {
        return None;
    };
    Some(Extension {
        oid,
        schema,
        table,
        quoted_schema: Rc::from(quoted_schema),
        statements: Rc::default(),
        members: Rc::default(),
    })
}
