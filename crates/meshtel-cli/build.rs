//! Generates the `meshtel.demo.v1.Echo` gRPC client and server for `meshtel demo` with
//! tonic-build's manual builder: the service is described here in Rust, the messages are
//! derived by hand in `src/demo/grpc.rs`, so the build needs no `protoc` (the same service
//! as a `.proto` file, for other clients: `crates/meshtel-cli/proto/echo.proto`).

use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type("crate::demo::grpc::EchoRequest")
        .output_type("crate::demo::grpc::EchoReply")
        .codec_path("tonic_prost::ProstCodec")
}

fn main() {
    let echo = Service::builder()
        .name("Echo")
        .package("meshtel.demo.v1")
        .method(method("say", "Say").build())
        .method(method("expand", "Expand").server_streaming().build())
        .method(method("collect", "Collect").client_streaming().build())
        .method(method("chat", "Chat").client_streaming().server_streaming().build())
        .build();
    Builder::new().compile(&[echo]);
}
