\echo Use "ALTER EXTENSION compute_devices UPDATE TO '0.6.0'" to load this file. \quit
-- compute_devices 0.5.0 to 0.6.0: accelerators, location, and capacity filtered by capability.
-- Devices gain a country (from the shipped ISO 3166-1 list, with UN M49 regions) and a table of
-- accelerator groups; register_device takes both (optional); the stats gain total_gpus and
-- total_gpu_memory_gb; get_capacity() sums what matches typed filters, grouped if asked.
-- Devices registered before keep counting, without accelerators or country.

-- As a new install creates them (sql/schema.sql, sql/countries.sql).
CREATE TABLE @extschema@.countries (
    country_code text PRIMARY KEY CHECK (country_code OPERATOR(pg_catalog.~) '^[A-Z]{2}$'),
    -- ISO 3166-1 numeric (the UN M49 code), three digits: what maps (world-atlas) key shapes by.
    numeric_code text NOT NULL UNIQUE CHECK (numeric_code OPERATOR(pg_catalog.~) '^[0-9]{3}$'),
    country_name text NOT NULL,
    -- Africa, Americas, Asia, Europe or Oceania; NULL where M49 places none (Antarctica).
    region       text,
    -- The M49 sub-region, e.g. 'Western Europe'.
    subregion    text,
    CHECK (subregion IS NULL OR region IS NOT NULL)
);

COMMENT ON TABLE @extschema@.countries IS
    'ISO 3166-1 countries with their UN M49 region and sub-region; shipped with the extension.';

