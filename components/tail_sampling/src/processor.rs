//! The buffer: received batches held as they are, indexed by trace id, until every trace
//! in them is decided.
//!
//! # Design
//!
//! A batch arrives with spans of many traces, and a trace's spans arrive in many batches.
//! The Collector copies every span into a per-trace structure; Weir keeps each batch as
//! it arrived (wire bytes, with its acknowledgement handles, so the process memory budget
//! stays charged for what is buffered) and keeps, per trace, the facts policies read
//! (see `facts.rs`) and the ids of the held batches that carry its spans. Per held
//! batch it keeps the number of its traces still undecided and the set of its sampled
//! traces. When that number reaches zero the batch leaves the buffer: one
//! `Batch::retain_spans` pass keeps the sampled traces' spans (and Weir's summaries),
//! and the rest are counted as dropped (`not_sampled`).
//!
//! **No batch is split, and the buffer stays bounded.** A trace is decided at most
//! `decision_wait` after its first span, and that first span arrived no later than any
//! batch carrying the trace, so every batch leaves within `decision_wait` of its arrival.
//! Splitting batches per trace at arrival (what the Collector does) would copy every span.
//!
//! **Sampled spans leave at the decision.** When a trace is sampled (or a late span of a
//! sampled trace arrives) while a batch carrying it still waits for other traces, a copy
//! of that batch retained to the trace's spans is emitted at once (only the kept bytes are
//! copied, once per batch and call), and the batch no longer counts the trace as its own
//! to keep. Memory is unchanged (the batch is still held); what is gained is that kept
//! traces reach the backend when they are decided.
//!
//! **Bounds.** `max_buffer_bytes` bounds the encoded bytes of held batches: before a
//! batch is taken, the oldest held batches have their undecided traces decided early
//! (reason `buffer_full`) until it fits. `maximum_trace_size_bytes` decides a trace when
//! its share of the bytes passes the limit (`trace_too_large`). `num_traces` bounds the
//! trace table (undecided traces and the decisions remembered for late spans): the
//! oldest entry leaves, and an undecided one is decided first (`decided_early`). Nothing
//! is dropped without a decision, unlike the Collector, which drops such traces.
//!
//! **Late spans.** A decided trace stays in the table (as its decision only) until
//! `num_traces` pushes it out, and is also put in the configured decision cache; a span
//! of a decided trace follows the decision.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use foldhash::{HashMap, HashSet};
use weir_api::batch::build::is_summary;
use weir_api::{Batch, Processor, Signal};

use crate::cache::DecisionCache;
use crate::config::TailSamplingConfig;
use crate::facts::{resource_matches, Facts};
use crate::metrics::{Eviction, Metrics};
use crate::policy::{combine, seconds_since, Decision, Now, Policies, TraceView};
use crate::{trace_key, TraceKey};

/// Decisions due within one tick are made together, so a busy processor is not woken
/// for every trace.
pub const TICK: Duration = Duration::from_millis(100);

/// Where the processor reads the time: `Instant::now` in production, a test's own clock
/// in tests.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// An undecided trace.
#[derive(Debug)]
struct Pending {
    /// Its share of the held batches' bytes.
    bytes: u64,
    /// Held batches carrying its spans (each once).
    batches: Vec<u64>,
    facts: Facts,
}

#[derive(Debug)]
enum State {
    Pending(Box<Pending>),
    Decided(bool),
}

#[derive(Debug)]
struct Entry {
    state: State,
    /// Arrival order, for `num_traces` eviction and the deadline queue.
    seq: u64,
}

/// A batch in the buffer.
#[derive(Debug)]
struct Held {
    batch: Batch,
    bytes: u64,
    items: usize,
    /// Traces of this batch not decided yet.
    pending: usize,
    /// Its traces that were pending when it arrived (for deciding it early).
    traces: Vec<TraceKey>,
    /// Its traces decided as sampled whose spans it still holds.
    sampled: HashSet<TraceKey>,
    /// Spans already emitted ahead of the batch (sampled traces, see `emit_early`).
    emitted: usize,
}

/// A trace met while reading a new batch.
struct Local {
    key: TraceKey,
    spans: u64,
    /// Facts of a new or undecided trace, taken out of the table while reading.
    facts: Option<Facts>,
    is_new: bool,
    decided: Option<bool>,
    from_cache: bool,
}

