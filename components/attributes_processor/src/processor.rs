//! The processor: for each span, log record or metric the blocks select, runs the
//! actions on its attributes (every data point's, for metrics). It never drops.

use weir_api::{Batch, ComponentProblem, Processor, Signal};
use weir_match_properties::Matcher;

use crate::actions::Actions;
use crate::config::{match_problem, AttributesConfig};

/// One `attributes` instance in one pipeline.
#[derive(Debug)]
pub struct AttributesProcessor {
    pub(crate) actions: Actions,
    matcher: Matcher,
}

impl AttributesProcessor {
    /// Compiles the configuration for a pipeline of `signal`.
    pub fn new(config: &AttributesConfig, signal: Signal) -> Result<Self, ComponentProblem> {
        let actions = Actions::compile("actions", &config.actions)?;
        let matcher =
            Matcher::compile_for(signal, config.include.as_ref(), config.exclude.as_ref())
                .map_err(match_problem)?;
        Ok(Self { actions, matcher })
    }

    /// Applies the actions to the batch in place.
    pub fn apply(&self, batch: &mut Batch) {
        let metadata = batch.metadata().clone();
        let (actions, matcher) = (&self.actions, &self.matcher);
        match batch.signal() {
            Signal::Traces => batch.edit_spans(|edit| {
                if matcher.matches_span(edit.resource(), edit.scope(), edit.span()) {
                    let arrived = edit.span().attributes();
                    actions.apply(arrived, &metadata, |op| {
                        edit.attributes().apply(op);
                    });
                }
                true
            }),
            Signal::Logs => batch.edit_log_records(|edit| {
                if matcher.matches_log(edit.resource(), edit.scope(), edit.record()) {
                    let arrived = edit.record().attributes();
                    actions.apply(arrived, &metadata, |op| {
                        edit.attributes().apply(op);
                    });
                }
                true
            }),
            Signal::Metrics => batch.edit_metrics(|edit| {
                let metric = edit.metric();
                if matcher.matches_metric(edit.resource(), edit.scope(), metric) {
                    for (index, point) in metric.points().enumerate() {
                        actions.apply(point.attributes(), &metadata, |op| {
                            edit.point_attribute(index, op);
                        });
                    }
                }
                true
            }),
        }
    }
}

impl Processor for AttributesProcessor {
    fn process(&mut self, mut batch: Batch, out: &mut Vec<Batch>) {
        self.apply(&mut batch);
        if !batch.is_empty() {
            out.push(batch);
        }
    }
}
