"""Pose sources: plausible 3D poses and continuous motion of a skeleton, with random
limb lengths, for synthetic images and for the pose prior.

A pose source gives a :class:`PoseBatch` (B independent poses) or a
:class:`PoseSequence` (T frames of one continuous motion). Both carry the local joint
rotations, the Euler angles that made them (within the skeleton's joint limits), the
bone lengths, the 3D joints and the activity name per pose::

    from training.poses import sample_poses, generate_sequence
    poses = sample_poses(HUMAN, 64, seed=0)            # the pose prior's "64 random poses"
    clip = generate_sequence(HUMAN, "walk_turn", frames=100, fps=25, seed=3)

World frame of the joints (metres): the skeleton's body-frame axes (x towards the
subject's left at rest, y down, z backwards), with the floor at y = 0, so every joint
has y <= 0. The root's rotation (``rotations[:, root]``) is the global orientation.
:func:`core.camera.forward_kinematics` of ``rotations`` and ``bone_lengths`` with
``root_position = joints[:, root]`` gives ``joints`` back exactly.

The built-in :data:`~core.skeleton.HUMAN` and :data:`~core.skeleton.QUADRUPED` get
procedural activities (``training/poses/human.py``, ``training/poses/quadruped.py``);
any other skeleton gets smooth random motion within a shrunk range of its joint limits.
BVH motion capture is a pose source with the same interface (``training/poses/bvh.py``).
"""

from training.poses.activities import activity_names
from training.poses.motion import matrix_to_euler
from training.poses.sources import (
    LimbLengths,
    PoseBank,
    PoseBatch,
    PoseSequence,
    ProceduralPoseSource,
    generate_sequence,
    place_poses,
    random_bone_lengths,
    sample_poses,
)

__all__ = ["LimbLengths", "PoseBank", "PoseBatch", "PoseSequence", "ProceduralPoseSource",
           "activity_names", "generate_sequence", "matrix_to_euler", "place_poses",
           "random_bone_lengths", "sample_poses"]