/// One `tail_sampling` instance.
pub struct TailSampler {
    policies: Policies,
    decision_wait: Duration,
    num_traces: usize,
    max_trace_bytes: u64,
    max_buffer_bytes: u64,
    sample_on_first_match: bool,
    drop_pending_on_shutdown: bool,
    table: HashMap<TraceKey, Entry>,
    fifo: VecDeque<(TraceKey, u64)>,
    due: VecDeque<(Instant, TraceKey, u64)>,
    held: BTreeMap<u64, Held>,
    next_batch: u64,
    next_seq: u64,
    buffer_bytes: u64,
    held_items: usize,
    sampled_cache: DecisionCache,
    non_sampled_cache: DecisionCache,
    epoch: Instant,
    clock: Clock,
    metrics: Metrics,
    /// What this call emits: released batches, merged while their client metadata agree.
    outbox: Vec<Batch>,
    /// Undecided traces (the deadline queue is compacted against it).
    pending_count: usize,
    /// (held batch, trace) pairs of sampled traces whose spans leave ahead of their batch.
    early: Vec<(u64, TraceKey)>,
    // Scratch space reused across batches.
    decisions: Vec<Decision>,
    index: HashMap<TraceKey, usize>,
    locals: Vec<Local>,
    resource_matched: Vec<bool>,
}

impl std::fmt::Debug for TailSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailSampler")
            .field("traces", &self.table.len())
            .field("held_batches", &self.held.len())
            .field("buffer_bytes", &self.buffer_bytes)
            .finish()
    }
}

impl TailSampler {
    pub fn new(
        config: &TailSamplingConfig,
        policies: Policies,
        metrics: Metrics,
        clock: Clock,
    ) -> Self {
        let epoch = clock();
        let expected = config
            .expected_new_traces_per_sec
            .saturating_mul(config.decision_wait.as_secs().max(1))
            .min(config.num_traces) as usize;
        Self {
            policies,
            decision_wait: config.decision_wait,
            num_traces: usize::try_from(config.num_traces)
                .unwrap_or(usize::MAX)
                .max(1),
            max_trace_bytes: config.maximum_trace_size_bytes,
            max_buffer_bytes: config.max_buffer_bytes,
            sample_on_first_match: config.sample_on_first_match,
            drop_pending_on_shutdown: config.drop_pending_traces_on_shutdown,
            table: HashMap::with_capacity_and_hasher(expected, Default::default()),
            fifo: VecDeque::with_capacity(expected),
            due: VecDeque::with_capacity(expected),
            held: BTreeMap::new(),
            next_batch: 0,
            next_seq: 0,
            buffer_bytes: 0,
            held_items: 0,
            sampled_cache: DecisionCache::new(config.decision_cache.sampled_cache_size),
            non_sampled_cache: DecisionCache::new(config.decision_cache.non_sampled_cache_size),
            epoch,
            clock,
            metrics,
            outbox: Vec::new(),
            pending_count: 0,
            early: Vec::new(),
            decisions: Vec::new(),
            index: HashMap::default(),
            locals: Vec::new(),
            resource_matched: Vec::new(),
        }
    }

    /// Bytes of batches held now.
    pub fn buffer_bytes(&self) -> u64 {
        self.buffer_bytes
    }

    /// Entries in the deadline queue (for tests: it must stay bounded).
    #[doc(hidden)]
    pub fn queued_deadlines(&self) -> usize {
        self.due.len()
    }

    /// Traces in the table (undecided, or decided and remembered).
    pub fn traces_in_memory(&self) -> usize {
        self.table.len()
    }

    fn now(&self, instant: Instant) -> Now {
        Now {
            instant,
            second: seconds_since(self.epoch, instant),
        }
    }

    /// Runs every top-level policy on one trace and combines their decisions.
    fn evaluate(&mut self, key: &TraceKey, facts: &Facts, now: Instant) -> bool {
        let now = self.now(now);
        let view = TraceView { id: key, facts };
        self.decisions.clear();
        for (index, (_, policy)) in self.policies.top.iter_mut().enumerate() {
            let start = Instant::now();
            let decision = policy.evaluate(view, now);
            let nanos = start.elapsed().as_nanos() as u64;
            self.metrics.policy(index, decision, nanos);
            self.decisions.push(decision);
            if self.sample_on_first_match && decision == Decision::Sampled {
                break;
            }
        }
        let sampled = combine(&self.decisions);
        self.metrics.decided(sampled);
        sampled
    }

