//! `meshtel config from-telemetry FILE... --namespace NS [--labels k=v,...]`: the stats
//! `PluginConfig` istiod generates from Telemetry API resources for one sidecar workload
//! (`docs/telemetry-api.md`).

use std::collections::BTreeMap;
use std::io::Read;

use clap::{Args, Subcommand, ValueEnum};
use meshtel::PluginConfig;
use meshtel::telemetry::{DEFAULT_ROOT_NAMESPACE, ListenerDirection, Telemetry, Workload, parse_yaml, plugin_config};
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the stats plugin configuration istiod generates from Telemetry resources for a
    /// sidecar's listeners, as JSON (`null`: no stats filter on that listener).
    FromTelemetry(FromTelemetryArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Direction {
    /// The inbound listener (overrides of mode SERVER).
    Inbound,
    /// The outbound listeners (overrides of mode CLIENT).
    Outbound,
    /// Both, as `{"inbound": ..., "outbound": ...}`.
    Both,
}

#[derive(Debug, Args)]
pub(crate) struct FromTelemetryArgs {
    /// YAML files of Telemetry resources (`-` for standard input; `---` separates documents;
    /// documents of other kinds are skipped with a note on standard error).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// The workload's namespace.
    #[arg(long, value_name = "NS")]
    namespace: String,
    /// The workload's labels, as `key=value` pairs separated by commas.
    #[arg(long, value_name = "K=V,...", default_value = "")]
    labels: String,
    /// The mesh root namespace (its selector-less Telemetry is mesh-wide).
    #[arg(long, value_name = "NS", default_value = DEFAULT_ROOT_NAMESPACE)]
    root_namespace: String,
    /// The listener(s) to generate for.
    #[arg(long, value_enum, default_value = "both")]
    direction: Direction,
}

pub(crate) fn run(cmd: ConfigCommand) -> Result<(), String> {
    match cmd {
        ConfigCommand::FromTelemetry(args) => from_telemetry(&args),
    }
}

fn from_telemetry(args: &FromTelemetryArgs) -> Result<(), String> {
    let workload = Workload::new(args.namespace.clone(), parse_labels(&args.labels)?);
    let mut telemetries = Vec::new();
    for file in &args.files {
        telemetries.extend(read_telemetries(file)?);
    }
    let generate = |direction| plugin_config(&telemetries, &args.root_namespace, &workload, direction);
    let (inbound, outbound) = (ListenerDirection::Inbound, ListenerDirection::Outbound);
    let text = match args.direction {
        Direction::Inbound => serde_json::to_string_pretty(&generate(inbound)),
        Direction::Outbound => serde_json::to_string_pretty(&generate(outbound)),
        Direction::Both => serde_json::to_string_pretty(&Both {
            inbound: generate(inbound),
            outbound: generate(outbound),
        }),
    }
    .map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// `--direction both`: one object, the fields in this order.
#[derive(Serialize)]
struct Both {
    inbound: Option<PluginConfig>,
    outbound: Option<PluginConfig>,
}

/// The Telemetry resources of one file; other kinds are noted on standard error.
fn read_telemetries(file: &str) -> Result<Vec<Telemetry>, String> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading standard input: {e}"))?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
    }
    let docs = parse_yaml(&text).map_err(|e| format!("{file}: {e}"))?;
    for skipped in &docs.skipped {
        eprintln!(
            "meshtel: {file}: document {}: skipped {} {} (not a Telemetry)",
            skipped.document, skipped.api_version, skipped.kind
        );
    }
    Ok(docs.telemetries)
}

/// `k=v,k=v` (empty: no labels).
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("--labels: expected key=value, found {pair:?}"))?;
        if labels.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("--labels: {key:?} given twice"));
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::parse_labels;

    #[test]
    fn labels() {
        let labels = parse_labels("app=cart,version=v1,empty=").unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels["empty"], "");
        assert!(parse_labels("").unwrap().is_empty());
        assert_eq!(
            parse_labels("app").unwrap_err(),
            r#"--labels: expected key=value, found "app""#
        );
        assert_eq!(
            parse_labels("=x").unwrap_err(),
            r#"--labels: expected key=value, found "=x""#
        );
        assert_eq!(parse_labels("a=1,a=2").unwrap_err(), r#"--labels: "a" given twice"#);
    }
}
