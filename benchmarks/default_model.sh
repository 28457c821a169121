#!/usr/bin/env bash
# How sample_data/default_human_5ch.pt is made, with the project's own commands, on a CPU
# (sample_data/MODEL_CARD.md gives the times and the errors measured).
#
#   bash benchmarks/default_model.sh WORK_DIR
#
# Part A, the earlier default (UNet encoder, capsule people), whose image renderer the
# shipped model keeps:
# 1. the benchmark footage: the train subjects' clips (only their videos are read, as
#    unlabelled footage) and the held-out test subjects' labelled clips;
# 2. pretraining on randomized synthetic people, in four runs of `abspose pretrain`
#    (each switches off the losses of the components it does not train):
#    a. the pose components (encoder, keypoint head, uplift), independently;
#    b. the uplift alone on large batches of poses (no pictures are drawn: fast);
#    c. the image-to-keypoints path end to end (the keypoint head reads the encoder's
#       skeleton image), the uplift kept as it is;
#    d. the image renderer alone (four times the cost of the rest on a CPU: few steps),
#       then further from the float16 export (step 3);
# 3. the model alone, in float16, its renderer trained further, and its errors on the
#    benchmark;
# 4. unsupervised training from it on the train subjects' videos (with synthetic
#    supervision), checked on validation clips of the train subjects (not shipped).
# Part B, the shipped pose path: the model preset `imagenet` (encoder on EfficientNet-
# Lite0's ImageNet features) pretrained on mesh people, end to end from the image to the
# keypoints, in three runs; then the model alone with part A's renderer.
# Steps are what fitted a 2-core CPU; runs stopped early were stopped with Ctrl-C
# (a checkpoint is saved; --steps N with a constant learning rate is the same run).
# Part A ran when the `randomized` style drew capsule people; run today, it draws mesh
# people (`--set synthetic.capsule_share=1` draws capsule people again, not the same
# batches: the stream draws one more random number per batch). Part B ran before the
# style framed people by their box in the image; run today, its people are about a
# quarter larger in the picture (docs/RESULTS.md, "People framed by their box").
set -euo pipefail
WORK=${1:?give a work folder}
mkdir -p "$WORK"
OFF_RENDERER=(--set pretrain.weights.perceptual=0 --set pretrain.weights.image_gan=0
              --set pretrain.weights.image_feature_matching=0)
OFF_POSE=(--set pretrain.weights.synthetic_skeleton_image=0
          --set pretrain.weights.synthetic_keypoints_2d=0
          --set pretrain.weights.synthetic_keypoints_3d=0
          --set pretrain.weights.synthetic_rotations=0)

abspose synth --style target --out "$WORK/bench/train" --subjects S1 S5 S6 S7 S8 \
    --activities all --frames 100 --size 128 --seed 0
abspose synth --style target --out "$WORK/bench/test" --subjects S9 S11 \
    --activities walk sitting phone pick_up eat greet discuss photo --frames 100 --size 128 --seed 1

abspose pretrain --config cpu --out "$WORK/pose" --steps 1132 --set pretrain.batch_size=32 \
    --set pretrain.checkpoint_every=250 --set pretrain.snapshot_every=250 "${OFF_RENDERER[@]}"
abspose pretrain --config cpu --out "$WORK/uplift" --from "$WORK/pose/last.pt" --steps 1000 \
    --set pretrain.batch_size=512 --set pretrain.uplift_noise=0.03 \
    --set pretrain.checkpoint_every=250 "${OFF_RENDERER[@]}" \
    --set pretrain.weights.synthetic_skeleton_image=0 --set pretrain.weights.synthetic_keypoints_2d=0
abspose pretrain --config cpu --out "$WORK/e2e" --from "$WORK/uplift/last.pt" --steps 410 \
    --set pretrain.batch_size=32 --set pretrain.keypoints_input=encoder \
    --set pretrain.checkpoint_every=100 --set pretrain.snapshot_every=100 "${OFF_RENDERER[@]}" \
    --set pretrain.weights.synthetic_keypoints_3d=0 --set pretrain.weights.synthetic_rotations=0
