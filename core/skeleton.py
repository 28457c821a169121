"""Skeletons as data: keypoints, kinematic tree, drawn edges, channel layouts, mirroring.

A :class:`Skeleton` says everything the rest of the project needs to know about a body:
the keypoint names (the contract with exports and evaluation), the kinematic parents,
the edges (bones) drawn in the skeleton image, how those edges are grouped into the
channels of a multi-channel skeleton image (one or more named *layouts*), which
keypoints swap under a left/right mirror, a 3D rest pose and joint limits.

Body frame of the rest pose (metres): x towards the subject's own left, y down,
z backwards, so that a subject with identity rotation faces a camera that uses the
OpenCV convention (x right, y down, z forward). Left and right are the subject's own.

Built in: :data:`HUMAN` (Human3.6M's 17 joints + nose, eyes, ears) and
:data:`QUADRUPED` (dog- or lion-like). Users define their own in YAML
(:func:`load_skeleton`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ShapeError, SkeletonError

# Distinct colours (RGB in [0, 1]) used when a channel does not name its own.
DEFAULT_PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.20, 0.45, 1.00),
    (1.00, 0.25, 0.20),
    (0.10, 0.85, 0.90),
    (1.00, 0.65, 0.05),
    (0.35, 0.90, 0.25),
    (0.85, 0.35, 1.00),
    (1.00, 0.40, 0.75),
    (0.95, 0.95, 0.30),
)


@dataclass(frozen=True)
class Channel:
    """One channel of a skeleton-image layout: a name, its edge indices, its colour."""

    name: str
    edges: tuple[int, ...]
    color: tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A body definition. Build with :meth:`from_dict` to get validation.

    Attributes:
        name: short identifier, e.g. ``"human"``.
        keypoints: J keypoint names.
        parents: J parent indices (-1 for the root); parents come before children.
        edges: E bones drawn in the skeleton image, as keypoint index pairs.
        layouts: layout name -> channels (each edge in exactly one channel).
        left_right: keypoint index pairs swapped by a mirror.
        rest_offsets: (J, 3) offset of each keypoint from its parent in the body frame,
            metres (zero for the root).
        joint_limits: (J, 3, 2) min/max of the local rotation about the body-frame
            x, y, z axes in radians, used to generate plausible poses.
    """

    name: str
    keypoints: tuple[str, ...]
    parents: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]
    layouts: dict[str, tuple[Channel, ...]]
    left_right: tuple[tuple[int, int], ...]
    rest_offsets: np.ndarray
    joint_limits: np.ndarray
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {k: i for i, k in enumerate(self.keypoints)})

    # -- queries -------------------------------------------------------------------
    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def channel_layouts(self) -> list[str]:
        """Names of the available channel layouts, e.g. ``["1ch", "3ch", "5ch", "7ch"]``."""
        return list(self.layouts)

    def index(self, keypoint: str) -> int:
        """Index of a keypoint by name."""
        try:
            return self._index[keypoint]
        except KeyError:
            raise SkeletonError(
                f"skeleton {self.name!r} has no keypoint {keypoint!r}; "
                f"known: {', '.join(self.keypoints)}"
            ) from None

    def channels(self, layout: str) -> tuple[Channel, ...]:
        """The channels of a layout (name, edge indices, colour)."""
        try:
            return self.layouts[layout]
        except KeyError:
            raise SkeletonError(
                f"skeleton {self.name!r} has no channel layout {layout!r}; "
                f"available: {', '.join(self.layouts)}"
            ) from None

    def groups(self, layout: str) -> list[list[int]]:
        """Edge indices per channel for the named layout."""
        return [list(c.edges) for c in self.channels(layout)]

    def num_channels(self, layout: str) -> int:
        return len(self.channels(layout))

    def channel_colors(self, layout: str) -> np.ndarray:
        """(C, 3) RGB colours in [0, 1] of the layout's channels."""
        return np.array([c.color for c in self.channels(layout)], dtype=np.float32)

    def edge_channel(self, layout: str) -> np.ndarray:
        """(E,) channel index of every edge in the layout."""
        out = np.empty(len(self.edges), dtype=np.int64)
        for c, ch in enumerate(self.channels(layout)):
            out[list(ch.edges)] = c
        return out

    def keypoint_colors(self, layout: str) -> np.ndarray:
        """(J, 3) a colour per keypoint, the colour of the bone it hangs from: the edge to
        its parent, else an edge ending at it; for the root, an edge to a keypoint that is
        on no side (a centre bone), so the points match the bones they belong to."""
        edge_ch = self.edge_channel(layout)
        colors = self.channel_colors(layout)
        sided = {k for pair in self.left_right for k in pair}
        out = np.empty((self.num_keypoints, 3), dtype=np.float32)
        for j in range(self.num_keypoints):
            p = self.parents[j]
            touching = [e for e, edge in enumerate(self.edges) if j in edge]
            ranked = sorted(touching, key=lambda e: (
                p not in self.edges[e],                     # the bone to the parent first
                self.edges[e][1] != j,                      # then a bone ending here
                sum(k in sided for k in self.edges[e] if k != j),  # then centre bones
            ))
            out[j] = colors[edge_ch[ranked[0]]] if ranked else (0.8, 0.8, 0.8)
        return out

    @property
    def mirror_permutation(self) -> np.ndarray:
        """(J,) index permutation that swaps every left/right pair."""
        perm = np.arange(self.num_keypoints)
        for a, b in self.left_right:
            perm[a], perm[b] = b, a
        return perm

    def mirror(self, keypoints: Any) -> Any:
        """Swap left and right keypoints along the keypoint axis (axis -2).

        Works for numpy arrays and torch tensors of shape (..., J, D). Coordinates are
        not reflected: this relabels, which is what flip metrics need. Reflect x as well
        to mirror an image's keypoints.
        """
        if keypoints.shape[-2] != self.num_keypoints:
            raise ShapeError(
                f"mirror: expected keypoints (..., {self.num_keypoints}, D), "
                f"got {tuple(keypoints.shape)}"
            )
        perm = self.mirror_permutation
        if isinstance(keypoints, np.ndarray):
            return keypoints[..., perm, :]
        import torch

        return keypoints[..., torch.as_tensor(perm, device=keypoints.device), :]

    @property
    def topological_order(self) -> list[int]:
        """Keypoint indices with every parent before its children."""
        return list(range(self.num_keypoints))  # validated in from_dict

    def children(self, j: int) -> list[int]:
        return [k for k, p in enumerate(self.parents) if p == j]

    def bone_lengths(self) -> np.ndarray:
        """(J,) rest length of the bone from each keypoint's parent (0 for the root)."""
        return np.linalg.norm(self.rest_offsets, axis=1)

    # -- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (names, not indices), the same format as the YAML files."""
        kp = self.keypoints
        return {
            "name": self.name,
            "keypoints": list(kp),
            "parents": {kp[j]: (None if p < 0 else kp[p]) for j, p in enumerate(self.parents)},
            "edges": [[kp[i], kp[j]] for i, j in self.edges],
            "layouts": {
                name: {
                    c.name: {
                        "edges": [[kp[self.edges[e][0]], kp[self.edges[e][1]]] for e in c.edges],
                        "color": [round(float(v), 4) for v in c.color],
                    }
                    for c in chans
                }
                for name, chans in self.layouts.items()
            },
            "left_right": [[kp[a], kp[b]] for a, b in self.left_right],
            "rest_pose": {kp[j]: [float(v) for v in self.rest_offsets[j]] for j in range(len(kp))},
            "joint_limits": {
                kp[j]: np.degrees(self.joint_limits[j]).round(4).tolist() for j in range(len(kp))
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Skeleton:
        """Build and validate a skeleton from plain data (see :func:`load_skeleton`)."""
        return _skeleton_from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Skeleton) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.name, self.keypoints, self.edges))


