"""napari-abspose workflows: pose sources, synthetic data, real-video data, losses, the
training stages, evaluation and the ``abspose`` command line. Never imports Qt or napari."""

from core._version import __version__

__all__ = ["__version__"]