    /// Decides an undecided trace (with `forced`, without evaluating the policies) and
    /// lets its batches go when they have no undecided trace left.
    fn decide(
        &mut self,
        key: TraceKey,
        reason: Option<Eviction>,
        forced: Option<bool>,
        now: Instant,
    ) {
        let Some(entry) = self.table.get_mut(&key) else {
            return;
        };
        if !matches!(entry.state, State::Pending(_)) {
            return;
        }
        let State::Pending(pending) = std::mem::replace(&mut entry.state, State::Decided(false))
        else {
            return;
        };
        self.pending_count = self.pending_count.saturating_sub(1);
        let sampled = match forced {
            Some(sampled) => sampled,
            None => self.evaluate(&key, &pending.facts, now),
        };
        if let Some(entry) = self.table.get_mut(&key) {
            entry.state = State::Decided(sampled);
        }
        if sampled {
            self.sampled_cache.put(key);
        } else {
            self.non_sampled_cache.put(key);
        }
        if let Some(reason) = reason {
            self.metrics.evicted(reason);
        }
        for batch in &pending.batches {
            let release = match self.held.get_mut(batch) {
                Some(held) => {
                    if sampled {
                        held.sampled.insert(key);
                    }
                    held.pending = held.pending.saturating_sub(1);
                    held.pending == 0
                }
                None => false,
            };
            if release {
                self.release(*batch);
            } else if sampled {
                self.early.push((*batch, key));
            }
        }
    }

    /// Takes a batch out of the buffer, keeping its sampled traces' spans.
    fn release(&mut self, id: u64) {
        let Some(held) = self.held.remove(&id) else {
            return;
        };
        self.buffer_bytes = self.buffer_bytes.saturating_sub(held.bytes);
        // Spans emitted early left `held_items` then.
        self.held_items = self
            .held_items
            .saturating_sub(held.items.saturating_sub(held.emitted));
        let mut batch = held.batch;
        let before = batch.item_count();
        let sampled = &held.sampled;
        batch.retain_spans(|_, _, span| {
            sampled.contains(&trace_key(span.trace_id())) || is_summary(span.attributes())
        });
        let dropped = before
            .saturating_sub(batch.item_count())
            .saturating_sub(held.emitted);
        if dropped > 0 {
            self.metrics.not_sampled.inc_by(dropped as u64);
        }
        self.emit(batch);
    }

    fn emit(&mut self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        match self.outbox.last_mut() {
            Some(last) if last.metadata() == batch.metadata() => {
                if let Err(batch) = last.append(batch) {
                    self.outbox.push(batch);
                }
            }
            _ => self.outbox.push(batch),
        }
    }

    /// Emits the spans of traces sampled since the last call from the batches that are
    /// still held for other traces: a copy of each such batch retained to those traces
    /// (only their bytes are copied). Their batch keeps waiting for its other traces, and
    /// no longer counts them as its own to keep.
    fn emit_early(&mut self) {
        if self.early.is_empty() {
            return;
        }
        let mut early = std::mem::take(&mut self.early);
        early.sort_unstable_by_key(|(batch, _)| *batch);
        let mut start = 0;
        while start < early.len() {
            let id = early[start].0;
            let end = start + early[start..].iter().take_while(|(b, _)| *b == id).count();
            let keys: HashSet<TraceKey> = early[start..end].iter().map(|(_, k)| *k).collect();
            start = end;
            let Some(held) = self.held.get_mut(&id) else {
                // Released meanwhile, with these traces in it.
                continue;
            };
            let mut copy = held.batch.clone();
            copy.retain_spans(|_, _, span| {
                keys.contains(&trace_key(span.trace_id())) && !is_summary(span.attributes())
            });
            held.sampled.retain(|k| !keys.contains(k));
            let n = copy.item_count();
            held.emitted += n;
            self.held_items = self.held_items.saturating_sub(n);
            self.emit(copy);
        }
        early.clear();
        self.early = early;
    }

    fn flush_outbox(&mut self, out: &mut Vec<Batch>) {
        self.emit_early();
        out.append(&mut self.outbox);
        // Deadline entries of traces decided early are dropped once they outnumber the
        // undecided traces, so the queue stays proportional to what is pending.
        if self.due.len() > 2 * self.pending_count + 1024 {
            let table = &self.table;
            self.due.retain(|(_, key, seq)| {
                matches!(table.get(key), Some(Entry { state: State::Pending(_), seq: s }) if s == seq)
            });
        }
        self.metrics.buffer_bytes.set(self.buffer_bytes as i64);
        self.metrics.traces_on_memory.set(self.table.len() as i64);
    }

