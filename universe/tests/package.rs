//! Checks the DC/OS Universe package in this crate's directory the way the Universe's own
//! checks and `dcos package install --options` would: `package.json`, `config.json` and
//! `resource.json` against the Universe's own JSON Schemas (copied into `tests/schema/`, see
//! its README), then what those schemas leave open: `config.json` as a draft-04 JSON Schema
//! whose leaves all have defaults, the values this package needs, and `marathon.json.mustache`
//! rendered (config defaults deep-merged with an options file, `resource` merged in, values
//! JSON-escaped, no HTML escaping) into a Marathon app.
//!
//! Only files of this repository are read (the schemas from `tests/schema/`, the CLI's version
//! from `cli/Cargo.toml`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::{json, Map, Value};

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every environment variable `cartrack-scheduler` reads that the package sets
/// (flags of `framework/src/config.rs` and the spec overrides of `framework/src/spec/overrides.rs`),
/// plus `CARTRACK_ZK` (the ZooKeeper state store, scheduler part 2) and the pods' Kafka and
/// Elasticsearch addresses.
const SCHEDULER_ENV: &[&str] = &[
    "CARTRACK_MASTER",
    "CARTRACK_SERVICE_NAME",
    "CARTRACK_USER",
    "CARTRACK_PRINCIPAL",
    "CARTRACK_ROLES",
    "CARTRACK_LOG_LEVEL",
    "CARTRACK_RELEASE_URI",
    "CARTRACK_SPEC",
    "CARTRACK_STATE_DIR",
    "CARTRACK_API_TOKEN",
    "CARTRACK_HTTP",
    "CARTRACK_INGESTER_COUNT",
    "CARTRACK_INGESTER_CPUS",
    "CARTRACK_INGESTER_MEM",
    "CARTRACK_INGESTER_DISK",
    "CARTRACK_PROCESSOR_COUNT",
    "CARTRACK_PROCESSOR_CPUS",
    "CARTRACK_PROCESSOR_MEM",
    "CARTRACK_PROCESSOR_DISK",
    "CARTRACK_INDEXER_COUNT",
    "CARTRACK_INDEXER_CPUS",
    "CARTRACK_INDEXER_MEM",
    "CARTRACK_INDEXER_DISK",
    "CARTRACK_KAFKA",
    "CARTRACK_ELASTICSEARCH",
    "CARTRACK_ZK",
];

/// Set only when their config value is non-empty: the scheduler rejects an empty value
/// (`--http ''` is not an address, an empty placement is not a constraint).
const OPTIONAL_ENV: &[&str] = &[
    "CARTRACK_API_TOKEN",
    "CARTRACK_READ_TOKEN",
    "CARTRACK_HTTP",
    "CARTRACK_INGESTER_PLACEMENT",
    "CARTRACK_INGEST_KEYS",
    "CARTRACK_PROCESSOR_PLACEMENT",
    "CARTRACK_INDEXER_PLACEMENT",
];

// ---------------------------------------------------------------------------------------------
// The Universe's JSON Schemas (tests/schema/)

/// A schema from `tests/schema/`, the copies of the Universe's own (never the shared folder
/// they were copied from: the tests read only this repository).
fn universe_schema(name: &str) -> Value {
    read_json(&format!("tests/schema/{name}"))
}

