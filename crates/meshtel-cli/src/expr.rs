//! `meshtel expr eval` and `meshtel expr check`.
//!
//! Exit status: 0 with `{"type", "value"}` (or `{"type", "references"}`), 1 with
//! `{"error"}` for a runtime error, 2 with `{"compile_error"}` for a parse or type error.
//! Unreadable manifest or attribute files exit 1 with a message on standard error.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use meshtel_expr::{Dialect, Duration, Manifest, Program, Timestamp, Value, ValueType};
use serde_json::{Map, Value as Json, json};

#[derive(Debug, Subcommand)]
pub(crate) enum ExprCommand {
    /// Evaluate an expression against attributes; prints `{"type": ..., "value": ...}`.
    Eval(EvalArgs),
    /// Type-check an expression; prints `{"type": ..., "references": [...]}`.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The expression, e.g. `has(request.host) ? request.host : "unknown"` (CEL) or
    /// `source.labels["app"] | "unknown"` (Mixer).
    #[arg(allow_hyphen_values = true)]
    expr: String,
    /// The expression language: `cel` (Envoy's attribute vocabulary) or `mixer` (Istio's
    /// 1.5-era attribute language and vocabulary).
    #[arg(long, default_value = "cel", value_parser = parse_dialect)]
    dialect: Dialect,
    /// A JSON object `{"attribute.name": "TYPE"}` replacing the built-in vocabulary of the
    /// dialect.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    s.parse().map_err(|e: meshtel_expr::UnknownDialect| e.to_string())
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    check: CheckArgs,
    /// A JSON object of attribute values, encoded by the manifest type: strings for STRING,
    /// BYTES (as UTF-8), DNS_NAME, EMAIL_ADDRESS, URI, IP_ADDRESS, TIMESTAMP (RFC 3339) and
    /// DURATION (`"19ms"`); integers for INT64 and UINT64; numbers for DOUBLE; booleans;
    /// objects of strings for STRING_MAP.
    #[arg(long, value_name = "FILE")]
    attrs: Option<PathBuf>,
}

fn read_json(path: &Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn load_manifest(path: Option<&Path>, dialect: Dialect) -> Result<Manifest, String> {
    let Some(path) = path else {
        return Ok(match dialect {
            Dialect::Mixer => Manifest::istio(),
            _ => Manifest::envoy(),
        });
    };
    let Json::Object(entries) = read_json(path)? else {
        return Err(format!(
            "{}: a manifest is a JSON object of attribute name to type",
            path.display()
        ));
    };
    let mut manifest = Manifest::new();
    for (name, ty) in entries {
        let ty = ty
            .as_str()
            .ok_or_else(|| format!("{}: the type of {name} is not a string", path.display()))?
            .parse::<ValueType>()
            .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
        manifest.insert(&name, ty);
    }
    Ok(manifest)
}

/// An attribute value decoded from JSON, owning its data; [`Owned::value`] lends it to a bag.
enum Owned {
    Text(ValueType, String),
    Int64(i64),
    Uint64(u64),
    Double(f64),
    Bool(bool),
    Timestamp(Timestamp),
    Duration(Duration),
    Ip(IpAddr),
    Map(BTreeMap<String, String>),
}

impl Owned {
    fn decode(name: &str, ty: ValueType, json: &Json) -> Result<Self, String> {
        let bad = |expected: &str| format!("attribute {name} ({ty}) must be {expected}, got {json}");
        let text = || json.as_str().ok_or_else(|| bad("a string"));
        Ok(match ty {
            ValueType::Int64 => Self::Int64(json.as_i64().ok_or_else(|| bad("an integer"))?),
            ValueType::Uint64 => Self::Uint64(json.as_u64().ok_or_else(|| bad("a non-negative integer"))?),
            ValueType::Double => Self::Double(json.as_f64().ok_or_else(|| bad("a number"))?),
            ValueType::Bool => Self::Bool(json.as_bool().ok_or_else(|| bad("a boolean"))?),
            ValueType::Timestamp => Self::Timestamp(text()?.parse().map_err(|e| format!("attribute {name}: {e}"))?),
            ValueType::Duration => Self::Duration(text()?.parse().map_err(|e| format!("attribute {name}: {e}"))?),
            ValueType::IpAddress => Self::Ip(text()?.parse().map_err(|e| format!("attribute {name}: {e}"))?),
            ValueType::StringMap => {
                let object = json.as_object().ok_or_else(|| bad("an object of strings"))?;
                let mut map = BTreeMap::new();
                for (k, v) in object {
                    map.insert(
                        k.clone(),
                        v.as_str().ok_or_else(|| bad("an object of strings"))?.to_owned(),
                    );
                }
                Self::Map(map)
            }
            _ => Self::Text(ty, text()?.to_owned()),
        })
    }

    fn value(&self) -> Value<'_> {
        match self {
            Self::Text(ValueType::DnsName, s) => Value::DnsName(s.into()),
            Self::Text(ValueType::EmailAddress, s) => Value::EmailAddress(s.into()),
            Self::Text(ValueType::Uri, s) => Value::Uri(s.into()),
            Self::Text(ValueType::Bytes, s) => Value::Bytes(s.as_bytes().into()),
            Self::Text(_, s) => Value::str(s),
            Self::Int64(v) => Value::Int64(*v),
            Self::Uint64(v) => Value::Uint64(*v),
            Self::Double(v) => Value::Double(*v),
            Self::Bool(v) => Value::Bool(*v),
            Self::Timestamp(v) => Value::Timestamp(*v),
            Self::Duration(v) => Value::Duration(*v),
            Self::Ip(v) => Value::IpAddress(*v),
            Self::Map(m) => Value::StringMap(m),
        }
    }
}

