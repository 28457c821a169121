"""Synthetic people and animals, rendered on the fly in torch: the training data of
pretraining and the synthetic supervision, and a fixed ``target`` domain that stands in
for labelled real footage.

    stream = SyntheticStream("randomized", HUMAN, batch_size=64, size=(128, 128), seed=0)
    batch = stream.next()            # SyntheticBatch: images, partners, labels

Two styles (:data:`STYLES`): ``randomized`` draws everything at random per sample (body
shape, clothing textures, colours, lighting, background, camera, crop size and offset,
occluders, blur, noise, colour jitter); ``target`` has a distinct look (other clothes,
long hair and skirts, warm light, a few fixed rooms, a tracked camera) with fixed
identities (:data:`TARGET_SUBJECTS`, ``training/synthetic_target.py``).

Camera: the project's :class:`~core.camera.PerspectiveCamera` (62 degrees by default),
OpenCV frame; ``keypoints_3d`` projected with ``intrinsics`` gives ``keypoints_px``.
Geometry is in ``training/synthetic_body.py`` and ``training/synthetic_render.py``,
appearance in ``training/synthetic_textures.py`` and ``training/synthetic_background.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
import torch.nn.functional as F

from core.camera import (
    PerspectiveCamera,
    forward_kinematics,
    matrix_to_rotation_6d,
    pixel_to_normalized,
)
from core.errors import InputError
from core.skeleton import Skeleton, load_skeleton
from training.poses import LimbLengths, PoseBank, PoseBatch, activity_names
from training.synthetic_background import Environment, load_pictures, render_background
from training.synthetic_body import BodyModel, body_model
from training.synthetic_mesh import MeshBody
from training.synthetic_post import colour_jitter, jitter_pixels, postprocess
from training.synthetic_render import (
    project_capsules,
    rasterize,
    surface,
    visibility_from_pixels,
)
from training.synthetic_textures import Appearance, shade_body


@dataclass
class StyleConfig:
    """How a style draws its images (ranges are uniform (low, high)).

    ``fill``: the subject's larger extent as a fraction of the image; ``offset``: shift
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
    (``training/synthetic_mesh.py``; their proportions come from the body model, so
    ``limbs`` and ``girth`` apply to capsule bodies only), ``"capsules"`` as tapered
    capsules; other skeletons are always capsules.
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


STYLES = ("randomized", "target")


def style_config(style: str | StyleConfig, **overrides: Any) -> StyleConfig:
    """The configuration of a named style, with ``overrides`` applied."""
    if isinstance(style, StyleConfig):
        return replace(style, **overrides)
    if style == "randomized":
        return replace(StyleConfig(), **overrides)
    if style == "target":
        from training.synthetic_target import TARGET_STYLE

        return replace(TARGET_STYLE, **overrides)
    raise InputError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")


@dataclass
class CameraPose:
    """World -> camera for B images: ``p_c = rot @ (p_w - target) + shift`` (metres);
    ``shift`` is (x, y, distance)."""

    rot: torch.Tensor
    target: torch.Tensor
    shift: torch.Tensor

    def index(self, idx) -> CameraPose:
        return CameraPose(self.rot[idx], self.target[idx], self.shift[idx])

    def to(self, device) -> CameraPose:
        return CameraPose(self.rot.to(device), self.target.to(device), self.shift.to(device))

    def to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """World points (B, N, 3) in the camera frame."""
        return (self.rot[:, None] @ (points - self.target[:, None])[..., None])[..., 0] + \
            self.shift[:, None]

    @property
    def trans(self) -> torch.Tensor:
        """(B, 3) so that ``p_c = rot @ p_w + trans``."""
        return self.shift - (self.rot @ self.target[..., None])[..., 0]


