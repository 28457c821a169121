"""A live loss plot (matplotlib in Qt): one line per loss term against the step."""

from __future__ import annotations

import math

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QSizePolicy

from core.skeleton import DEFAULT_PALETTE

REDRAW_EVERY = 0.25  # seconds: draws are throttled, data is never dropped


class LossPlot(FigureCanvasQTAgg):
    """``add(step, {"name": value, ...})`` appends points; the axes rescale, log y."""

    def __init__(self, height: float = 2.2):
        self.figure = Figure(figsize=(3.2, height), dpi=90, layout="constrained")
        super().__init__(self.figure)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFixedHeight(int(height * 90))
        self.ax = self.figure.add_subplot()
        self.series: dict[str, tuple[list[int], list[float]]] = {}
        self.lines: dict = {}
        self._last_draw = 0.0
        self.clear()

    def clear(self) -> None:
        self.series.clear()
        self.lines.clear()
        self.ax.clear()
        self.ax.set_xlabel("step", fontsize=8)
        self.ax.set_ylabel("loss", fontsize=8)
        self.ax.tick_params(labelsize=7)
        self.ax.grid(alpha=0.3)
        self.draw_idle()

    def add(self, step: int, losses: dict[str, float]) -> None:
        import time

        for name, value in losses.items():
            if value is None or not math.isfinite(float(value)):
                continue
            xs, ys = self.series.setdefault(name, ([], []))
            xs.append(int(step))
            ys.append(float(value))
            if name not in self.lines:
                color = DEFAULT_PALETTE[len(self.lines) % len(DEFAULT_PALETTE)]
                (self.lines[name],) = self.ax.plot(xs, ys, lw=1.2, color=color, label=name)
                self.ax.legend(fontsize=7, loc="upper right")
            self.lines[name].set_data(xs, ys)
        now = time.perf_counter()
        if now - self._last_draw >= REDRAW_EVERY:
            self.redraw()
            self._last_draw = now

    def redraw(self) -> None:
        if not self.series:
            return
        positive = all(min(ys) > 0 for _, ys in self.series.values())
        self.ax.set_yscale("log" if positive else "linear")
        self.ax.relim()
        self.ax.autoscale_view()
        self.draw_idle()