    /// Decides every undecided trace of a held batch, which lets it go.
    fn decide_batch(&mut self, id: u64, reason: Eviction, now: Instant) {
        let traces = match self.held.get(&id) {
            Some(held) => held.traces.clone(),
            None => return,
        };
        for key in traces {
            if matches!(
                self.table.get(&key),
                Some(Entry {
                    state: State::Pending(_),
                    ..
                })
            ) {
                self.decide(key, Some(reason), None, now);
            }
        }
        // Every trace is decided now; a batch still held (it should not be) goes anyway.
        if self.held.contains_key(&id) {
            self.release(id);
        }
    }

    /// Makes room for `bytes` more by deciding the oldest held batches early.
    fn make_room(&mut self, bytes: u64, now: Instant) {
        while self.buffer_bytes.saturating_add(bytes) > self.max_buffer_bytes {
            let Some(&oldest) = self.held.keys().next() else {
                break;
            };
            self.decide_batch(oldest, Eviction::BufferFull, now);
        }
    }

    /// Removes the oldest table entries past `num_traces`, deciding undecided ones first.
    fn enforce_num_traces(&mut self, now: Instant) {
        while self.table.len() > self.num_traces {
            let Some((key, seq)) = self.fifo.pop_front() else {
                break;
            };
            match self.table.get(&key) {
                Some(entry) if entry.seq == seq => {
                    if matches!(entry.state, State::Pending(_)) {
                        self.decide(key, Some(Eviction::DecidedEarly), None, now);
                    }
                    self.table.remove(&key);
                }
                _ => {}
            }
        }
    }

    /// Reads a new batch: updates the facts of its traces, and holds it.
    fn take(&mut self, batch: Batch, now: Instant) {
        let items = batch.item_count();
        let bytes = batch.encoded_len() as u64;
        self.make_room(bytes, now);
        let id = self.next_batch;
        self.next_batch += 1;
        let leaves = self.policies.leaves.len();

        self.index.clear();
        self.locals.clear();
        for resource_spans in batch.traces() {
            let resource = resource_spans.resource();
            resource_matches(&self.policies.leaves, resource, &mut self.resource_matched);
            for scope_spans in resource_spans.scopes() {
                let scope = scope_spans.scope();
                for span in scope_spans.spans() {
                    if is_summary(span.attributes()) {
                        continue;
                    }
                    let key = trace_key(span.trace_id());
                    let slot = match self.index.get(&key) {
                        Some(slot) => *slot,
                        None => {
                            let local = look_up(
                                key,
                                &mut self.table,
                                &mut self.sampled_cache,
                                &mut self.non_sampled_cache,
                                leaves,
                            );
                            self.locals.push(local);
                            self.index.insert(key, self.locals.len() - 1);
                            self.locals.len() - 1
                        }
                    };
                    let local = &mut self.locals[slot];
                    local.spans += 1;
                    if let Some(facts) = &mut local.facts {
                        facts.add_span(
                            &self.policies.leaves,
                            &self.resource_matched,
                            resource,
                            scope,
                            span,
                        );
                    }
                }
            }
        }

        // Held with one extra "pending" as a guard, so that decisions made while the
        // batch is being indexed cannot let it go half-indexed.
        self.held.insert(
            id,
            Held {
                batch,
                bytes,
                items,
                pending: 1,
                traces: Vec::new(),
                sampled: HashSet::default(),
                emitted: 0,
            },
        );
        self.buffer_bytes += bytes;
        self.held_items += items;

        let mut too_large = Vec::new();
        let mut locals = std::mem::take(&mut self.locals);
        for local in &locals {
            if let Some(sampled) = local.decided {
                self.metrics
                    .late_spans(sampled, local.spans, local.from_cache);
                if sampled {
                    if let Some(held) = self.held.get_mut(&id) {
                        held.sampled.insert(local.key);
                    }
                    self.early.push((id, local.key));
                }
            }
        }
        for mut local in locals.drain(..) {
            let Some(facts) = local.facts.take() else {
                continue;
            };
            let share =
                (u128::from(bytes) * u128::from(local.spans) / (items.max(1) as u128)) as u64;
            if local.is_new {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.table.insert(
                    local.key,
                    Entry {
                        state: State::Pending(Box::new(Pending {
                            bytes: 0,
                            batches: Vec::new(),
                            facts: Facts::default(),
                        })),
                        seq,
                    },
                );
                self.pending_count += 1;
                self.fifo.push_back((local.key, seq));
                self.due
                    .push_back((now + self.decision_wait, local.key, seq));
                self.metrics.new_trace();
            }
            if let Some(Entry {
                state: State::Pending(pending),
                ..
            }) = self.table.get_mut(&local.key)
            {
                pending.facts = facts;
                pending.bytes += share;
                pending.batches.push(id);
                if self.max_trace_bytes > 0 && pending.bytes > self.max_trace_bytes {
                    too_large.push(local.key);
                }
                if let Some(held) = self.held.get_mut(&id) {
                    held.pending += 1;
                    held.traces.push(local.key);
                }
            }
        }
        self.locals = locals;

        for key in too_large {
            self.decide(key, Some(Eviction::TraceTooLarge), None, now);
        }
        self.enforce_num_traces(now);
        if self.buffer_bytes > self.max_buffer_bytes {
            // This batch alone is larger than the buffer: decide its traces now.
            self.decide_batch_guarded(id, now);
        }
        let release = match self.held.get_mut(&id) {
            Some(held) => {
                held.pending -= 1;
                held.pending == 0
            }
            None => false,
        };
        if release {
            self.release(id);
        }
    }

