-- The schema cache: everything the gateway serves, read from the catalog as one JSON document.
-- Only the compute_devices extension's own members (pg_depend deptype 'e'), in the extension's
-- schema. Functions with an argument that is unnamed, OUT, INOUT or VARIADIC, trigger functions
-- and functions returning a pseudo-type other than void are left out: none can be called by
-- named arguments. A function RETURNS TABLE (its columns are arguments of mode 't') returns the
-- rows of those columns, as PostgREST serves it. Every type is written as SQL text safe to
-- splice: quoted schema and name.
WITH extension AS (
    SELECT e.oid, e.extnamespace
      FROM pg_catalog.pg_extension AS e
     WHERE e.extname OPERATOR(pg_catalog.=) 'compute_devices'
),
members AS (
    SELECT d.classid, d.objid
      FROM pg_catalog.pg_depend AS d, extension
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) extension.oid
       AND d.deptype OPERATOR(pg_catalog.=) 'e'
),
types AS (
    SELECT t.oid, t.typtype, t.typrelid, t.typelem, t.typcategory,
           pg_catalog.format('%I.%I', n.nspname, t.typname) AS sql_type
      FROM pg_catalog.pg_type AS t
      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) t.typnamespace
),
columns AS (
    SELECT a.attrelid,
           pg_catalog.json_agg(pg_catalog.json_build_object('name', a.attname, 'sql_type', ty.sql_type,
                                                         'not_null', a.attnotnull)
                               ORDER BY a.attnum) AS columns
      FROM pg_catalog.pg_attribute AS a
      JOIN types AS ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid
     WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
     GROUP BY a.attrelid
),
functions AS (
    SELECT p.proname, p.proretset, p.provolatile, p.pronargs, p.pronargdefaults, p.proargnames,
           p.proargtypes, p.proallargtypes, p.proargmodes, p.proacl, p.proowner,
           ret.sql_type AS return_type, ret.typtype AS return_kind,
           ret.typrelid AS return_relation,
           COALESCE('t' OPERATOR(pg_catalog.=) ANY (p.proargmodes), false) AS returns_table
      FROM members
      JOIN pg_catalog.pg_proc AS p
        ON members.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND members.objid OPERATOR(pg_catalog.=) p.oid
      JOIN extension ON p.pronamespace OPERATOR(pg_catalog.=) extension.extnamespace
      JOIN types AS ret ON ret.oid OPERATOR(pg_catalog.=) p.prorettype
     WHERE p.prokind OPERATOR(pg_catalog.=) 'f'
       AND (p.proargmodes IS NULL
            OR NOT p.proargmodes OPERATOR(pg_catalog.&&) ARRAY['o', 'b', 'v']::pg_catalog."char"[])
       AND p.provariadic OPERATOR(pg_catalog.=) 0
       AND (ret.typtype OPERATOR(pg_catalog.<>) 'p'
            OR p.prorettype OPERATOR(pg_catalog.=) 'pg_catalog.void'::pg_catalog.regtype
            OR 't' OPERATOR(pg_catalog.=) ANY (p.proargmodes))
       AND (p.pronargs OPERATOR(pg_catalog.=) 0
            OR (p.proargnames IS NOT NULL
                AND NOT '' OPERATOR(pg_catalog.=) ANY (p.proargnames)))
)
SELECT pg_catalog.json_build_object(
    'schema', (SELECT n.nspname FROM pg_catalog.pg_namespace AS n, extension
                WHERE n.oid OPERATOR(pg_catalog.=) extension.extnamespace),
    'functions', COALESCE((
        SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
            'name', f.proname,
            'args', COALESCE((
                SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
                           'name', arg.name,
                           'sql_type', ty.sql_type,
                           'element_sql_type', element.sql_type,
                           'category', ty.typcategory,
                           'has_default', arg.n OPERATOR(pg_catalog.>) (f.pronargs OPERATOR(pg_catalog.-) f.pronargdefaults))
                       ORDER BY arg.n)
                  FROM ROWS FROM (pg_catalog.unnest(f.proargtypes::pg_catalog.oid[]),
                                  pg_catalog.unnest(f.proargnames))
                       WITH ORDINALITY AS arg(type, name, n)
                  JOIN types AS ty ON ty.oid OPERATOR(pg_catalog.=) arg.type
                  LEFT JOIN types AS element ON element.oid OPERATOR(pg_catalog.=) ty.typelem
                                            AND ty.typelem OPERATOR(pg_catalog.<>) 0
                 -- The input arguments, which come first (a RETURNS TABLE's columns follow).
                 WHERE arg.n OPERATOR(pg_catalog.<=) f.pronargs), '[]'),
            'returns_set', f.proretset,
            'volatility', f.provolatile,
            'return_type', f.return_type,
            'return_columns', CASE WHEN f.return_kind OPERATOR(pg_catalog.=) 'c'
                                   THEN (SELECT c.columns FROM columns AS c
                                          WHERE c.attrelid OPERATOR(pg_catalog.=) f.return_relation)
                                   WHEN f.returns_table
                                   THEN (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
                                                    'name', col.name, 'sql_type', ty.sql_type,
                                                    'not_null', false)
                                                ORDER BY col.n)
                                           FROM ROWS FROM (pg_catalog.unnest(f.proallargtypes),
                                                           pg_catalog.unnest(f.proargmodes),
                                                           pg_catalog.unnest(f.proargnames))
                                                WITH ORDINALITY AS col(type, mode, name, n)
                                           JOIN types AS ty ON ty.oid OPERATOR(pg_catalog.=) col.type
                                          WHERE col.mode OPERATOR(pg_catalog.=) 't') END,
            'executors', COALESCE((
                SELECT pg_catalog.json_agg(CASE WHEN acl.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                                ELSE pg_catalog.pg_get_userbyid(acl.grantee)::pg_catalog.text END)
                  FROM pg_catalog.aclexplode(COALESCE(
                           f.proacl, pg_catalog.acldefault('f', f.proowner))) AS acl
                 WHERE acl.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'), '[]'))
            ORDER BY f.proname)
          FROM functions AS f), '[]'),
    'relations', COALESCE((
        SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
                   'name', r.relname,
                   'kind', r.relkind,
                   'columns', COALESCE(c.columns, '[]'))
               ORDER BY r.relname)
          FROM members
          JOIN pg_catalog.pg_class AS r
            ON members.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND members.objid OPERATOR(pg_catalog.=) r.oid
          JOIN extension ON r.relnamespace OPERATOR(pg_catalog.=) extension.extnamespace
          LEFT JOIN columns AS c ON c.attrelid OPERATOR(pg_catalog.=) r.oid
         WHERE r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'v']::pg_catalog."char"[])), '[]')
)::pg_catalog.text
