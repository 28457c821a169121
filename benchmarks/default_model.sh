#!/usr/bin/env bash
# How sample_data/default_human_5ch.pt is made, with the project's own commands, on a CPU
# (sample_data/MODEL_CARD.md gives the times and the errors measured on the benchmark).
#
#   bash benchmarks/default_model.sh WORK_DIR
#
# 1. the benchmark footage: the train subjects' clips (only their videos are read, as
#    unlabelled footage) and the held-out test subjects' labelled clips;
# 2. pretraining on randomized synthetic people: first the pose components (encoder,
#    keypoint head, uplift), then the image renderer on its own (it costs four times the
#    rest of a step on a CPU, so it gets fewer steps);
# 3. unsupervised training on the train subjects' videos (with synthetic supervision);
# 4. the model alone, in float16, into sample_data/.
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

abspose pretrain --config cpu --out "$WORK/pose" --steps 1500 --set pretrain.batch_size=32 \
    --set pretrain.checkpoint_every=250 --set pretrain.snapshot_every=250 "${OFF_RENDERER[@]}"
abspose pretrain --config cpu --out "$WORK/renderer" --from "$WORK/pose/last.pt" --steps 250 \
    --set pretrain.batch_size=8 \
    --set pretrain.checkpoint_every=50 --set pretrain.snapshot_every=50 "${OFF_POSE[@]}"
abspose train --config cpu --videos "$WORK/bench/train" --from "$WORK/renderer/last.pt" \
    --out "$WORK/train" --steps 300 --set train.checkpoint_every=50 --set train.snapshot_every=50

abspose export-model "$WORK/train/last.pt" sample_data/default_human_5ch.pt --half --overwrite
abspose evaluate "$WORK/bench/test" --json "$WORK/default_eval.json"
