//! Turns a [`PluginConfig`] into the final label list of every metric
//! (`docs/reference/telemetry.md` §9.2, §9.3, §9.4), with compiled expressions, and groups
//! metrics that share a label list.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use meshtel_expr::{Dialect, Manifest, Program, ValueType};
use meshtel_metrics::Buckets;

use crate::attrs::Slot;
use crate::config::{ConfigError, MetricType, PluginConfig};
use crate::metric::{DEFAULT_EXPRESSIONS, STANDARD_TAGS, StandardMetric};

/// Most labels a metric may have.
pub(crate) const MAX_LABELS: usize = 64;

/// One label of a metric: its name and the compiled expression giving its value.
#[derive(Clone, Debug)]
pub(crate) struct Label {
    pub(crate) name: String,
    pub(crate) program: Arc<Program>,
    /// Reads request-scoped attributes: evaluated per request, not once per connection.
    pub(crate) request_scoped: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum MetricKind {
    Standard(StandardMetric),
    Custom { value: Arc<Program>, ty: MetricType },
}

#[derive(Clone, Debug)]
pub(crate) struct MetricPlan {
    pub(crate) exposed: String,
    pub(crate) kind: MetricKind,
    pub(crate) labels: Vec<Label>,
    pub(crate) buckets: Option<Buckets>,
}

/// The compiled configuration, plus what the loader had to say about it.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) metrics: Vec<MetricPlan>,
    pub(crate) warnings: Vec<String>,
}

enum Setting {
    Value(Arc<Program>),
    Removed,
}

/// The manifests of the two dialects (sharing one id space) and the slot table.
#[derive(Clone, Copy)]
pub(crate) struct Vocabulary<'m> {
    pub(crate) mixer: &'m Manifest,
    pub(crate) cel: &'m Manifest,
    pub(crate) slots: &'m [Slot],
}

impl Vocabulary<'_> {
    fn manifest(&self, dialect: Dialect) -> &Manifest {
        match dialect {
            Dialect::Mixer => self.mixer,
            _ => self.cel,
        }
    }
}

struct Compiler<'m> {
    vocabulary: Vocabulary<'m>,
    /// The dialect of the configuration's expressions.
    dialect: Dialect,
    cache: HashMap<(Dialect, String), Result<Arc<Program>, String>>,
}

impl Compiler<'_> {
    /// Compiles a label expression of the configuration.
    fn label(&mut self, text: &str) -> Result<Arc<Program>, String> {
        self.compile(self.dialect, text)
    }

    /// Compiles a label expression (identical texts share one program). A map result cannot
    /// be a label (§9.5): it fails like a type error.
    fn compile(&mut self, dialect: Dialect, text: &str) -> Result<Arc<Program>, String> {
        let key = (dialect, text.to_owned());
        if let Some(done) = self.cache.get(&key) {
            return done.clone();
        }
        let result = match Program::compile(dialect, text, self.vocabulary.manifest(dialect)) {
            Ok(p) if matches!(p.result_type(), ValueType::StringMap | ValueType::Map) => Err(format!(
                "{text:?} has type {}, which cannot be a label value",
                p.result_type()
            )),
            Ok(p) => Ok(Arc::new(p)),
            Err(e) => Err(format!(
                "{dialect} expression {text:?}: {}",
                e.render(text).replace('\n', " ")
            )),
        };
        self.cache.insert(key, result.clone());
        result
    }

    fn request_scoped(&self, program: &Program) -> bool {
        program.reference_ids().any(|id| {
            self.vocabulary
                .slots
                .get(id.index())
                .is_some_and(|s| s.is_request_scoped())
        })
    }
}

fn valid_prometheus_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Validates one `histogram_buckets` entry: finite, positive, sorted and de-duplicated,
/// at most 64 bounds (T5).
fn checked_buckets(prefix: &str, bounds: &[f64]) -> Result<Buckets, ConfigError> {
    let bad = |reason: String| ConfigError::Buckets {
        prefix: prefix.to_owned(),
        reason,
    };
    if let Some(b) = bounds.iter().find(|b| !b.is_finite() || **b <= 0.0) {
        return Err(bad(format!("bound {b} is not finite and positive")));
    }
    let mut sorted = bounds.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    Buckets::new(&sorted).map_err(|e| bad(e.to_string()))
}

/// The buckets of the longest `histogram_buckets` prefix matching `exposed`.
fn buckets_for(config: &PluginConfig, exposed: &str) -> Result<Option<Buckets>, ConfigError> {
    let matches =
        |prefix: &str| exposed.starts_with(prefix) || (prefix == "istiocustom" && exposed.starts_with("istio_"));
    match config
        .histogram_buckets
        .iter()
        .filter(|(p, _)| matches(p))
        .max_by_key(|(p, _)| p.len())
    {
        Some((prefix, bounds)) => checked_buckets(prefix, bounds).map(Some),
        None => Ok(None),
    }
}

