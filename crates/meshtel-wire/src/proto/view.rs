//! Zero-copy views over validated `Struct`, `Value`, `ListValue` and `Any`.
//!
//! Protobuf merges repeated occurrences of a singular message field, so the
//! `Value` of a map entry is the merge of every `value` field in the entry,
//! and a `struct_value` is the merge of every `struct_value` after the last
//! field of another kind. Views follow those rules without copying: a
//! container view remembers where its run of fragments starts and walks
//! them lazily.

use super::wire::{self, Cursor, Limits, Payload, field, split_len_field, tag};
use super::{DecodeError, fast};

/// Where a `Value` comes from.
#[derive(Clone, Copy)]
enum ValueSrc<'a> {
    /// One serialized `Value` (a list element).
    Msg(&'a [u8]),
    /// A serialized map entry; the `Value` is the merge of its `value` fields.
    Entry(&'a [u8]),
}

/// A position inside a `Value`'s fragments: offset of the fragment's field in
/// the entry (0 for [`ValueSrc::Msg`]) and of a field inside the fragment.
#[derive(Clone, Copy, Default)]
struct Pos {
    outer: usize,
    inner: usize,
}

/// Where a container's items come from.
#[derive(Clone, Copy)]
enum ContainerSrc<'a> {
    /// A whole serialized `Struct` (top level).
    Root(&'a [u8]),
    /// The `struct_value`/`list_value` fields of a `Value`, from `start` on.
    Merged(ValueSrc<'a>, Pos),
}

/// Walks the items (field 1) of a container: a plain byte walk for a whole
/// serialized container, the fragment walk otherwise.
#[derive(Clone, Copy)]
enum ItemIter<'a> {
    Root(&'a [u8]),
    Merged(Items<'a>),
}

impl<'a> ItemIter<'a> {
    #[inline]
    fn new(src: ContainerSrc<'a>, kind_field: u32) -> Self {
        match src {
            ContainerSrc::Root(bytes) => Self::Root(bytes),
            ContainerSrc::Merged(value, start) => Self::Merged(Items::new(value, start, kind_field)),
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Root(rest) => {
                // `Struct.fields` and `ListValue.values` share the tag.
                if let Some((tag::STRUCT_FIELDS, item, after)) = split_len_field(rest) {
                    *rest = after;
                    return Some(item);
                }
                Self::next_unusual(rest)
            }
            Self::Merged(items) => items.next(),
        }
    }

    /// Long lengths, unknown fields: the general field walk.
    #[cold]
    #[inline(never)]
    fn next_unusual(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        loop {
            let mut cursor = Cursor::new(rest, 0);
            let field = cursor.next_valid()?;
            *rest = cursor.remaining();
            if let (field::STRUCT_FIELDS, Payload::Len(item, _)) = (field.number, field.payload) {
                return Some(item);
            }
        }
    }
}

/// Walks the items (field 1) of a merged container.
#[derive(Clone, Copy)]
struct Items<'a> {
    /// Fields of the map entry (value fragments); empty unless the value
    /// came from an entry.
    outer: Cursor<'a>,
    /// Fields of the current `Value` fragment.
    fragment: Cursor<'a>,
    /// Fields of the current container fragment.
    container: Cursor<'a>,
    kind_field: u32,
}

impl<'a> Items<'a> {
    /// The items of the `kind_field` fragments of `value`, from `start` on.
    fn new(value: ValueSrc<'a>, start: Pos, kind_field: u32) -> Self {
        let mut items = Self {
            outer: Cursor::EMPTY,
            fragment: Cursor::EMPTY,
            container: Cursor::EMPTY,
            kind_field,
        };
        match value {
            ValueSrc::Msg(bytes) => items.fragment = Cursor::at(bytes, start.inner),
            ValueSrc::Entry(entry) => {
                let mut outer = Cursor::at(entry, start.outer);
                if let Some(Field {
                    payload: Payload::Len(fragment, _),
                    ..
                }) = outer.next_valid()
                {
                    items.fragment = Cursor::at(fragment, start.inner);
                }
                items.outer = outer;
            }
        }
        items
    }
}

// Local alias so the pattern above reads well.
type Field<'a> = wire::Field<'a>;

#[allow(
    clippy::copy_iterator,
    reason = "internal, and `Copy` on purpose: the walk keeps copies of a position"
)]
impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(field) = self.container.next_valid() {
                if let (field::STRUCT_FIELDS, Payload::Len(item, _)) = (field.number, field.payload) {
                    return Some(item);
                }
                continue;
            }
            if let Some(field) = self.fragment.next_valid() {
                if let Payload::Len(container, _) = field.payload
                    && field.number == self.kind_field
                {
                    self.container = Cursor::new(container, 0);
                }
                continue;
            }
            let field = self.outer.next_valid()?;
            if let (field::ENTRY_VALUE, Payload::Len(fragment, _)) = (field.number, field.payload) {
                self.fragment = Cursor::new(fragment, 0);
            }
        }
    }
}

