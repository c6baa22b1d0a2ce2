//! Views of log records.

use weir_proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

use super::{view_type, Attributes, Repr, ResourceView, ScopeView, ValueRef, ViewIter};

view_type!(
    /// One resource's log records.
    ResourceLogsView,
    ResourceLogs
);
view_type!(
    /// One scope's log records.
    ScopeLogsView,
    ScopeLogs
);
view_type!(
    /// One log record.
    LogRecordView,
    LogRecord
);

impl<'a> ResourceLogsView<'a> {
    pub fn resource(&self) -> ResourceView<'a> {
        match self.0 {
            Repr::Owned(r) => ResourceView::owned(r.resource.as_ref()),
            Repr::Wire(m) => ResourceView::wire(m.msg(1)),
        }
    }

    pub fn scopes(&self) -> ViewIter<'a, ScopeLogs, ScopeLogsView<'a>> {
        match self.0 {
            Repr::Owned(r) => ViewIter::owned(&r.scope_logs),
            Repr::Wire(m) => ViewIter::wire(m, 2),
        }
    }

    pub fn schema_url(&self) -> &'a str {
        match self.0 {
            Repr::Owned(r) => &r.schema_url,
            Repr::Wire(m) => m.str(3),
        }
    }
}

impl<'a> ScopeLogsView<'a> {
    pub fn scope(&self) -> ScopeView<'a> {
        match self.0 {
            Repr::Owned(s) => ScopeView::owned(s.scope.as_ref()),
            Repr::Wire(m) => ScopeView::wire(m.msg(1)),
        }
    }

    pub fn log_records(&self) -> ViewIter<'a, LogRecord, LogRecordView<'a>> {
        match self.0 {
            Repr::Owned(s) => ViewIter::owned(&s.log_records),
            Repr::Wire(m) => ViewIter::wire(m, 2),
        }
    }

    pub fn schema_url(&self) -> &'a str {
        match self.0 {
            Repr::Owned(s) => &s.schema_url,
            Repr::Wire(m) => m.str(3),
        }
    }
}

/// A log record's severity number (OTLP `SeverityNumber`, 0-24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeverityNumber(pub i32);

impl SeverityNumber {
    pub const UNSPECIFIED: Self = Self(0);
    pub const TRACE: Self = Self(1);
    pub const DEBUG: Self = Self(5);
    pub const INFO: Self = Self(9);
    pub const WARN: Self = Self(13);
    pub const ERROR: Self = Self(17);
    pub const FATAL: Self = Self(21);

    /// The OTLP enum name, e.g. `SEVERITY_NUMBER_WARN2`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 25] = [
            "SEVERITY_NUMBER_UNSPECIFIED",
            "SEVERITY_NUMBER_TRACE",
            "SEVERITY_NUMBER_TRACE2",
            "SEVERITY_NUMBER_TRACE3",
            "SEVERITY_NUMBER_TRACE4",
            "SEVERITY_NUMBER_DEBUG",
            "SEVERITY_NUMBER_DEBUG2",
            "SEVERITY_NUMBER_DEBUG3",
            "SEVERITY_NUMBER_DEBUG4",
            "SEVERITY_NUMBER_INFO",
            "SEVERITY_NUMBER_INFO2",
            "SEVERITY_NUMBER_INFO3",
            "SEVERITY_NUMBER_INFO4",
            "SEVERITY_NUMBER_WARN",
            "SEVERITY_NUMBER_WARN2",
            "SEVERITY_NUMBER_WARN3",
            "SEVERITY_NUMBER_WARN4",
            "SEVERITY_NUMBER_ERROR",
            "SEVERITY_NUMBER_ERROR2",
            "SEVERITY_NUMBER_ERROR3",
            "SEVERITY_NUMBER_ERROR4",
            "SEVERITY_NUMBER_FATAL",
            "SEVERITY_NUMBER_FATAL2",
            "SEVERITY_NUMBER_FATAL3",
            "SEVERITY_NUMBER_FATAL4",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or(NAMES[0])
    }
}

impl<'a> LogRecordView<'a> {
    pub fn time_unix_nano(&self) -> u64 {
        match self.0 {
            Repr::Owned(r) => r.time_unix_nano,
            Repr::Wire(m) => m.fixed64(1),
        }
    }

    pub fn observed_time_unix_nano(&self) -> u64 {
        match self.0 {
            Repr::Owned(r) => r.observed_time_unix_nano,
            Repr::Wire(m) => m.fixed64(11),
        }
    }

    pub fn severity_number(&self) -> SeverityNumber {
        SeverityNumber(match self.0 {
            Repr::Owned(r) => r.severity_number,
            Repr::Wire(m) => m.varint(2) as i32,
        })
    }

    pub fn severity_text(&self) -> &'a str {
        match self.0 {
            Repr::Owned(r) => &r.severity_text,
            Repr::Wire(m) => m.str(3),
        }
    }

    pub fn body(&self) -> ValueRef<'a> {
        match self.0 {
            Repr::Owned(r) => ValueRef::owned(r.body.as_ref()),
            Repr::Wire(m) => ValueRef::wire(m.msg(5)),
        }
    }

    pub fn attributes(&self) -> Attributes<'a> {
        match self.0 {
            Repr::Owned(r) => Attributes::owned(&r.attributes),
            Repr::Wire(m) => Attributes::wire(m, 6),
        }
    }

    pub fn dropped_attributes_count(&self) -> u32 {
        match self.0 {
            Repr::Owned(r) => r.dropped_attributes_count,
            Repr::Wire(m) => m.varint(7) as u32,
        }
    }

    pub fn flags(&self) -> u32 {
        match self.0 {
            Repr::Owned(r) => r.flags,
            Repr::Wire(m) => m.fixed32(8),
        }
    }

    pub fn trace_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(r) => &r.trace_id,
            Repr::Wire(m) => m.bytes(9),
        }
    }

    pub fn span_id(&self) -> &'a [u8] {
        match self.0 {
            Repr::Owned(r) => &r.span_id,
            Repr::Wire(m) => m.bytes(10),
        }
    }

    pub fn event_name(&self) -> &'a str {
        match self.0 {
            Repr::Owned(r) => &r.event_name,
            Repr::Wire(m) => m.str(12),
        }
    }
}