/// A custom metric being defined (§9.2), with the tags §9.3 adds to it.
struct Custom {
    name: String,
    value: Arc<Program>,
    ty: MetricType,
    added: Vec<(String, Arc<Program>)>,
}

/// Tags added to a metric, in first-added order; adding a tag again replaces its program.
type Added = Vec<(String, Arc<Program>)>;

fn add(list: &mut Added, tag: &str, p: &Arc<Program>) {
    match list.iter_mut().find(|(t, _)| t == tag) {
        Some(slot) => slot.1 = Arc::clone(p),
        None => list.push((tag.to_owned(), Arc::clone(p))),
    }
}

/// What the §9.3 overrides do to the ten standard metrics.
struct Overrides {
    dropped: [bool; 10],
    settings: Vec<BTreeMap<usize, Setting>>,
    added: Vec<Added>,
}

pub(crate) fn plan(config: &PluginConfig, vocabulary: Vocabulary<'_>) -> Result<Plan, ConfigError> {
    let mut c = Compiler {
        vocabulary,
        dialect: config.expression_language,
        cache: HashMap::new(),
    };
    let mut warnings: Vec<String> = config
        .ignored_fields()
        .into_iter()
        .map(|f| format!("{f}: accepted and ignored (deprecated or Wasm-era field)"))
        .collect();
    // Every entry is validated, matched or not.
    for (prefix, bounds) in &config.histogram_buckets {
        checked_buckets(prefix, bounds)?;
    }
    let manifest = vocabulary.manifest(config.expression_language);
    let mut customs = custom_metrics(config, manifest, &mut warnings)?;
    let overrides = overrides(config, &mut c, &mut customs, &mut warnings)?;
    let metrics = final_label_lists(config, &mut c, &overrides, customs)?;
    Ok(Plan { metrics, warnings })
}

/// §9.2: the custom metrics of `definitions`, first.
fn custom_metrics(
    config: &PluginConfig,
    manifest: &Manifest,
    warnings: &mut Vec<String>,
) -> Result<Vec<Custom>, ConfigError> {
    let mut customs: Vec<Custom> = Vec::new();
    for (index, def) in config.definitions.iter().enumerate() {
        if StandardMetric::from_config_name(&def.name).is_some() {
            warnings.push(format!(
                "definitions[{index}]: {:?} is a standard metric name; definition skipped",
                def.name
            ));
            continue;
        }
        let exposed = format!("istio_{}", def.name);
        if def.name.is_empty() || !valid_prometheus_name(&exposed) {
            return Err(ConfigError::MetricName {
                index,
                name: def.name.clone(),
                reason: "not a valid Prometheus metric name",
            });
        }
        if exposed == "istio_build" {
            return Err(ConfigError::MetricName {
                index,
                name: def.name.clone(),
                reason: "collides with istio_build",
            });
        }
        let value = match Program::compile(config.expression_language, &def.value, manifest) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                warnings.push(format!(
                    "definitions[{index}] ({}): value expression does not compile: {e}; metric not defined",
                    def.name
                ));
                continue;
            }
        };
        if customs.iter().any(|m| m.name == def.name) {
            warnings.push(format!(
                "definitions[{index}]: duplicate metric {:?}; the first definition is kept",
                def.name
            ));
            continue;
        }
        customs.push(Custom {
            name: def.name.clone(),
            value,
            ty: def.metric_type,
            added: Vec::new(),
        });
    }
    Ok(customs)
}