/// A borrowed, validated `google.protobuf.Struct`.
///
/// Obtained from [`StructView::parse`] (which validates everything once) or
/// from a [`ValueView`] of kind struct. Lookups are linear scans, which beat
/// hashing for the dozen keys that metadata carries.
///
/// ```
/// use meshtel_wire::proto::{Kind, StructView};
/// // {"a": "1"} then {"a": "2"}: the later entry replaces the earlier.
/// let bytes = [0x0a, 0x08, 0x0a, 0x01, b'a', 0x12, 0x03, 0x1a, 0x01, b'1',
///              0x0a, 0x08, 0x0a, 0x01, b'a', 0x12, 0x03, 0x1a, 0x01, b'2'];
/// let view = StructView::parse(&bytes)?;
/// assert_eq!(view.get("a").and_then(|v| v.as_str()), Some("2"));
/// assert!(matches!(view.get("b"), None));
/// # Ok::<(), meshtel_wire::proto::DecodeError>(())
/// ```
#[derive(Clone, Copy)]
pub struct StructView<'a> {
    src: ContainerSrc<'a>,
}

impl<'a> StructView<'a> {
    /// Validates `bytes` as a serialized `Struct` with default [`Limits`].
    ///
    /// # Errors
    /// [`DecodeError`] with the offset into `bytes` of the first malformed
    /// field: bad varint, length past the end, wire type 6/7, field number 0,
    /// invalid UTF-8 in a key or string, nesting deeper than the limit, or a
    /// broken group.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::parse_with(bytes, &Limits::default())
    }

    /// [`StructView::parse`] with explicit limits.
    ///
    /// # Errors
    /// As [`StructView::parse`].
    pub fn parse_with(bytes: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        Self::parse_at(bytes, 0, limits)
    }

    pub(crate) fn parse_at(bytes: &'a [u8], base: usize, limits: &Limits) -> Result<Self, DecodeError> {
        let mut unread = fast::WholeStruct {
            entries: fast::Unread,
            depth: 1,
        };
        let fast = fast::run(bytes, limits, &mut unread);
        // Tests and fuzzing hold the fast path to the general one.
        #[cfg(any(debug_assertions, fuzzing))]
        assert!(!fast || wire::validate_struct(bytes, base, 1, limits).is_ok());
        if !fast {
            wire::validate_struct(bytes, base, 1, limits)?;
        }
        Ok(Self::validated(bytes))
    }

    /// A view over bytes that were validated as a `Struct` before.
    pub(crate) const fn validated(bytes: &'a [u8]) -> Self {
        Self {
            src: ContainerSrc::Root(bytes),
        }
    }

    /// The map entries in wire order. A key may repeat; the later entry
    /// replaces the earlier, as [`StructView::get`] does.
    #[must_use]
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            items: ItemIter::new(self.src, field::STRUCT_VALUE),
        }
    }

    /// The value of `key` (the last entry with that key).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<ValueView<'a>> {
        self.get_bytes(key.as_bytes())
    }

    pub(crate) fn get_bytes(&self, key: &[u8]) -> Option<ValueView<'a>> {
        let mut found = None;
        for entry in self.entries() {
            if entry.key_bytes() == key {
                found = Some(entry.value());
            }
        }
        found
    }

    /// Whether the struct has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries().next().is_none()
    }
}

impl core::fmt::Debug for StructView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.entries().map(|e| (e.key(), e.value())))
            .finish()
    }
}

/// Iterator over a [`StructView`]'s entries, in wire order.
#[derive(Clone)]
pub struct Entries<'a> {
    items: ItemIter<'a>,
}

impl core::fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Entries").finish_non_exhaustive()
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = EntryView<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<EntryView<'a>> {
        self.items.next().map(|bytes| EntryView { bytes })
    }
}

/// One map entry of a [`StructView`].
#[derive(Clone, Copy)]
pub struct EntryView<'a> {
    bytes: &'a [u8],
}

