//! Removing one series of a labelled gauge.
//!
//! Most self-metrics keep their series for the life of the process: their label values
//! are component ids and reasons, a set fixed by the configuration. A few are labelled by
//! what the data says (the `heartbeat` connector's `source`), and those must be able to
//! drop a series again, or their cardinality would only grow. The handle a component
//! still holds after a removal keeps working but is no longer exposed; fetching the
//! same labels again registers a fresh series.

use super::{labels, lock, GaugeDef, Telemetry};

impl Telemetry {
    /// Removes the series of gauge `def` with these label values (one per declared key,
    /// in order). Returns whether such a series was exposed.
    pub fn remove_gauge_of(&self, def: &GaugeDef, values: &[&str]) -> bool {
        let Some(labels) = labels(def.name, def.labels, values) else {
            return false;
        };
        let family = lock(&self.inner.gauges).get(def.name).cloned();
        family.is_some_and(|family| family.remove(&labels))
    }
}

#[cfg(test)]
mod tests {
    use super::super::names::SOURCE_SILENT;
    use super::*;

    #[test]
    fn a_removed_series_is_no_longer_exposed_and_can_come_back() {
        let t = Telemetry::new();
        t.gauge_of(&SOURCE_SILENT, &["heartbeat", "a"]).set(1);
        t.gauge_of(&SOURCE_SILENT, &["heartbeat", "b"]).set(0);
        assert!(t.remove_gauge_of(&SOURCE_SILENT, &["heartbeat", "a"]));
        assert!(!t.remove_gauge_of(&SOURCE_SILENT, &["heartbeat", "a"]));
        let text = t.encode();
        assert!(!text.contains("source=\"a\""), "{text}");
        assert!(
            text.contains("weir_source_silent{connector=\"heartbeat\",source=\"b\"} 0"),
            "{text}"
        );
        t.gauge_of(&SOURCE_SILENT, &["heartbeat", "a"]).set(1);
        assert!(t
            .encode()
            .contains("weir_source_silent{connector=\"heartbeat\",source=\"a\"} 1"));
    }

    #[test]
    fn removing_from_an_unregistered_family_is_a_no_op() {
        assert!(!Telemetry::new().remove_gauge_of(&SOURCE_SILENT, &["heartbeat", "a"]));
    }
}