def camera_rotation(azimuth: torch.Tensor, elevation: torch.Tensor,
                    roll: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) world -> camera rotation ``Rz(roll) Rx(elevation) Ry(azimuth)`` (radians):
    elevation > 0 looks down on the subject (world y is down, as in the camera)."""
    from core.camera import euler_to_matrix

    z = torch.zeros_like(azimuth)
    rz = euler_to_matrix(torch.stack([z, z, roll], -1))
    rx = euler_to_matrix(torch.stack([elevation, z, z], -1))
    ry = euler_to_matrix(torch.stack([z, azimuth, z], -1))
    return rz @ rx @ ry


def frame_subject(joints: torch.Tensor, rot: torch.Tensor, focal: float, size: tuple[int, int],
                  fill: torch.Tensor, offset: torch.Tensor, pad: float = 0.25) -> CameraPose:
    """Place the camera so the subject's extent covers ``fill`` (B,) of the image and its
    centre is shifted by ``offset`` (B, 2) in units of the free half-margin. ``joints``
    (B, N, 3) are the points that span the subject (keypoints, or a mesh's vertices),
    ``pad`` metres added to their extent (the body's thickness around keypoints)."""
    h, w = size
    q = (rot[:, None] @ joints[..., None])[..., 0]  # (B, J, 3) rotated, not yet shifted
    lo, hi = q.amin(1), q.amax(1)
    centre_r = (lo + hi) / 2
    extent = (hi - lo)[:, :2].amax(-1) + pad
    dist = focal * extent / (fill * min(h, w)) + (hi - lo)[:, 2] / 2
    margin = (1.0 - fill).clamp_min(0.0)[:, None] * torch.tensor([w, h]).to(fill) / 2
    shift_px = offset * margin + offset.sign() * 0.02 * fill[:, None] * min(h, w)
    shift = torch.cat([shift_px * dist[:, None] / focal, dist[:, None]], -1)
    target = (rot.transpose(1, 2) @ centre_r[..., None])[..., 0]
    return CameraPose(rot, target, shift)


@dataclass
class SyntheticBatch:
    """One batch of synthetic samples (B images of H x W) and their labels.

    ``image`` (B, 3, H, W) RGB in [0, 1]; ``appearance`` (B, 3, H, W) the same subject in
    the same environment, another pose (``partner_*`` its labels); ``keypoints_2d``
    (B, J, 2) normalized [-1, 1]; ``keypoints_px`` (B, J, 2) pixels; ``visibility`` (B, J)
    bool; ``keypoints_3d`` (B, J, 3) camera frame, metres; ``rotations`` (B, J, 3, 3)
    local joint rotations, the root's in the camera frame (forward kinematics of these
    with ``bone_lengths`` (B, J) from ``keypoints_3d[:, root]`` gives ``keypoints_3d``);
    ``rotations_6d`` (B, J, 6) the same as 6D; ``intrinsics`` (B, 3, 3); ``activity``
    B names; ``subject`` / ``environment`` (B,) int64 ids (``target``: index into the
    stream's subjects and into ``ENVIRONMENTS``; ``randomized``: a running number, each
    sample being its own subject and place); ``part_mask`` (B, H, W) int16 index into
    ``part_names``, -1 on background and props.
    """

    image: torch.Tensor
    keypoints_2d: torch.Tensor
    keypoints_px: torch.Tensor
    visibility: torch.Tensor
    keypoints_3d: torch.Tensor
    rotations: torch.Tensor
    rotations_6d: torch.Tensor
    bone_lengths: torch.Tensor
    intrinsics: torch.Tensor
    activity: list[str]
    subject: torch.Tensor
    environment: torch.Tensor
    part_mask: torch.Tensor
    part_names: list[str]
    appearance: torch.Tensor | None = None
    partner_keypoints_2d: torch.Tensor | None = None
    partner_keypoints_px: torch.Tensor | None = None
    partner_visibility: torch.Tensor | None = None
    partner_keypoints_3d: torch.Tensor | None = None
    partner_activity: list[str] | None = None

    def __len__(self) -> int:
        return self.image.shape[0]

    def to(self, device: torch.device | str) -> SyntheticBatch:
        return SyntheticBatch(**{f.name: (getattr(self, f.name).to(device)
                                          if isinstance(getattr(self, f.name), torch.Tensor)
                                          else getattr(self, f.name)) for f in fields(self)})


# -- rendering ---------------------------------------------------------------------------


@dataclass
class RenderOutput:
    """What :func:`render` returns: ``image`` (B, 3, H, W), ``keypoints_3d`` (B, J, 3),
    ``keypoints_px`` (B, J, 2), ``visibility`` (B, J), ``part_mask`` (B, H, W),
    ``root_rotation`` (B, 3, 3) the root's rotation in the camera frame."""

    image: torch.Tensor
    keypoints_3d: torch.Tensor
    keypoints_px: torch.Tensor
    visibility: torch.Tensor
    part_mask: torch.Tensor
    root_rotation: torch.Tensor


def stool_capsules(seat: torch.Tensor, heading: torch.Tensor):
    """Capsules of a stool under ``seat`` (B, 3) world: a (B, 5, 3), b (B, 5, 3), r (B, 5)."""
    up = torch.tensor([0.0, -1.0, 0.0]).to(seat).expand_as(heading)
    side = torch.cross(heading, up, dim=-1)
    a, b = [seat - 0.16 * side], [seat + 0.16 * side]
    for sx, sz in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        foot = seat + 0.12 * (sx * side + sz * heading)
        a.append(foot)
        b.append(foot * torch.tensor([1.0, 0.0, 1.0]).to(seat))
    r = torch.tensor([0.06, 0.022, 0.022, 0.022, 0.022]).to(seat).expand(len(seat), 5)
    return torch.stack(a, 1), torch.stack(b, 1), r.clone()


def prop_capsules(poses: PoseBatch, root_rotation: torch.Tensor, cam: CameraPose,
                  occluders: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The props of B images as camera-frame capsules a, b (B, K, 3) and radii r (B, K)
    (0 for none): a stool under seated poses (``root_rotation`` (B, 3, 3) world frame
    gives the heading), then the ``occluders``."""
    dev = poses.joints.device
    heading = root_rotation[..., 2] * torch.tensor([-1.0, 0.0, -1.0], device=dev)
    heading = F.normalize(heading + 1e-6, dim=-1)
    sa, sb, sr = stool_capsules(torch.nan_to_num(poses.seat, nan=0.0), heading)
    sr = torch.where(torch.isfinite(poses.seat[:, :1]), sr, torch.zeros_like(sr))
    a, b, r = [cam.to_camera(sa)], [cam.to_camera(sb)], [sr]
    if occluders is not None:
        a.append(occluders[0])
        b.append(occluders[1])
        r.append(occluders[2])
    return torch.cat(a, 1), torch.cat(b, 1), torch.cat(r, 1)


def render(skeleton: Skeleton, body: BodyModel, poses: PoseBatch, app: Appearance,
           env: Environment, cam: CameraPose, camera: PerspectiveCamera,
           style: StyleConfig, generator: torch.Generator,
           pictures: torch.Tensor | None = None,
           occluders: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
           finish: bool = True,
           colour: tuple[torch.Tensor, torch.Tensor] | None = None) -> RenderOutput:
    """Draw B posed subjects; everything batched on the device of ``poses``.

    ``finish``: apply :func:`~training.synthetic_post.postprocess` (blur, noise); without
    it ``image`` is (B, H, W, 3) channels last, ready for a later shared postprocess.
    ``colour``: the colour jitter (M (B, 3, 3), o (B, 3)), drawn per image if None.

    ``occluders``: optional camera-frame capsules (a (B, K, 3), b (B, K, 3), r (B, K)),
    radius 0 for none, drawn with the subject and the stool.
    """
    dev = poses.joints.device
    size = camera.size
    bsz = poses.joints.shape[0]
    root = skeleton.parents.index(-1)
    _, glob = forward_kinematics(skeleton, poses.rotations, poses.bone_lengths,
                                 poses.joints[:, root])
    cam = cam.to(dev)
    rot = cam.rot
    kp3 = cam.to_camera(poses.joints)
    glob_c = rot[:, None] @ glob
    scale = poses.bone_lengths.sum(-1) / float(skeleton.bone_lengths().sum())
    a, b = body.endpoints(kp3, glob_c, scale)
    radii = body.radii.to(dev)[None] * app.girth[..., None] * scale[:, None, None]
    ra, rb = radii[..., 0], radii[..., 1]
    pa, pb, pr = prop_capsules(poses, glob[:, root], cam, occluders)
    a, b = torch.cat([a, pa], 1), torch.cat([b, pb], 1)
    ra, rb = torch.cat([ra, pr], 1), torch.cat([rb, pr], 1)
    cap = project_capsules(a, b, ra, rb, camera.focal, (camera.cx, camera.cy))
    cap.valid &= (ra > 0)
    part, depth = rasterize(cap, size)
    surf = surface(cap, part, size)
    neck = skeleton.keypoints.index("neck") if "neck" in skeleton.keypoints else root
    fg = shade_body(app, body, surf, -glob_c[:, neck, :, 1], -glob_c[:, neck, :, 2])
    mat, off = colour if colour is not None else colour_jitter(style, generator, bsz)
    mat, off = mat.to(dev), off.to(dev)
    fg = jitter_pixels(mat, off, fg, surf.sample)
    ground = poses.joints[:, root] * torch.tensor([1.0, 0.0, 1.0], device=dev)
    bg = render_background(env, rot, cam.trans, ground, camera.focal, size, pictures,
                           colour=(mat, off))
    flat = bg.view(-1, 3)  # (B * H * W, 3) pixel rows
    under = flat.index_select(0, surf.index)
    alpha = surf.alpha[:, None]
    flat.index_copy_(0, surf.index, under.add_((fg - under).mul_(alpha)))
    image = postprocess(bg, style, generator).permute(0, 3, 1, 2).contiguous() if finish else bg
    px = camera.project(kp3)
    margin = _margins(body, radii, kp3)
    vis = visibility_from_pixels(px, kp3[..., 2], part, depth, body.owners, margin, size)
    mask = torch.where(part < body.num_parts, part, torch.full_like(part, -1))
    return RenderOutput(image, kp3, px, vis, mask.view(bsz, *size).to(torch.int16),
                        glob_c[:, root])


def _margins(body: BodyModel, radii: torch.Tensor, kp3: torch.Tensor) -> torch.Tensor:
    """(B, J) how far behind the visible surface a keypoint may lie: the largest radius
    of the parts that carry it (keypoints sit on their axes), plus 2 cm."""
    owners = body.owners.to(radii.device).float()  # (J, P)
    r = radii.amax(-1)  # (B, P)
    return (owners[None] * r[:, None]).amax(-1) + 0.02


# -- the stream ----------------------------------------------------------------------------


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
            from training.synthetic_target import TargetWorld

            self.world = TargetWorld(self.skeleton, subjects)
            self.body = self.world.body
        else:
            self.world = None
            self.body = stream_body(self.skeleton, self.style)
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
        from training.synthetic_sampling import draw_batch

        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            batch = draw_batch(self)
        finally:
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
    """The body a randomized stream draws: a :class:`~training.synthetic_mesh.MeshBody`
    for a human when the style asks for meshes, else the capsule body."""
    if style.body not in ("mesh", "capsules"):
        raise InputError(f"unknown body {style.body!r}; choose mesh or capsules")
    capsules = body_model(skeleton)
    if style.body == "mesh" and capsules.kind == "human":
        return MeshBody(skeleton)
    return capsules


def to_batch(skeleton: Skeleton, camera: PerspectiveCamera, poses: PoseBatch,
             out: RenderOutput, subject: torch.Tensor, environment: torch.Tensor,
             part_names: list[str]) -> SyntheticBatch:
    """Labels of a render as a :class:`SyntheticBatch` (no partner)."""
    bsz = len(poses)
    dev = out.image.device
    rot = poses.rotations.clone()
    root = skeleton.parents.index(-1)
    rot[:, root] = out.root_rotation
    k = torch.as_tensor(camera.intrinsics, dtype=torch.float32, device=dev).expand(bsz, 3, 3)
    return SyntheticBatch(
        image=out.image, keypoints_2d=pixel_to_normalized(out.keypoints_px, camera.size),
        keypoints_px=out.keypoints_px, visibility=out.visibility, keypoints_3d=out.keypoints_3d,
        rotations=rot, rotations_6d=matrix_to_rotation_6d(rot), bone_lengths=poses.bone_lengths,
        intrinsics=k.clone(), activity=list(poses.activity), subject=subject.to(dev),
        environment=environment.to(dev), part_mask=out.part_mask, part_names=part_names)