impl<'a> EntryView<'a> {
    /// An entry of a validated `Struct`.
    #[inline]
    pub(crate) const fn validated(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The key (`""` if the entry has none).
    #[must_use]
    pub fn key(&self) -> &'a str {
        validated_str(self.key_bytes())
    }

    /// The key's bytes (validated UTF-8).
    #[inline]
    #[must_use]
    pub fn key_bytes(&self) -> &'a [u8] {
        if let Some((key, _)) = simple_entry(self.bytes) {
            return key;
        }
        let mut cursor = Cursor::new(self.bytes, 0);
        let mut key: &[u8] = &[];
        while let Some(field) = cursor.next_valid() {
            if let (field::ENTRY_KEY, Payload::Len(k, _)) = (field.number, field.payload) {
                key = k;
            }
        }
        key
    }

    /// The value (a value with no kind if the entry has none).
    #[inline]
    #[must_use]
    pub fn value(&self) -> ValueView<'a> {
        match simple_entry(self.bytes) {
            // One `value` field: that message is the whole Value.
            Some((_, value)) => ValueView {
                src: ValueSrc::Msg(value),
            },
            None => ValueView {
                src: ValueSrc::Entry(self.bytes),
            },
        }
    }

    /// Key and value at once (one scan of the entry).
    #[inline]
    #[must_use]
    pub fn split(&self) -> (&'a [u8], ValueView<'a>) {
        match simple_entry(self.bytes) {
            Some((key, value)) => (
                key,
                ValueView {
                    src: ValueSrc::Msg(value),
                },
            ),
            None => (
                self.key_bytes(),
                ValueView {
                    src: ValueSrc::Entry(self.bytes),
                },
            ),
        }
    }
}

impl core::fmt::Debug for EntryView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Entry").field(&self.key()).field(&self.value()).finish()
    }
}