-- ISO 3166-1 countries with their UN M49 region and sub-region (source: PyPI pycountry 26.2.16
-- for codes and names, its common name where it has one; PyPI country_converter 1.3.2 UNregion mapped to the
-- M49 region and sub-region, intermediate regions folded into their sub-region).
INSERT INTO @extschema@.countries (country_code, numeric_code, country_name, region, subregion) VALUES
    ('AD', '020', 'Andorra', 'Europe', 'Southern Europe'),
    ('AE', '784', 'United Arab Emirates', 'Asia', 'Western Asia'),
    ('AF', '004', 'Afghanistan', 'Asia', 'Southern Asia'),
    ('AG', '028', 'Antigua and Barbuda', 'Americas', 'Latin America and the Caribbean'),
    ('AI', '660', 'Anguilla', 'Americas', 'Latin America and the Caribbean'),
    ('AL', '008', 'Albania', 'Europe', 'Southern Europe'),
    ('AM', '051', 'Armenia', 'Asia', 'Western Asia'),
    ('AO', '024', 'Angola', 'Africa', 'Sub-Saharan Africa'),
    ('AQ', '010', 'Antarctica', NULL, NULL),
    ('AR', '032', 'Argentina', 'Americas', 'Latin America and the Caribbean'),
    ('AS', '016', 'American Samoa', 'Oceania', 'Polynesia'),
    ('AT', '040', 'Austria', 'Europe', 'Western Europe'),
    ('AU', '036', 'Australia', 'Oceania', 'Australia and New Zealand'),
    ('AW', '533', 'Aruba', 'Americas', 'Latin America and the Caribbean'),
    ('AX', '248', 'Åland Islands', 'Europe', 'Northern Europe'),
    ('AZ', '031', 'Azerbaijan', 'Asia', 'Western Asia'),
    ('BA', '070', 'Bosnia and Herzegovina', 'Europe', 'Southern Europe'),
    ('BB', '052', 'Barbados', 'Americas', 'Latin America and the Caribbean'),
    ('BD', '050', 'Bangladesh', 'Asia', 'Southern Asia'),
    ('BE', '056', 'Belgium', 'Europe', 'Western Europe'),
    ('BF', '854', 'Burkina Faso', 'Africa', 'Sub-Saharan Africa'),
    ('BG', '100', 'Bulgaria', 'Europe', 'Eastern Europe'),
    ('BH', '048', 'Bahrain', 'Asia', 'Western Asia'),
    ('BI', '108', 'Burundi', 'Africa', 'Sub-Saharan Africa'),
    ('BJ', '204', 'Benin', 'Africa', 'Sub-Saharan Africa'),
    ('BL', '652', 'Saint Barthélemy', 'Americas', 'Latin America and the Caribbean'),
    ('BM', '060', 'Bermuda', 'Americas', 'Northern America'),
    ('BN', '096', 'Brunei Darussalam', 'Asia', 'South-eastern Asia'),
    ('BO', '068', 'Bolivia', 'Americas', 'Latin America and the Caribbean'),
    ('BQ', '535', 'Bonaire, Sint Eustatius and Saba', 'Americas', 'Latin America and the Caribbean'),
    ('BR', '076', 'Brazil', 'Americas', 'Latin America and the Caribbean'),
    ('BS', '044', 'Bahamas', 'Americas', 'Latin America and the Caribbean'),
    ('BT', '064', 'Bhutan', 'Asia', 'Southern Asia'),
    ('BV', '074', 'Bouvet Island', 'Americas', 'Latin America and the Caribbean'),
    ('BW', '072', 'Botswana', 'Africa', 'Sub-Saharan Africa'),
    ('BY', '112', 'Belarus', 'Europe', 'Eastern Europe'),
    ('BZ', '084', 'Belize', 'Americas', 'Latin America and the Caribbean'),
    ('CA', '124', 'Canada', 'Americas', 'Northern America'),
    ('CC', '166', 'Cocos (Keeling) Islands', 'Oceania', 'Australia and New Zealand'),
    ('CD', '180', 'Congo, The Democratic Republic of the', 'Africa', 'Sub-Saharan Africa'),
    ('CF', '140', 'Central African Republic', 'Africa', 'Sub-Saharan Africa'),
    ('CG', '178', 'Congo', 'Africa', 'Sub-Saharan Africa'),
    ('CH', '756', 'Switzerland', 'Europe', 'Western Europe'),
    ('CI', '384', 'Côte d''Ivoire', 'Africa', 'Sub-Saharan Africa'),
    ('CK', '184', 'Cook Islands', 'Oceania', 'Polynesia'),
    ('CL', '152', 'Chile', 'Americas', 'Latin America and the Caribbean'),
    ('CM', '120', 'Cameroon', 'Africa', 'Sub-Saharan Africa'),
    ('CN', '156', 'China', 'Asia', 'Eastern Asia'),
    ('CO', '170', 'Colombia', 'Americas', 'Latin America and the Caribbean'),
    ('CR', '188', 'Costa Rica', 'Americas', 'Latin America and the Caribbean'),
    ('CU', '192', 'Cuba', 'Americas', 'Latin America and the Caribbean'),
    ('CV', '132', 'Cabo Verde', 'Africa', 'Sub-Saharan Africa'),
    ('CW', '531', 'Curaçao', 'Americas', 'Latin America and the Caribbean'),
    ('CX', '162', 'Christmas Island', 'Oceania', 'Australia and New Zealand'),
    ('CY', '196', 'Cyprus', 'Asia', 'Western Asia'),
    ('CZ', '203', 'Czechia', 'Europe', 'Eastern Europe'),
    ('DE', '276', 'Germany', 'Europe', 'Western Europe'),
    ('DJ', '262', 'Djibouti', 'Africa', 'Sub-Saharan Africa'),
    ('DK', '208', 'Denmark', 'Europe', 'Northern Europe'),
    ('DM', '212', 'Dominica', 'Americas', 'Latin America and the Caribbean'),
    ('DO', '214', 'Dominican Republic', 'Americas', 'Latin America and the Caribbean'),
    ('DZ', '012', 'Algeria', 'Africa', 'Northern Africa'),
    ('EC', '218', 'Ecuador', 'Americas', 'Latin America and the Caribbean'),
    ('EE', '233', 'Estonia', 'Europe', 'Northern Europe'),
    ('EG', '818', 'Egypt', 'Africa', 'Northern Africa'),
    ('EH', '732', 'Western Sahara', 'Africa', 'Northern Africa'),
    ('ER', '232', 'Eritrea', 'Africa', 'Sub-Saharan Africa'),
    ('ES', '724', 'Spain', 'Europe', 'Southern Europe'),
    ('ET', '231', 'Ethiopia', 'Africa', 'Sub-Saharan Africa'),
    ('FI', '246', 'Finland', 'Europe', 'Northern Europe'),
    ('FJ', '242', 'Fiji', 'Oceania', 'Melanesia'),
    ('FK', '238', 'Falkland Islands (Malvinas)', 'Americas', 'Latin America and the Caribbean'),
    ('FM', '583', 'Micronesia, Federated States of', 'Oceania', 'Micronesia'),
    ('FO', '234', 'Faroe Islands', 'Europe', 'Northern Europe'),
    ('FR', '250', 'France', 'Europe', 'Western Europe'),
    ('GA', '266', 'Gabon', 'Africa', 'Sub-Saharan Africa'),
    ('GB', '826', 'United Kingdom', 'Europe', 'Northern Europe'),
    ('GD', '308', 'Grenada', 'Americas', 'Latin America and the Caribbean'),
    ('GE', '268', 'Georgia', 'Asia', 'Western Asia'),
    ('GF', '254', 'French Guiana', 'Americas', 'Latin America and the Caribbean'),
    ('GG', '831', 'Guernsey', 'Europe', 'Northern Europe'),
    ('GH', '288', 'Ghana', 'Africa', 'Sub-Saharan Africa'),
    ('GI', '292', 'Gibraltar', 'Europe', 'Southern Europe'),
    ('GL', '304', 'Greenland', 'Americas', 'Northern America'),
    ('GM', '270', 'Gambia', 'Africa', 'Sub-Saharan Africa'),
    ('GN', '324', 'Guinea', 'Africa', 'Sub-Saharan Africa'),
    ('GP', '312', 'Guadeloupe', 'Americas', 'Latin America and the Caribbean'),
    ('GQ', '226', 'Equatorial Guinea', 'Africa', 'Sub-Saharan Africa'),
    ('GR', '300', 'Greece', 'Europe', 'Southern Europe'),
    ('GS', '239', 'South Georgia and the South Sandwich Islands', 'Americas', 'Latin America and the Caribbean'),
    ('GT', '320', 'Guatemala', 'Americas', 'Latin America and the Caribbean'),
    ('GU', '316', 'Guam', 'Oceania', 'Micronesia'),
    ('GW', '624', 'Guinea-Bissau', 'Africa', 'Sub-Saharan Africa'),
    ('GY', '328', 'Guyana', 'Americas', 'Latin America and the Caribbean'),
    ('HK', '344', 'Hong Kong', 'Asia', 'Eastern Asia'),
    ('HM', '334', 'Heard Island and McDonald Islands', 'Oceania', 'Australia and New Zealand'),
    ('HN', '340', 'Honduras', 'Americas', 'Latin America and the Caribbean'),
    ('HR', '191', 'Croatia', 'Europe', 'Southern Europe'),
    ('HT', '332', 'Haiti', 'Americas', 'Latin America and the Caribbean'),
    ('HU', '348', 'Hungary', 'Europe', 'Eastern Europe'),
    ('ID', '360', 'Indonesia', 'Asia', 'South-eastern Asia'),
    ('IE', '372', 'Ireland', 'Europe', 'Northern Europe'),
    ('IL', '376', 'Israel', 'Asia', 'Western Asia'),
    ('IM', '833', 'Isle of Man', 'Europe', 'Northern Europe'),
    ('IN', '356', 'India', 'Asia', 'Southern Asia'),
    ('IO', '086', 'British Indian Ocean Territory', 'Africa', 'Sub-Saharan Africa'),
    ('IQ', '368', 'Iraq', 'Asia', 'Western Asia'),
    ('IR', '364', 'Iran', 'Asia', 'Southern Asia'),
    ('IS', '352', 'Iceland', 'Europe', 'Northern Europe'),
    ('IT', '380', 'Italy', 'Europe', 'Southern Europe'),
    ('JE', '832', 'Jersey', 'Europe', 'Northern Europe'),
    ('JM', '388', 'Jamaica', 'Americas', 'Latin America and the Caribbean'),
    ('JO', '400', 'Jordan', 'Asia', 'Western Asia'),
    ('JP', '392', 'Japan', 'Asia', 'Eastern Asia'),
    ('KE', '404', 'Kenya', 'Africa', 'Sub-Saharan Africa'),
    ('KG', '417', 'Kyrgyzstan', 'Asia', 'Central Asia'),
    ('KH', '116', 'Cambodia', 'Asia', 'South-eastern Asia'),
    ('KI', '296', 'Kiribati', 'Oceania', 'Micronesia'),
    ('KM', '174', 'Comoros', 'Africa', 'Sub-Saharan Africa'),
    ('KN', '659', 'Saint Kitts and Nevis', 'Americas', 'Latin America and the Caribbean'),
    ('KP', '408', 'North Korea', 'Asia', 'Eastern Asia'),
    ('KR', '410', 'South Korea', 'Asia', 'Eastern Asia'),
    ('KW', '414', 'Kuwait', 'Asia', 'Western Asia'),
    ('KY', '136', 'Cayman Islands', 'Americas', 'Latin America and the Caribbean'),
    ('KZ', '398', 'Kazakhstan', 'Asia', 'Central Asia'),
    ('LA', '418', 'Laos', 'Asia', 'South-eastern Asia'),
    ('LB', '422', 'Lebanon', 'Asia', 'Western Asia'),
    ('LC', '662', 'Saint Lucia', 'Americas', 'Latin America and the Caribbean'),
    ('LI', '438', 'Liechtenstein', 'Europe', 'Western Europe'),
    ('LK', '144', 'Sri Lanka', 'Asia', 'Southern Asia'),
    ('LR', '430', 'Liberia', 'Africa', 'Sub-Saharan Africa'),
    ('LS', '426', 'Lesotho', 'Africa', 'Sub-Saharan Africa'),
    ('LT', '440', 'Lithuania', 'Europe', 'Northern Europe'),
    ('LU', '442', 'Luxembourg', 'Europe', 'Western Europe'),
    ('LV', '428', 'Latvia', 'Europe', 'Northern Europe'),
    ('LY', '434', 'Libya', 'Africa', 'Northern Africa'),
    ('MA', '504', 'Morocco', 'Africa', 'Northern Africa'),
    ('MC', '492', 'Monaco', 'Europe', 'Western Europe'),
    ('MD', '498', 'Moldova', 'Europe', 'Eastern Europe'),
    ('ME', '499', 'Montenegro', 'Europe', 'Southern Europe'),
    ('MF', '663', 'Saint Martin (French part)', 'Americas', 'Latin America and the Caribbean'),
    ('MG', '450', 'Madagascar', 'Africa', 'Sub-Saharan Africa'),
    ('MH', '584', 'Marshall Islands', 'Oceania', 'Micronesia'),
    ('MK', '807', 'North Macedonia', 'Europe', 'Southern Europe'),
    ('ML', '466', 'Mali', 'Africa', 'Sub-Saharan Africa'),
    ('MM', '104', 'Myanmar', 'Asia', 'South-eastern Asia'),
    ('MN', '496', 'Mongolia', 'Asia', 'Eastern Asia'),
    ('MO', '446', 'Macao', 'Asia', 'Eastern Asia'),
    ('MP', '580', 'Northern Mariana Islands', 'Oceania', 'Micronesia'),
    ('MQ', '474', 'Martinique', 'Americas', 'Latin America and the Caribbean'),
    ('MR', '478', 'Mauritania', 'Africa', 'Sub-Saharan Africa'),
    ('MS', '500', 'Montserrat', 'Americas', 'Latin America and the Caribbean'),
    ('MT', '470', 'Malta', 'Europe', 'Southern Europe'),
    ('MU', '480', 'Mauritius', 'Africa', 'Sub-Saharan Africa'),
    ('MV', '462', 'Maldives', 'Asia', 'Southern Asia'),
    ('MW', '454', 'Malawi', 'Africa', 'Sub-Saharan Africa'),
    ('MX', '484', 'Mexico', 'Americas', 'Latin America and the Caribbean'),
    ('MY', '458', 'Malaysia', 'Asia', 'South-eastern Asia'),
    ('MZ', '508', 'Mozambique', 'Africa', 'Sub-Saharan Africa'),
    ('NA', '516', 'Namibia', 'Africa', 'Sub-Saharan Africa'),
    ('NC', '540', 'New Caledonia', 'Oceania', 'Melanesia'),
    ('NE', '562', 'Niger', 'Africa', 'Sub-Saharan Africa'),
    ('NF', '574', 'Norfolk Island', 'Oceania', 'Australia and New Zealand'),
    ('NG', '566', 'Nigeria', 'Africa', 'Sub-Saharan Africa'),
    ('NI', '558', 'Nicaragua', 'Americas', 'Latin America and the Caribbean'),
    ('NL', '528', 'Netherlands', 'Europe', 'Western Europe'),
    ('NO', '578', 'Norway', 'Europe', 'Northern Europe'),
    ('NP', '524', 'Nepal', 'Asia', 'Southern Asia'),
    ('NR', '520', 'Nauru', 'Oceania', 'Micronesia'),
    ('NU', '570', 'Niue', 'Oceania', 'Polynesia'),
    ('NZ', '554', 'New Zealand', 'Oceania', 'Australia and New Zealand'),
    ('OM', '512', 'Oman', 'Asia', 'Western Asia'),
    ('PA', '591', 'Panama', 'Americas', 'Latin America and the Caribbean'),
    ('PE', '604', 'Peru', 'Americas', 'Latin America and the Caribbean'),
    ('PF', '258', 'French Polynesia', 'Oceania', 'Polynesia'),
    ('PG', '598', 'Papua New Guinea', 'Oceania', 'Melanesia'),
    ('PH', '608', 'Philippines', 'Asia', 'South-eastern Asia'),
    ('PK', '586', 'Pakistan', 'Asia', 'Southern Asia'),
    ('PL', '616', 'Poland', 'Europe', 'Eastern Europe'),
    ('PM', '666', 'Saint Pierre and Miquelon', 'Americas', 'Northern America'),
    ('PN', '612', 'Pitcairn', 'Oceania', 'Polynesia'),
    ('PR', '630', 'Puerto Rico', 'Americas', 'Latin America and the Caribbean'),
    ('PS', '275', 'Palestine, State of', 'Asia', 'Western Asia'),
    ('PT', '620', 'Portugal', 'Europe', 'Southern Europe'),
    ('PW', '585', 'Palau', 'Oceania', 'Micronesia'),
    ('PY', '600', 'Paraguay', 'Americas', 'Latin America and the Caribbean'),
    ('QA', '634', 'Qatar', 'Asia', 'Western Asia'),
    ('RE', '638', 'Réunion', 'Africa', 'Sub-Saharan Africa'),
    ('RO', '642', 'Romania', 'Europe', 'Eastern Europe'),
    ('RS', '688', 'Serbia', 'Europe', 'Southern Europe'),
    ('RU', '643', 'Russian Federation', 'Europe', 'Eastern Europe'),
    ('RW', '646', 'Rwanda', 'Africa', 'Sub-Saharan Africa'),
    ('SA', '682', 'Saudi Arabia', 'Asia', 'Western Asia'),
    ('SB', '090', 'Solomon Islands', 'Oceania', 'Melanesia'),
    ('SC', '690', 'Seychelles', 'Africa', 'Sub-Saharan Africa'),
    ('SD', '729', 'Sudan', 'Africa', 'Northern Africa'),
    ('SE', '752', 'Sweden', 'Europe', 'Northern Europe'),
    ('SG', '702', 'Singapore', 'Asia', 'South-eastern Asia'),
    ('SH', '654', 'Saint Helena, Ascension and Tristan da Cunha', 'Africa', 'Sub-Saharan Africa'),
    ('SI', '705', 'Slovenia', 'Europe', 'Southern Europe'),
    ('SJ', '744', 'Svalbard and Jan Mayen', 'Europe', 'Northern Europe'),
    ('SK', '703', 'Slovakia', 'Europe', 'Eastern Europe'),
    ('SL', '694', 'Sierra Leone', 'Africa', 'Sub-Saharan Africa'),
    ('SM', '674', 'San Marino', 'Europe', 'Southern Europe'),
    ('SN', '686', 'Senegal', 'Africa', 'Sub-Saharan Africa'),
    ('SO', '706', 'Somalia', 'Africa', 'Sub-Saharan Africa'),
    ('SR', '740', 'Suriname', 'Americas', 'Latin America and the Caribbean'),
    ('SS', '728', 'South Sudan', 'Africa', 'Sub-Saharan Africa'),
    ('ST', '678', 'Sao Tome and Principe', 'Africa', 'Sub-Saharan Africa'),
    ('SV', '222', 'El Salvador', 'Americas', 'Latin America and the Caribbean'),
    ('SX', '534', 'Sint Maarten (Dutch part)', 'Americas', 'Latin America and the Caribbean'),
    ('SY', '760', 'Syria', 'Asia', 'Western Asia'),
    ('SZ', '748', 'Eswatini', 'Africa', 'Sub-Saharan Africa'),
    ('TC', '796', 'Turks and Caicos Islands', 'Americas', 'Latin America and the Caribbean'),
    ('TD', '148', 'Chad', 'Africa', 'Sub-Saharan Africa'),
    ('TF', '260', 'French Southern Territories', 'Africa', 'Sub-Saharan Africa'),
    ('TG', '768', 'Togo', 'Africa', 'Sub-Saharan Africa'),
    ('TH', '764', 'Thailand', 'Asia', 'South-eastern Asia'),
    ('TJ', '762', 'Tajikistan', 'Asia', 'Central Asia'),
    ('TK', '772', 'Tokelau', 'Oceania', 'Polynesia'),
    ('TL', '626', 'Timor-Leste', 'Asia', 'South-eastern Asia'),
    ('TM', '795', 'Turkmenistan', 'Asia', 'Central Asia'),
    ('TN', '788', 'Tunisia', 'Africa', 'Northern Africa'),
    ('TO', '776', 'Tonga', 'Oceania', 'Polynesia'),
    ('TR', '792', 'Türkiye', 'Asia', 'Western Asia'),
    ('TT', '780', 'Trinidad and Tobago', 'Americas', 'Latin America and the Caribbean'),
    ('TV', '798', 'Tuvalu', 'Oceania', 'Polynesia'),
    ('TW', '158', 'Taiwan', 'Asia', 'Eastern Asia'),
    ('TZ', '834', 'Tanzania', 'Africa', 'Sub-Saharan Africa'),
    ('UA', '804', 'Ukraine', 'Europe', 'Eastern Europe'),
    ('UG', '800', 'Uganda', 'Africa', 'Sub-Saharan Africa'),
    ('UM', '581', 'United States Minor Outlying Islands', 'Oceania', 'Micronesia'),
    ('US', '840', 'United States', 'Americas', 'Northern America'),
    ('UY', '858', 'Uruguay', 'Americas', 'Latin America and the Caribbean'),
    ('UZ', '860', 'Uzbekistan', 'Asia', 'Central Asia'),
    ('VA', '336', 'Holy See (Vatican City State)', 'Europe', 'Southern Europe'),
    ('VC', '670', 'Saint Vincent and the Grenadines', 'Americas', 'Latin America and the Caribbean'),
    ('VE', '862', 'Venezuela', 'Americas', 'Latin America and the Caribbean'),
    ('VG', '092', 'Virgin Islands, British', 'Americas', 'Latin America and the Caribbean'),
    ('VI', '850', 'Virgin Islands, U.S.', 'Americas', 'Latin America and the Caribbean'),
    ('VN', '704', 'Vietnam', 'Asia', 'South-eastern Asia'),
    ('VU', '548', 'Vanuatu', 'Oceania', 'Melanesia'),
    ('WF', '876', 'Wallis and Futuna', 'Oceania', 'Polynesia'),
    ('WS', '882', 'Samoa', 'Oceania', 'Polynesia'),
    ('YE', '887', 'Yemen', 'Asia', 'Western Asia'),
    ('YT', '175', 'Mayotte', 'Africa', 'Sub-Saharan Africa'),
    ('ZA', '710', 'South Africa', 'Africa', 'Sub-Saharan Africa'),
    ('ZM', '894', 'Zambia', 'Africa', 'Sub-Saharan Africa'),
    ('ZW', '716', 'Zimbabwe', 'Africa', 'Sub-Saharan Africa');

