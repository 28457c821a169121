"""The synthetic stream: endless batches of a style's samples (:class:`SyntheticStream`),
the pose source of a style and the body it draws.
"""

from __future__ import annotations

from typing import Any

import torch

from core.camera import PerspectiveCamera
from core.errors import InputError
from core.skeleton import Skeleton, load_skeleton
from training.poses import PoseBank, activity_names
from training.synthetic.background import load_pictures
from training.synthetic.batch import SyntheticBatch
from training.synthetic.body import body_model
from training.synthetic.mesh import MeshBody
from training.synthetic.sampling import draw_batch
from training.synthetic.style import StyleConfig, style_config
from training.synthetic.target import TargetWorld


class SyntheticStream:
    """Endless batches of synthetic samples (``next()`` or iteration).

    Args:
        style: ``"randomized"``, ``"target"`` or a :class:`StyleConfig`.
        skeleton: a Skeleton or a name (``"human"``, ``"quadruped"``).
        batch_size: B.
        size: (H, W) of the images.
        device: where the batch is made.
        seed: fixes the whole stream (same seed, same images).
        pose_source: anything with ``sample(batch, seed, device) -> PoseBatch`` (default:
            the procedural activities of the style).
        with_appearance: also render the appearance partner of every sample.
        images: False draws no pictures at all, only the labels (``image`` is then an
            empty (B, 3, 0, 0) tensor, ``visibility`` all True, ``part_mask`` empty):
            about 40 times faster, for what needs only poses and cameras (the uplift).
        fov_deg: the camera's horizontal field of view.
        subjects: for ``target``, the identities to draw (default: the training subjects).
        threads: torch CPU threads while drawing a batch (restored afterwards); None keeps
            the caller's setting; ``"auto"``: 1 on the CPU, None elsewhere. Why 1: the
            stream's many small, memory-bound ops ran 2 to 20 times faster with one
            thread than with two on the shared 2-core CPU (docs/RESULTS.md).
    """

    def __init__(self, style: str | StyleConfig = "randomized",
                 skeleton: Skeleton | str = "human", batch_size: int = 64,
                 size: tuple[int, int] = (128, 128), device: torch.device | str = "cpu",
                 seed: int = 0, pose_source: Any = None, with_appearance: bool = True,
                 fov_deg: float = 62.0, subjects: list[str] | None = None,
                 threads: int | str | None = "auto", images: bool = True):
        if batch_size <= 0:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        self.style_name = style if isinstance(style, str) else "custom"
        self.style = style_config(style)
        self.skeleton = load_skeleton(skeleton)
        self.batch_size = batch_size
        self.camera = PerspectiveCamera(size, fov_deg)
        self.size = self.camera.size
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.with_appearance = with_appearance and images
        self.images = images
        self.pose_source = pose_source or style_poses(
            self.skeleton, self.style,
            seed=int(torch.randint(0, 2**62, (1,), generator=self.generator)))
        self.pictures = (load_pictures(self.style.background_folder)
                         if self.style.background_folder else None)
        if self.style_name == "target":
            self.world = TargetWorld(self.skeleton, subjects)
            self.body = self.world.body
        else:
            self.world = None
            self.body = stream_body(self.skeleton, self.style)
        for name in ("capsule_share", "facing"):
            if not 0.0 <= getattr(self.style, name) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self.style, name)}")
        self.capsule_body = (body_model(self.skeleton)
                             if self.style.capsule_share > 0 and isinstance(self.body, MeshBody)
                             else None)
        if not images and self.world is not None:
            raise InputError("images=False is available for the randomized style only")
        self.threads = (1 if self.device.type == "cpu" else None) if threads == "auto" else threads
        self.count = 0

    def __iter__(self):
        return self

    def state_dict(self) -> dict:
        """The stream's position (generator, batch count, pose source): loading it into a
        stream made with the same arguments continues with the same batches."""
        state = {"generator": self.generator.get_state(), "count": self.count}
        if hasattr(self.pose_source, "state_dict"):
            state["pose_source"] = self.pose_source.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.count = int(state["count"])
        if "pose_source" in state and hasattr(self.pose_source, "load_state_dict"):
            self.pose_source.load_state_dict(state["pose_source"])

    def __next__(self) -> SyntheticBatch:
        return self.next()

    def next(self) -> SyntheticBatch:
        """The next batch (see :class:`SyntheticBatch`)."""
        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        mesh = self.body
        if (self.capsule_body is not None
                and float(torch.rand(1, generator=self.generator)) < self.style.capsule_share):
            self.body = self.capsule_body  # this batch's people are capsules
        try:
            batch = draw_batch(self)
        finally:
            self.body = mesh
            if self.threads is not None:
                torch.set_num_threads(before)
        self.count += 1
        return batch


def style_poses(skeleton: Skeleton, style: StyleConfig, seed: int) -> PoseBank:
    """The pose source of a style: its activities, and the ``free`` activity with the
    share ``free_poses`` where the skeleton has it."""
    names = activity_names(skeleton) if style.activities is None else list(style.activities)
    if not 0.0 <= style.free_poses < 1.0:
        raise InputError(f"free_poses must be in [0, 1), got {style.free_poses}")
    if style.free_poses == 0 or "free" not in activity_names(skeleton, everyday=False):
        return PoseBank(skeleton, names, style.limbs, seed=seed)
    names = [n for n in names if n != "free"]
    if not names:
        return PoseBank(skeleton, ["free"], style.limbs, seed=seed)
    weights = [(1.0 - style.free_poses) / len(names)] * len(names) + [style.free_poses]
    return PoseBank(skeleton, [*names, "free"], style.limbs, seed=seed, weights=weights)


def stream_body(skeleton: Skeleton, style: StyleConfig):
    """The body a randomized stream draws: a :class:`~training.synthetic.mesh.MeshBody`
    for a human when the style asks for meshes, else the capsule body."""
    if style.body not in ("mesh", "capsules"):
        raise InputError(f"unknown body {style.body!r}; choose mesh or capsules")
    capsules = body_model(skeleton)
    if style.body == "mesh" and capsules.kind == "human":
        return MeshBody(skeleton)
    return capsules
