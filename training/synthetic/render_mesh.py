"""Drawing mesh people (``training/synthetic/mesh.py``): pose the meshes, rasterize them
with the props (stools, occluders: capsules), shade, composite over the background, and
read the labels off the render, the same outputs as the capsule renderer's
:func:`~training.synthetic.render`.
"""

from __future__ import annotations

import torch

from core.camera import PerspectiveCamera
from core.skeleton import Skeleton
from training.poses import PoseBatch
from training.synthetic.background import Environment, render_background
from training.synthetic.batch import RenderOutput
from training.synthetic.body import BOTTOM, HAIR, SKIN
from training.synthetic.camera import CameraPose
from training.synthetic.mesh import Bystanders, MeshBody, MeshShapes, garment_capsules
from training.synthetic.mesh_assets import EYE
from training.synthetic.post import channels_first, colour_jitter, jitter_pixels, postprocess
from training.synthetic.raster_capsules import (
    project_capsules,
    rasterize,
    surface,
    visibility_from_pixels,
)
from training.synthetic.raster_mesh import (
    MeshSurface,
    mesh_surface,
    project_vertices,
    rasterize_mesh,
)
from training.synthetic.render_capsules import prop_capsules
from training.synthetic.style import StyleConfig
from training.synthetic.textures import Appearance, lit, region_albedo, shade_body

EYE_COLOUR = (0.07, 0.05, 0.04)
#: lips: the skin times this; eyebrows: this much of the way to the hair's colour
LIP_TINT, BROW_MIX = (0.78, 0.5, 0.5), 0.8


def shade_mesh(app: Appearance, body: MeshBody, shapes: MeshShapes,
               surf: MeshSurface) -> torch.Tensor:
    """(N, 3) lit colour of every covered pixel: the region of the nearest vertex, its
    pattern over the surface coordinates interpolated across the triangle, the eyes
    dark, lips and eyebrows painted on
    (:func:`~training.synthetic.mesh_assets._face_paint`: the lips a darker red of the
    skin, the brows the hair's colour; none of them on a plain face), Lambert and
    Blinn-Phong light as for the capsules."""
    dev = surf.sample.device
    b = surf.sample
    nv = shapes.rest.shape[1]
    region = shapes.region.flatten().index_select(0, b * nv + surf.vertex)
    corners = body.faces.to(dev).index_select(0, surf.face)  # (N, 3)
    flat = corners.flatten()
    # (V, 3) along the body, metres along, metres around
    uv = (body.coords.to(dev).index_select(0, flat).view(-1, 3, 3)
          * surf.bary[..., None]).sum(1)  # (N, 3)
    albedo = region_albedo(app, b, region, uv[:, 1], uv[:, 2], (uv[:, 0] / 2).clamp(0, 1))
    paint = (body.paint.to(dev).index_select(0, flat).view(-1, 3, 2)
             * surf.bary[..., None]).sum(1).T  # (2, N)
    plain = shapes.plain_face.index_select(0, b)
    bare = (region == SKIN) & ~plain
    lips = torch.where(bare, paint[0], 0.0)
    tint = torch.tensor(LIP_TINT, device=dev)[:, None]
    albedo = albedo * (1 + lips * (tint - 1))
    hair = app.colors[:, HAIR, 0].index_select(0, b).T  # (3, N)
    brows = torch.where(bare, paint[1], 0.0) * BROW_MIX
    albedo = albedo + brows * (hair - albedo)
    eye = (body.face_kind.to(dev).index_select(0, surf.face) == EYE) & ~plain
    albedo = torch.where(eye, torch.tensor(EYE_COLOUR, device=dev)[:, None], albedo)
    return lit(app, albedo, surf.normal.T, b)