ALTER TABLE @extschema@.compute_devices
    ADD COLUMN country_code text REFERENCES @extschema@.countries (country_code);

CREATE TABLE @extschema@.device_accelerators (
    device_id    uuid    NOT NULL REFERENCES @extschema@.compute_devices (id)
                         ON DELETE CASCADE ON UPDATE CASCADE,
    vendor       text    NOT NULL
                 CHECK (vendor OPERATOR(pg_catalog.=) ANY (ARRAY['nvidia', 'amd', 'intel', 'apple',
                                                                 'qualcomm', 'other']::pg_catalog.text[])),
    product_name text    NOT NULL,
    model        text    NOT NULL,
    -- Per accelerator; 0 when it shares the system's memory.
    memory_mib   integer NOT NULL CHECK (memory_mib OPERATOR(pg_catalog.>=) 0),
    count        integer NOT NULL CHECK (count OPERATOR(pg_catalog.>=) 1),
    PRIMARY KEY (device_id, vendor, model, memory_mib)
);

COMMENT ON TABLE @extschema@.device_accelerators IS
    'Accelerators of each device, a row per group of identical ones. Written by register_device.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.device_accelerators', '');

-- The owner reads their devices' accelerators (sql/policy.sql).
ALTER TABLE @extschema@.device_accelerators ENABLE ROW LEVEL SECURITY;

