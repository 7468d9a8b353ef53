"""The queue worker: claims queued tasks from the database (a row lease) and runs them.

``serve`` runs one or more of these in threads; ``autotuner worker`` runs one in its own process.
A heartbeat renews the lease and relays a cancel requested through the database to the running
tuner's ``threading.Event``, so a cancel stops the running experiment's engine within seconds,
whichever process asked for it. A worker that dies stops renewing: once its lease expires, another
worker claims the task and ``execute`` resumes it (finished experiments are kept).
With ``join``, a worker that finds nothing queued helps with a running task: both tuners share the
Optuna study and each leases the experiments it runs (see ``store.leases``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..report.results import write_results
from ..search.leases import default_worker_name
from ..search.experiment import EventSink
from ..search.study import prepare_storage
from ..spec import SpecError, task_from_dict
from ..spec.task import Task
from ..store import Store
from ..store.models import utcnow
from .session import RunOptions, execute

log = logging.getLogger("autotuner.worker")
RunTask = Callable[[Store, Task, int, RunOptions, "EventSink | None", threading.Event], str]
DEFAULT_LEASE_SECONDS = 30.0


class Worker:
    def __init__(self, store: Store, name: str | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 poll_seconds: float = 1.0, run_task: RunTask | None = None, on_event: EventSink | None = None,
                 join: bool = False, help_task: RunTask | None = None):
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0 (got {lease_seconds})")
        self.store, self.name = store, name or default_worker_name()
        self.lease_seconds, self.poll_seconds, self.join = lease_seconds, poll_seconds, join
        self.run_task = run_task or self._execute("owner")
        self.help_task = help_task or self._execute("helper")
        self.on_event = on_event
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, threading.Event] = {}

    # -- control -----------------------------------------------------------------------------
    @property
    def running_task(self) -> int | None:
        with self._lock:
            return next(iter(self._running), None)

    def cancel(self, task_id: int) -> bool:
        """Stop the task now if this worker runs it (the database flag is set by the caller)."""
        with self._lock:
            event = self._running.get(task_id)
        if event is not None:
            event.set()
        return event is not None

    def stop(self) -> None:
        """Stop claiming; a running task is interrupted and queued again for the next worker."""
        self._stop.set()
        with self._lock:
            for event in self._running.values():
                event.set()

    def _execute(self, mode: str) -> RunTask:
        def run(store, task, task_id, options, on_event, cancel) -> str:  # noqa: ANN001
            return execute(store, task, task_id, options, on_event, cancel, mode=mode, worker=self.name,
                           lease_seconds=self.lease_seconds)
        return run

    # -- the loop ----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("worker %s: claiming failed", self.name)
                claimed = None
            if claimed is None:
                self._stop.wait(self.poll_seconds)

    def run_once(self) -> int | None:
        """Claim one task and run it to its end; returns its id, or None when nothing was queued."""
        if self._stop.is_set():
            return None
        prepare_storage(self.store)
        row, helping = self.store.claim_task(self.name, self.lease_seconds), False
        if row is None and self.join:
            row, helping = next(iter(self.store.joinable_tasks(self.name)), None), True
        if row is None:
            return None
        cancel = threading.Event()
        with self._lock:
            self._running[row.id] = cancel
        beat = threading.Thread(target=self._heartbeat, args=(row.id, cancel, not helping), daemon=True,
                                name=f"lease-{row.id}")
        beat.start()
        try:
            if helping:
                self._help(row, cancel)
            else:
                self._run(row, cancel)
        finally:
            with self._lock:
                self._running.pop(row.id, None)
            cancel.set()  # ends the heartbeat
            beat.join()
        return row.id

    def _run(self, row, cancel: threading.Event) -> None:
        task_id = row.id
        if row.cancel_requested:  # cancelled while its previous worker was gone
            self._finish(task_id, "cancelled", None)
            return
        try:
            task = task_from_dict(row.spec)
            options = RunOptions.from_dict(row.options or {})
        except SpecError as e:
            self._finish(task_id, "failed", str(e))
            return
        log.info("worker %s: running task %s (%s)", self.name, task_id, task.name)
        try:
            status = self.run_task(self.store, task, task_id, options, self.on_event, cancel)
        except SpecError as e:  # not runnable here (found before the tuner started)
            self._finish(task_id, "failed", str(e))
            return
        except Exception as e:
            log.exception("worker %s: task %s failed", self.name, task_id)
            current = self.store.task(task_id)
            if current is not None and current.status not in ("failed", "succeeded", "cancelled"):
                self._finish(task_id, "failed", f"{type(e).__name__}: {e}")  # never retried in a loop
            return
        log.info("worker %s: task %s %s", self.name, task_id, status)
        try:
            write_results(self.store, task_id, options.out_dir)
        except Exception:
            log.exception("worker %s: writing results.json of task %s failed", self.name, task_id)
        if status == "cancelled" and self._stop.is_set():
            current = self.store.task(task_id)
            if current is not None and not current.cancel_requested:
                # Interrupted by this worker's shutdown, not by a user: let the next worker resume it.
                self.store.update_task(task_id, status="queued", worker=None, lease_until=None,
                                       finished_at=None)
                self.store.add_event(task_id, "task_queued", {"reason": "worker stopped"})

    def _help(self, row, cancel: threading.Event) -> None:
        """Run experiments of a task another worker owns, while its budget lasts."""
        try:
            task, options = task_from_dict(row.spec), RunOptions.from_dict(row.options or {})
            log.info("worker %s: helping with task %s (%s), owned by %s", self.name, row.id, task.name, row.worker)
            status = self.help_task(self.store, task, row.id, options, self.on_event, cancel)
            log.info("worker %s: task %s %s", self.name, row.id, status)
        except Exception:  # the owner reports the task's own problems
            log.exception("worker %s: helping with task %s failed", self.name, row.id)

    def _finish(self, task_id: int, status: str, error: str | None) -> None:
        self.store.update_task(task_id, status=status, error=error, finished_at=utcnow(), lease_until=None)
        self.store.add_event(task_id, "task_finished", {"status": status, "error": error})

    def _heartbeat(self, task_id: int, cancel: threading.Event, owner: bool = True) -> None:
        """Renew the task's lease (the owner); relay a cancel requested in the database to the tuner."""
        renew_every = max(self.lease_seconds / 3, 0.2)
        last_renew = time.monotonic()
        tick = min(1.0, renew_every)
        while not cancel.wait(tick):
            try:
                if owner and time.monotonic() - last_renew >= renew_every:
                    last_renew = time.monotonic()
                    if not self.store.renew_lease(task_id, self.name, self.lease_seconds):
                        log.warning("worker %s: lost the lease of task %s; stopping it", self.name, task_id)
                        cancel.set()
                        return
                row = self.store.task(task_id)
                if row is not None and row.cancel_requested:
                    cancel.set()
                    return
            except Exception:
                log.exception("worker %s: heartbeat of task %s failed", self.name, task_id)


class WorkerPool:
    """``count`` workers in threads of this process (the embedded worker of ``serve``)."""

    def __init__(self, store: Store, count: int, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 poll_seconds: float = 1.0, run_task: RunTask | None = None):
        self.workers = [Worker(store, default_worker_name(f"w{i}"), lease_seconds, poll_seconds, run_task)
                        for i in range(count)]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for w in self.workers:
            t = threading.Thread(target=w.serve_forever, name=f"autotuner-{w.name}", daemon=True)
            t.start()
            self.threads.append(t)

    def cancel(self, task_id: int) -> bool:
        found = False
        for w in self.workers:  # every worker is asked: not any(), which stops at the first
            found = w.cancel(task_id) or found
        return found

    def stop(self, timeout: float = 60.0) -> None:
        for w in self.workers:
            w.stop()
        for t in self.threads:
            t.join(timeout)
