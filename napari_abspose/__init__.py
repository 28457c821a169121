"""napari-abspose's napari plugin: reader, writer and the "Pose estimation" dock widget.

A thin layer over :mod:`core` and :mod:`training`; napari and Qt are imported here only.
"""

from core._version import __version__

__all__ = ["__version__"]