def load_skeleton(source: str | Path | dict[str, Any] | Skeleton) -> Skeleton:
    """A skeleton from a built-in name (``"human"``, ``"quadruped"``), a YAML file, a dict
    in the same format, or a Skeleton (returned as is).

    YAML format (names everywhere, never indices)::

        name: mouse
        keypoints: [snout, left_ear, right_ear, neck, tail_base]
        parents: {snout: neck, left_ear: snout, right_ear: snout, neck: null, tail_base: neck}
        edges: [[neck, snout], [snout, left_ear], [snout, right_ear], [neck, tail_base]]
        left_right: [[left_ear, right_ear]]
        layouts:            # optional; "1ch" (all edges) is always added
          3ch:
            left:   {edges: [[snout, left_ear]], color: [0.2, 0.45, 1.0]}
            right:  [[snout, right_ear]]              # colour from the default palette
            centre: [[neck, snout], [neck, tail_base]]
        rest_pose: {snout: [0, 0, -0.03], ...}        # optional, offset from parent (m)
        joint_limits: {neck: [[-30, 30], [-45, 45], [-20, 20]]}  # optional, degrees
    """
    if isinstance(source, Skeleton):
        return source
    if isinstance(source, dict):
        return Skeleton.from_dict(source)
    key = str(source).lower()
    if key in BUILTIN_SKELETONS:
        return BUILTIN_SKELETONS[key]
    path = Path(source)
    if not path.is_file():
        raise SkeletonError(
            f"{source!s} is neither a built-in skeleton ({', '.join(BUILTIN_SKELETONS)}) "
            "nor an existing YAML file"
        )
    return _load_yaml(path)


