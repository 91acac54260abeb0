//! `meshtel envoy bootstrap --role inbound|outbound --node FILE [--config FILE]`: the Envoy
//! configuration that goes with the proxy-wasm module (`docs/wasm.md`, "Bootstrap").

use clap::{Args, Subcommand, ValueEnum};
use meshtel_wasm::Role;
use meshtel_wasm::bootstrap::{BootstrapInput, render};

#[derive(Debug, Subcommand)]
pub(crate) enum EnvoyCommand {
    /// Print, as YAML, the `node` and `stats_config` bootstrap fields and the HTTP and network
    /// filter entries of the meshtel proxy-wasm module for one role and node.
    Bootstrap(BootstrapArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    /// Server side (`reporter="destination"`).
    Inbound,
    /// Client side (`reporter="source"`).
    Outbound,
}

#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    /// The filter's role.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// The node metadata, a JSON object (`examples/ratings-node.json`).
    #[arg(long, value_name = "FILE")]
    node: String,
    /// The stats plugin configuration (`PluginConfig` JSON).
    #[arg(long, value_name = "PLUGIN_CONFIG")]
    config: Option<String>,
    /// The node id (default: derived from the node's NAME and NAMESPACE).
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// The module's path as Envoy reads it.
    #[arg(long, value_name = "PATH")]
    wasm: Option<String>,
    /// The Wasm runtime.
    #[arg(long, value_name = "NAME", default_value = "envoy.wasm.runtime.v8")]
    runtime: String,
}

pub(crate) fn run(cmd: EnvoyCommand) -> Result<(), String> {
    match cmd {
        EnvoyCommand::Bootstrap(args) => bootstrap(&args),
    }
}

fn read_json(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))
}

fn bootstrap(args: &BootstrapArgs) -> Result<(), String> {
    let role = match args.role {
        RoleArg::Inbound => Role::Inbound,
        RoleArg::Outbound => Role::Outbound,
    };
    let node = read_json(&args.node)?;
    if !node.is_object() {
        return Err(format!("{}: node metadata must be a JSON object", args.node));
    }
    let mut input = BootstrapInput::new(role, node);
    if let Some(path) = &args.config {
        input.plugin = Some(read_json(path)?);
    }
    if let Some(id) = &args.node_id {
        input.node_id.clone_from(id);
    }
    if let Some(wasm) = &args.wasm {
        input.wasm_path.clone_from(wasm);
    }
    input.runtime.clone_from(&args.runtime);
    let text = render(&input).map_err(|e| e.to_string())?;
    print!("{text}");
    Ok(())
}
