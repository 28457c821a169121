import pytest
import torch

from core.camera import forward_kinematics
from core.errors import InputError
from core.skeleton import HUMAN
from tests.training.test_poses import CHIRALITY
from training.poses import sample_poses
from training.synthetic.mesh import MeshBody
from training.synthetic.mesh_assets import EYE
from training.synthetic.mesh_fit import SEGMENTS, kabsch, minimal_rotation
from training.synthetic.raster_mesh import mesh_surface, project_vertices, rasterize_mesh
from training.synthetic.stream import SyntheticStream
from training.synthetic.style import style_config


@pytest.fixture(scope="module")
def body():
    return MeshBody(HUMAN)


@pytest.fixture(scope="module")
def posed(body):
    g = torch.Generator().manual_seed(4)
    shapes = body.sample_shapes(6, g)
    poses = sample_poses(HUMAN, 6, g, bone_lengths=shapes.bone_lengths)
    verts, joints, _ = body.pose(shapes, poses.rotations, poses.joints[:, 0])
    return shapes, poses, verts, joints


class TestRasterizer:
    # a triangle facing the camera (counter-clockwise seen from it, so clockwise in the
    # x-right, y-down image): covers pixel centres with x >= 1, y >= 1, x + y <= 5
    # (x, y integers), at depth 2 m
    px = torch.tensor([[[1.0, 1.0], [1.0, 4.0], [4.0, 1.0]]])
    faces = torch.tensor([[0, 1, 2]])

    def test_coverage_by_hand(self):
        face, depth = rasterize_mesh(self.px, torch.full((1, 3), 2.0), self.faces, (6, 6))
        covered = {(int(i) % 6, int(i) // 6) for i in torch.nonzero(face[0] >= 0).flatten()}
        expected = {(x, y) for x in range(6) for y in range(6)
                    if x >= 1 and y >= 1 and x + y <= 5}
        assert covered == expected
        assert torch.allclose(depth[0][face[0] >= 0], torch.tensor(2.0), atol=1e-4)
        assert torch.isinf(depth[0][face[0] < 0]).all()

    def test_back_faces_are_culled(self):
        face, _ = rasterize_mesh(self.px, torch.full((1, 3), 2.0), self.faces.flip(1), (6, 6))
        assert (face < 0).all()

    def test_nearest_wins_and_batches_are_apart(self):
        px = torch.cat([self.px, self.px + torch.tensor([0.0, 0.0])], 1).expand(2, 6, 2)
        z = torch.tensor([[3.0] * 3 + [2.0] * 3, [2.0] * 3 + [3.0] * 3])
        faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
        face, depth = rasterize_mesh(px.contiguous(), z, faces, (6, 6))
        hit = face[0] >= 0
        assert (face[0][hit] == 1).all() and (face[1][hit] == 0).all()
        assert torch.allclose(depth[:, hit], torch.tensor(2.0), atol=1e-4)

    def test_surface_barycentrics_and_normal(self):
        # (p1 - p0) x (p2 - p0) = (0, 0, -1): out of the body, towards the camera
        verts = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 1.0, 2.0], [1.0, 0.0, 2.0]]])
        face, _ = rasterize_mesh(self.px, verts[..., 2], self.faces, (6, 6))
        surf = mesh_surface(face, verts, self.px, self.faces, (6, 6))
        pix = surf.index  # pixel (1, 1) is vertex 0 exactly
        first = torch.nonzero(pix == 1 * 6 + 1).flatten()
        assert torch.allclose(surf.bary[first], torch.tensor([[1.0, 0.0, 0.0]]))
        assert torch.allclose(surf.bary.sum(1), torch.ones(len(pix)))
        assert torch.allclose(surf.normal, torch.tensor([0.0, 0.0, -1.0]).expand_as(surf.normal))


class TestOnABody:
    """The rasterizer on a real body: the surface it keeps is the one facing the camera."""

    @staticmethod
    def _draw(body, heading: float):
        g = torch.Generator().manual_seed(0)
        shapes = body.sample_shapes(1, g)
        rot = torch.eye(3).expand(1, HUMAN.num_keypoints, 3, 3).clone()
        c, s = torch.cos(torch.tensor(heading)), torch.sin(torch.tensor(heading))
        rot[0, 0] = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]])  # turn about y
        verts, _, _ = body.pose(shapes, rot, torch.tensor([[0.0, 0.0, 3.0]]))
        px, z = project_vertices(verts, 200.0, (63.5, 63.5))
        face, depth = rasterize_mesh(px, z, body.faces, (128, 128))
        return verts, face, depth

    def test_the_near_surface_is_drawn(self, body):
        verts, _, depth = self._draw(body, 0.0)  # facing the camera, 3 m away
        near, far = float(verts[0, :, 2].min()), float(verts[0, :, 2].max())
        hit = depth[0][torch.isfinite(depth[0])]
        assert hit.numel() > 500
        assert float(hit.median()) < (near + far) / 2  # the front half of the body

    def test_eyes_show_from_the_front_only(self, body):
        eyes = []
        for heading in (0.0, float(torch.pi)):
            _, face, _ = self._draw(body, heading)
            drawn = face[0][face[0] >= 0]
            eyes.append(int((body.face_kind[drawn] == EYE).sum()))
        assert eyes[0] > 0 and eyes[1] == 0