/// Every error of `instance` against `schema`, as `<instance path>: <message>`. The Universe's
/// `scripts/validate_packages.py` validates with a draft-04 validator (`Draft4Validator`), and
/// its schemas declare no `$schema`, so the draft is set here. `format` is asserted too (draft
/// 4's default in `jsonschema`; Python's validator skips it without a format checker): stricter
/// than the Universe, e.g. a license URL must be a URI and a config `pattern` a regex.
fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("not a valid draft-04 schema: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Validates `file` (in this crate's directory) against `tests/schema/<schema_name>`, as the
/// Universe's `validate_packages.py` does: read as ASCII (it opens the files with
/// `encoding='ascii'`), then every schema error.
fn validate_file(file: &str, schema_name: &str) -> Vec<String> {
    let text = read(file);
    assert!(
        text.is_ascii(),
        "{file} is not ASCII: the Universe reads package files as ASCII"
    );
    let instance = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    schema_errors(&universe_schema(schema_name), &instance)
}

#[test]
fn package_json_validates_against_the_universe_package_schema() {
    let errors = validate_file("package.json", "package-schema.json");
    if !errors.is_empty() {
        // The schema is a oneOf over packagingVersion 2.0 to 5.0, whose only error says that
        // none matched (quoting the whole file): name the 4.0 branch's own errors instead.
        let schema = universe_schema("package-schema.json");
        let mut v40 = schema["definitions"]["v40Package"].clone();
        v40["definitions"] = schema["definitions"].clone();
        let detail = schema_errors(&v40, &read_json("package.json"));
        panic!(
            "package.json matches no packagingVersion of the Universe's package schema; \
             against packagingVersion 4.0: {detail:#?}"
        );
    }
}

#[test]
fn config_json_validates_against_the_universe_config_schema() {
    // config-schema.json is not a schema of options but the draft-04 meta-schema (without its
    // `id` and `$schema`): config.json must itself be a valid draft-04 JSON Schema.
    let errors = validate_file("config.json", "config-schema.json");
    assert!(errors.is_empty(), "config.json: {errors:#?}");
    // And it compiles as one (patterns are regexes), with its own defaults valid under it.
    let config = read_json("config.json");
    let errors = schema_errors(&config, &defaults(&config));
    assert!(errors.is_empty(), "the config defaults: {errors:#?}");
}

#[test]
fn resource_json_validates_against_the_universe_v3_resource_schema() {
    // packagingVersion 3.0 and up: the v3 resource schema (v2 is for packagingVersion 2.0).
    let errors = validate_file("resource.json", "v3-resource-schema.json");
    assert!(errors.is_empty(), "resource.json: {errors:#?}");
}

#[test]
fn the_schema_rejects_the_old_cli_hash_shape_naming_content_hash() {
    // resource.json once listed the CLI's hashes under `contents`; the v3 schema wants
    // `contentHash` (and `dcos package install --cli` refuses anything else). Proves the
    // validator runs: resource.json with its hashes under the old key must fail, naming both.
    let mut old = read_json("resource.json");
    let linux = old["cli"]["binaries"]["linux"]["x86-64"]
        .as_object_mut()
        .unwrap();
    linux.remove("contentHash");
    let sha256 = "0".repeat(64);
    linux.insert(
        "contents".into(),
        json!([{ "algo": "sha256", "value": sha256 }]),
    );
    let errors = schema_errors(&universe_schema("v3-resource-schema.json"), &old);
    let at = "/cli/binaries/linux/x86-64: ";
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(at) && e.contains("\"contentHash\" is a required property")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(at) && e.contains("'contents' was unexpected")),
        "{errors:#?}"
    );
    // And the right key with a hash algorithm the Universe does not know fails too.
    let mut md5 = read_json("resource.json");
    md5["cli"]["binaries"]["linux"]["x86-64"]["contentHash"] =
        json!([{ "algo": "md5", "value": "0".repeat(32) }]);
    let errors = schema_errors(&universe_schema("v3-resource-schema.json"), &md5);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/cli/binaries/linux/x86-64/contentHash/0/algo: ")),
        "{errors:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// package.json (what the schema leaves open)

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Draft-04 type match: an integer is also a number.
fn has_type(v: &Value, ty: &str) -> bool {
    let actual = json_type(v);
    actual == ty || (ty == "number" && actual == "integer")
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.split_once("://").is_some_and(|(_, rest)| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
        })
}

/// `1.13` -> `[1, 13]`; the schema has already checked the form (digits, dots).
fn release_version(s: &str) -> Vec<u64> {
    s.split('.').map(|part| part.parse().unwrap()).collect()
}

