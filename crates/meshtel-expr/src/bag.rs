//! Attribute bags: where evaluation reads attribute values from.

use alloc::borrow::Cow;
use core::borrow::Borrow;

use crate::{AttrId, Manifest, StringMap, Value};

/// An attribute as a compiled program asks for it: its id in the manifest the program was
/// compiled against, and its name.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'n> {
    /// The id in the program's manifest.
    pub id: AttrId,
    /// The dotted name.
    pub name: &'n str,
}

/// A source of attribute values. `None` means absent; a present value of the wrong kind for
/// the attribute's type is a runtime conversion error, never "absent"
/// (`docs/reference/expressions.md` §6.1).
///
/// Bags built for the program's manifest look values up by [`Attr::id`] (no hashing; see
/// [`SlotBag`]); others use [`Attr::name`] (maps of name to value implement this trait).
///
/// ```
/// use std::collections::HashMap;
/// use meshtel_expr::{Dialect, Manifest, Program, Value};
/// let program = Program::compile(Dialect::Mixer, r#"request.host | "unknown""#, &Manifest::istio()).unwrap();
/// let mut bag = HashMap::new();
/// assert_eq!(program.evaluate(&bag).unwrap(), Value::str("unknown"));
/// bag.insert("request.host", Value::str("reviews:9080"));
/// assert_eq!(program.evaluate(&bag).unwrap().to_string(), "reviews:9080");
/// ```
pub trait Bag {
    /// The value of `attr`, if present.
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>>;

    /// The text of `attr` when [`Bag::get`] would return it as a borrowed `STRING`, and
    /// `None` otherwise (absent, of another type, or text the bag builds): the read of most
    /// labels, without a [`Value`] built and dropped. Evaluation asks [`Bag::get`] whenever
    /// this says `None`, so an implementation may answer `None` for anything; overriding it
    /// only makes reads cheaper, and must agree with [`Bag::get`].
    ///
    /// ```
    /// use meshtel_expr::{Attr, Bag, Manifest, SlotBag, Value};
    /// let manifest = Manifest::istio();
    /// let (id, _) = manifest.get("request.host").unwrap();
    /// let mut bag = SlotBag::new(&manifest);
    /// bag.set(id, Value::str("reviews:9080"));
    /// assert_eq!(bag.get_text(Attr { id, name: "request.host" }), Some("reviews:9080"));
    /// ```
    #[inline]
    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        match self.get(attr)? {
            Value::String(Cow::Borrowed(text)) => Some(text),
            _ => None,
        }
    }

    /// The map of `attr` when [`Bag::get`] would return a `STRING_MAP`, and `None` otherwise;
    /// the same shortcut as [`Bag::get_text`], for `labels["app"]`.
    #[inline]
    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        match self.get(attr)? {
            Value::StringMap(map) => Some(map),
            _ => None,
        }
    }

    /// The integer of `attr` when [`Bag::get`] would return an `INT64`, and `None`
    /// otherwise; the same shortcut as [`Bag::get_text`], for `string(response.code)`.
    ///
    /// ```
    /// use meshtel_expr::{Attr, Bag, Manifest, SlotBag, Value};
    /// let manifest = Manifest::envoy();
    /// let (id, _) = manifest.get("response.code").unwrap();
    /// let mut bag = SlotBag::new(&manifest);
    /// bag.set(id, Value::Int64(503));
    /// assert_eq!(bag.get_int(Attr { id, name: "response.code" }), Some(503));
    /// ```
    #[inline]
    fn get_int(&self, attr: Attr<'_>) -> Option<i64> {
        match self.get(attr)? {
            Value::Int64(n) => Some(n),
            _ => None,
        }
    }
}

/// The shortcuts of a bag that stores [`Value`]s.
fn stored_text<'v>(value: Option<&'v Value<'_>>) -> Option<&'v str> {
    match value? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

fn stored_map<'v>(value: Option<&'v Value<'_>>) -> Option<&'v dyn StringMap> {
    match value? {
        Value::StringMap(map) => Some(*map),
        _ => None,
    }
}

fn stored_int(value: Option<&Value<'_>>) -> Option<i64> {
    match value? {
        Value::Int64(n) => Some(*n),
        _ => None,
    }
}

impl<B: Bag + ?Sized> Bag for &B {
    #[inline]
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        (**self).get(attr)
    }

    #[inline]
    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        (**self).get_text(attr)
    }

    #[inline]
    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        (**self).get_map(attr)
    }

    #[inline]
    fn get_int(&self, attr: Attr<'_>) -> Option<i64> {
        (**self).get_int(attr)
    }
}

