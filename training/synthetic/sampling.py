"""How a :class:`~training.synthetic.SyntheticStream` draws one batch: poses, looks,
environments, cameras and occluders per style, the appearance partners, one render.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from core.camera import forward_kinematics, pixel_to_normalized
from training.poses import PoseBatch
from training.synthetic.background import sample_environment
from training.synthetic.batch import RenderOutput, SyntheticBatch, to_batch
from training.synthetic.camera import CameraPose, camera_rotation, frame_subject
from training.synthetic.mesh import Bystanders, MeshBody, MeshShapes
from training.synthetic.render_capsules import render
from training.synthetic.render_mesh import render_mesh
from training.synthetic.textures import Appearance, sample_appearance


def _u(g, lo, hi, *shape):
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def random_occluders(kp3: torch.Tensor, chance: float, g: torch.Generator, k: int = 2):
    """Camera-frame capsules (a, b (B, K, 3), r (B, K)) in front of the subjects whose
    keypoints are ``kp3`` (B, J, 3); radius 0 (absent) with probability 1 - ``chance``."""
    bsz = kp3.shape[0]
    dev = kp3.device
    lo, hi = kp3.amin(1).cpu(), kp3.amax(1).cpu()
    centre = lo[:, None] + (hi - lo)[:, None] * torch.rand(bsz, k, 3, generator=g)
    centre[..., 2] = lo[:, None, 2] - _u(g, 0.15, 0.8, bsz, k)
    direction = torch.nn.functional.normalize(torch.randn(bsz, k, 3, generator=g), dim=-1)
    half = _u(g, 0.1, 0.6, bsz, k)[..., None] * direction
    radius = _u(g, 0.02, 0.12, bsz, k) * (torch.rand(bsz, k, generator=g) < chance)
    return (centre - half).to(dev), (centre + half).to(dev), radius.to(dev)


def facing_azimuth(joints: torch.Tensor, keypoints: list[str], share: float,
                   g: torch.Generator) -> torch.Tensor:
    """(B,) camera azimuths (radians, as :func:`camera_rotation` takes them) for subjects
    whose world keypoints are ``joints`` (B, J, 3): with chance ``share`` the camera is
    within 90 degrees of straight in front of the subject, else behind it (uniform
    within each half; 0.5: uniform all round). Front is found from the left-right axis
    of the ``left_*`` / ``right_*`` keypoint pairs; a skeleton without them gets uniform
    azimuths."""
    bsz = joints.shape[0]
    pairs = [(i, keypoints.index("right_" + n[5:])) for i, n in enumerate(keypoints)
             if n.startswith("left_") and "right_" + n[5:] in keypoints]
    if share == 0.5 or not pairs:  # every side alike: one uniform draw
        return _u(g, 0, 2 * math.pi, bsz)
    turn = _u(g, -0.5 * math.pi, 0.5 * math.pi, bsz)
    turn = turn + math.pi * (torch.rand(bsz, generator=g) >= share)
    left = [a for a, _ in pairs]
    right = [b for _, b in pairs]
    side = (joints[:, left] - joints[:, right]).sum(1)
    # the camera's x axis (row 0 of Ry(azimuth)) is (cos, 0, sin): along the subject's
    # left, the subject's left is on the image's right, so it faces the camera
    return torch.atan2(side[:, 2], side[:, 0]) + turn


def _randomized(stream, poses: PoseBatch, partners: PoseBatch | None,
                shapes: MeshShapes | None):
    """Looks, environments, the cameras of the samples and of their partners (the
    samples' own camera again when there are no partners: nothing draws through it),
    and ids."""
    g, bsz, style = stream.generator, len(poses), stream.style
    body = stream.body
    looks = body.capsules if isinstance(body, MeshBody) else body
    app = sample_appearance(looks, bsz, g, wild=style.wild, girth=style.girth)
    env = sample_environment(bsz, g, style.backgrounds,
                             0 if stream.pictures is None else len(stream.pictures))
    # people may face the camera more often than not; animals are seen from every side
    share = style.facing if stream.skeleton.name == "human" else 0.5
    azimuth = facing_azimuth(poses.joints.cpu(), list(stream.skeleton.keypoints), share, g)
    rot = camera_rotation(azimuth,
                          torch.deg2rad(_u(g, *style.elevation, bsz)),
                          torch.deg2rad(torch.randn(bsz, generator=g) * style.roll))
    fill = _u(g, *style.fill, bsz)
    cams = []
    for p in (poses, partners):
        reach = torch.where(torch.rand(bsz, 1, generator=g) < style.cut, 1.1, style.offset)
        offset = _u(g, -1.0, 1.0, bsz, 2) * reach  # drawn either way: the same stream
        if p is None:
            cams.append(cams[0])
            continue
        if shapes is None:
            points, pad = p.joints.cpu(), 0.25
        else:  # the mesh's own extent
            root = stream.skeleton.parents.index(-1)
            points = body.pose(shapes, p.rotations, p.joints[:, root],
                               body.frame_vertices)[0]
            pad = 0.0
        cams.append(frame_subject(points, rot, stream.camera.focal, stream.size, fill,
                                  offset, pad, projected=True))
    # every randomized sample is its own subject in its own environment: running ids
    subject = stream.count * bsz + torch.arange(bsz)
    return app, env, cams, subject, subject.clone()


def bystanders(stream, poses: PoseBatch, cam: CameraPose) -> Bystanders:
    """Other people for the subjects ``poses`` seen by ``cam``: with the style's chance,
    another random body in another pose, 0.5 to 1.1 m to the side of the subject and up
    to 2.5 m behind it (or 0.4 m in front), on the same floor; never a seated one (there
    is no stool for it)."""
    g, bsz, body, style = stream.generator, len(poses), stream.body, stream.style
    present = torch.rand(bsz, generator=g) < style.bystanders
    # drawn for the present ones only; the absent rows repeat one of them, never drawn
    k = max(int(present.sum()), 1)
    row = (torch.cumsum(present.long(), 0) - 1).clamp_min(0)
    shapes = body.sample_shapes(k, g)
    others = stream.pose_source.sample(k, g, "cpu", bone_lengths=shapes.bone_lengths)
    others = others.index(row)
    shapes = shapes.index(row)
    app = sample_appearance(body.capsules, k, g, wild=style.wild,
                            girth=style.girth).index(row)
    floor = torch.tensor([1.0, 0.0, 1.0])
    right = torch.nn.functional.normalize(cam.rot[:, 0] * floor, dim=-1)
    ahead = torch.nn.functional.normalize(cam.rot[:, 2] * floor, dim=-1)
    side = torch.where(torch.rand(bsz, generator=g) < 0.5, -1.0, 1.0)
    shift = ((side * _u(g, 0.5, 1.1, bsz))[:, None] * right
             + _u(g, -0.4, 2.5, bsz)[:, None] * ahead)
    r = stream.skeleton.parents.index(-1)
    root = poses.joints[:, r] * floor + shift + others.joints[:, r] * (1 - floor)
    joints = others.joints - others.joints[:, r:r + 1] + root[:, None]
    present &= ~torch.isfinite(others.seat[:, 0])
    return Bystanders(shapes, others.rotations, joints, app, present)


def draw_batch(stream) -> SyntheticBatch:
    """One :class:`SyntheticBatch` from ``stream`` (see SyntheticStream)."""
    g, bsz = stream.generator, stream.batch_size
    if stream.world is not None:
        return stream.world.draw(stream)
    shapes = stream.body.sample_shapes(bsz, g) if isinstance(stream.body, MeshBody) else None
    lengths = None if shapes is None else shapes.bone_lengths
    poses = stream.pose_source.sample(bsz, g, "cpu", bone_lengths=lengths)
    partners = (stream.pose_source.sample(bsz, g, "cpu", bone_lengths=poses.bone_lengths)
                if stream.with_appearance else None)
    app, env, cams, subject, env_id = _randomized(stream, poses, partners, shapes)
    if not stream.images:
        return labels_only(stream, poses, cams[0], subject, env_id)
    others = (bystanders(stream, poses, cams[0])
              if shapes is not None and stream.style.bystanders > 0 else None)
    return render_pair(stream, poses, partners, app, env, cams, subject, env_id,
                       shapes=shapes, others=others)


def labels_only(stream, poses: PoseBatch, cam: CameraPose, subject: torch.Tensor,
                env_id: torch.Tensor) -> SyntheticBatch:
    """The labels :func:`render_pair` would give, without drawing: keypoints in the
    camera frame and projected, the root's rotation in the camera frame."""
    dev, bsz = stream.device, len(poses)
    skeleton = stream.skeleton
    root = skeleton.parents.index(-1)
    poses = poses.to(dev)
    _, glob = forward_kinematics(skeleton, poses.rotations, poses.bone_lengths,
                                 poses.joints[:, root])
    cam = cam.to(dev)
    kp3 = cam.to_camera(poses.joints)
    px = stream.camera.project(kp3)
    out = RenderOutput(torch.empty(bsz, 3, 0, 0, device=dev), kp3, px,
                       torch.ones(kp3.shape[:2], dtype=torch.bool, device=dev),
                       torch.empty(bsz, 0, 0, dtype=torch.int16, device=dev),
                       cam.rot @ glob[:, root])
    return to_batch(skeleton, stream.camera, poses, out, subject, env_id, stream.body.names)


CHUNK = 64  # images per render call: larger calls were slower per image on the CPU


def render_pair(stream, poses: PoseBatch, partners: PoseBatch | None, app: Appearance, env,
                cams: list[CameraPose], subject: torch.Tensor, env_id: torch.Tensor,
                postfix: Callable | None = None,
                shapes: MeshShapes | None = None,
                others: Bystanders | None = None) -> SyntheticBatch:
    """Render the samples and (if given) their partners on the stream's device, in calls
    of at most ``CHUNK`` images, and assemble the batch; ``postfix`` is applied to the
    finished images; ``shapes``: the bodies of mesh people, ``others`` people beside
    them (in the samples' images, not the partners')."""
    g, dev, bsz = stream.generator, stream.device, len(poses)
    groups = [(poses, cams[0], True)] + ([(partners, cams[1], False)] if partners else [])
    pictures = None if stream.pictures is None else stream.pictures.to(dev)
    outs = []
    for group, cam, main in groups:
        kp3 = cam.to_camera(group.joints)
        occ = random_occluders(kp3, stream.style.occluders if main else 0.0, g)
        parts = []
        for start in range(0, bsz, CHUNK):
            idx = torch.arange(start, min(start + CHUNK, bsz))

            def part(x, idx=idx):  # the chunk's rows (all of them: as they are)
                return x if len(idx) == bsz else x.index(idx)

            args = (part(group).to(dev), part(app).to(dev), part(env).to(dev),
                    part(cam).to(dev), stream.camera, stream.style, g, pictures,
                    tuple(o[idx].to(dev) for o in occ))
            if shapes is not None:
                extra = part(others).to(dev) if others is not None and main else None
                out = render_mesh(stream.skeleton, stream.body, part(shapes).to(dev),
                                  *args, bystanders=extra)
            else:
                out = render(stream.skeleton, stream.body, *args)
            if postfix is not None:
                out.image = postfix(out.image)
            parts.append(out)
        outs.append(parts[0] if len(parts) == 1 else
                    type(parts[0])(*(torch.cat([getattr(o, f) for o in parts])
                                     for f in parts[0].__dataclass_fields__)))
    batch = to_batch(stream.skeleton, stream.camera, poses.to(dev), outs[0], subject, env_id,
                     stream.body.names)
    if partners is not None:
        other = outs[1]
        batch.appearance = other.image
        batch.partner_keypoints_px = other.keypoints_px
        batch.partner_keypoints_2d = pixel_to_normalized(other.keypoints_px, stream.camera.size)
        batch.partner_visibility = other.visibility
        batch.partner_keypoints_3d = other.keypoints_3d
        batch.partner_activity = list(partners.activity)
    return batch