#[test]
fn package_json_values_are_allowed() {
    // Required fields, unknown fields, types and the name, version, minDcosReleaseVersion,
    // tag and license forms: package_json_validates_against_the_universe_package_schema.
    let pkg = read_json("package.json");
    // The schema takes packagingVersion 2.0 to 5.0; this package is written for 4.0.
    assert_eq!(pkg["packagingVersion"], "4.0");
    assert_eq!(pkg["name"], "cartrack");
    assert_eq!(pkg["framework"], true);
    assert_eq!(pkg["selected"], false);
    // validate_packages.py: a package whose resource.json has a `cli` needs a
    // minDcosReleaseVersion of at least 1.8 (a missing one counts as 1.0).
    let min = pkg["minDcosReleaseVersion"]
        .as_str()
        .expect("package.json sets minDcosReleaseVersion");
    assert!(read_json("resource.json").get("cli").is_some());
    assert!(
        release_version(min) >= vec![1, 8],
        "minDcosReleaseVersion {min:?}: a CLI in resource.json needs 1.8 or later"
    );
    assert!(!pkg["tags"].as_array().unwrap().is_empty());
    for field in [
        "maintainer",
        "description",
        "preInstallNotes",
        "postInstallNotes",
    ] {
        assert!(
            !pkg[field].as_str().unwrap().trim().is_empty(),
            "{field} is empty"
        );
    }
    for license in pkg["licenses"].as_array().unwrap() {
        assert!(is_http_url(license["url"].as_str().unwrap()));
    }
    for field in ["upgradesFrom", "downgradesTo"] {
        assert!(pkg[field].is_array(), "package.json sets {field}");
        assert!(
            !pkg[field].as_array().unwrap().is_empty(),
            "{field} empty: no version could be changed to another"
        );
    }
    assert!(
        pkg["postUninstallNotes"]
            .as_str()
            .unwrap()
            .contains("nothing is left"),
        "the uninstall notes say what an uninstall leaves"
    );
    for field in ["scm", "website"] {
        assert!(is_http_url(pkg[field].as_str().unwrap()), "{field}");
    }
}

// ---------------------------------------------------------------------------------------------
// config.json

const DRAFT04: &str = "http://json-schema.org/draft-04/schema#";
const DRAFT04_TYPES: &[&str] = &[
    "array", "boolean", "integer", "null", "number", "object", "string",
];
/// Draft-04 validation keywords plus its metadata keywords; anything else is a typo.
const DRAFT04_KEYWORDS: &[&str] = &[
    "$schema",
    "id",
    "title",
    "description",
    "default",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "definitions",
    "$ref",
];

/// Checks what the draft-04 meta-schema leaves open (it is checked by
/// `config_json_validates_against_the_universe_config_schema`): no keyword outside draft 04
/// (the meta-schema allows any), one `type` per node, `required` names that are properties, a
/// default of its type on every leaf and a description on every node. Returns the leaf paths.
fn check_schema(path: &str, schema: &Value, leaves: &mut Vec<String>) {
    let obj = schema
        .as_object()
        .unwrap_or_else(|| panic!("{path}: a schema must be an object"));
    for key in obj.keys() {
        assert!(
            DRAFT04_KEYWORDS.contains(&key.as_str()),
            "{path}: `{key}` is not a draft-04 keyword"
        );
    }
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{path}: needs a single `type`"));
    assert!(DRAFT04_TYPES.contains(&ty), "{path}: unknown type {ty}");
    let description = obj.get("description").and_then(Value::as_str);
    assert!(
        description.is_some_and(|d| !d.trim().is_empty()),
        "{path}: needs a description"
    );
    if ty == "object" {
        let props = obj
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{path}: an object needs properties"));
        // Its form (a non-empty array of unique strings) is the meta-schema's.
        let required = obj.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            assert!(
                props.contains_key(name),
                "{path}: required {name} is no property"
            );
        }
        for (name, sub) in props {
            check_schema(&format!("{path}.{name}"), sub, leaves);
        }
    } else {
        let default = obj
            .get("default")
            .unwrap_or_else(|| panic!("{path}: needs a default"));
        assert!(
            has_type(default, ty),
            "{path}: default {default} is not a {ty}"
        );
        leaves.push(path.trim_start_matches('.').to_string());
    }
}

fn config_leaves() -> Vec<String> {
    let config = read_json("config.json");
    let mut leaves = Vec::new();
    check_schema("", &config, &mut leaves);
    leaves
}

