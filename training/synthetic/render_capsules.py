"""Drawing capsule people and animals (``training/synthetic/body.py``): pose the
capsules, add the props (a stool under seated poses, occluders), rasterize, shade,
composite over the background and read the labels off the render.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.camera import (
    PerspectiveCamera,
    forward_kinematics,
)
from core.skeleton import Skeleton
from training.poses import PoseBatch
from training.synthetic.background import Environment, render_background
from training.synthetic.batch import RenderOutput
from training.synthetic.body import BodyModel
from training.synthetic.camera import CameraPose
from training.synthetic.post import channels_first, colour_jitter, jitter_pixels, postprocess
from training.synthetic.raster_capsules import (
    project_capsules,
    rasterize,
    surface,
    visibility_from_pixels,
)
from training.synthetic.style import StyleConfig
from training.synthetic.textures import Appearance, shade_body


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

    ``finish``: apply :func:`~training.synthetic.post.postprocess` (blur, noise); without
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
    image = channels_first(postprocess(bg, style, generator)) if finish else bg
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
