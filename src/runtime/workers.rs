//! nginx's worker processes as threads: `worker_processes` threads, each running its own
//! single-threaded tokio runtime with its own accept loop on every listen socket (a dup of
//! it), so a connection, its upstream request and its tunnel stay on one thread with no
//! work stealing, as they stay in one nginx worker. Configuration and peer state are shared.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// One worker thread and how to stop it.
#[derive(Debug)]
struct Worker {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts `count` worker threads (at least one).
    pub fn start(count: usize) -> io::Result<Workers> {
        let mut workers = Vec::new();
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("ngxr-worker-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Dropping the runtime here cancels whatever still runs on it.
                    drop(runtime);
                })?;
            workers.push(Worker {
                handle,
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Workers { workers })
    }

    /// How many workers run.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// Runs the `i`th task on the `i`th worker; returns the task handles.
    pub fn spawn_each<Fut>(&self, tasks: Vec<Fut>) -> Vec<tokio::task::JoinHandle<()>>
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers
            .iter()
            .zip(tasks)
            .map(|(w, task)| w.handle.spawn(task))
            .collect()
    }

    /// Runs `task` on the first worker.
    pub fn spawn_one(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(w) = self.workers.first() {
            w.handle.spawn(task);
        }
    }

    /// Stops every worker; everything still running on them is dropped. Waits for the threads
    /// unless called from one of them.
    pub fn stop(&mut self) {
        for w in &mut self.workers {
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
        }
        let me = std::thread::current().id();
        for w in &mut self.workers {
            if let Some(thread) = w.thread.take()
                && thread.thread().id() != me
            {
                let _ = thread.join();
            }
        }
    }
}