#[test]
fn config_json_is_a_draft04_schema_with_a_default_and_description_everywhere() {
    let config = read_json("config.json");
    assert_eq!(config["$schema"], DRAFT04);
    let leaves = config_leaves();
    for key in [
        "service.name",
        "service.user",
        "service.principal",
        "service.secret_name",
        "service.role",
        "service.log_level",
        "zookeeper.url",
        "zookeeper.state",
        "zookeeper.auth_secret_name",
        "kafka.brokers",
        "elasticsearch.url",
    ] {
        assert!(leaves.contains(&key.to_string()), "config.json lacks {key}");
    }
    for group in ["ingester", "processor", "indexer"] {
        for key in ["count", "cpus", "mem", "disk", "placement"] {
            assert!(
                leaves.contains(&format!("{group}.{key}")),
                "config.json lacks {group}.{key}"
            );
        }
    }
    let defaults = defaults(&config);
    assert_eq!(defaults["service"]["name"], "cartrack");
    assert_eq!(defaults["service"]["user"], "nobody");
    assert_eq!(defaults["zookeeper"]["url"], "zk://master.mesos:2181/mesos");
}

/// The config defaults, as Cosmos collects them before merging the user's options.
fn defaults(schema: &Value) -> Value {
    match schema.get("properties").and_then(Value::as_object) {
        Some(props) => Value::Object(
            props
                .iter()
                .map(|(k, sub)| (k.clone(), defaults(sub)))
                .collect(),
        ),
        None => schema.get("default").cloned().unwrap_or(Value::Null),
    }
}

fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (k, v) in over {
                deep_merge(base.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// Validates merged options against the schema as `dcos package install` does (types,
/// minimum, pattern-free subset, additionalProperties false, required).
fn validate(path: &str, schema: &Value, value: &Value) -> Result<(), String> {
    let ty = schema["type"].as_str().unwrap();
    if !has_type(value, ty) {
        return Err(format!("{path}: {value} is not a {ty}"));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if n < min {
            return Err(format!("{path}: {n} < minimum {min}"));
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(name.as_str().unwrap()) {
                return Err(format!("{path}: {name} is required"));
            }
        }
        for (k, v) in obj {
            match props.get(k) {
                Some(sub) => validate(&format!("{path}.{k}"), sub, v)?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("{path}: unknown option {k}"))
                }
                None => {}
            }
        }
    }
    Ok(())
}

#[test]
fn defaults_are_valid_options_and_typos_are_rejected() {
    let config = read_json("config.json");
    validate("", &config, &defaults(&config)).unwrap();

    let mut typo = defaults(&config);
    deep_merge(&mut typo, &json!({ "service": { "nmae": "x" } }));
    assert!(validate("", &config, &typo).unwrap_err().contains("nmae"));

    let mut wrong = defaults(&config);
    deep_merge(&mut wrong, &json!({ "ingester": { "count": "five" } }));
    assert!(validate("", &config, &wrong).is_err());

    let mut negative = defaults(&config);
    deep_merge(&mut negative, &json!({ "processor": { "count": -1 } }));
    assert!(validate("", &config, &negative).is_err());
}

// ---------------------------------------------------------------------------------------------
// Rendering marathon.json.mustache

/// Cosmos hands the template JSON-escaped values: a string leaf becomes its JSON string
/// literal without the quotes; numbers and booleans their JSON text.
fn to_data(value: &Value) -> mustache::Data {
    use mustache::Data;
    match value {
        Value::Null => Data::Null,
        Value::Bool(b) => Data::Bool(*b),
        Value::Number(n) => Data::String(n.to_string()),
        Value::String(s) => {
            let quoted = serde_json::to_string(s).unwrap();
            Data::String(quoted[1..quoted.len() - 1].to_string())
        }
        Value::Array(items) => Data::Vec(items.iter().map(to_data).collect()),
        Value::Object(map) => Data::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), to_data(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// `{{name}}` -> `{{&name}}`: the values are already JSON-escaped and must not be
/// HTML-escaped on top (Cosmos escapes for JSON, not HTML).
fn without_html_escaping(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        if rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push('&');
        }
    }
    out.push_str(rest);
    out
}

