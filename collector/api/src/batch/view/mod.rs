//! Read-only views of a batch's items: resources -> scopes -> items, and every field
//! a processor or exporter reads, as borrowed data.
//!
//! Each view is a small `Copy` value over one of the batch's two representations:
//! decoded structs (batches built in-process) or the received wire bytes (read lazily:
//! an accessor scans the message for its field). Components name only these types, so
//! the representation can change without touching them. Nothing here allocates.

mod common;
mod logs;
mod metrics;
mod trace;

use std::marker::PhantomData;

pub use common::{ArrayView, AttributeIter, Attributes, ResourceView, ScopeView, ValueRef};
pub use logs::{LogRecordView, ResourceLogsView, ScopeLogsView, SeverityNumber};
pub use metrics::{
    BucketsView, ExemplarView, ExponentialHistogramPointView, HistogramPointView, MetricType,
    MetricView, NumberPointView, NumberValue, QuantileView, ResourceMetricsView, ScopeMetricsView,
    SummaryPointView, Temporality,
};
pub use trace::{
    EventView, LinkView, ResourceSpansView, ScopeSpansView, SpanKind, SpanView, StatusCode,
};

use super::wire::{Msg, Repeated};

/// A view made from either representation of one message.
pub trait FromRepr<'a, T>: Sized {
    #[doc(hidden)]
    fn from_owned(owned: &'a T) -> Self;
    #[doc(hidden)]
    fn from_wire(msg: Msg<'a>) -> Self;
}

#[derive(Clone, Debug)]
enum IterInner<'a, T> {
    Owned(std::slice::Iter<'a, T>),
    Wire(Repeated<'a>),
}

/// Iterates the views of a repeated field, whichever representation holds it.
#[derive(Clone, Debug)]
pub struct ViewIter<'a, T, V> {
    inner: IterInner<'a, T>,
    view: PhantomData<V>,
}

impl<'a, T, V> ViewIter<'a, T, V> {
    pub(crate) fn owned(items: &'a [T]) -> Self {
        Self {
            inner: IterInner::Owned(items.iter()),
            view: PhantomData,
        }
    }

    pub(crate) fn wire(msg: Msg<'a>, number: u32) -> Self {
        Self {
            inner: IterInner::Wire(msg.repeated(number)),
            view: PhantomData,
        }
    }

    pub(crate) fn empty() -> Self {
        Self::owned(&[])
    }
}

impl<'a, T, V: FromRepr<'a, T>> Iterator for ViewIter<'a, T, V> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        match &mut self.inner {
            IterInner::Owned(it) => it.next().map(V::from_owned),
            IterInner::Wire(it) => it.next().map(V::from_wire),
        }
    }
}

/// Declares a view enum over `&T` or a wire message, with its `FromRepr`.
macro_rules! view_type {
    ($(#[$doc:meta])* $name:ident, $owned:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name<'a>(pub(crate) crate::batch::view::Repr<'a, $owned>);

        impl<'a> crate::batch::view::FromRepr<'a, $owned> for $name<'a> {
            fn from_owned(owned: &'a $owned) -> Self {
                Self(crate::batch::view::Repr::Owned(owned))
            }
            fn from_wire(msg: crate::batch::wire::Msg<'a>) -> Self {
                Self(crate::batch::view::Repr::Wire(msg))
            }
        }
    };
}
pub(crate) use view_type;

/// The two representations a view reads from.
#[derive(Debug)]
pub enum Repr<'a, T> {
    #[doc(hidden)]
    Owned(&'a T),
    #[doc(hidden)]
    Wire(Msg<'a>),
}

impl<T> Clone for Repr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Repr<'_, T> {}