abspose pretrain --config cpu --out "$WORK/renderer" --from "$WORK/e2e/last.pt" --steps 120 \
    --set pretrain.batch_size=8 \
    --set pretrain.checkpoint_every=40 --set pretrain.snapshot_every=40 "${OFF_POSE[@]}"

# the shipped model is the end of pretraining, its renderer trained further from the
# float16 export (the renderer after 120 steps barely read the pose; the pose path is
# not run here, so predictions stay the same)
abspose export-model "$WORK/renderer/last.pt" "$WORK/pretrained.pt" --half --overwrite
abspose pretrain --config cpu --from "$WORK/pretrained.pt" --out "$WORK/renderer2" --steps 400 \
    --set pretrain.batch_size=8 \
    --set pretrain.checkpoint_every=100 --set pretrain.snapshot_every=100 "${OFF_POSE[@]}"
abspose export-model "$WORK/renderer2/last.pt" "$WORK/capsule_default.pt" --half --overwrite
abspose evaluate "$WORK/bench/test" --checkpoint "$WORK/capsule_default.pt" \
    --json "$WORK/default_eval.json"

# 4. unsupervised training from it, with this version's defaults; the validation clips
#    (train subjects S1 and S7) decide: its step 600 ships only if not worse than the
#    model above. It was not (5.80 px against 5.71; MODEL_CARD.md), so it is not shipped.
mkdir -p "$WORK/val"
for s in S1 S7; do
    for a in walk sitting phone pick_up eat greet discuss photo; do
        ln -sf "$(realpath "$WORK/bench/train/${s}_$a.mp4")" "$WORK/val/${s}_$a.mp4"
        ln -sf "$(realpath "$WORK/bench/train/${s}_$a.npz")" "$WORK/val/${s}_$a.npz"
    done
done
abspose train --config cpu --videos "$WORK/bench/train" --from "$WORK/capsule_default.pt" \
    --out "$WORK/train" --steps 600 --set train.checkpoint_every=100 --set train.snapshot_every=100
abspose evaluate "$WORK/val" --checkpoint "$WORK/capsule_default.pt" --json "$WORK/shipped_val.json"
abspose evaluate "$WORK/val" --checkpoint "$WORK/train/last.pt" --json "$WORK/train_val.json"

# Part B. a: L2 on the skeleton image, the preset's learning rate (2e-4, betas 0.5),
# stopped at step 1353; b: lr 6e-4, betas 0.9, stopped at step 376 (of a planned 3000:
# the rate was constant until then); c: cross-entropy on the skeleton image
# (skeleton_image_loss: bce), 2000 steps, the last 15 % at a quarter of the rate.
abspose pretrain --config imagenet_pose --out "$WORK/pose_a" --steps 1353 \
    --set pretrain.skeleton_image_loss=l2
abspose pretrain --config imagenet_pose --from "$WORK/pose_a/last.pt" --out "$WORK/pose_b" \
    --steps 376 --set pretrain.lr_g=6e-4 --set "pretrain.betas=[0.9,0.999]" \
    --set pretrain.skeleton_image_loss=l2
abspose pretrain --config imagenet_pose --from "$WORK/pose_b/last.pt" --out "$WORK/pose_c" \
    --steps 2000 --set pretrain.lr_g=6e-4 --set "pretrain.betas=[0.9,0.999]" \
    --set pretrain.lr_final_fraction=0.15 --set pretrain.skeleton_image_loss=bce \
    --set pretrain.checkpoint_every=100 --set pretrain.snapshot_every=100
abspose export-model "$WORK/pose_c/last.pt" sample_data/default_human_5ch.pt --half \
    --renderer-from "$WORK/capsule_default.pt" --overwrite
abspose evaluate ../shared/data/real_labelled/person_keypoints.json --json "$WORK/photos.json"
