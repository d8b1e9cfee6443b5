//! What a run reports as it goes: plain lines, JSON lines (`--json`) or a progress bar
//! (the CLI's), all from the same events.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        instances: u64,
    },
    TaskStarted {
        task: String,
    },
    TaskCached {
        task: String,
    },
    TaskFinished {
        task: String,
        seconds: f64,
        attempts: u32,
    },
    TaskFailed {
        task: String,
        exit_code: Option<i32>,
        message: String,
    },
    TaskSkipped {
        task: String,
    },
    Note {
        message: String,
    },
    RunFinished {
        ran: usize,
        cached: usize,
        failed: usize,
        skipped: usize,
        seconds: f64,
    },
}

pub trait Sink {
    fn event(&mut self, event: Event);
}

/// Collects events, for tests.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl Sink for Collect {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }
}
