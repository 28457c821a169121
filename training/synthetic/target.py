"""The ``target`` domain: a fixed cast of synthetic subjects in a few fixed rooms, filmed
by tracked cameras, standing in for labelled real footage (the paper's Human3.6M
benchmark, Tables 1 and 2).

* Look: its own clothing palette (muted solids, denim, fabric noise, no stripes or
  checks), long hair and skirts on some subjects (parts the ``randomized`` style never
  draws), warm light from the room, fixed rooms, vignetting, a camera that follows
  the subject at a fixed distance.
* Identities: a subject is a name; its look and proportions come from that name alone
  (``"S1"`` is always the same person). :data:`TARGET_TRAIN` are used unlabelled,
  :data:`TARGET_TEST` are held out with labels, and pose-prior poses come from
  :func:`prior_poses`, whose seeds no clip uses.
* Clips: ``training/synthetic/video.py`` renders T continuous frames of one subject
  doing one activity, with every label (``abspose synth``).
"""

from __future__ import annotations

import zlib
from dataclasses import fields, replace

import torch

from core.skeleton import Skeleton
from training.poses import PoseBatch, random_bone_lengths
from training.poses import sample_poses as _sample_poses
from training.synthetic.background import Environment, sample_environment
from training.synthetic.body import body_model
from training.synthetic.camera import camera_rotation, frame_subject
from training.synthetic.sampling import render_pair
from training.synthetic.style import TARGET_STYLE
from training.synthetic.textures import Appearance, sample_appearance

TARGET_TRAIN = ("S1", "S5", "S6", "S7", "S8")
TARGET_TEST = ("S9", "S11")
TARGET_SUBJECTS = TARGET_TRAIN + TARGET_TEST
ENVIRONMENTS = ("lab", "office", "hall")
VIEWS = (45.0, 135.0, 225.0, 315.0)  # camera azimuths, degrees, like four fixed cameras
# clothing pattern weights over PATTERNS: solid, stripes along/around, checks, noise,
# gradient, denim
TARGET_PATTERNS = (3.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.0)


