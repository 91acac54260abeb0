//! No input the host or a peer can send makes the module's logic panic: a panic in the
//! module aborts the VM (`wasm32` aborts on panic), so every decoder the glue calls is run
//! here over arbitrary bytes.

use meshtel_wasm::mirror::{MetricKind, Mirror, StatsSink, replay};
use meshtel_wasm::{FilterConfig, Vm, props};
use proptest::prelude::*;

/// A host that accepts every metric and checks ids stay in range.
#[derive(Default)]
struct Host(usize);

impl StatsSink for Host {
    fn define(&mut self, _: MetricKind, _: &str) -> Option<u32> {
        self.0 += 1;
        Some(self.0 as u32 - 1)
    }
    fn add(&mut self, id: u32, _: u64) {
        assert!((id as usize) < self.0);
    }
    fn set(&mut self, id: u32, _: u64) {
        assert!((id as usize) < self.0);
    }
    fn observe(&mut self, id: u32, _: u64) {
        assert!((id as usize) < self.0);
    }
}

fn vm() -> Vm {
    let config = FilterConfig::from_json(br#"{"role": "inbound"}"#, "meshtel").expect("config");
    let node =
        meshtel_wasm::vm::node_from_json(&serde_json::json!({"WORKLOAD_NAME": "w", "NAMESPACE": "ns"})).expect("node");
    Vm::new(config, &node, "id").expect("vm")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn property_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0u64..8) {
        let _ = props::int(&bytes);
        let _ = props::boolean(&bytes);
        let _ = props::string(&bytes);
        let _ = props::field(&bytes, n);
        let _ = props::map_entry(&bytes, n, "istio");
        let _ = props::cluster_service(&bytes);
        let mut flags = Vec::new();
        props::response_flags(u64::from_le_bytes([bytes.first().copied().unwrap_or(0); 8]), &mut flags);
    }

    #[test]
    fn configurations(text in "\\PC{0,80}", root in "[a-z_]{0,12}") {
        let _ = FilterConfig::from_json(text.as_bytes(), &root);
        let json = format!(r#"{{"role": "outbound", "plugin": {text}}}"#);
        let _ = FilterConfig::from_json(json.as_bytes(), &root);
    }

    #[test]
    fn node_metadata(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let config = FilterConfig::from_json(br#"{"role": "inbound"}"#, "meshtel").expect("config");
        let _ = Vm::new(config, &bytes, "id");
    }

    #[test]
    fn peer_headers(value in proptest::collection::vec(any::<u8>(), 0..256)) {
        let vm = vm();
        prop_assert!(vm.decode_peer_header(&value).is_none() || !value.is_empty());
    }

    #[test]
    fn expositions(text in "(# TYPE [a-z_]{1,6} (counter|gauge|histogram)\n|[a-z_]{1,8}(\\{[a-z]{1,3}=\"[^\"]{0,4}\"(,le=\"[0-9.+Inf]{1,4}\")?\\})? [0-9.eE+-]{1,6}\n){0,12}") {
        let mut mirror = Mirror::new(8);
        let mut host = Host::default();
        let _ = mirror.apply(&text, &mut host);
        let _ = mirror.apply(&text, &mut host);
        prop_assert!(mirror.len() <= 8);
    }

    #[test]
    fn replays_keep_buckets_and_sum(values in proptest::collection::vec(0u64..5000, 0..40)) {
        let bounds = [0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, f64::INFINITY];
        let bucket = |v: u64| bounds.iter().position(|b| v as f64 <= *b).unwrap_or(bounds.len() - 1);
        let mut deltas = vec![0u64; bounds.len()];
        for &v in &values {
            deltas[bucket(v)] += 1;
        }
        let mut seen = vec![0u64; bounds.len()];
        let mut sum = 0u64;
        replay(&bounds, &deltas, values.iter().sum(), |v, n| {
            seen[bucket(v)] += n;
            sum += v * n;
        });
        prop_assert_eq!(seen, deltas);
        prop_assert_eq!(sum, values.iter().sum::<u64>());
    }
}