    /// [`Self::decide_batch`] for the batch being indexed (its guard keeps it held).
    fn decide_batch_guarded(&mut self, id: u64, now: Instant) {
        let traces = match self.held.get(&id) {
            Some(held) => held.traces.clone(),
            None => return,
        };
        for key in traces {
            if matches!(
                self.table.get(&key),
                Some(Entry {
                    state: State::Pending(_),
                    ..
                })
            ) {
                self.decide(key, Some(Eviction::BufferFull), None, now);
            }
        }
    }

    /// Decides the traces whose `decision_wait` has passed.
    fn decide_due(&mut self, now: Instant) {
        while let Some(&(due, key, seq)) = self.due.front() {
            if due > now {
                break;
            }
            self.due.pop_front();
            let pending = matches!(
                self.table.get(&key),
                Some(Entry { state: State::Pending(_), seq: s }) if *s == seq
            );
            if pending {
                self.decide(key, None, None, now);
            }
        }
    }
}

/// What the table and caches know about a trace met in a new batch.
fn look_up(
    key: TraceKey,
    table: &mut HashMap<TraceKey, Entry>,
    sampled_cache: &mut DecisionCache,
    non_sampled_cache: &mut DecisionCache,
    leaves: usize,
) -> Local {
    let mut local = Local {
        key,
        spans: 0,
        facts: None,
        is_new: false,
        decided: None,
        from_cache: false,
    };
    match table.get_mut(&key) {
        Some(Entry {
            state: State::Pending(pending),
            ..
        }) => local.facts = Some(std::mem::take(&mut pending.facts)),
        Some(Entry {
            state: State::Decided(sampled),
            ..
        }) => local.decided = Some(*sampled),
        None => {
            if sampled_cache.get(&key) {
                local.decided = Some(true);
                local.from_cache = true;
            } else if non_sampled_cache.get(&key) {
                local.decided = Some(false);
                local.from_cache = true;
            } else {
                local.is_new = true;
                local.facts = Some(Facts::new(leaves));
            }
        }
    }
    local
}

impl Processor for TailSampler {
    fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) {
        if batch.signal() != Signal::Traces {
            // The factory refuses other pipelines; pass through rather than lose data.
            out.push(batch);
            return;
        }
        if batch.is_empty() {
            return;
        }
        let now = (self.clock)();
        self.take(batch, now);
        self.flush_outbox(out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let (due, _, _) = self.due.front()?;
        // Rounded up to the next tick since the processor started.
        let since = due.saturating_duration_since(self.epoch);
        let tick = TICK.as_nanos();
        let ticks = since.as_nanos().div_ceil(tick);
        let rounded = Duration::from_nanos(u64::try_from(ticks * tick).unwrap_or(u64::MAX));
        Some(self.epoch + rounded)
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch>) {
        self.decide_due(now);
        self.flush_outbox(out);
    }

    fn flush(&mut self, out: &mut Vec<Batch>) {
        let now = (self.clock)();
        let forced = self.drop_pending_on_shutdown.then_some(false);
        while let Some((_, key, seq)) = self.due.pop_front() {
            let pending = matches!(
                self.table.get(&key),
                Some(Entry { state: State::Pending(_), seq: s }) if *s == seq
            );
            if pending {
                self.decide(key, None, forced, now);
            }
        }
        let ids: Vec<u64> = self.held.keys().copied().collect();
        for id in ids {
            self.release(id);
        }
        self.flush_outbox(out);
    }

    fn held_items(&self) -> usize {
        self.held_items
    }
}