class TestRotations:
    def test_minimal_rotation(self):
        a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
        r = minimal_rotation(a, b)
        assert torch.allclose((r @ a[..., None])[..., 0] / a.norm(dim=-1, keepdim=True),
                              b / b.norm(dim=-1, keepdim=True), atol=1e-9)
        assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64),
                              atol=1e-9)

    def test_kabsch_recovers_a_rotation(self):
        q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
        q = q * torch.sign(torch.linalg.det(q))
        m = torch.randn(1, 6, 3, dtype=torch.float64)
        assert torch.allclose(kabsch(m, m @ q.T)[0], q, atol=1e-9)


class TestMeshBody:
    def test_mesh(self, body):
        a = body.assets
        assert a.faces.max() < len(a.template) and a.faces.min() >= 0
        assert 3000 < len(a.template) < 13718  # decimated
        assert torch.allclose(a.weights.sum(1), torch.ones(len(a.template)), atol=1e-5)
        assert body.owners.shape == (HUMAN.num_keypoints, len(SEGMENTS))

    def test_keypoints_are_the_skeleton_with_the_bodies_own_lengths(self, posed):
        shapes, poses, _, joints = posed
        fk, _ = forward_kinematics(HUMAN, poses.rotations, shapes.bone_lengths,
                                   poses.joints[:, 0])
        assert torch.allclose(joints, fk, atol=1e-5)
        assert torch.allclose(poses.joints, joints, atol=1e-4)
        assert (CHIRALITY["human"](joints) > 0).all()

    def test_segments_move_rigidly_with_their_joint(self, body, posed):
        """A vertex skinned to one segment only keeps its distance to the segment's joint
        and to the child keypoints: the mesh is where the keypoints are. (anny blends
        the hips and belly with their neighbours everywhere: no vertex is theirs alone.)"""
        shapes, _, verts, joints = posed
        a = body.assets
        for s, (joint, part) in enumerate(SEGMENTS):
            if part in ("hips", "belly"):
                continue
            only = torch.nonzero(a.weights[:, s] > 0.999).flatten()
            assert len(only) > 5, joint
            j = HUMAN.index(joint)
            kids = [c for c, p in enumerate(HUMAN.parents) if p == j]
            for k in (j, *kids):
                d_rest = (shapes.rest[:, only] - shapes.keypoints[:, k:k + 1]).norm(dim=-1)
                d_pose = (verts[:, only] - joints[:, k:k + 1]).norm(dim=-1)
                tol = 1e-4 if k == j or len(kids) == 1 else 0.025  # a fit for several
                assert (d_rest - d_pose).abs().max() < tol, (joint, HUMAN.keypoints[k])

    def test_left_hand_is_at_the_left_wrist(self, body, posed):
        _, _, verts, joints = posed
        names = body.names
        for side, other in (("left", "right"), ("right", "left")):
            hand = verts[:, body.assets.segment == names.index(f"{side}_hand")].mean(1)
            own = (hand - joints[:, HUMAN.index(f"{side}_wrist")]).norm(dim=-1)
            far = (hand - joints[:, HUMAN.index(f"{other}_wrist")]).norm(dim=-1)
            assert (own < 0.15).all() and (own < far).all()

    def test_bodies_vary(self, posed):
        shapes = posed[0]
        height = shapes.rest[..., 1].amax(1) - shapes.rest[..., 1].amin(1)
        assert height.min() > 0.8 and height.max() < 2.3 and height.std() > 0.05
        assert (shapes.bone_lengths.std(0)[1:] > 0).all()

    def test_a_face_has_lips_below_the_eyes_and_brows_above(self, body):
        a = body.assets
        y, z = a.template[:, 1], a.template[:, 2]  # y down, the body faces -z
        eyes = a.faces[a.face_kind == EYE].flatten().unique()
        lips, brows = a.paint[:, 0] > 0.5, a.paint[:, 1] > 0.5
        head = a.segment == body.names.index("head")
        for part in (lips, brows):
            assert 4 <= int(part.sum()) < 60 and bool(head[part].all())
            assert float(z[part].max()) < float(z[head].mean())  # on the front
        assert float(y[lips].min()) > float(y[eyes].max()) + 0.02
        assert float(y[brows].max()) < float(y[eyes].min())
        assert float(y[brows].min()) > float(y[eyes].min()) - 0.025

    def test_hair_leaves_the_eyes_and_brows_bare(self, body):
        from training.synthetic.body import HAIR, TOP

        shapes = body.sample_shapes(200, torch.Generator().manual_seed(1))
        a = body.assets
        eyes = a.faces[a.face_kind == EYE].flatten().unique()
        brows = torch.nonzero(a.paint[:, 1] > 0.5).flatten()
        assert not bool((shapes.region[:, torch.cat([eyes, brows])] == HAIR).any())
        head = a.segment == body.names.index("head")
        assert float((shapes.region[:, head] == HAIR).float().mean()) > 0.3  # still hair
        # tops come lower at the front than at the back
        chest = a.segment == body.names.index("chest")
        ang = a.coords[:, 2] / 0.15
        front, back = chest & (ang.abs() < 0.3), chest & (ang.abs() > 2.8)
        top = shapes.region == TOP
        assert float(top[:, front].float().mean()) < float(top[:, back].float().mean())

    def test_unknown_body_is_an_error(self):
        with pytest.raises(InputError, match="unknown body"):
            SyntheticStream(style_config("randomized", body="statue"), "human")

    def test_quadruped_keeps_capsules(self):
        s = SyntheticStream("randomized", "quadruped", batch_size=1, size=(32, 32))
        assert not isinstance(s.body, MeshBody)