/// §9.3: the `metrics` overrides of standard metrics, in order; tags they add to custom
/// metrics go into `customs`.
fn overrides(
    config: &PluginConfig,
    c: &mut Compiler<'_>,
    customs: &mut [Custom],
    warnings: &mut Vec<String>,
) -> Result<Overrides, ConfigError> {
    let mut o = Overrides {
        dropped: [false; 10],
        settings: (0..10).map(|_| BTreeMap::new()).collect(),
        added: vec![Vec::new(); 10],
    };
    for (index, entry) in config.metrics.iter().enumerate() {
        if !entry.match_.is_empty() {
            return Err(ConfigError::Match(index));
        }
        let standard = StandardMetric::from_config_name(&entry.name);
        let custom = customs.iter().position(|m| m.name == entry.name);
        let all = entry.name.is_empty();
        if !all && standard.is_none() && custom.is_none() {
            warnings.push(format!(
                "metrics[{index}]: {:?} names no metric; entry has no effect",
                entry.name
            ));
            continue;
        }
        let standard_targets: Vec<usize> = match standard {
            Some(m) => vec![StandardMetric::ALL.iter().position(|x| *x == m).unwrap_or(0)],
            None if all => (0..10).collect(),
            None => Vec::new(),
        };
        let custom_targets: Vec<usize> = match custom {
            Some(i) => vec![i],
            None if all => (0..customs.len()).collect(),
            None => Vec::new(),
        };
        if entry.drop {
            match standard {
                Some(_) => standard_targets.iter().for_each(|&m| o.dropped[m] = true),
                None => warnings.push(format!(
                    "metrics[{index}]: drop applies only to a named standard metric; ignored"
                )),
            }
            continue;
        }
        for tag in &entry.tags_to_remove {
            match STANDARD_TAGS.iter().position(|t| t == tag) {
                Some(t) => standard_targets.iter().for_each(|&m| {
                    o.settings[m].insert(t, Setting::Removed);
                }),
                None => warnings.push(format!(
                    "metrics[{index}]: tags_to_remove: {tag:?} is not a standard tag; ignored"
                )),
            }
        }
        for (tag, text) in &entry.dimensions {
            let compiled = c.label(text);
            if let Err(e) = &compiled {
                warnings.push(format!("metrics[{index}].dimensions[{tag:?}]: {e}"));
            }
            let Ok(p) = &compiled else {
                // A failed expression removes a standard tag it sets, and adds nothing.
                if let Some(t) = STANDARD_TAGS.iter().position(|t| t == tag) {
                    for &m in &standard_targets {
                        o.settings[m].insert(t, Setting::Removed);
                    }
                }
                continue;
            };
            let standard_tag = STANDARD_TAGS.iter().position(|t| t == tag);
            for &m in &standard_targets {
                match standard_tag {
                    Some(t) => {
                        o.settings[m].insert(t, Setting::Value(Arc::clone(p)));
                    }
                    None => add(&mut o.added[m], tag, p),
                }
            }
            for &i in &custom_targets {
                add(&mut customs[i].added, tag, p);
            }
        }
    }
    Ok(o)
}

/// Final label lists: the standard metrics not dropped, their tags in standard order (set,
/// default or removed) then the added ones; then the custom metrics with their added tags.
fn final_label_lists(
    config: &PluginConfig,
    c: &mut Compiler<'_>,
    o: &Overrides,
    customs: Vec<Custom>,
) -> Result<Vec<MetricPlan>, ConfigError> {
    let defaults: Vec<Arc<Program>> = DEFAULT_EXPRESSIONS
        .iter()
        .map(|e| {
            // The standard labels are Mixer expressions whatever the configuration's dialect.
            c.compile(Dialect::Mixer, e)
                .map_err(|err| ConfigError::Parse(format!("built-in expression: {err}")))
        })
        .collect::<Result<_, _>>()?;
    let mut metrics = Vec::new();
    let label = |name: &str, program: &Arc<Program>| Label {
        name: name.to_owned(),
        request_scoped: c.request_scoped(program),
        program: Arc::clone(program),
    };
    for (m, metric) in StandardMetric::ALL.into_iter().enumerate() {
        if o.dropped[m] {
            continue;
        }
        let mut labels = Vec::new();
        for t in metric.standard_tags() {
            match o.settings[m].get(&t) {
                Some(Setting::Removed) => {}
                Some(Setting::Value(p)) => labels.push(label(STANDARD_TAGS[t], p)),
                None => labels.push(label(STANDARD_TAGS[t], &defaults[t])),
            }
        }
        labels.extend(o.added[m].iter().map(|(tag, p)| label(tag, p)));
        let exposed = metric.exposed_name();
        let buckets = if metric.is_histogram() {
            buckets_for(config, &exposed)?
        } else {
            None
        };
        metrics.push(MetricPlan {
            exposed,
            kind: MetricKind::Standard(metric),
            labels,
            buckets,
        });
    }
    for custom in customs {
        let exposed = format!("istio_{}", custom.name);
        let buckets = if custom.ty == MetricType::Histogram {
            buckets_for(config, &exposed)?
        } else {
            None
        };
        let labels = custom.added.iter().map(|(tag, p)| label(tag, p)).collect();
        metrics.push(MetricPlan {
            exposed,
            kind: MetricKind::Custom {
                value: custom.value,
                ty: custom.ty,
            },
            labels,
            buckets,
        });
    }
    if let Some(m) = metrics.iter().find(|m| m.labels.len() > MAX_LABELS) {
        return Err(ConfigError::TooManyLabels {
            metric: m.exposed.clone(),
            count: m.labels.len(),
            max: MAX_LABELS,
        });
    }
    Ok(metrics)
}
