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

Appearance is decided per vertex: clothing regions (tops with three sleeve lengths and
a neckline that dips at the front, trousers or shorts, shoes or bare feet) from where a
vertex lies along the limbs and the torso, a hairline per subject above the brows, a
face painted on (eyes, brows, lips; one face in four left plain), and a shell of hair
and of clothing pushed out along the normals, so a person is not a skin-tight
mannequin. What a mesh of skin and shells cannot be, cloth that bridges the legs and
hair that hangs free, is drawn beside it as tapered capsules (:func:`garment_capsules`:
skirts and long hair).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from core.camera import forward_kinematics
from core.skeleton import Skeleton
from training.synthetic.body import BOTTOM, HAIR, SHOES, SKIN, TOP, body_model
from training.synthetic.mesh_assets import mesh_assets
from training.synthetic.mesh_fit import SEGMENTS, children, rest_keypoints, segment_alignment

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions", "cupsize",
              "firmness", "african", "asian", "caucasian")


SKIRT_SHARE, LONG_HAIR_SHARE, PLAIN_FACE_SHARE = 1 / 6, 1 / 3, 1 / 4


@dataclass
class MeshShapes:
    """B subjects' bodies: ``rest`` (B, V, 3) rest meshes (hair and clothing shells
    applied), ``keypoints`` (B, J, 3) rest keypoints, ``bone_lengths`` (B, J),
    ``align`` (B, S, 3, 3) segment rest orientations, ``region`` (B, V) int64 clothing
    region per vertex, ``scale`` (B,) body height over the template's, ``garments``
    (B, 4) what is drawn beside the mesh (:func:`garment_capsules`): a skirt's length
    below the hips and its flare, long hair's length below the neck and its width (m;
    length 0: none); ``plain_face`` (B,) bool: a face drawn without eyes, brows or
    lips (one in four: in photos a face is often too small, blurred, dark or hidden to
    read, and the front of a person must still be told from their back by the rest of
    them)."""

    rest: torch.Tensor
    keypoints: torch.Tensor
    bone_lengths: torch.Tensor
    align: torch.Tensor
    region: torch.Tensor
    scale: torch.Tensor
    garments: torch.Tensor
    plain_face: torch.Tensor

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
    """The HUMAN body as anny meshes, for :func:`~training.synthetic.render_mesh.render_mesh`.

    Shares the attributes of :class:`~training.synthetic.body.BodyModel` that the rest
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
            for c in children(skeleton, j):
                owners[c, s] = True
        self.owners = torch.as_tensor(owners)
        self.faces = self.assets.faces
        self.face_segment = self.assets.segment[self.faces[:, 0]]
        self.face_kind = self.assets.face_kind
        self.paint = self.assets.paint
        self.coords = self.assets.coords[:, :3].contiguous()
        #: every 8th vertex: enough to frame a subject, cheap to pose
        self.frame_vertices = torch.arange(0, len(self.assets.template), 8)

    @property
    def num_parts(self) -> int:
        return len(SEGMENTS)

    def sample_shapes(self, n: int, g: torch.Generator) -> MeshShapes:
        """``n`` random bodies: every phenotype uniform but age (mostly adults, some
        children, teenagers and elders), height (no giants) and ancestry (a random
        mix); random hairlines, hair volume, sleeves, trousers, shoes and clothing
        looseness."""
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
        low, high = torch.aminmax(rest[..., 1].contiguous(), dim=1)
        height = high - low
        tmpl = float(a.template[:, 1].max() - a.template[:, 1].min())
        scale = height / tmpl
        return MeshShapes(rest, rest_kp, lengths, segment_alignment(self.skeleton, rest_kp),
                          region, scale, self._garments(n, g) * scale[:, None],
                          torch.rand(n, generator=g) < PLAIN_FACE_SHARE)

    @staticmethod
    def _garments(n: int, g: torch.Generator) -> torch.Tensor:
        """(n, 4) skirts (one subject in six: mini to midi, straight to flared) and long
        hair (one in three: to the shoulders or down the back), at template size."""
        u = torch.rand(n, 6, generator=g)
        skirt = torch.where(u[:, 0] < SKIRT_SHARE, 0.25 + 0.4 * u[:, 1], 0.0)
        hair = torch.where(u[:, 2] < LONG_HAIR_SHARE, 0.05 + 0.3 * u[:, 3] ** 2, 0.0)
        return torch.stack([skirt, 0.02 + 0.12 * u[:, 4], hair, 0.07 + 0.03 * u[:, 5]], 1)

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
        # the hairline: from a fringe just above the eyebrows to a receding one
        brows = float(a.coords[a.paint[:, 1] > 0.5, 3].max())
        forehead = brows + 0.02 + 0.18 * torch.rand(n, 1, generator=g)
        # necklines dip at the front (round, scoop or V), as most tops' do
        dip = 0.3 * torch.rand(n, 1, generator=g) ** 2
        shoes = torch.rand(n, 1, generator=g) < 0.88
        kind = {name: torch.tensor([nm.endswith(name) for nm in names])[seg]
                for name in ("arm", "forearm", "hand", "thigh", "shin", "foot")}
        arm = kind["arm"] | kind["forearm"]
        leg = kind["thigh"] | kind["shin"]
        torso = torch.isin(seg, torch.tensor([names.index(x) for x in ("hips", "belly",
                                                                        "chest")]))
        region = torch.full((n, len(seg)), SKIN, dtype=torch.int64)
        front = torch.cos(a.coords[:, 2] / 0.15).clamp_min(0.0) ** 4  # 1 at the front
        region = torch.where(torso & (c < neckline - dip * front), TOP, region)
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


def garment_capsules(skeleton: Skeleton, shapes: MeshShapes, joints: torch.Tensor,
                     glob: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Skirts and long hair as tapered capsules beside the mesh (what a mesh of skin and
    shells cannot be: cloth that bridges the legs, hair that hangs free), from B posed
    ``joints`` (B, J, 3) and global rotations ``glob`` (B, J, 3, 3) in any one frame.

    The skirt runs from the hips along the thighs' mean direction (a seated person's
    lies over the lap), the hair from behind the head down behind the neck, hanging in
    the chest's frame. Returns a, b (B, 2, 3), ra, rb (B, 2); a radius of 0 where a
    subject has none."""
    k = {name: skeleton.index(name) for name in ("left_hip", "right_hip", "left_knee",
                                                 "right_knee", "neck", "thorax")}
    skirt_len, flare, hair_len, hair_w = shapes.garments.unbind(1)
    hips = (joints[:, k["left_hip"]] + joints[:, k["right_hip"]]) / 2
    knees = (joints[:, k["left_knee"]] + joints[:, k["right_knee"]]) / 2
    down = F.normalize(knees - hips, dim=-1)
    width = (joints[:, k["left_hip"]] - joints[:, k["right_hip"]]).norm(dim=-1)
    ra = 0.5 * width + 0.06 * shapes.scale
    rb = ra + flare
    # the round ends of a capsule reach past a and b by their radii: the waistband
    # comes 8 cm above the hips' line and the hem at the skirt's length
    start = ra - 0.08 * shapes.scale
    sa = hips + down * start[:, None]
    sb = hips + down * torch.maximum(skirt_len - rb, start + 0.01)[:, None]
    neck, chest = glob[:, k["neck"]], glob[:, k["thorax"]]
    s = shapes.scale[:, None, None]
    top = torch.tensor([0.0, -0.12, 0.05], device=joints.device)
    ha = joints[:, k["neck"]] + (neck @ (top[:, None] * s))[..., 0]
    drop = torch.stack([torch.zeros_like(hair_len), hair_len - 0.02 * shapes.scale,
                        0.09 * shapes.scale], 1)
    hb = joints[:, k["neck"]] + (chest @ drop[..., None])[..., 0]
    a = torch.stack([sa, ha], 1)
    b = torch.stack([sb, hb], 1)
    on = torch.stack([skirt_len > 0, hair_len > 0], 1)
    ra = torch.where(on, torch.stack([ra, hair_w], 1), 0.0)
    rb = torch.where(on, torch.stack([rb, 0.8 * hair_w], 1), 0.0)
    return a, b, ra, rb