def _load_yaml(path: Path) -> Skeleton:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SkeletonError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise SkeletonError(f"{path}: expected a mapping with keys name, keypoints, ...")
    try:
        return Skeleton.from_dict(data)
    except SkeletonError as err:
        raise SkeletonError(f"{path}: {err}") from None


_KNOWN_KEYS = {
    "name", "keypoints", "parents", "edges", "layouts", "left_right", "rest_pose", "joint_limits",
}


def _skeleton_from_dict(data: dict[str, Any]) -> Skeleton:
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise SkeletonError(
            f"unknown key(s) {sorted(unknown)} in skeleton definition; "
            f"allowed: {sorted(_KNOWN_KEYS)}"
        )
    for key in ("name", "keypoints", "parents", "edges"):
        if key not in data:
            raise SkeletonError(f"skeleton definition is missing the required key {key!r}")
    name = str(data["name"])
    keypoints = tuple(str(k) for k in data["keypoints"])
    if len(keypoints) == 0:
        raise SkeletonError("keypoints: at least one keypoint is required")
    if len(set(keypoints)) != len(keypoints):
        dup = sorted({k for k in keypoints if keypoints.count(k) > 1})
        raise SkeletonError(f"keypoints: duplicate name(s) {dup}")
    index = {k: i for i, k in enumerate(keypoints)}

    def idx(key: str, kp: Any) -> int:
        if kp not in index:
            raise SkeletonError(f"{key}: unknown keypoint {kp!r}")
        return index[kp]

    parents = _parse_parents(data["parents"], keypoints, idx)
    _check_tree(parents, keypoints)

    edges: list[tuple[int, int]] = []
    for e in data["edges"]:
        if not isinstance(e, list | tuple) or len(e) != 2:
            raise SkeletonError(f"edges: each edge is a pair of keypoint names, got {e!r}")
        i, j = idx("edges", e[0]), idx("edges", e[1])
        if (i, j) in edges or (j, i) in edges:
            raise SkeletonError(f"edges: duplicate edge {e!r}")
        edges.append((i, j))
    if not edges:
        raise SkeletonError("edges: at least one edge is required")

    def edge_index(key: str, e: Any) -> int:
        if not isinstance(e, list | tuple) or len(e) != 2:
            raise SkeletonError(f"{key}: each edge is a pair of keypoint names, got {e!r}")
        i, j = idx(key, e[0]), idx(key, e[1])
        for k, (a, b) in enumerate(edges):
            if (a, b) in ((i, j), (j, i)):
                return k
        raise SkeletonError(f"{key}: edge {list(e)} is not in the skeleton's edges")

    layouts: dict[str, tuple[Channel, ...]] = {
        "1ch": (Channel("all", tuple(range(len(edges))), (1.0, 1.0, 1.0)),)
    }
    for lname, chans in (data.get("layouts") or {}).items():
        if not isinstance(chans, dict) or not chans:
            raise SkeletonError(f"layouts.{lname}: expected a mapping channel name -> edges")
        channels = []
        seen: dict[int, str] = {}
        for c, (cname, spec) in enumerate(chans.items()):
            key = f"layouts.{lname}.{cname}"
            color = DEFAULT_PALETTE[c % len(DEFAULT_PALETTE)]
            if isinstance(spec, dict):
                extra = set(spec) - {"edges", "color"}
                if extra:
                    raise SkeletonError(f"{key}: unknown key(s) {sorted(extra)}")
                if "color" in spec:
                    color = tuple(float(v) for v in spec["color"])
                    if len(color) != 3 or not all(0.0 <= v <= 1.0 for v in color):
                        raise SkeletonError(f"{key}.color: expected 3 numbers in [0, 1]")
                spec = spec.get("edges", [])
            eids = tuple(edge_index(key, e) for e in spec)
            for e in eids:
                if e in seen:
                    raise SkeletonError(
                        f"{key}: edge {[keypoints[v] for v in edges[e]]} is already in "
                        f"channel {seen[e]!r}; each edge belongs to exactly one channel"
                    )
                seen[e] = cname
            channels.append(Channel(str(cname), eids, color))  # type: ignore[arg-type]
        missing = [e for e in range(len(edges)) if e not in seen]
        if missing:
            names = [[keypoints[v] for v in edges[e]] for e in missing]
            raise SkeletonError(f"layouts.{lname}: edge(s) {names} are in no channel")
        layouts[str(lname)] = tuple(channels)

    left_right = []
    for pair in data.get("left_right") or []:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise SkeletonError(f"left_right: each entry is a pair of names, got {pair!r}")
        a, b = idx("left_right", pair[0]), idx("left_right", pair[1])
        if a == b:
            raise SkeletonError(f"left_right: {pair[0]!r} is paired with itself")
        left_right.append((a, b))
    flat = [k for p in left_right for k in p]
    if len(set(flat)) != len(flat):
        raise SkeletonError("left_right: a keypoint appears in more than one pair")

    rest = np.zeros((len(keypoints), 3), dtype=np.float64)
    for kp, off in (data.get("rest_pose") or {}).items():
        j = idx("rest_pose", kp)
        off = np.asarray(off, dtype=np.float64)
        if off.shape != (3,) or not np.isfinite(off).all():
            raise SkeletonError(f"rest_pose.{kp}: expected 3 finite numbers (metres)")
        rest[j] = off
    limits = np.tile(np.radians([[-180.0, 180.0]]), (len(keypoints), 3, 1))
    for kp, lim in (data.get("joint_limits") or {}).items():
        j = idx("joint_limits", kp)
        lim = np.asarray(lim, dtype=np.float64)
        if lim.shape != (3, 2) or np.any(lim[:, 0] > lim[:, 1]):
            raise SkeletonError(
                f"joint_limits.{kp}: expected [[min, max]] * 3 in degrees for x, y, z"
            )
        limits[j] = np.radians(lim)

    return Skeleton(
        name=name,
        keypoints=keypoints,
        parents=tuple(parents),
        edges=tuple(edges),
        layouts=layouts,
        left_right=tuple(left_right),
        rest_offsets=rest,
        joint_limits=limits,
    )


