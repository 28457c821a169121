"""How a synthetic style draws its images: :class:`StyleConfig`, the named styles
(:data:`STYLES`: ``randomized``, the default, and ``target``, the benchmark's look).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import InputError
from training.poses import LimbLengths


@dataclass
class StyleConfig:
    """How a style draws its images (ranges are uniform (low, high)).

    ``fill``: the larger side of the subject's box in the image as a fraction of the
    image's (for the ``target`` style and the clips, its extent in the camera's axes at
    its nearest depth, which comes out somewhat smaller); ``offset``: shift
    of the subject's centre as a fraction of the free margin (above 1 crops it);
    ``cut``: chance of a shift of up to 1.1 margins instead (the subject touches or
    crosses the image's edge), so most subjects sit near the centre as in a person's
    box crop;
    ``elevation`` / ``roll``: camera angles in degrees (roll is a normal std);
    ``blur``: Gaussian sigma in pixels; ``noise``: sensor noise std; ``jitter``:
    colour-jitter strength; ``backgrounds``: weights of room / noise / clutter /
    pictures (``background_folder``); ``occluders``: chance of objects in front of the
    subject; ``wild``: share of unnatural skin colours; ``girth``: body thickness;
    ``limbs``: random proportions; ``activities``: pose activities (None: the everyday
    ones); ``free_poses``: the share of samples in any pose the joints allow (the
    ``free`` activity, where the skeleton has it) instead;
    ``bystanders``: chance of another person partly in view beside or behind the
    subject (mesh people only); ``body``: ``"mesh"`` draws humans as anny meshes
    (``training/synthetic/mesh.py``; their proportions come from the body model, so
    ``limbs`` and ``girth`` apply to capsule bodies only), ``"capsules"`` as tapered
    capsules; other skeletons are always capsules; ``capsule_share``: with mesh people,
    the share of batches drawn with capsule people instead (a second look at people, so
    no cue that only meshes have decides a pose alone); ``facing``: the share of
    people turned towards the camera (the camera within 90 degrees of straight in
    front of them; 0.5, the default: from every side alike; other skeletons, and the
    clips of ``render_clip``, whose people turn as they move, are always seen from
    every side alike).
    """

    fill: tuple[float, float] = (0.6, 0.9)
    offset: float = 0.3
    cut: float = 0.15
    elevation: tuple[float, float] = (-15.0, 50.0)
    roll: float = 8.0
    blur: tuple[float, float] = (0.0, 1.2)
    noise: tuple[float, float] = (0.0, 0.05)
    jitter: float = 1.0
    backgrounds: tuple[float, float, float, float] = (0.45, 0.2, 0.25, 0.1)
    background_folder: str | None = None
    occluders: float = 0.3
    wild: float = 0.2
    girth: tuple[float, float] = (0.78, 1.3)
    limbs: LimbLengths = field(default_factory=LimbLengths)
    activities: list[str] | None = None
    free_poses: float = 0.0
    bystanders: float = 0.3
    body: str = "mesh"
    capsule_share: float = 0.0
    facing: float = 0.5


#: the benchmark's look (``training/synthetic/target.py`` draws its cast and rooms)
TARGET_STYLE = StyleConfig(
    fill=(0.68, 0.82), offset=0.15, elevation=(6.0, 16.0), roll=0.0, blur=(0.0, 0.7),
    noise=(0.008, 0.02), jitter=0.0, backgrounds=(1.0, 0.0, 0.0, 0.0), occluders=0.0,
    wild=0.0, girth=(0.95, 1.22), body="capsules", bystanders=0.0, cut=0.0, free_poses=0.0,
    limbs=LimbLengths(overall=(0.9, 1.1), part=(0.93, 1.07)),
)

STYLES = ("randomized", "target")


def style_config(style: str | StyleConfig, **overrides: Any) -> StyleConfig:
    """The configuration of a named style, with ``overrides`` applied."""
    if isinstance(style, StyleConfig):
        return replace(style, **overrides)
    if style == "randomized":
        return replace(StyleConfig(), **overrides)
    if style == "target":
        return replace(TARGET_STYLE, **overrides)
    raise InputError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
