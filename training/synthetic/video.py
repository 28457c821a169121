"""Synthetic clips: continuous videos of one subject doing one activity, with every
label, rendered in the labelled-clip format of ``training/clips.py`` (which writes and
reads them; ``abspose synth`` renders and writes them).
"""

from __future__ import annotations

import numpy as np
import torch

from core.camera import PerspectiveCamera
from core.errors import InputError
from core.skeleton import Skeleton
from training.clips import FORMAT_VERSION
from training.poses import generate_sequence, random_bone_lengths
from training.synthetic.background import sample_environment
from training.synthetic.batch import to_batch
from training.synthetic.camera import CameraPose, camera_rotation, frame_subject
from training.synthetic.mesh import MeshBody, MeshShapes
from training.synthetic.post import colour_jitter, postprocess
from training.synthetic.render_capsules import render
from training.synthetic.render_mesh import render_mesh
from training.synthetic.stream import stream_body
from training.synthetic.style import TARGET_STYLE, StyleConfig, style_config
from training.synthetic.target import ENVIRONMENTS, TargetWorld, _cat_envs, stable_seed, vignette
from training.synthetic.textures import Appearance, sample_appearance


class RandomizedWorld:
    """Clips in the ``randomized`` style: every subject name gets a random look and body
    (a mesh person for the human skeleton, as the training stream draws; capsules
    otherwise), every clip a random room or background and camera (fixed over the clip)."""

    def __init__(self, skeleton: Skeleton, style: StyleConfig):
        self.skeleton, self.style = skeleton, style
        self.body = stream_body(skeleton, style)

    def identity(self, subject: str) -> tuple[Appearance, torch.Tensor, MeshShapes | None]:
        """The subject's look, bone lengths and (mesh people) body shape."""
        g = torch.Generator().manual_seed(stable_seed("random-subject", self.skeleton.name,
                                                      subject))
        mesh = isinstance(self.body, MeshBody)
        looks = self.body.capsules if mesh else self.body
        app = sample_appearance(looks, 1, g, wild=self.style.wild, girth=self.style.girth)
        if mesh:
            shapes = self.body.sample_shapes(1, g)
            return app, shapes.bone_lengths[0], shapes
        return app, random_bone_lengths(self.skeleton, 1, self.style.limbs, g)[0], None

    def setup(self, subject: str, activity: str, seed: int):
        g = torch.Generator().manual_seed(stable_seed("random-clip", seed, subject, activity))
        env = sample_environment(1, g, self.style.backgrounds)
        lo, hi = self.style.elevation
        el = lo + (hi - lo) * float(torch.rand(1, generator=g))
        az = 360.0 * float(torch.rand(1, generator=g))
        return env, "random", az, el


def render_clip(skeleton: Skeleton, style: str, subject: str, activity: str,
                frames: int = 100, fps: float = 25.0, size: tuple[int, int] = (128, 128),
                seed: int = 0, fov_deg: float = 62.0, device: torch.device | str = "cpu",
                chunk: int = 32) -> dict[str, np.ndarray]:
    """T continuous frames of ``subject`` doing ``activity`` in ``style``.

    Returns the arrays of the labels (``training/clips.py``) plus ``frames`` (T, H, W, 3) uint8 RGB.
    The same arguments give the same clip.
    """
    camera = PerspectiveCamera(size, fov_deg)
    if style == "target":
        world = TargetWorld(skeleton, [subject])
        body, cfg = world.body, TARGET_STYLE
        app, lengths = world.identity(subject)
        shapes = None
        env_idx, az, el = world.clip_setup(subject, activity)
        env, env_name = world.environments[env_idx], ENVIRONMENTS[env_idx]
        app = world.lighting(app, env_idx)
        finish = vignette
    elif style == "randomized":
        cfg = style_config(style)
        world = RandomizedWorld(skeleton, cfg)
        body = world.body
        app, lengths, shapes = world.identity(subject)
        env, env_name, az, el = world.setup(subject, activity, seed)
        finish = None
    else:
        raise InputError(f"unknown style {style!r}; choose from randomized, target")
    g = torch.Generator().manual_seed(stable_seed("clip-motion", style, seed, subject, activity))
    seq = generate_sequence(skeleton, activity, frames, fps, g, bone_lengths=lengths)
    rot = camera_rotation(torch.full((frames,), np.deg2rad(az)),
                          torch.full((frames,), np.deg2rad(el)), torch.zeros(frames))
    fill = torch.full((frames,), sum(cfg.fill) / 2)
    cam = frame_subject(seq.joints, rot, camera.focal, size, fill, torch.zeros(frames, 2))
    cam = CameraPose(rot, _smooth(cam.target, fps), _smooth(cam.shift, fps))
    envs = _cat_envs([env] * frames)
    out: dict[str, list] = {}
    clean = []
    mat, off = colour_jitter(cfg, g, 1)  # one camera for the whole clip
    for start in range(0, frames, chunk):
        idx = torch.arange(start, min(start + chunk, frames))
        n = len(idx)
        poses = seq.index(idx).to(device)
        looks = app.index(torch.zeros(n, dtype=torch.long)).to(device)
        args = (poses, looks, envs.index(idx).to(device), cam.index(idx).to(device), camera,
                cfg, g)
        colour = (mat.expand(n, 3, 3), off.expand(n, 3))
        if shapes is not None:
            res = render_mesh(skeleton, body, shapes.index(torch.zeros(n, dtype=torch.long))
                              .to(device), *args, finish=False, colour=colour)
        else:
            res = render(skeleton, body, *args, finish=False, colour=colour)
        clean.append(res.image)
        batch = to_batch(skeleton, camera, poses, res, torch.zeros(n, dtype=torch.long),
                         torch.zeros(n, dtype=torch.long), body.names)
        parts = {"keypoints_2d": batch.keypoints_px,
                 "keypoints_2d_normalized": batch.keypoints_2d, "visibility": batch.visibility,
                 "keypoints_3d": batch.keypoints_3d, "rotations": batch.rotations,
                 "rotations_6d": batch.rotations_6d, "bone_lengths": batch.bone_lengths,
                 "part_mask": batch.part_mask}
        for k, v in parts.items():
            out.setdefault(k, []).append(v.cpu().numpy())
    # one camera for the whole clip: the same blur, colour and noise level in every frame
    img = postprocess(torch.cat(clean), cfg, g, shared=True).permute(0, 3, 1, 2)
    img = finish(img) if finish else img
    out["frames"] = [(img.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).byte().cpu().numpy()]
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    arrays.update({
        "keypoint_names": np.array(skeleton.keypoints), "intrinsics":
        camera.intrinsics.astype(np.float32), "activity": np.array([activity] * frames),
        "subject": np.array(subject), "environment": np.array(env_name),
        "part_names": np.array(body.names), "fps": np.array(float(fps)),
        "frame_size": np.array(size), "style": np.array(style),
        "skeleton": np.array(skeleton.name), "seed": np.array(seed),
        "format_version": np.array(FORMAT_VERSION)})
    return arrays


def _smooth(x: torch.Tensor, fps: float) -> torch.Tensor:
    """Moving average over about half a second along the first axis (a camera operator
    who follows smoothly); the edges repeat."""
    k = max(int(fps / 2) | 1, 1)
    pad = torch.cat([x[:1].expand(k // 2, *x.shape[1:]), x,
                     x[-1:].expand(k // 2, *x.shape[1:])])
    return pad.unfold(0, k, 1).mean(-1)
