//! `meshtel`: decode and encode Istio peer metadata, and evaluate attribute expressions,
//! from the command line.

mod config;
mod demo;
mod envoy;
mod expr;
mod json;
mod labels;
mod peer;
mod push;
mod pushsim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// meshtel: service-mesh telemetry tools.
#[derive(Debug, Parser)]
#[command(name = "meshtel", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Peer metadata exchange: the TCP prefix frame and the HTTP header.
    #[command(subcommand)]
    Peer(peer::PeerCommand),
    /// The `baggage` header.
    #[command(subcommand)]
    Baggage(peer::BaggageCommand),
    /// Attribute expressions: evaluate or type-check.
    #[command(subcommand)]
    Expr(expr::ExprCommand),
    /// Every sample Istio's stats plugin records for one request or connection.
    Labels(labels::LabelsArgs),
    /// A two-sidecar mesh on loopback with mTLS, peer exchange, metrics and load.
    Demo(Box<demo::DemoArgs>),
    /// Many simulated sidecars pushing Istio's metrics to one remote-write receiver.
    PushSim(pushsim::PushSimArgs),
    /// Plugin configuration: what istiod generates from Istio's Telemetry API.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Envoy with the meshtel proxy-wasm module: the bootstrap snippet for a role and node.
    #[command(subcommand)]
    Envoy(envoy::EnvoyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Peer(cmd) => peer::run_peer(cmd),
        Command::Baggage(cmd) => peer::run_baggage(cmd),
        Command::Expr(cmd) => return expr::run(cmd),
        Command::Labels(args) => labels::run(&args).map_err(peer::Failure::from),
        Command::Demo(args) => demo::run(&args).map_err(peer::Failure::from),
        Command::PushSim(args) => pushsim::run(&args).map_err(peer::Failure::from),
        Command::Config(cmd) => config::run(cmd).map_err(peer::Failure::from),
        Command::Envoy(cmd) => envoy::run(cmd).map_err(peer::Failure::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshtel: error: {e}");
            ExitCode::FAILURE
        }
    }
}
