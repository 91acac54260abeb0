//! `meshtel peer ...` and `meshtel baggage ...`.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use meshtel_wire::baggage::{BaggageOrder, baggage_string, parse_baggage};
use meshtel_wire::frame::{self, FrameConfig, FrameErrorKind, Status};
use meshtel_wire::header::{self, HeaderError};
use meshtel_wire::proto::Struct;
use meshtel_wire::workload::WorkloadMetadata;

use crate::json::{record_json, struct_json};

#[derive(Debug, Subcommand)]
pub(crate) enum PeerCommand {
    /// Decode an `x-envoy-peer-metadata` header value or a TCP prefix frame
    /// and print the Struct as JSON.
    Decode(DecodeArgs),
    /// Encode node metadata (JSON) as a frame, header value or baggage.
    Encode(EncodeArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct DecodeArgs {
    /// The base64 `x-envoy-peer-metadata` value.
    #[arg(long, value_name = "BASE64", allow_hyphen_values = true)]
    header: Option<String>,
    /// A file holding raw frame bytes (`-` for standard input); prints
    /// `{"metadata", "id", "consumed", "trailing"}`.
    #[arg(long, value_name = "FILE|-")]
    frame: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Carrier {
    /// TCP prefix frame (raw bytes).
    Frame,
    /// `x-envoy-peer-metadata` value.
    Header,
    /// `baggage` value.
    Baggage,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Order {
    /// Istio's proxies.
    Istio,
    /// ztunnel.
    Ztunnel,
}

#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// Node metadata as JSON (`NAME`, `NAMESPACE`, `LABELS`, ...); `-` for
    /// standard input. It is normalised to the record a sidecar sends
    /// (`docs/reference/wire.md` §1.2) unless `--raw` is given.
    #[arg(long, value_name = "FILE|-")]
    json: String,
    /// The carrier to produce.
    #[arg(long = "as", value_enum)]
    carrier: Carrier,
    /// Node id for a frame (`x-envoy-peer-metadata-id`).
    #[arg(long, default_value = "")]
    id: String,
    /// Member order of baggage.
    #[arg(long, value_enum, default_value = "istio")]
    order: Order,
    /// Additional pod label to exchange (repeatable).
    #[arg(long = "label", value_name = "KEY")]
    labels: Vec<String>,
    /// Encode the JSON Struct as given, without normalising it.
    #[arg(long)]
    raw: bool,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BaggageCommand {
    /// Parse a baggage value as Istio's proxy does and print the record.
    Parse {
        /// The baggage header value.
        value: String,
    },
}

/// A CLI failure: one line for standard error.
#[derive(Debug)]
pub(crate) struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self(message)
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure(message.into())
}

fn read_input(path: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("reading standard input: {e}")))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| fail(format!("reading {path}: {e}")))?;
    }
    Ok(bytes)
}

fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| fail(e.to_string()))?;
    println!("{text}");
    Ok(())
}

pub(crate) fn run_peer(cmd: PeerCommand) -> Result<(), Failure> {
    match cmd {
        PeerCommand::Decode(args) => match (args.header, args.frame) {
            (Some(value), _) => decode_header(&value),
            (None, Some(path)) => decode_frame(&read_input(&path)?),
            (None, None) => Err(fail("give --header or --frame")),
        },
        PeerCommand::Encode(args) => encode(&args),
    }
}

fn decode_header(value: &str) -> Result<(), Failure> {
    let mut buf = vec![0u8; header::max_decoded_len(value.len())];
    let view = header::decode_peer_header(value.as_bytes(), &mut buf).map_err(|e| match e {
        HeaderError::Malformed(d) => fail(format!(
            "x-envoy-peer-metadata: malformed Struct at decoded byte {}: {}",
            d.offset, d.reason
        )),
        other => fail(other.to_string()),
    })?;
    print_json(&struct_json(&view))
}

fn decode_frame(bytes: &[u8]) -> Result<(), Failure> {
    let config = FrameConfig::default()
        .with_max_payload(FrameConfig::MAX_MAX_PAYLOAD)
        .map_err(|e| fail(e.to_string()))?;
    let (metadata, id, consumed) = match frame::decode_frame(bytes, &config) {
        Ok(Status::Frame {
            metadata_struct: peer,
            id,
            consumed,
            ..
        }) => (struct_json(&peer), id, consumed),
        Ok(Status::NoPeer { id, consumed }) => (serde_json::Value::Null, id, consumed),
        Ok(Status::NotAFrame) => {
            let (offset, byte) = bytes
                .iter()
                .zip(frame::MAGIC)
                .position(|(a, b)| *a != b)
                .map_or((bytes.len(), None), |i| (i, Some(bytes[i])));
            return Err(match byte {
                Some(b) => fail(format!(
                    "not a peer metadata frame: byte {offset} is {b:#04x}, the magic is 3d 23 04 67"
                )),
                None => fail(format!(
                    "not a peer metadata frame: input of {} bytes ends inside the magic",
                    bytes.len()
                )),
            });
        }
        Ok(other) => return Err(fail(format!("unexpected decoder status {other:?}"))),
        Err(e) => {
            return Err(match e.kind {
                FrameErrorKind::Malformed(d) => fail(format!("malformed frame at byte {}: {}", d.offset, d.reason)),
                FrameErrorKind::UnexpectedTypeUrl => {
                    fail("frame payload at byte 8 is an Any whose type URL is not google.protobuf.Struct")
                }
                FrameErrorKind::TooLarge { declared, max } => fail(format!(
                    "frame at byte 4 declares a {declared}-byte payload, more than {max}"
                )),
                FrameErrorKind::Truncated { have, need } => fail(format!(
                    "truncated frame: input ends at byte {have}, the frame needs {need}"
                )),
                other => fail(other.to_string()),
            });
        }
    };
    print_json(&serde_json::json!({
        "metadata": metadata,
        "id": id,
        "consumed": consumed,
        "trailing": bytes.len() - consumed,
    }))
}

fn encode(args: &EncodeArgs) -> Result<(), Failure> {
    let text = read_input(&args.json)?;
    let node: Struct =
        serde_json::from_slice(&text).map_err(|e| fail(format!("{}: not a JSON object: {e}", args.json)))?;
    let labels: Vec<&str> = args.labels.iter().map(String::as_str).collect();
    let record = WorkloadMetadata::from_node_metadata(&node, &labels);
    let record_struct = if args.raw { node } else { record.to_struct() };
    let output: Vec<u8> = match args.carrier {
        Carrier::Frame => {
            frame::encode_frame(&record_struct, &args.id, &FrameConfig::default()).map_err(|e| fail(e.to_string()))?
        }
        Carrier::Header => {
            let mut value = header::encode_peer_header(&record_struct);
            value.push('\n');
            value.into_bytes()
        }
        Carrier::Baggage => {
            let order = match args.order {
                Order::Istio => BaggageOrder::Istio,
                Order::Ztunnel => BaggageOrder::Ztunnel,
            };
            let mut value = baggage_string(&record.as_view(), order);
            value.push('\n');
            value.into_bytes()
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, &output).map_err(|e| fail(format!("writing {}: {e}", path.display()))),
        None => std::io::stdout()
            .write_all(&output)
            .map_err(|e| fail(format!("writing standard output: {e}"))),
    }
}

pub(crate) fn run_baggage(cmd: BaggageCommand) -> Result<(), Failure> {
    match cmd {
        BaggageCommand::Parse { value } => {
            let record = parse_baggage(&value).map_err(|e| fail(e.to_string()))?;
            print_json(&record_json(&record))
        }
    }
}
