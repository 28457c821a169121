"""Background jobs for the dock: predict and refine in napari thread workers.

The jobs are plain generators (testable without Qt) that yield progress and return the
result; :func:`start_worker` runs one in a napari ``GeneratorWorker``. Workers never
touch the viewer: the dock connects to their ``yielded`` / ``returned`` / ``errored`` /
``finished`` signals, which Qt delivers on the main thread.

Stopping: every job polls a ``threading.Event``. The worker's ``quit()`` sets it (Cancel
calls it, and so does napari for running tasks when its window closes), so a job stops
at its next batch (predict) or step (refine) and returns normally rather than being
abandoned mid-way.
Errors raised by a job become napari error notifications (:func:`notify_error`): the
project's errors as their one-line message, anything else with its type, the traceback
in the log.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import AbsPoseError
from core.track import Track

log = logging.getLogger(__name__)


@dataclass
class PredictProgress:
    """Frames done so far and the total (None when the video does not state it)."""

    done: int
    total: int | None


class _Cancelled(Exception):
    pass


def predict_job(predictor: Any, source: str | Path | np.ndarray, stop: threading.Event,
                fps: float = 30.0) -> Generator[PredictProgress, None, Track | None]:
    """Predict a video file or frames (T, H, W, 3) uint8, yielding progress per batch.

    ``predictor`` is a :class:`core.predict.Predictor`. Returns the Track, or None when
    ``stop`` was set. The prediction runs in a second thread (Predictor reports batches
    through a callback); this generator relays them.
    """
    if isinstance(source, np.ndarray):
        total: int | None = len(source)
        run = lambda cb: predictor.predict_frames(source, fps=fps, on_batch=cb)  # noqa: E731
    else:
        from core.video import VideoReader

        total = VideoReader(source).stated_frame_count
        run = lambda cb: predictor.predict_video(source, on_batch=cb)  # noqa: E731
    updates: queue.Queue = queue.Queue()
    result: dict[str, Any] = {}

    def on_batch(batch: Any) -> None:
        if stop.is_set():
            raise _Cancelled
        updates.put(len(batch.keypoints))

    def work() -> None:
        try:
            result["track"] = run(on_batch)
        except BaseException as err:  # handed to the generator, raised there
            result["error"] = err
        finally:
            updates.put(None)

    thread = threading.Thread(target=work, name="abspose-predict", daemon=True)
    thread.start()
    done, drained = 0, False
    try:
        while (n := updates.get()) is not None:
            done += n
            yield PredictProgress(done, total)
        drained = True
    finally:
        if not drained:  # closed early: let that thread stop at its next batch
            stop.set()
        thread.join()
    err = result.get("error")
    if isinstance(err, _Cancelled):
        return None
    if err is not None:
        raise err
    return result["track"]


def refine_job(videos: list[Path], checkpoint: Path | None, stop: threading.Event, *,
               out: Path | None = None, config: str = "cpu", steps: int | None = None,
               lr: float | None = None, device: str = "auto",
               refine_iter: Callable[..., Iterator[Any]] | None = None,
               labels: Path | None = None) -> Iterator[Any]:
    """Yield the RefineProgress items of :func:`training.stages.refine_iter`.

    The last item carries the refined checkpoint. ``labels``: the tidy CSV with the
    frames corrected by hand. ``refine_iter`` replaces the real refinement (for tests).
    Stops when ``stop`` is set.
    """
    if refine_iter is None:
        from training.stages.refine import refine_iter
    extra = {} if labels is None else {"labels": Path(labels)}
    yield from refine_iter([Path(v) for v in videos], checkpoint, out=out, config=config,
                           steps=steps, lr=lr, device=device, stop=stop.is_set, **extra)


def notify_error(err: BaseException) -> None:
    """A job's error as a napari error notification (the traceback of an unexpected one
    goes to the log)."""
    from napari.utils.notifications import show_error

    if isinstance(err, AbsPoseError):
        show_error(str(err))
    else:
        log.error("background job failed", exc_info=(type(err), err, err.__traceback__))
        show_error(f"{type(err).__name__}: {err}")


def _make_worker_class():
    from napari.qt.threading import GeneratorWorker

    class StoppableWorker(GeneratorWorker):
        """A GeneratorWorker whose ``quit()`` also sets the job's stop event."""

        stop_event: threading.Event | None = None

        def quit(self) -> None:
            """Ask the job to stop: it ends at its next batch or step and returns, so
            it can clean up (a refinement saves what it has)."""
            if self.stop_event is None:
                super().quit()
            else:
                self.stop_event.set()

    return StoppableWorker


_WORKER_CLASS = None


def start_worker(job: Callable[..., Generator], *args: Any,
                 connect: dict[str, Callable | list[Callable]] | None = None,
                 **kwargs: Any):
    """Run ``job(*args, stop=event, **kwargs)`` in a napari thread worker and start it.

    Returns the worker (``worker.quit()`` cancels; ``worker.stop_event`` is the event).
    """
    global _WORKER_CLASS
    from napari.qt.threading import create_worker

    if _WORKER_CLASS is None:
        _WORKER_CLASS = _make_worker_class()
    stop = threading.Event()
    worker = create_worker(job, *args, stop=stop, _worker_class=_WORKER_CLASS,
                           _ignore_errors=True, _start_thread=False, **kwargs)
    worker.stop_event = stop
    worker.errored.connect(notify_error)
    for signal, slots in (connect or {}).items():
        for slot in slots if isinstance(slots, list) else [slots]:
            getattr(worker, signal).connect(slot)
    worker.start()
    return worker