def stable_seed(*parts: object) -> int:
    """A seed from names (crc32), the same on every machine and run."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def _environment(name: str) -> Environment:
    """One fixed room, fully determined by its name."""
    g = torch.Generator().manual_seed(stable_seed("target-room", name))
    env = sample_environment(1, g, (1.0, 0.0, 0.0, 0.0))
    floor = {
        "lab": ((0.42, 0.42, 0.40), (0.30, 0.31, 0.30)),
        "office": ((0.28, 0.32, 0.40), (0.20, 0.24, 0.32)),
        "hall": ((0.55, 0.38, 0.22), (0.40, 0.26, 0.15)),
    }.get(name, ((0.4, 0.4, 0.4), (0.3, 0.3, 0.3)))
    walls = {"lab": (0.82, 0.82, 0.80), "office": (0.80, 0.74, 0.62),
             "hall": (0.62, 0.30, 0.24)}.get(name, (0.7, 0.7, 0.7))
    env.surfaces[0, :, 0] = torch.tensor([floor[0], walls, (0.9, 0.9, 0.88)])
    env.surfaces[0, :, 1] = torch.tensor([floor[1], [c * 0.85 for c in walls], (0.8, 0.8, 0.8)])
    env.surface_pattern[0] = torch.tensor({"lab": [4, 0, 0], "office": [6, 2, 0],
                                           "hall": [1, 3, 0]}.get(name, [4, 0, 0]))
    env.surface_freq[0] = torch.tensor({"lab": [0.8, 1.0, 1.0], "office": [1.5, 2.0, 1.0],
                                        "hall": [3.0, 1.5, 1.0]}.get(name, [1.0, 1.0, 1.0]))
    env.room[0, :3] = torch.tensor([4.0, 4.0, 3.0])
    env.brightness[0] = 1.0
    return env


class TargetWorld:
    """The fixed cast and rooms of the target domain for one skeleton."""

    def __init__(self, skeleton: Skeleton, subjects: list[str] | None = None):
        self.skeleton = skeleton
        self.subjects = list(subjects or TARGET_TRAIN)
        self.body = body_model(skeleton, extras=True)
        self.environments = [_environment(name) for name in ENVIRONMENTS]

    def identity(self, subject: str) -> tuple[Appearance, torch.Tensor]:
        """The look (B = 1) and bone lengths (J,) of a subject, from its name only."""
        g = torch.Generator().manual_seed(stable_seed("target-subject", self.skeleton.name,
                                                      subject))
        app = sample_appearance(self.body, 1, g, wild=0.0, girth=TARGET_STYLE.girth,
                                patterns=TARGET_PATTERNS, saturation=(0.05, 0.55))
        extras = [k for k, p in enumerate(self.body.parts) if p.girth == "extra"]
        if extras:
            names = [self.body.names[k] for k in extras]
            has = {"hair_back": torch.rand(1, generator=g) < 0.5,
                   "skirt": torch.rand(1, generator=g) < 0.35}
            for k, name in zip(extras, names, strict=True):
                app.girth[:, k] = has.get(name, torch.tensor([False])).float() * 1.0
        lengths = random_bone_lengths(self.skeleton, 1, TARGET_STYLE.limbs, g)[0]
        return app, lengths

    def lighting(self, app: Appearance, environment: int) -> Appearance:
        """Warm light of a room, the same for everyone filmed there."""
        g = torch.Generator().manual_seed(stable_seed("target-light", environment))
        n = app.colors.shape[0]
        d = torch.tensor([[0.35, 0.8, 0.5]]) + 0.2 * (torch.rand(1, 3, generator=g) - 0.5)
        return replace(app, light_dir=torch.nn.functional.normalize(d, dim=-1).expand(n, 3),
                       ambient=torch.full((n,), 0.42), diffuse=torch.full((n,), 0.62),
                       specular=torch.full((n,), 0.06),
                       light_color=torch.tensor([[1.0, 0.9, 0.76]]).expand(n, 3))

    def clip_setup(self, subject: str, activity: str) -> tuple[int, float, float]:
        """(environment index, camera azimuth, elevation) of a subject's activity clip."""
        k = stable_seed("target-clip", subject, activity)
        view = VIEWS[k % len(VIEWS)]
        elevation = TARGET_STYLE.elevation[0] + (k // 7 % 10) / 10 * (
            TARGET_STYLE.elevation[1] - TARGET_STYLE.elevation[0])
        return k % len(self.environments), view, elevation

    def draw(self, stream):
        """One training batch of random moments of this world's subjects, in random rooms
        and views (unlabelled use: the labels are there, a trainer does not read them)."""
        g, bsz = stream.generator, stream.batch_size
        who = torch.randint(len(self.subjects), (bsz,), generator=g)
        env_id = torch.randint(len(self.environments), (bsz,), generator=g)
        cache = {}
        looks, lengths = [], []
        for i, e in zip(who.tolist(), env_id.tolist(), strict=True):
            if i not in cache:
                cache[i] = self.identity(self.subjects[i])
            looks.append(self.lighting(cache[i][0], e))
            lengths.append(cache[i][1])
        app = Appearance.cat(looks)
        lengths = torch.stack(lengths)
        poses = stream.pose_source.sample(bsz, g, "cpu", bone_lengths=lengths)
        partners = (stream.pose_source.sample(bsz, g, "cpu", bone_lengths=lengths)
                    if stream.with_appearance else None)
        env = _cat_envs([self.environments[e] for e in env_id.tolist()])
        az = torch.deg2rad(torch.tensor(VIEWS)[torch.randint(len(VIEWS), (bsz,), generator=g)])
        lo, hi = TARGET_STYLE.elevation
        el = torch.deg2rad(lo + (hi - lo) * torch.rand(bsz, generator=g))
        rot = camera_rotation(az, el, torch.zeros(bsz))
        fill = TARGET_STYLE.fill[0] + (TARGET_STYLE.fill[1] - TARGET_STYLE.fill[0]) * torch.rand(
            bsz, generator=g)
        cams = [frame_subject(p.joints, rot, stream.camera.focal, stream.size, fill,
                              (torch.rand(bsz, 2, generator=g) - 0.5) * 2 * TARGET_STYLE.offset)
                for p in (poses, partners or poses)]
        return render_pair(stream, poses, partners, app, env, cams, who, env_id,
                           postfix=vignette)


def _cat_envs(envs: list[Environment]) -> Environment:

    return Environment(**{f.name: torch.cat([getattr(e, f.name) for e in envs])
                          for f in fields(Environment)})


def vignette(image: torch.Tensor) -> torch.Tensor:
    """Darken the corners, as a real lens does: (B, 3, H, W) -> same."""
    h, w = image.shape[-2:]
    ys = torch.linspace(-1, 1, h, device=image.device)[:, None]
    xs = torch.linspace(-1, 1, w, device=image.device)[None]
    return image * (1.0 - 0.22 * (xs * xs + ys * ys) / 2)


def prior_poses(skeleton: Skeleton, batch: int, seed: int = 0,
                device: torch.device | str = "cpu") -> PoseBatch:
    """Pose-prior poses for the target benchmark: procedural poses with random
    proportions from a seed stream no target clip uses (disjoint from the clips)."""
    g = torch.Generator().manual_seed(stable_seed("target-prior", skeleton.name, seed))
    return _sample_poses(skeleton, batch, g, device)