def _parse_parents(raw: Any, keypoints: tuple[str, ...], idx: Any) -> list[int]:
    if isinstance(raw, dict):
        unknown = [k for k in raw if k not in keypoints]
        if unknown:
            raise SkeletonError(f"parents: unknown keypoint {unknown[0]!r}")
        missing = [k for k in keypoints if k not in raw]
        if missing:
            raise SkeletonError(f"parents: no parent given for {missing[0]!r} (null for the root)")
        return [-1 if raw[k] is None else idx("parents", raw[k]) for k in keypoints]
    if isinstance(raw, list | tuple):
        if len(raw) != len(keypoints):
            raise SkeletonError(
                f"parents: expected {len(keypoints)} entries (one per keypoint), got {len(raw)}"
            )
        return [
            -1 if p is None or p == -1 else (p if isinstance(p, int) else idx("parents", p))
            for p in raw
        ]
    raise SkeletonError("parents: expected a mapping keypoint -> parent name (null for root)")


def _check_tree(parents: list[int], keypoints: tuple[str, ...]) -> None:
    roots = [keypoints[j] for j, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise SkeletonError(f"parents: expected exactly one root (parent null), got {roots}")
    for j in range(len(parents)):
        seen, k = set(), j
        while parents[k] >= 0:
            if k in seen:
                raise SkeletonError(f"parents: cycle through {keypoints[j]!r}")
            seen.add(k)
            k = parents[k]
    for j, p in enumerate(parents):
        if p >= 0 and p >= j:
            raise SkeletonError(
                f"parents: {keypoints[j]!r} comes before its parent {keypoints[p]!r}; "
                "list parents before their children in keypoints"
            )


# ----------------------------------------------------------------------------------
# Built-in skeletons: YAML files next to this module, in the format users write.
# ----------------------------------------------------------------------------------
_BUILTIN_DIR = Path(__file__).with_name("skeletons")

HUMAN: Skeleton = _load_yaml(_BUILTIN_DIR / "human.yaml")
QUADRUPED: Skeleton = _load_yaml(_BUILTIN_DIR / "quadruped.yaml")
BUILTIN_SKELETONS: dict[str, Skeleton] = {"human": HUMAN, "quadruped": QUADRUPED}