ALTER TYPE @extschema@.network_stats
    ADD ATTRIBUTE total_gpus bigint,
    ADD ATTRIBUTE total_gpu_memory_gb numeric;
ALTER TYPE @extschema@.network_stats_by_type
    ADD ATTRIBUTE total_gpus bigint,
    ADD ATTRIBUTE total_gpu_memory_gb numeric;

CREATE TYPE @extschema@.network_capacity AS (
    group_key           text,
    active_nodes        bigint,
    total_ram_gb        numeric,
    total_cpu_cores     bigint,
    total_storage_gb    numeric,
    total_compute_score numeric,
    total_gpus          bigint,
    total_gpu_memory_gb numeric
);

-- The accelerators' trigger function, and the device trigger's column list gains country_code
-- (sql/trigger.sql).
CREATE FUNCTION @extschema@.accelerator_slots() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'accelerator_slots_wrapper';

DROP TRIGGER derive_device_columns ON @extschema@.compute_devices;
CREATE TRIGGER derive_device_columns
    BEFORE INSERT OR UPDATE OF ram_gb, cpu_cores, storage_gb, compute_score, updated_at,
                               id, user_id, device_type, deactivated_at, slot, country_code
    ON @extschema@.compute_devices
    FOR EACH ROW EXECUTE FUNCTION @extschema@.derive_device_columns();

