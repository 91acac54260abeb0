//! The `meshtel` binary, end to end.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn meshtel(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshtel"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn meshtel");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

const NODE: &str = r#"{"NAMESPACE": "ns", "WORKLOAD_NAME": "w", "ISTIO_VERSION": "1.24.0"}"#;

fn write_node() -> tempfile::TempPath {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(NODE.as_bytes()).unwrap();
    f.into_temp_path()
}

#[test]
fn frame_round_trip_reports_consumed_and_trailing() {
    let node = write_node();
    let out = meshtel(
        &[
            "peer",
            "encode",
            "--json",
            node.to_str().unwrap(),
            "--as",
            "frame",
            "--id",
            "a~b~c~d",
        ],
        b"",
    );
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 177, "wire spec example A");
    let mut stream = out.stdout.clone();
    stream.extend_from_slice(b"app data");
    let decoded = json(&meshtel(&["peer", "decode", "--frame", "-"], &stream));
    assert_eq!(
        decoded,
        serde_json::json!({"metadata": {"LABELS": {}, "NAMESPACE": "ns", "WORKLOAD_NAME": "w"}, "id": "a~b~c~d", "consumed": 177, "trailing": 8})
    );
}

#[test]
fn header_and_baggage() {
    let node = write_node();
    let out = meshtel(
        &["peer", "encode", "--json", node.to_str().unwrap(), "--as", "header"],
        b"",
    );
    let header = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        header.trim(),
        "CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw=="
    );
    let decoded = json(&meshtel(
        &["peer", "decode", "--header", header.trim().trim_end_matches('=')],
        b"",
    ));
    assert_eq!(decoded["NAMESPACE"], "ns");
    let out = meshtel(
        &["peer", "encode", "--json", "-", "--as", "baggage", "--order", "ztunnel"],
        NODE.as_bytes(),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "k8s.namespace.name=ns,k8s.pod.name=w\n"
    );
    let record = json(&meshtel(
        &["baggage", "parse", "k8s.deployment.name=foo,service.name=s"],
        b"",
    ));
    assert_eq!(
        (
            record["type"].as_str(),
            record["workload"].as_str(),
            record["app"].as_str()
        ),
        (Some("deployment"), Some("foo"), Some("s"))
    );
}

#[test]
fn bad_input_fails_with_one_line_naming_the_place() {
    let cases: [(&[&str], &[u8], &str); 5] = [
        (&["peer", "decode", "--header", "QQ="], b"", "offset 2"),
        (&["peer", "decode", "--header", "-_-_"], b"", "offset 0"),
        (&["peer", "decode", "--frame", "-"], b"GET / HTTP/1.1", "byte 0"),
        (
            &["peer", "decode", "--frame", "-"],
            b"\x3d\x23\x04\x67\x00\x00\x00\x02\x0a\x05",
            "byte 8",
        ),
        (&["baggage", "parse", "unknown=1"], b"", "no recognised key"),
    ];
    for (args, stdin, needle) in cases {
        let out = meshtel(args, stdin);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
