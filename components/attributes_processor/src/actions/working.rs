//! An attribute list as the actions have left it so far: the arriving list plus the
//! changes made on top, and the net `AttrOp`s that turn the first into the second.

use weir_api::batch::edit::{AttrOp, OwnedValue};
use weir_api::batch::view::{Attributes, ValueRef};
use weir_match_properties::value::equals;

#[derive(Debug)]
struct Change {
    key: String,
    /// `None`: the key is absent now.
    value: Option<OwnedValue>,
    /// The arriving attribute was removed at some point (a later set appends, as in
    /// the Collector's map).
    removed_original: bool,
}

/// The current value of a key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Current<'w, 'a> {
    Arrived(ValueRef<'a>),
    Changed(&'w OwnedValue),
}

impl Current<'_, '_> {
    pub(crate) fn to_owned(self) -> OwnedValue {
        match self {
            Self::Arrived(v) => OwnedValue::from(v),
            Self::Changed(v) => v.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Working<'a> {
    arrived: Attributes<'a>,
    changes: Vec<Change>,
}

impl<'a> Working<'a> {
    pub(crate) fn new(arrived: Attributes<'a>) -> Self {
        Self {
            arrived,
            changes: Vec::new(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Current<'_, 'a>> {
        match self.changes.iter().find(|c| c.key == key) {
            Some(change) => change.value.as_ref().map(Current::Changed),
            None => self.arrived.get(key).map(Current::Arrived),
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` (in place when present, appended when absent).
    pub(crate) fn set(&mut self, key: &str, value: OwnedValue) {
        match self.changes.iter().position(|c| c.key == key) {
            Some(index) if self.changes[index].value.is_some() => {
                self.changes[index].value = Some(value);
            }
            Some(index) => {
                // Absent now: the new value goes to the end of the list.
                let mut change = self.changes.remove(index);
                change.value = Some(value);
                self.changes.push(change);
            }
            None => self.changes.push(Change {
                key: key.to_string(),
                value: Some(value),
                removed_original: false,
            }),
        }
    }

    pub(crate) fn delete(&mut self, key: &str) {
        let arrived = self.arrived.get(key).is_some();
        match self.changes.iter_mut().find(|c| c.key == key) {
            Some(change) => {
                change.value = None;
                change.removed_original |= arrived;
            }
            None if arrived => self.changes.push(Change {
                key: key.to_string(),
                value: None,
                removed_original: true,
            }),
            None => {}
        }
    }

    /// The keys present now, in list order.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for (key, _) in self.arrived.iter() {
            if keys.iter().any(|k| k == key) {
                continue;
            }
            let present = match self.changes.iter().find(|c| c.key == key) {
                Some(change) => change.value.is_some() && !change.removed_original,
                None => true,
            };
            if present {
                keys.push(key.to_string());
            }
        }
        for change in &self.changes {
            let appended = change.removed_original || self.arrived.get(&change.key).is_none();
            if change.value.is_some() && appended {
                keys.push(change.key.clone());
            }
        }
        keys
    }

    /// The changes as operations on the arriving list; nothing when the actions left
    /// the list as it arrived.
    pub(crate) fn into_ops(self, mut sink: impl FnMut(AttrOp)) {
        for change in self.changes {
            if change.removed_original {
                sink(AttrOp::Delete(change.key.clone()));
                if let Some(value) = change.value {
                    sink(AttrOp::Upsert(change.key, value));
                }
                continue;
            }
            let Some(value) = change.value else { continue };
            if self
                .arrived
                .get(&change.key)
                .is_some_and(|v| equals(v, &value))
            {
                continue;
            }
            sink(AttrOp::Upsert(change.key, value));
        }
    }
}