/// The `{{...}}` names the template uses (variables and sections).
fn template_names(template: &str) -> BTreeSet<String> {
    template
        .split("{{")
        .skip(1)
        .map(|tag| {
            let name = tag.split("}}").next().unwrap();
            name.trim_start_matches(['#', '/', '^', '&', '{'])
                .trim()
                .to_string()
        })
        .collect()
}

/// Renders the app for `options` as `dcos package install --options=<file>` does.
fn render(options: &Value) -> Value {
    let config = read_json("config.json");
    let mut merged = defaults(&config);
    deep_merge(&mut merged, options);
    validate("", &config, &merged).unwrap();
    merged
        .as_object_mut()
        .unwrap()
        .insert("resource".into(), read_json("resource.json"));
    let template =
        mustache::compile_str(&without_html_escaping(&read("marathon.json.mustache"))).unwrap();
    let text = template.render_data_to_string(&to_data(&merged)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("rendered app is not JSON: {e}\n{text}"))
}

/// Writes an options file and reads it back, as a user would pass it.
fn options_file(name: &str, options: &Value) -> Value {
    let dir = std::env::temp_dir().join(format!("cartrack-universe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(options).unwrap()).unwrap();
    let back = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    back
}

fn env(app: &Value) -> &Map<String, Value> {
    app["env"].as_object().expect("env is an object")
}

#[test]
fn every_template_name_is_a_config_key_or_resource_path() {
    // A misspelt name renders as nothing, silently; catch it here.
    let mut known: BTreeSet<String> = config_leaves().into_iter().collect();
    let resource = read_json("resource.json");
    for key in resource["assets"]["uris"].as_object().unwrap().keys() {
        known.insert(format!("resource.assets.uris.{key}"));
    }
    for name in template_names(&read("marathon.json.mustache")) {
        assert!(
            known.contains(&name),
            "marathon.json.mustache uses {{{{{name}}}}}, not a config key"
        );
    }
}

#[test]
fn default_install_renders_the_scheduler_app() {
    let app = render(&options_file("empty.json", &json!({})));
    assert_eq!(app["id"], "/cartrack");
    assert_eq!(app["cmd"], "./cartrack-scheduler");
    assert_eq!(app["instances"], 1);
    assert_eq!(app["user"], "nobody");
    assert_eq!(app["cpus"], 0.5);
    assert_eq!(app["mem"], 512);

    let env = env(&app);
    for name in SCHEDULER_ENV {
        if !OPTIONAL_ENV.contains(name) {
            assert!(env.contains_key(*name), "env lacks {name}");
        }
    }
    for (name, value) in env {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{name} is not a string"));
        assert!(
            !value.is_empty(),
            "{name} is empty; the scheduler rejects it"
        );
        assert!(name.starts_with("CARTRACK_"), "unexpected env {name}");
    }
    assert!(!env.contains_key("CARTRACK_API_TOKEN"));
    assert!(!env.contains_key("CARTRACK_READ_TOKEN"));
    assert!(!env.contains_key("CARTRACK_HTTP"));
    assert_eq!(env["CARTRACK_MASTER"], "zk://master.mesos:2181/mesos");
    assert_eq!(env["CARTRACK_ZK"], "zk://master.mesos:2181/cartrack");
    assert_eq!(env["CARTRACK_SERVICE_NAME"], "cartrack");
    assert_eq!(env["CARTRACK_USER"], "nobody");
    assert_eq!(env["CARTRACK_SPEC"], "cartrack.toml");
    assert_eq!(env["CARTRACK_INGESTER_COUNT"], "2");
    assert_eq!(env["CARTRACK_PROCESSOR_CPUS"], "1");
    assert_eq!(env["CARTRACK_PROCESSOR_PLACEMENT"], "hostname:UNIQUE");
    assert!(!env.contains_key("CARTRACK_INGESTER_PLACEMENT"));
    assert_eq!(app["secrets"], json!({}), "no secret without a secret name");

    let health = app["healthChecks"].as_array().unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0]["protocol"], "MESOS_HTTP");
    assert_eq!(health[0]["path"], "/v1/health");
    assert_eq!(health[0]["portIndex"], 0);
    assert_eq!(app["portDefinitions"].as_array().unwrap().len(), 1);

    assert_eq!(
        app["upgradeStrategy"],
        json!({ "minimumHealthCapacity": 0, "maximumOverCapacity": 0 })
    );
    assert_eq!(
        app["labels"],
        json!({
            "DCOS_SERVICE_NAME": "cartrack",
            "DCOS_PACKAGE_FRAMEWORK_NAME": "cartrack",
            "MARATHON_SINGLE_INSTANCE_APP": "true",
            "DCOS_SERVICE_PORT_INDEX": "0",
            "DCOS_SERVICE_SCHEME": "http",
            "DCOS_COMMONS_API_VERSION": "v1",
            "DCOS_COMMONS_UNINSTALL": "true",
        })
    );
}

