//! Why a line was rejected: a small, fixed set of words, so the
//! `weir_statsd_receiver_invalid_lines` counter has a bounded `reason` label however
//! hostile the input is.

/// The reason a line (or a truncated datagram's tail) was not aggregated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// Nothing before the `:` (or the line starts with `|`).
    EmptyName,
    /// No `:` between the name and the value.
    MissingValue,
    /// No `|type` after the value.
    MissingType,
    /// The value is empty, not a finite number, or packed where packing is not allowed.
    BadValue,
    /// The type is not one of `c`, `g`, `ms`, `h`, `d`, `s`.
    UnknownType,
    /// The line is longer than the maximum, or its datagram was truncated by the kernel.
    TooLong,
    /// The `@rate` is not a number in (0, 1].
    BadSampleRate,
    /// A tag without a key, or a bare tag while `enable_simple_tags` is off (in a
    /// DogStatsD `|#` list or a tag list in the name).
    BadTag,
    /// An empty field (`||` or a trailing `|`), a malformed `c:` field or an unknown field.
    BadField,
    /// The `T` field is not a Unix time in seconds.
    BadTimestamp,
    /// A negative counter increment while `is_monotonic_counter` is on.
    NegativeCounter,
    /// A DogStatsD event (`_e{..}`) or service check (`_sc|..`) that does not follow the format.
    BadEvent,
    /// Tags both in the name (Librato, InfluxDB, SignalFx) and in a DogStatsD `|#` field.
    MixedTagStyles,
}

impl Reason {
    /// Every reason, in label order; used to fetch counter handles once.
    pub const ALL: [Reason; 14] = [
        Reason::InvalidUtf8,
        Reason::EmptyName,
        Reason::MissingValue,
        Reason::MissingType,
        Reason::BadValue,
        Reason::UnknownType,
        Reason::TooLong,
        Reason::BadSampleRate,
        Reason::BadTag,
        Reason::BadField,
        Reason::BadTimestamp,
        Reason::NegativeCounter,
        Reason::BadEvent,
        Reason::MixedTagStyles,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::EmptyName => "empty_name",
            Reason::MissingValue => "missing_value",
            Reason::MissingType => "missing_type",
            Reason::BadValue => "bad_value",
            Reason::UnknownType => "unknown_type",
            Reason::TooLong => "too_long",
            Reason::BadSampleRate => "bad_sample_rate",
            Reason::BadTag => "bad_tag",
            Reason::BadField => "bad_field",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::NegativeCounter => "negative_counter",
            Reason::BadEvent => "bad_event",
            Reason::MixedTagStyles => "mixed_tag_styles",
        }
    }

    /// Position in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
