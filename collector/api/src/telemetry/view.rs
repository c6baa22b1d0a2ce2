//! What a page about the running pipeline needs, published through [`Telemetry`].
//!
//! The engine builds the pipeline graph and knows how to read the live numbers off it;
//! components (the `zpages` extension) and the self-metrics endpoint serve the page, and
//! neither may see the engine. So the engine publishes a [`PipelineView`] here at build
//! time, and whoever serves HTTP asks it for a path. The binary publishes the list of
//! components it was built with ([`ComponentDoc`], with each one's README), for the page
//! and `weir components`.

use std::sync::{Arc, Mutex};

use super::{lock, Telemetry};
use crate::{Kind, Stability};

/// One answer of a [`PipelineView`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewResponse {
    /// The `Content-Type` header, e.g. `application/json`.
    pub content_type: &'static str,
    pub body: String,
}

/// The engine's view of the running pipeline: the page and its JSON endpoints.
pub trait PipelineView: Send + Sync {
    /// Answers a `GET` of `path` (`/` is the page; `/api/v1/pipeline` the graph with
    /// live numbers), or `None` when the path is not the view's.
    fn get(&self, path: &str) -> Option<ViewResponse>;
}

/// One component this build of Weir knows, as `weir components` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentDoc {
    pub kind: Kind,
    pub type_name: String,
    pub aliases: Vec<String>,
    /// Signals, or for a connector its `from->to` pairs.
    pub signals: Vec<String>,
    pub stability: Stability,
    pub description: String,
    /// The README's path in the repository, e.g. `components/filter_processor/README.md`.
    pub readme: Option<String>,
}

/// What is published; lives in the registry's shared state.
#[derive(Default)]
pub(super) struct Published {
    view: Mutex<Option<Arc<dyn PipelineView>>>,
    docs: Mutex<Arc<Vec<ComponentDoc>>>,
}

impl Telemetry {
    /// Publishes the pipeline view (the engine does, at build time); replaces any earlier.
    pub fn publish_view(&self, view: Arc<dyn PipelineView>) {
        *lock(&self.inner.view.view) = Some(view);
    }

    /// The published pipeline view, if the engine has built one.
    pub fn pipeline_view(&self) -> Option<Arc<dyn PipelineView>> {
        lock(&self.inner.view.view).clone()
    }

    /// Publishes the components this build knows (the binary does, before building).
    pub fn publish_component_docs(&self, docs: Vec<ComponentDoc>) {
        *lock(&self.inner.view.docs) = Arc::new(docs);
    }

    /// The published components (empty when none were published).
    pub fn component_docs(&self) -> Arc<Vec<ComponentDoc>> {
        lock(&self.inner.view.docs).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl PipelineView for Fixed {
        fn get(&self, path: &str) -> Option<ViewResponse> {
            (path == "/").then(|| ViewResponse {
                content_type: "text/html",
                body: "page".into(),
            })
        }
    }

    #[test]
    fn a_published_view_is_shared_by_clones() {
        let t = Telemetry::new();
        assert!(t.pipeline_view().is_none());
        let clone = t.clone();
        t.publish_view(Arc::new(Fixed));
        let view = clone.pipeline_view().expect("published");
        assert_eq!(view.get("/").map(|r| r.body), Some("page".to_string()));
        assert!(view.get("/nope").is_none());
        t.publish_component_docs(vec![ComponentDoc {
            kind: Kind::Processor,
            type_name: "batch".into(),
            aliases: vec![],
            signals: vec!["traces".into()],
            stability: Stability::Beta,
            description: "d".into(),
            readme: Some("components/batch_processor/README.md".into()),
        }]);
        assert_eq!(clone.component_docs().len(), 1);
    }
}