CREATE TRIGGER accelerator_rows
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.device_accelerators
    FOR EACH ROW EXECUTE FUNCTION @extschema@.accelerator_slots();
CREATE TRIGGER accelerator_statements
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.device_accelerators
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.accelerator_slots();
ALTER FUNCTION @extschema@.accelerator_slots() SECURITY DEFINER;

ALTER FUNCTION @extschema@.accelerator_slots() SET search_path = pg_catalog, pg_temp;

CREATE POLICY device_accelerators_owner_reads ON @extschema@.device_accelerators
    FOR SELECT
    USING (EXISTS (SELECT FROM @extschema@.compute_devices AS d
                    WHERE d.id OPERATOR(pg_catalog.=) device_accelerators.device_id
                      AND d.user_id OPERATOR(pg_catalog.=) (SELECT @extschema@.caller_user_id())));

-- The view gains the accelerators, the country and its region and sub-region (sql/live.sql). The
-- functions that return its rows are made again with it (their grants below).
DROP FUNCTION @extschema@.get_user_devices();
DROP FUNCTION @extschema@.deactivate_device(uuid);
DROP FUNCTION @extschema@.register_device(text, text, numeric, integer, numeric);
DROP VIEW @extschema@.compute_devices_live;
CREATE VIEW @extschema@.compute_devices_live WITH (security_invoker = true) AS
SELECT d.id, d.user_id, d.device_name, d.device_type, d.ram_gb, d.cpu_cores, d.storage_gb,
       d.compute_score, l.is_active, l.last_seen, d.created_at, d.updated_at, d.deactivated_at,
       COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                            'vendor', a.vendor, 'product_name', a.product_name, 'model', a.model,
                            'memory_mib', a.memory_mib, 'count', a.count)
                        ORDER BY a.vendor COLLATE pg_catalog."C", a.model COLLATE pg_catalog."C",
                                 a.memory_mib)
                   FROM @extschema@.device_accelerators AS a
                  WHERE a.device_id OPERATOR(pg_catalog.=) d.id),
                '[]'::pg_catalog.jsonb) AS accelerators,
       d.country_code, c.region, c.subregion
  FROM @extschema@.compute_devices AS d
  LEFT JOIN @extschema@.countries AS c ON c.country_code OPERATOR(pg_catalog.=) d.country_code
 CROSS JOIN LATERAL @extschema@.current_liveness(d.id, d.user_id, d.is_active, d.last_seen,
                                                 d.deactivated_at) AS l;