fn load_attrs(path: Option<&Path>, manifest: &Manifest) -> Result<Vec<(String, Owned)>, String> {
    let Some(path) = path else { return Ok(Vec::new()) };
    let Json::Object(entries) = read_json(path)? else {
        return Err(format!(
            "{}: attributes are a JSON object of name to value",
            path.display()
        ));
    };
    entries
        .iter()
        .map(|(name, v)| {
            let (_, ty) = manifest
                .get(name)
                .ok_or_else(|| format!("{}: {name} is not in the manifest", path.display()))?;
            Ok((name.clone(), Owned::decode(name, ty, v)?))
        })
        .collect()
}

/// The JSON encoding of a result: the attribute encoding, with the program's label text for
/// the types JSON has no form for.
fn value_json(program: &Program, v: &Value<'_>) -> Json {
    match v {
        Value::Int64(i) => json!(i),
        Value::Uint64(u) => json!(u),
        Value::Double(d) if d.is_finite() => json!(d),
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::StringMap(m) => {
            let mut object = Map::new();
            m.for_each_entry(&mut |k, v| {
                object.insert(k.to_owned(), json!(v));
            });
            Json::Object(object)
        }
        Value::List(items) => Json::Array(items.iter().map(|i| value_json(program, i)).collect()),
        Value::Map(entries) => {
            let mut object = Map::new();
            for (k, v) in entries.iter() {
                object.insert(text(program, k), value_json(program, v));
            }
            Json::Object(object)
        }
        other => json!(text(program, other)),
    }
}

fn text(program: &Program, v: &Value<'_>) -> String {
    let mut s = String::new();
    let _ = program.write_text(v, &mut s);
    s
}

/// A type's name as the dialect spells it: `INT64` in Mixer, `int` in CEL.
fn type_name(program: &Program, ty: ValueType) -> &'static str {
    match program.dialect() {
        Dialect::Mixer => ty.name(),
        _ => ty.cel_name(),
    }
}

fn emit(value: &Json) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn compile(args: &CheckArgs) -> Result<(Program, Manifest), ExitCode> {
    let manifest = load_manifest(args.manifest.as_deref(), args.dialect).map_err(|e| {
        eprintln!("meshtel: error: {e}");
        ExitCode::FAILURE
    })?;
    match Program::compile(args.dialect, &args.expr, &manifest) {
        Ok(p) => Ok((p, manifest)),
        Err(e) => {
            emit(&json!({ "compile_error": e.to_string() }));
            eprintln!("{}", e.render(&args.expr));
            Err(ExitCode::from(2))
        }
    }
}

pub(crate) fn run(cmd: ExprCommand) -> ExitCode {
    match cmd {
        ExprCommand::Check(args) => match compile(&args) {
            Ok((program, _)) => {
                emit(
                    &json!({ "type": type_name(&program, program.result_type()), "references": program.references().collect::<Vec<_>>() }),
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        ExprCommand::Eval(args) => {
            let (program, manifest) = match compile(&args.check) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let owned = match load_attrs(args.attrs.as_deref(), &manifest) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("meshtel: error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let bag: HashMap<&str, Value<'_>> = owned.iter().map(|(k, v)| (k.as_str(), v.value())).collect();
            match program.evaluate(&bag) {
                Ok(v) => {
                    // CEL is typed at run time: the value's own type, not the static `dyn`.
                    let ty = match program.dialect() {
                        Dialect::Mixer => program.result_type(),
                        _ => v.value_type(),
                    };
                    emit(&json!({ "type": type_name(&program, ty), "value": value_json(&program, &v) }));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    emit(&json!({ "error": e.to_string() }));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