/// The kind of a [`ValueView`], with its content.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Kind<'a> {
    /// No kind field was set.
    Unset,
    /// `null_value` (any enum number).
    Null,
    /// `number_value`.
    Number(f64),
    /// `string_value`.
    String(&'a str),
    /// `bool_value`.
    Bool(bool),
    /// `struct_value`.
    Struct(StructView<'a>),
    /// `list_value`.
    List(ListView<'a>),
}

/// A borrowed, validated `google.protobuf.Value`.
#[derive(Clone, Copy)]
pub struct ValueView<'a> {
    src: ValueSrc<'a>,
}

impl<'a> ValueView<'a> {
    /// One validated `Value` message.
    #[inline]
    pub(crate) const fn validated(bytes: &'a [u8]) -> Self {
        Self {
            src: ValueSrc::Msg(bytes),
        }
    }

    /// Visits every field of every fragment, with its position.
    #[inline]
    fn for_each_field(&self, mut f: impl FnMut(Pos, wire::Field<'a>)) {
        match self.src {
            ValueSrc::Msg(bytes) => {
                let mut cursor = Cursor::new(bytes, 0);
                while let Some(field) = cursor.next_valid() {
                    f(
                        Pos {
                            outer: 0,
                            inner: field.at,
                        },
                        field,
                    );
                }
            }
            ValueSrc::Entry(entry) => {
                let mut outer = Cursor::new(entry, 0);
                while let Some(fragment) = outer.next_valid() {
                    if let (field::ENTRY_VALUE, Payload::Len(bytes, _)) = (fragment.number, fragment.payload) {
                        let mut cursor = Cursor::new(bytes, 0);
                        while let Some(field) = cursor.next_valid() {
                            f(
                                Pos {
                                    outer: fragment.at,
                                    inner: field.at,
                                },
                                field,
                            );
                        }
                    }
                }
            }
        }
    }

    /// The kind and content. Protobuf's oneof rules apply: the last kind
    /// field wins; a run of `struct_value` (or `list_value`) fields merges.
    #[inline]
    #[must_use]
    pub fn kind(&self) -> Kind<'a> {
        // What writers produce: one field. A single struct or list fragment
        // is then a whole container.
        if let ValueSrc::Msg(bytes) = self.src
            && let Some((tag, payload)) = single_len_field(bytes)
        {
            match tag {
                tag::STRING_VALUE => return Kind::String(validated_str(payload)),
                tag::STRUCT_VALUE => {
                    return Kind::Struct(StructView {
                        src: ContainerSrc::Root(payload),
                    });
                }
                tag::LIST_VALUE => {
                    return Kind::List(ListView {
                        src: ContainerSrc::Root(payload),
                    });
                }
                _ => {}
            }
        }
        self.kind_merged()
    }

    fn kind_merged(&self) -> Kind<'a> {
        let mut kind = 0u32;
        let mut start = Pos::default();
        let mut scalar = 0u64;
        let mut text: &'a [u8] = &[];
        self.for_each_field(|pos, field| {
            let this = match (field.number, field.payload) {
                (field::NULL_VALUE, Payload::Varint(_)) => field::NULL_VALUE,
                (field::NUMBER_VALUE, Payload::I64(bits)) => {
                    scalar = bits;
                    field::NUMBER_VALUE
                }
                (field::STRING_VALUE, Payload::Len(s, _)) => {
                    text = s;
                    field::STRING_VALUE
                }
                (field::BOOL_VALUE, Payload::Varint(v)) => {
                    scalar = v;
                    field::BOOL_VALUE
                }
                (field::STRUCT_VALUE, Payload::Len(..)) => field::STRUCT_VALUE,
                (field::LIST_VALUE, Payload::Len(..)) => field::LIST_VALUE,
                _ => return,
            };
            if this != kind {
                kind = this;
                start = pos;
            }
        });
        let merged = ContainerSrc::Merged(self.src, start);
        match kind {
            field::NULL_VALUE => Kind::Null,
            field::NUMBER_VALUE => Kind::Number(f64::from_bits(scalar)),
            field::STRING_VALUE => Kind::String(validated_str(text)),
            field::BOOL_VALUE => Kind::Bool(scalar != 0),
            field::STRUCT_VALUE => Kind::Struct(StructView { src: merged }),
            field::LIST_VALUE => Kind::List(ListView { src: merged }),
            // No kind field (0).
            _ => Kind::Unset,
        }
    }

    /// The string content, if the kind is string.
    #[inline]
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        match self.kind() {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The struct, if the kind is struct.
    #[must_use]
    pub fn as_struct(&self) -> Option<StructView<'a>> {
        match self.kind() {
            Kind::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The list, if the kind is list.
    #[must_use]
    pub fn as_list(&self) -> Option<ListView<'a>> {
        match self.kind() {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }
}

impl core::fmt::Debug for ValueView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.kind() {
            Kind::Unset => f.write_str("Unset"),
            Kind::Null => f.write_str("null"),
            Kind::Number(n) => write!(f, "{n:?}"),
            Kind::String(s) => write!(f, "{s:?}"),
            Kind::Bool(b) => write!(f, "{b}"),
            Kind::Struct(s) => s.fmt(f),
            Kind::List(l) => l.fmt(f),
        }
    }
}

/// A borrowed, validated `google.protobuf.ListValue`.
#[derive(Clone, Copy)]
pub struct ListView<'a> {
    src: ContainerSrc<'a>,
}

impl<'a> ListView<'a> {
    /// The elements, in order.
    #[must_use]
    pub fn iter(&self) -> ListIter<'a> {
        ListIter {
            items: ItemIter::new(self.src, field::LIST_VALUE),
        }
    }

    /// Whether the list has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl<'a> IntoIterator for ListView<'a> {
    type Item = ValueView<'a>;
    type IntoIter = ListIter<'a>;
    fn into_iter(self) -> ListIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &ListView<'a> {
    type Item = ValueView<'a>;
    type IntoIter = ListIter<'a>;
    fn into_iter(self) -> ListIter<'a> {
        self.iter()
    }
}

impl core::fmt::Debug for ListView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over a [`ListView`]'s elements.
#[derive(Clone)]
pub struct ListIter<'a> {
    items: ItemIter<'a>,
}

impl core::fmt::Debug for ListIter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ListIter").finish_non_exhaustive()
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = ValueView<'a>;

    fn next(&mut self) -> Option<ValueView<'a>> {
        self.items.next().map(|bytes| ValueView {
            src: ValueSrc::Msg(bytes),
        })
    }
}

/// A borrowed, validated `google.protobuf.Any`.
///
/// ```
/// use meshtel_wire::proto::AnyView;
/// let any = AnyView::parse(&[0x0a, 0x03, b'a', b'/', b'b', 0x12, 0x01, 0x00])?;
/// assert_eq!(any.type_url(), "a/b");
/// assert_eq!(any.value(), &[0x00]);
/// # Ok::<(), meshtel_wire::proto::DecodeError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AnyView<'a> {
    type_url: &'a str,
    value: &'a [u8],
    value_offset: usize,
}