def _scene(body, n: int, size: int, seed: int, bystanders: float = 0.0):
    """n random mesh people of the randomized style, ready for ``render_mesh``: their
    shapes, poses, and the render's other arguments (appearance ... generator)."""
    from training.synthetic.sampling import _randomized

    stream = SyntheticStream(style_config("randomized", occluders=0.0, bystanders=bystanders),
                             HUMAN, batch_size=n, size=(size, size), seed=seed)
    g = stream.generator
    shapes = body.sample_shapes(n, g)
    poses = stream.pose_source.sample(n, g, "cpu", bone_lengths=shapes.bone_lengths)
    app, env, cams, _, _ = _randomized(stream, poses, poses, shapes)
    return stream, shapes, poses, (app, env, cams[0], stream.camera, stream.style, g)


def test_a_bystander_in_front_hides_the_subject(body):
    """A second person between the camera and the subject covers it: the subject's
    keypoints behind it are not visible, and its pixels are nobody's part."""
    from dataclasses import replace

    from training.synthetic.render_mesh import render_mesh
    from training.synthetic.sampling import bystanders

    stream, shapes, poses, rest = _scene(body, 4, 48, 2, bystanders=1.0)
    args = (poses, *rest)
    cam = rest[2]
    alone = render_mesh(HUMAN, body, shapes, *args)
    others = bystanders(stream, poses, cam)
    ahead = cam.rot[:, 2][:, None]  # the camera's viewing direction, world frame
    front = replace(others, shapes=shapes, rotations=poses.rotations,
                    joints=poses.joints - 0.5 * ahead, present=torch.ones(4, dtype=bool))
    hidden = render_mesh(HUMAN, body, shapes, *args, bystanders=front)
    assert torch.equal(alone.keypoints_px, hidden.keypoints_px)
    assert alone.visibility.float().mean() > 0.5
    assert hidden.visibility.float().mean() < 0.2  # it stands nearer: a few at its edges
    assert (hidden.part_mask >= 0).sum() < 0.2 * (alone.part_mask >= 0).sum()
    assert not torch.allclose(alone.image, hidden.image)