def render_mesh(skeleton: Skeleton, body: MeshBody, shapes: MeshShapes, poses: PoseBatch,
                app: Appearance, env: Environment, cam: CameraPose,
                camera: PerspectiveCamera, style: StyleConfig, generator: torch.Generator,
                pictures: torch.Tensor | None = None,
                occluders: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                finish: bool = True, bystanders: Bystanders | None = None,
                colour: tuple[torch.Tensor, torch.Tensor] | None = None) -> RenderOutput:
    """Draw B posed mesh people (the arguments of :func:`~training.synthetic.render`,
    plus their ``shapes``, whose bone lengths ``poses`` must have, and other people
    ``bystanders`` where present: they hide the subject as any prop does)."""
    dev = poses.joints.device
    size = camera.size
    h, w = size
    bsz = len(poses)
    root = skeleton.parents.index(-1)
    cam = cam.to(dev)
    verts, _, glob = body.pose(shapes, poses.rotations, poses.joints[:, root])
    verts = cam.to_camera(verts)
    kp3 = cam.to_camera(poses.joints)
    glob_c = cam.rot[:, None] @ glob
    vpx, vz = project_vertices(verts, camera.focal, (camera.cx, camera.cy))
    face, mdepth = rasterize_mesh(vpx, vz, body.faces, size)
    a, b, r = prop_capsules(poses, glob[:, root], cam, occluders)
    nprop = a.shape[1]
    ga, gb, gra, grb = garment_capsules(skeleton, shapes, kp3, glob_c)
    cap = project_capsules(torch.cat([a, ga], 1), torch.cat([b, gb], 1),
                           torch.cat([r, gra], 1), torch.cat([r, grb], 1),
                           camera.focal, (camera.cx, camera.cy))
    cap.valid &= cap.ra > 0
    prop, pdepth = rasterize(cap, size)
    other = _draw_bystanders(body, bystanders, cam, camera, root)
    mesh_wins = (face >= 0) & (mdepth <= pdepth)
    if other is None:
        other_wins = torch.zeros_like(mesh_wins)
        depth = torch.minimum(mdepth, pdepth)  # the nearest surface: what wins the pixel
    else:
        odepth = other[1]
        mesh_wins &= mdepth <= odepth
        other_wins = (odepth < pdepth) & (odepth < mdepth)
        depth = torch.minimum(torch.minimum(mdepth, pdepth), odepth)
    prop.masked_fill_(mesh_wins | other_wins, -1)  # both are the rasterizers' own
    face.masked_fill_(~mesh_wins, -1)

    mat, off = colour if colour is not None else colour_jitter(style, generator, bsz)
    mat, off = mat.to(dev), off.to(dev)
    ground = poses.joints[:, root] * torch.tensor([1.0, 0.0, 1.0], device=dev)
    bg = render_background(env, cam.rot, cam.trans, ground, camera.focal, size, pictures,
                           colour=(mat, off))
    flat = bg.view(-1, 3)  # (B * H * W, 3) pixel rows
    msurf = mesh_surface(face, verts, vpx, body.faces, size)
    fg = shade_mesh(app, body, shapes, msurf)
    flat.index_copy_(0, msurf.index, jitter_pixels(mat, off, fg, msurf.sample))
    if other is not None:
        ofg, oindex, osample = _shade_bystanders(body, other, other_wins, size)
        flat.index_copy_(0, oindex, jitter_pixels(mat, off, ofg, osample))
    if bool((prop >= 0).any()):
        psurf = surface(cap, prop, size)
        # garments (capsules from nprop on: a skirt, long hair) in the trousers' and the
        # hair's colours
        worn = torch.where(psurf.part > nprop, HAIR, BOTTOM).masked_fill_(psurf.part < nprop, -1)
        psurf.part = psurf.part + body.capsules.num_parts  # past the body's: ``prop``
        neck = skeleton.index("neck")
        pfg = shade_body(app, body.capsules, psurf, -glob_c[:, neck, :, 1],
                         -glob_c[:, neck, :, 2], worn)
        pfg = jitter_pixels(mat, off, pfg, psurf.sample)
        under = flat.index_select(0, psurf.index)
        flat.index_copy_(0, psurf.index, under.add_((pfg - under).mul_(psurf.alpha[:, None])))
    image = channels_first(postprocess(bg, style, generator)) if finish else bg
    seg = body.face_segment.to(dev).index_select(0, face.clamp_min(0).flatten())
    seg = seg.view_as(face).masked_fill_(face < 0, -1)
    # a skirt is the hips' and long hair the head's, for the part masks and visibility
    wearer = torch.where(prop > nprop, body.names.index("head"), body.names.index("hips"))
    seg = torch.where(prop >= nprop, wearer, seg)
    parts = torch.where((prop >= 0) & (prop < nprop), prop + body.num_parts, seg)
    parts = torch.where(other_wins, body.num_parts + 1000, parts)  # nobody's part
    px = camera.project(kp3)
    vis = visibility_from_pixels(px, kp3[..., 2], parts, depth, body.owners,
                                 body.margins(shapes), size)
    return RenderOutput(image, kp3, px, vis, seg.view(bsz, h, w).to(torch.int16),
                        glob_c[:, root])


def _draw_bystanders(body: MeshBody, others: Bystanders | None, cam: CameraPose,
                     camera: PerspectiveCamera, root: int):
    """Rasterize the bystanders that are present: (their images' indices (K,), posed
    camera-frame vertices (K, V, 3), pixels (K, V, 2), shapes, looks, their triangle
    map (K, H*W)) and their depth over the whole batch (B, H*W); None when nobody is
    there."""
    if others is None or not bool(others.present.any()):
        return None
    sel = torch.nonzero(others.present).flatten()
    bs = others.index(sel)
    verts, _, _ = body.pose(bs.shapes, bs.rotations, bs.joints[:, root])
    verts = cam.index(sel).to_camera(verts)
    px, z = project_vertices(verts, camera.focal, (camera.cx, camera.cy))
    f, d = rasterize_mesh(px, z, body.faces, camera.size)
    depth = torch.full((len(others.present), d.shape[1]), float("inf"), device=d.device)
    return (sel, verts, px, bs, f), depth.index_copy_(0, sel, d)


def _shade_bystanders(body: MeshBody, other, wins: torch.Tensor, size: tuple[int, int]):
    """Colours (N, 3), flat pixel indices (N,) and image indices (N,) of the pixels where
    a bystander is in front."""
    (sel, verts, px, bs, face), _ = other
    face = face.masked_fill(~wins.index_select(0, sel), -1)
    surf = mesh_surface(face, verts, px, body.faces, size)
    colour = shade_mesh(bs.app, body, bs.shapes, surf)
    sample = sel[surf.sample]
    hw = size[0] * size[1]
    return colour, sample * hw + (surf.index - surf.sample * hw), sample