impl<'a> AnyView<'a> {
    /// Validates `bytes` as a serialized `Any` (the `value` bytes stay
    /// opaque until unpacked).
    ///
    /// # Errors
    /// [`DecodeError`] for a malformed message or a non-UTF-8 `type_url`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::parse_at(bytes, 0)
    }

    pub(crate) fn parse_at(bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        wire::validate_any(bytes, base)?;
        let mut any = Self {
            type_url: "",
            value: &[],
            value_offset: base + bytes.len(),
        };
        let mut cursor = Cursor::new(bytes, base);
        while let Some(field) = cursor.next_valid() {
            match (field.number, field.payload) {
                (field::ANY_TYPE_URL, Payload::Len(url, _)) => any.type_url = validated_str(url),
                (field::ANY_VALUE, Payload::Len(value, at)) => {
                    any.value = value;
                    any.value_offset = at;
                }
                _ => {}
            }
        }
        Ok(any)
    }

    /// The type URL (`""` if absent).
    #[must_use]
    pub const fn type_url(&self) -> &'a str {
        self.type_url
    }

    /// The packed bytes (empty if absent).
    #[must_use]
    pub const fn value(&self) -> &'a [u8] {
        self.value
    }

    /// Offset of the packed bytes in the input this `Any` was parsed from.
    pub(crate) const fn value_offset(&self) -> usize {
        self.value_offset
    }

    /// Whether the type URL names `google.protobuf.Struct`: as protobuf's
    /// own `Any::Is`, only the part after the last `/` is compared.
    #[must_use]
    pub fn is_struct(&self) -> bool {
        self.type_url.ends_with("/google.protobuf.Struct")
    }

    /// Validates and views the packed `Struct`. Error offsets count from the
    /// start of the bytes this `Any` was parsed from.
    ///
    /// # Errors
    /// [`DecodeError`] if the packed bytes are not a valid `Struct`. The type
    /// URL is not checked here; see [`AnyView::is_struct`].
    pub fn unpack_struct(&self, limits: &Limits) -> Result<StructView<'a>, DecodeError> {
        StructView::parse_at(self.value, self.value_offset, limits)
    }
}

/// `0a <len> key 12 <len> value` and nothing else: the entry shape every
/// writer produces, read without the general field loop.
#[inline]
fn simple_entry(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag::ENTRY_KEY, key, rest) = split_len_field(bytes)? else {
        return None;
    };
    let (tag::ENTRY_VALUE, value, []) = split_len_field(rest)? else {
        return None;
    };
    Some((key, value))
}

/// A message that is exactly one length-delimited field with a one-byte tag.
#[inline]
fn single_len_field(bytes: &[u8]) -> Option<(u8, &[u8])> {
    match split_len_field(bytes)? {
        (tag, payload, []) => Some((tag, payload)),
        _ => None,
    }
}

/// A string field of a validated message.
///
/// Invariant of the crate: the bytes passed here are UTF-8 because they are
/// one of
/// - a string field that views read from bytes that `wire::validate_*`
///   accepted. The only constructors of views are [`StructView::parse_at`],
///   [`AnyView::parse_at`] and the crate-internal `validated` functions,
///   called after validation; validation checks the UTF-8 of every field
///   that the views read as text (map keys, field 1 of an entry;
///   `string_value`, field 3 of every `Value` fragment; `type_url`), and
///   views read exactly those fields, with the same field-walking code;
/// - a string that the fast path of `proto::fast` read, once `fast::run` has
///   returned: it returns only after proving every string of its input
///   UTF-8, either by the high-byte counts (all strings ASCII) or by
///   checking each string.
#[inline]
#[allow(
    unsafe_code,
    reason = "checking UTF-8 again on every read cost 12% of wire/decode_frame"
)]
pub(crate) fn validated_str(bytes: &[u8]) -> &str {
    // Tests, fuzzing and Miri check the invariant rather than trust it.
    #[cfg(any(debug_assertions, fuzzing))]
    assert!(core::str::from_utf8(bytes).is_ok(), "views only read validated UTF-8");
    // SAFETY: `bytes` is a string field of a validated message, or a string
    // that the fast path proved UTF-8 (see above).
    unsafe { core::str::from_utf8_unchecked(bytes) }
}