impl<K, S> Bag for std::collections::HashMap<K, Value<'_>, S>
where
    K: Borrow<str> + Eq + core::hash::Hash,
    S: core::hash::BuildHasher,
{
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        Self::get(self, attr.name).map(Value::reborrow)
    }

    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        stored_text(Self::get(self, attr.name))
    }

    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        stored_map(Self::get(self, attr.name))
    }

    fn get_int(&self, attr: Attr<'_>) -> Option<i64> {
        stored_int(Self::get(self, attr.name))
    }
}

impl<K, S> Bag for hashbrown::HashMap<K, Value<'_>, S>
where
    K: Borrow<str> + Eq + core::hash::Hash,
    S: core::hash::BuildHasher,
{
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        Self::get(self, attr.name).map(Value::reborrow)
    }

    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        stored_text(Self::get(self, attr.name))
    }

    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        stored_map(Self::get(self, attr.name))
    }

    fn get_int(&self, attr: Attr<'_>) -> Option<i64> {
        stored_int(Self::get(self, attr.name))
    }
}

impl<K: AsRef<str>> Bag for [(K, Value<'_>)] {
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        self.iter()
            .find(|(k, _)| k.as_ref() == attr.name)
            .map(|(_, v)| v.reborrow())
    }

    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        stored_text(self.iter().find(|(k, _)| k.as_ref() == attr.name).map(|(_, v)| v))
    }

    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        stored_map(self.iter().find(|(k, _)| k.as_ref() == attr.name).map(|(_, v)| v))
    }

    fn get_int(&self, attr: Attr<'_>) -> Option<i64> {
        stored_int(self.iter().find(|(k, _)| k.as_ref() == attr.name).map(|(_, v)| v))
    }
}

/// A bag indexed by [`AttrId`]: one slot per attribute of a manifest. Lookups are an array
/// index; `clear` keeps the storage, so one bag can be refilled per request without
/// allocating.
///
/// It must be used with programs compiled against the same manifest (or one extended from it
/// by adding attributes): ids are positions in that manifest.
///
/// ```
/// use meshtel_expr::{Dialect, Manifest, Program, SlotBag, Value};
/// let manifest = Manifest::istio();
/// let program = Program::compile(Dialect::Mixer, r#"source.labels["app"] | "unknown""#, &manifest).unwrap();
/// let labels = [("app", "reviews")];
/// let mut bag = SlotBag::new(&manifest);
/// bag.set_named(&manifest, "source.labels", Value::StringMap(&labels));
/// assert_eq!(program.evaluate(&bag).unwrap().to_string(), "reviews");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SlotBag<'a> {
    slots: Vec<Option<Value<'a>>>,
}

impl<'a> SlotBag<'a> {
    /// An empty bag with one slot per attribute of `manifest`.
    #[must_use]
    pub fn new(manifest: &Manifest) -> Self {
        Self {
            slots: vec![None; manifest.len()],
        }
    }

    /// Sets the attribute `id` (growing the bag if the id is past its end).
    pub fn set(&mut self, id: AttrId, value: Value<'a>) {
        if id.index() >= self.slots.len() {
            self.slots.resize(id.index() + 1, None);
        }
        self.slots[id.index()] = Some(value);
    }

    /// Sets the attribute called `name`; returns false if `manifest` has no such attribute.
    pub fn set_named(&mut self, manifest: &Manifest, name: &str, value: Value<'a>) -> bool {
        manifest.get(name).map(|(id, _)| self.set(id, value)).is_some()
    }

    /// Makes the attribute `id` absent.
    pub fn remove(&mut self, id: AttrId) {
        if let Some(slot) = self.slots.get_mut(id.index()) {
            *slot = None;
        }
    }

    /// Makes every attribute absent, keeping the storage.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }
}

impl Bag for SlotBag<'_> {
    #[inline]
    fn get(&self, attr: Attr<'_>) -> Option<Value<'_>> {
        self.slots.get(attr.id.index())?.as_ref().map(Value::reborrow)
    }

    #[inline]
    fn get_text(&self, attr: Attr<'_>) -> Option<&str> {
        stored_text(self.slots.get(attr.id.index())?.as_ref())
    }

    #[inline]
    fn get_map(&self, attr: Attr<'_>) -> Option<&dyn StringMap> {
        stored_map(self.slots.get(attr.id.index())?.as_ref())
    }

    #[inline]
    fn get_int(&self, attr: Attr<'_>) -> Option<i64> {
        stored_int(self.slots.get(attr.id.index())?.as_ref())
    }
}