#[test]
fn the_release_tarball_is_fetched_unpacked_and_handed_to_the_executors() {
    let app = render(&json!({}));
    let release = read_json("resource.json")["assets"]["uris"]["release"].clone();
    // The tarball holds the binaries and cartrack.toml at its top level, so after the
    // fetcher unpacks it `./cartrack-scheduler` and `CARTRACK_SPEC=cartrack.toml` resolve.
    assert_eq!(
        app["fetch"],
        json!([{ "uri": release, "executable": false, "extract": true, "cache": false }])
    );
    assert_eq!(app["cmd"], "./cartrack-scheduler");
    let env = env(&app);
    assert_eq!(env["CARTRACK_SPEC"], "cartrack.toml");
    // Every executor unpacks the same tarball: one release, one download per executor.
    assert_eq!(env["CARTRACK_RELEASE_URI"], release);
    assert!(!env.contains_key("CARTRACK_EXECUTOR_URI"));
    assert!(!env.contains_key("CARTRACK_WORKER_URI"));
}

#[test]
fn options_file_values_reach_the_app_json_escaped_and_not_html_escaped() {
    let tricky = r#"to"k\en<&>'"#;
    let options = options_file(
        "options.json",
        &json!({
            "service": {
                "name": "cartrack-eu",
                "secret_name": "cartrack/sa-secret",
                "api_token": tricky,
                "read_token": "r3ad",
                "http": "0.0.0.0:8080",
                "log_level": "info,cartrack_framework=debug",
            },
            "ingester": { "count": 5, "placement": "zone:GROUP_BY", "keys_file": "/etc/cartrack/ingest-keys.toml" },
            "indexer": { "cpus": 0.25, "placement": "hostname:UNIQUE" },
            "kafka": { "brokers": "k1:9092,k2:9092" },
            "elasticsearch": { "url": "https://es.example.invalid:9200" },
        }),
    );
    let app = render(&options);
    let env = env(&app);
    for name in SCHEDULER_ENV.iter().chain(OPTIONAL_ENV) {
        assert!(env.contains_key(*name), "env lacks {name}");
    }
    assert_eq!(env["CARTRACK_API_TOKEN"], tricky);
    assert_eq!(env["CARTRACK_READ_TOKEN"], "r3ad");
    assert_eq!(env["CARTRACK_HTTP"], "0.0.0.0:8080");
    assert_eq!(env["CARTRACK_SERVICE_NAME"], "cartrack-eu");
    assert_eq!(env["CARTRACK_LOG_LEVEL"], "info,cartrack_framework=debug");
    assert_eq!(env["CARTRACK_INGESTER_COUNT"], "5");
    assert_eq!(env["CARTRACK_INGESTER_PLACEMENT"], "zone:GROUP_BY");
    assert_eq!(
        env["CARTRACK_INGEST_KEYS"],
        "/etc/cartrack/ingest-keys.toml"
    );
    assert_eq!(env["CARTRACK_INDEXER_CPUS"], "0.25");
    // Untouched keys keep their defaults (deep merge, not replace).
    assert_eq!(env["CARTRACK_INGESTER_MEM"], "512");
    assert_eq!(env["CARTRACK_USER"], "nobody");
    assert_eq!(env["CARTRACK_KAFKA"], "k1:9092,k2:9092");
    assert_eq!(
        env["CARTRACK_ELASTICSEARCH"],
        "https://es.example.invalid:9200"
    );
    assert_eq!(
        env["DCOS_SERVICE_ACCOUNT_CREDENTIAL"],
        json!({ "secret": "serviceCredential" })
    );
    assert_eq!(
        app["secrets"],
        json!({ "serviceCredential": { "source": "cartrack/sa-secret" } })
    );
    assert_eq!(app["id"], "/cartrack-eu");
    assert_eq!(app["labels"]["DCOS_SERVICE_NAME"], "cartrack-eu");
    assert_eq!(app["labels"]["DCOS_PACKAGE_FRAMEWORK_NAME"], "cartrack-eu");
}