COMMENT ON VIEW @extschema@.compute_devices_live IS
    'compute_devices with live is_active and last_seen: read this one. Rows are the caller''s own.';

CREATE FUNCTION @extschema@.get_user_devices() RETURNS SETOF @extschema@.compute_devices_live
    STRICT STABLE
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_user_devices_wrapper';

CREATE FUNCTION @extschema@.deactivate_device(device_id pg_catalog.uuid)
    RETURNS @extschema@.compute_devices_live
    VOLATILE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'deactivate_device_wrapper';

-- register_device gains two optional arguments.
CREATE FUNCTION @extschema@.register_device(
    device_name pg_catalog.text,
    device_type pg_catalog.text,
    ram_gb pg_catalog.numeric,
    cpu_cores pg_catalog.int4,
    storage_gb pg_catalog.numeric,
    accelerators pg_catalog.jsonb DEFAULT NULL,
    country_code pg_catalog.text DEFAULT NULL
) RETURNS @extschema@.compute_devices_live
    VOLATILE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'register_located_device_wrapper';

CREATE FUNCTION @extschema@.get_capacity(
    device_types pg_catalog.text[] DEFAULT NULL,
    countries pg_catalog.text[] DEFAULT NULL,
    regions pg_catalog.text[] DEFAULT NULL,
    min_ram_gb pg_catalog.numeric DEFAULT NULL,
    min_cpu_cores pg_catalog.int4 DEFAULT NULL,
    min_storage_gb pg_catalog.numeric DEFAULT NULL,
    gpu_vendors pg_catalog.text[] DEFAULT NULL,
    gpu_models pg_catalog.text[] DEFAULT NULL,
    min_gpus pg_catalog.int4 DEFAULT NULL,
    min_gpu_memory_mib pg_catalog.int4 DEFAULT NULL,
    group_by pg_catalog.text DEFAULT NULL
) RETURNS SETOF @extschema@.network_capacity
    STABLE SECURITY DEFINER
    SET search_path TO pg_catalog, pg_temp
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'get_capacity_wrapper';

