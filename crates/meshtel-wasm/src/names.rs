//! Labels encoded in a stat name, and the tag extraction rules that decode them.
//!
//! proxy-wasm metrics have a name and no labels. A series `f{a="x",b="y"}` becomes the stat
//! `f;.;a=.=x;.;b=.=y`; the host's tag extraction (Envoy's `stats_config.stats_tags`, one rule
//! per label name: [`tag_regex`]) removes each `;.;a=.=x` segment, keeping `x` as the value of
//! tag `a`, which leaves the name `f` — so the host exposes `f{a="x",b="y"}`, as Istio 1.5's
//! Wasm stats plugin did.

/// Separates segments: it cannot occur in a family or label name, and is removed from
/// label values (a `;` in a value becomes `_`).
pub const SEGMENT: &str = ";.;";
/// Separates a label name from its value inside a segment.
pub const ASSIGN: &str = "=.=";

/// Writes the stat name of series `family{labels}` into `out` (cleared first).
///
/// ```
/// let mut name = String::new();
/// meshtel_wasm::names::stat_name("istio_requests_total", &[("reporter", "source"), ("response_code", "200")], &mut name);
/// assert_eq!(name, "istio_requests_total;.;reporter=.=source;.;response_code=.=200");
/// ```
pub fn stat_name(family: &str, labels: &[(&str, &str)], out: &mut String) {
    out.clear();
    out.push_str(family);
    for (name, value) in labels {
        out.push_str(SEGMENT);
        out.push_str(name);
        out.push_str(ASSIGN);
        push_value(value, out);
    }
}

/// Appends a label value, with each `;` turned into `_` so that a value cannot end its
/// segment early (the one change a value undergoes; documented in `docs/wasm.md`).
fn push_value(value: &str, out: &mut String) {
    if value.contains(';') {
        out.extend(value.chars().map(|c| if c == ';' { '_' } else { c }));
    } else {
        out.push_str(value);
    }
}

/// The tag extraction regex of label `name`: the first group is the segment to remove, the
/// second the value (Envoy's `TagSpecifier.regex` convention). It reads in both ECMAScript
/// and RE2 syntax.
///
/// ```
/// assert_eq!(meshtel_wasm::names::tag_regex("reporter"), r"(;\.;reporter=\.=(.*?))(?:;\.;|$)");
/// ```
#[must_use]
pub fn tag_regex(name: &str) -> String {
    format!(r"(;\.;{name}=\.=(.*?))(?:;\.;|$)")
}

/// The regex (RE2, matched against the whole stat name) selecting the histograms of family
/// `family` for Envoy's `histogram_bucket_settings`: the name with or without labels, with
/// or without the host's `wasmcustom.` prefix.
#[must_use]
pub fn histogram_regex(family: &str) -> String {
    format!(r"^(?:wasmcustom\.)?{}(?:;\.;.*)?$", family.replace('.', r"\."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a host's tag extraction does with the rules: remove every matched segment.
    fn extract(stat: &str, names: &[&str]) -> (String, Vec<(String, String)>) {
        let mut rest = stat.to_owned();
        let mut tags = Vec::new();
        for name in names {
            let prefix = format!(";.;{name}=.=");
            if let Some(at) = rest.find(&prefix) {
                let from = at + prefix.len();
                let end = rest[from..].find(SEGMENT).map_or(rest.len(), |e| from + e);
                tags.push(((*name).to_owned(), rest[from..end].to_owned()));
                rest.replace_range(at..end, "");
            }
        }
        (rest, tags)
    }

    #[test]
    fn segments_round_trip_through_extraction() {
        let labels = [
            ("source_workload", "productpage-v1"),
            ("source_workload_namespace", "default"),
            ("destination_service", "reviews.default.svc.cluster.local"),
            ("response_flags", "UH,UF"),
            ("empty", ""),
            ("odd", "a;.;b=.=c"),
        ];
        let mut name = String::new();
        stat_name("istio_requests_total", &labels, &mut name);
        let names: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
        let (family, tags) = extract(&name, &names);
        assert_eq!(family, "istio_requests_total");
        assert_eq!(tags[0], ("source_workload".into(), "productpage-v1".into()));
        assert_eq!(tags[1], ("source_workload_namespace".into(), "default".into()));
        assert_eq!(tags[2].1, "reviews.default.svc.cluster.local");
        assert_eq!(tags[4].1, "");
        assert_eq!(tags[5].1, "a_._b=.=c", "`;` cannot end a segment early");
    }

    #[test]
    fn histogram_selector_is_anchored() {
        let re = histogram_regex("istio_request_bytes");
        assert!(re.starts_with('^') && re.ends_with('$'));
        assert!(re.contains("istio_request_bytes(?:"));
    }
}