#[test]
fn secrets_render_alone_or_together() {
    let zk_only = render(&options_file(
        "zk-auth.json",
        &json!({ "zookeeper": { "auth_secret_name": "cartrack/zk-auth" } }),
    ));
    assert_eq!(
        env(&zk_only)["CARTRACK_ZK_AUTH"],
        json!({ "secret": "zookeeperAuth" })
    );
    assert_eq!(
        zk_only["secrets"],
        json!({ "zookeeperAuth": { "source": "cartrack/zk-auth" } })
    );
    assert!(!env(&zk_only).contains_key("DCOS_SERVICE_ACCOUNT_CREDENTIAL"));

    let both = render(&options_file(
        "both-secrets.json",
        &json!({
            "service": { "secret_name": "cartrack/sa-secret" },
            "zookeeper": { "auth_secret_name": "cartrack/zk-auth" },
        }),
    ));
    assert_eq!(
        both["secrets"],
        json!({
            "serviceCredential": { "source": "cartrack/sa-secret" },
            "zookeeperAuth": { "source": "cartrack/zk-auth" },
        })
    );
}

#[test]
fn the_escaping_emulation_is_what_makes_tricky_values_survive() {
    // Guard the harness itself: plain mustache HTML-escapes and would mangle the token.
    let tag = mustache::compile_str("{{v}}").unwrap();
    let data = to_data(&json!({ "v": "a\"b" }));
    assert_eq!(tag.render_data_to_string(&data).unwrap(), "a\\&quot;b");
    let ours = mustache::compile_str(&without_html_escaping("{{v}}")).unwrap();
    assert_eq!(ours.render_data_to_string(&data).unwrap(), "a\\\"b");
    assert_eq!(
        without_html_escaping("{{#a}}{{b.c}}{{/a}}{{{d}}}"),
        "{{#a}}{{&b.c}}{{/a}}{{{d}}}"
    );
}

// ---------------------------------------------------------------------------------------------
// resource.json

fn cli_version() -> String {
    read("../cli/Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("cli/Cargo.toml has a version")
        .to_string()
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn resource_json_has_asset_uris_and_the_cli_binary_with_sha256() {
    // Its shape (known keys only, `contentHash` with at least one sha256 hash):
    // resource_json_validates_against_the_universe_v3_resource_schema.
    let resource = read_json("resource.json");
    let uris = resource["assets"]["uris"].as_object().unwrap();
    assert_eq!(uris.keys().collect::<Vec<_>>(), ["release"]);
    let release = uris["release"].as_str().unwrap();
    assert!(is_http_url(release), "{release}");
    // The name release/build.sh gives the tarball, from the CLI crate's version.
    assert!(
        release.ends_with(&format!("/cartrack-{}-linux-x86_64.tar.gz", cli_version())),
        "{release}"
    );
    let binaries = resource["cli"]["binaries"].as_object().unwrap();
    let linux = binaries["linux"]["x86-64"].as_object().unwrap();
    // A bare binary (the schema also allows `zip`).
    assert_eq!(linux["kind"], "executable");
    assert!(is_http_url(linux["url"].as_str().unwrap()));
    for hash in linux["contentHash"].as_array().unwrap() {
        let value = hash["value"].as_str().unwrap();
        assert!(is_sha256(value), "{value:?} is not 64 hex digits");
    }
    assert!(!is_sha256("abc"));
    assert!(!is_sha256(&"g".repeat(64)));
}

#[test]
fn readme_documents_every_config_key() {
    let readme = read("README.md");
    for key in config_leaves() {
        assert!(
            readme.contains(&format!("`{key}`")),
            "README.md does not document `{key}`"
        );
    }
    assert!(readme.contains("dcos package install cartrack --options=options.json"));
}