class TestGarments:
    def test_skirts_and_long_hair_where_drawn(self, body):
        from training.synthetic.mesh import garment_capsules

        shapes = body.sample_shapes(600, torch.Generator().manual_seed(3))
        skirt, hair = shapes.garments[:, 0] > 0, shapes.garments[:, 2] > 0
        assert 0.1 < float(skirt.float().mean()) < 0.25
        assert 0.25 < float(hair.float().mean()) < 0.42
        shapes = shapes.index(torch.arange(8))
        shapes.garments[:4, 0], shapes.garments[4:, 0] = 0.6 * shapes.scale[:4], 0.0
        shapes.garments[:4, 2], shapes.garments[4:, 2] = 0.3 * shapes.scale[:4], 0.0
        poses = sample_poses(HUMAN, 8, torch.Generator().manual_seed(5),
                             bone_lengths=shapes.bone_lengths)
        joints, glob = forward_kinematics(HUMAN, poses.rotations, poses.bone_lengths,
                                          poses.joints[:, 0])
        a, b, ra, rb = garment_capsules(HUMAN, shapes, joints, glob)
        assert (ra[4:] == 0).all() and (rb[4:] == 0).all()  # none drawn
        hips = (joints[:, HUMAN.index("left_hip")] + joints[:, HUMAN.index("right_hip")]) / 2
        knees = (joints[:, HUMAN.index("left_knee")]
                 + joints[:, HUMAN.index("right_knee")]) / 2
        down = torch.nn.functional.normalize(knees - hips, dim=-1)[:4]
        hem = ((b[:4, 0] - hips[:4]) * down).sum(-1) + rb[:4, 0]
        assert torch.allclose(hem, 0.6 * shapes.scale[:4], atol=1e-5)  # its length
        waist = ((a[:4, 0] - hips[:4]) * down).sum(-1) - ra[:4, 0]
        assert (waist < -0.05).all() and (waist > -0.12).all()  # above the hips
        # the hair hangs behind the neck (+z of the chest's frame is the back)
        back = glob[:4, HUMAN.index("thorax"), :, 2]
        neck = joints[:4, HUMAN.index("neck")]
        assert (((b[:4, 1] - neck) * back).sum(-1) > 0.05).all()
        up = -glob[:4, HUMAN.index("thorax"), :, 1]
        assert (((b[:4, 1] - neck) * up).sum(-1) < -0.1).all()  # below the neck

    def test_a_plain_face_has_no_eyes_or_lips(self, body):
        from dataclasses import replace

        from training.synthetic.render_mesh import render_mesh

        _, shapes, poses, rest = _scene(body, 40, 64, 6)
        assert 0.1 < float(shapes.plain_face.float().mean()) < 0.45
        # no blur, which would carry a head's change a pixel beyond its edge
        args = (poses, *rest[:-2], replace(rest[-2], blur=(0.0, 0.0)))
        off = torch.zeros(40, dtype=torch.bool)
        faces = render_mesh(HUMAN, body, replace(shapes, plain_face=off), *args,
                            torch.Generator().manual_seed(0))
        plain = render_mesh(HUMAN, body, replace(shapes, plain_face=~off), *args,
                            torch.Generator().manual_seed(0))
        changed = (faces.image - plain.image).abs().amax(1) > 0.02  # (B, H, W)
        head = faces.part_mask == body.names.index("head")
        assert changed.any()
        assert bool((changed <= head).all())  # only heads change
        assert torch.equal(faces.visibility, plain.visibility)

    def test_a_long_skirt_hides_the_knees_and_is_the_hips(self, body):
        from training.synthetic.render_mesh import render_mesh

        _, shapes, poses, rest = _scene(body, 6, 96, 4)
        args = (poses, *rest)
        shapes.garments[:] = 0.0
        bare = render_mesh(HUMAN, body, shapes, *args)
        shapes.garments[:, 0], shapes.garments[:, 1] = 0.9 * shapes.scale, 0.1
        dressed = render_mesh(HUMAN, body, shapes, *args)
        knees = [HUMAN.index("left_knee"), HUMAN.index("right_knee")]
        assert dressed.visibility[:, knees].sum() < bare.visibility[:, knees].sum()
        assert torch.equal(bare.keypoints_px, dressed.keypoints_px)
        hips = body.names.index("hips")
        assert (dressed.part_mask == hips).sum() > 1.3 * (bare.part_mask == hips).sum()


def test_a_share_of_batches_with_capsule_people():
    from training.synthetic.body import BodyModel

    style = style_config("randomized", capsule_share=0.5)
    stream = SyntheticStream(style, HUMAN, batch_size=2, size=(32, 32), seed=3)
    assert isinstance(stream.body, MeshBody) and isinstance(stream.capsule_body, BodyModel)
    names = [tuple(stream.next().part_names) for _ in range(8)]
    mesh = tuple(stream.body.names)
    assert 2 <= sum(n == mesh for n in names) <= 6  # both kinds of people
    assert isinstance(stream.body, MeshBody)  # the stream keeps its own body
    again = SyntheticStream(style, HUMAN, batch_size=2, size=(32, 32), seed=3)
    assert [tuple(again.next().part_names) for _ in range(8)] == names  # deterministic
    with pytest.raises(InputError, match="capsule_share"):
        SyntheticStream(style_config("randomized", capsule_share=1.5), HUMAN, batch_size=2,
                        size=(32, 32))