-- The grants a new install gives them (sql/privileges.sql).
DO $grants$
DECLARE
    grantee pg_catalog.text;
BEGIN
    FOR grantee IN
        SELECT 'PUBLIC'
        UNION ALL
        SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles
         WHERE rolname OPERATOR(pg_catalog.=) ANY (ARRAY['anon', 'authenticated', 'service_role'])
    LOOP
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.device_accelerators FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.compute_devices_live FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON TABLE @extschema@.countries FROM ' OPERATOR(pg_catalog.||) grantee;
        EXECUTE 'REVOKE ALL ON FUNCTION
                     @extschema@.register_device(text, text, numeric, integer, numeric, jsonb, text),
                     @extschema@.get_capacity(text[], text[], text[], numeric, integer, numeric,
                                              text[], text[], integer, integer, text),
                     @extschema@.accelerator_slots(),
                     @extschema@.get_user_devices(),
                     @extschema@.deactivate_device(uuid)
                 FROM ' OPERATOR(pg_catalog.||) grantee;
        IF grantee OPERATOR(pg_catalog.<>) 'PUBLIC' THEN
            EXECUTE 'GRANT EXECUTE ON FUNCTION @extschema@.get_capacity(text[], text[], text[], numeric,
                         integer, numeric, text[], text[], integer, integer, text)
                     TO ' OPERATOR(pg_catalog.||) grantee;
            EXECUTE 'GRANT SELECT ON TABLE @extschema@.countries TO ' OPERATOR(pg_catalog.||) grantee;
        END IF;
    END LOOP;

    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        GRANT SELECT ON TABLE @extschema@.device_accelerators, @extschema@.compute_devices_live
            TO authenticated;
        GRANT EXECUTE ON FUNCTION
            @extschema@.register_device(text, text, numeric, integer, numeric, jsonb, text),
            @extschema@.get_user_devices(),
            @extschema@.deactivate_device(uuid)
        TO authenticated;
    END IF;
END
$grants$;
