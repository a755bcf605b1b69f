//! `${NAME}` and `${NAME:-default}` in the spec's `env` values, filled from the scheduler's
//! own environment when it starts. This is how settings that Marathon (or the Universe
//! package) hands the scheduler as env vars, such as the Kafka brokers, reach the pods: the spec
//! says which task variable gets which value, as the DC/OS SDK's templated `svc.yml` does.
//!
//! `$$` is a literal `$`; a `$` followed by anything else is kept as written. A variable whose
//! value had references and expanded to nothing is left out of the task's environment, so
//! `${CARTRACK_ELASTICSEARCH:-}` means "unset unless the scheduler has it".

use std::collections::{BTreeMap, HashMap};

use super::{ServiceSpec, SpecError, SpecErrors};

/// Expands every group and task `env` value of `spec` against `vars`, reporting every
/// unset reference or malformed `${` at once.
pub fn interpolate_env(
    spec: &mut ServiceSpec,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), SpecErrors> {
    let vars: HashMap<String, String> = vars.into_iter().collect();
    let mut errors = Vec::new();
    for (gi, group) in spec.groups.iter_mut().enumerate() {
        let gkey = format!("groups[{gi}]");
        expand_all(&mut group.env, &format!("{gkey}.env"), &vars, &mut errors);
        for (ti, task) in group.tasks.iter_mut().enumerate() {
            let key = format!("{gkey}.tasks[{ti}].env");
            expand_all(&mut task.env, &key, &vars, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(errors))
    }
}

fn expand_all(
    env: &mut BTreeMap<String, String>,
    key: &str,
    vars: &HashMap<String, String>,
    errors: &mut Vec<SpecError>,
) {
    let mut expanded = BTreeMap::new();
    for (name, value) in std::mem::take(env) {
        match expand(&value, vars) {
            Ok(Expansion { text, referenced }) => {
                if !(text.is_empty() && referenced) {
                    expanded.insert(name, text);
                }
            }
            Err(problem) => errors.push(SpecError {
                key: format!("{key}.{name}"),
                value: format!("{value:?}"),
                allowed: problem,
            }),
        }
    }
    *env = expanded;
}

/// A value with its references replaced.
#[derive(Debug, PartialEq, Eq)]
struct Expansion {
    text: String,
    /// Whether the value had at least one `${...}`.
    referenced: bool,
}

/// Expands one value; the error says what is allowed instead.
fn expand(value: &str, vars: &HashMap<String, String>) -> Result<Expansion, String> {
    let mut text = String::with_capacity(value.len());
    let mut referenced = false;
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            text.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after.find('}').ok_or_else(|| {
                "`${` closed by `}`: ${NAME} or ${NAME:-default}; `$$` for a literal `$`"
                    .to_string()
            })?;
            let (name, default) = match after[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&after[..end], None),
            };
            if !is_variable_name(name) {
                return Err(format!(
                    "`${{{name}}}` names no variable: letters, digits and `_`, not starting \
                     with a digit"
                ));
            }
            match (vars.get(name), default) {
                (Some(found), _) => text.push_str(found),
                (None, Some(default)) => text.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "${{{name}}} is not set in the scheduler's environment: set {name}, or \
                         give a default with ${{{name}:-default}}"
                    ))
                }
            }
            referenced = true;
            rest = &after[end + 1..];
        } else {
            text.push('$');
            rest = &rest[1..];
        }
    }
    text.push_str(rest);
    Ok(Expansion { text, referenced })
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn text(value: &str, list: &[(&str, &str)]) -> String {
        match expand(value, &vars(list)) {
            Ok(e) => e.text,
            Err(e) => panic!("{value:?}: {e}"),
        }
    }

    #[test]
    fn references_take_the_scheduler_value_then_the_default() {
        let set = [("CARTRACK_KAFKA", "k1:9092,k2:9092")];
        assert_eq!(text("${CARTRACK_KAFKA}", &set), "k1:9092,k2:9092");
        assert_eq!(
            text("${CARTRACK_KAFKA:-127.0.0.1:9092}", &set),
            "k1:9092,k2:9092"
        );
        assert_eq!(
            text("${CARTRACK_KAFKA:-127.0.0.1:9092}", &[]),
            "127.0.0.1:9092"
        );
        assert_eq!(
            text("http://${H:-es}:${P:-9200}/x", &[("P", "9300")]),
            "http://es:9300/x"
        );
        // An empty value in the environment is a value: the default is only for unset.
        assert_eq!(text("${E:-d}", &[("E", "")]), "");
    }

    #[test]
    fn dollars_outside_references_stay_as_written() {
        assert_eq!(text("pa$$word", &[]), "pa$word");
        assert_eq!(text("cost: 5$ or $5, $HOME", &[]), "cost: 5$ or $5, $HOME");
        assert_eq!(text("trailing $", &[]), "trailing $");
        assert_eq!(text("$${NOT_A_REF}", &[]), "${NOT_A_REF}");
    }

    #[test]
    fn unset_names_and_malformed_references_say_what_to_write() {
        let err = expand("${CARTRACK_KAFKA}", &vars(&[])).expect_err("unset");
        assert!(err.contains("set CARTRACK_KAFKA"), "{err}");
        assert!(err.contains("${CARTRACK_KAFKA:-default}"), "{err}");
        let err = expand("${OPEN", &vars(&[])).expect_err("unclosed");
        assert!(err.contains("closed by `}`"), "{err}");
        let err = expand("${1X}", &vars(&[])).expect_err("bad name");
        assert!(err.contains("${1X}"), "{err}");
        assert!(expand("${}", &vars(&[])).is_err());
    }

    #[test]
    fn the_whole_spec_is_expanded_and_empty_expansions_are_left_out() {
        let mut spec = ServiceSpec::parse(
            r#"
            [[groups]]
            name = "indexer"
            count = 1
            env = { CARTRACK_KAFKA = "${CARTRACK_KAFKA:-127.0.0.1:9092}", CARTRACK_ELASTICSEARCH = "${CARTRACK_ELASTICSEARCH:-}", LITERAL = "" }
              [[groups.tasks]]
              name = "main"
              command = "./cartrack-worker"
              cpus = 0.1
              mem = 64
              env = { URL = "${ES_URL}", BAD = "${OOPS" }
            "#,
        )
        .expect("spec parses");
        let errors = interpolate_env(&mut spec.clone(), vars(&[("CARTRACK_KAFKA", "k:9092")]))
            .expect_err("ES_URL is unset and BAD is malformed");
        let keys: Vec<&str> = errors.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["groups[0].tasks[0].env.BAD", "groups[0].tasks[0].env.URL"]
        );

        spec.groups[0].tasks[0].env.remove("BAD");
        interpolate_env(
            &mut spec,
            vars(&[("CARTRACK_KAFKA", "k:9092"), ("ES_URL", "http://es:9200")]),
        )
        .expect("all set");
        let group_env = &spec.groups[0].env;
        assert_eq!(group_env["CARTRACK_KAFKA"], "k:9092");
        assert!(!group_env.contains_key("CARTRACK_ELASTICSEARCH"));
        assert_eq!(group_env["LITERAL"], "", "a literal empty value is kept");
        assert_eq!(spec.groups[0].tasks[0].env["URL"], "http://es:9200");
    }
}
