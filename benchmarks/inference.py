"""Inference speed (encoder + keypoint head + uplift, ``AbsPoseModel.predict``), parameter
counts and checkpoint sizes of the model, and the width / depth trade-off of speed.

    python benchmarks/inference.py                     # default preset, B=32, 128 x 128
    python benchmarks/inference.py --sweep             # width / depth variants
    python benchmarks/inference.py --device cuda       # adds bf16 autocast rows
    python benchmarks/inference.py --compare default imagenet   # presets side by side

Frames/s are batch / median time of ``predict`` over interleaved repeats (the memory
formats alternate so machine noise hits them alike), after two warm-up calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import platform
import statistics
import time

import torch

from core.checkpoint import checkpoint_dict
from core.models import AbsPoseModel, ModelConfig

COMPONENTS = ("encoder", "keypoint_head", "uplift", "renderer")


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def checkpoint_mb(model: AbsPoseModel, half: bool) -> float:
    buffer = io.BytesIO()
    torch.save(checkpoint_dict(model, half=half), buffer)
    return len(buffer.getvalue()) / 1e6


def make(config: ModelConfig, device: str, channels_last: bool) -> AbsPoseModel:
    model = AbsPoseModel(config).to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def timed_predict(model: AbsPoseModel, x: torch.Tensor, bf16: bool) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        sync()
        t0 = time.perf_counter()
        model.predict(x)
        sync()
    return time.perf_counter() - t0


def measure(configs: dict[str, tuple[ModelConfig, bool, bool]], args) -> dict[str, float]:
    """Median seconds per batch for each (config, channels_last, bf16), interleaved."""
    models, inputs = {}, {}
    for name, (cfg, cl, _) in configs.items():
        models[name] = make(cfg, args.device, cl)
        x = torch.rand(args.batch, 3, *cfg.input_size, device=args.device)
        inputs[name] = x.contiguous(memory_format=torch.channels_last) if cl else x
    times: dict[str, list[float]] = {name: [] for name in configs}
    for name in configs:  # warm-up
        for _ in range(2):
            timed_predict(models[name], inputs[name], configs[name][2])
    for _ in range(args.repeats):
        for name in configs:
            times[name].append(timed_predict(models[name], inputs[name], configs[name][2]))
    return {name: statistics.median(t) for name, t in times.items()}


def sized(cfg: ModelConfig, size: int) -> ModelConfig:
    return dataclasses.replace(cfg, input_size=(size, size))


def report_default(args) -> None:
    cfg = sized(ModelConfig.preset(args.preset), args.size)
    model = AbsPoseModel(cfg)
    print(f"preset {args.preset!r}: {cfg.skeleton} {cfg.layout}, input {cfg.input_size}")
    for name in COMPONENTS:
        print(f"  {name:14s} {params(getattr(model, name)) / 1e6:7.3f} M parameters")
    inference = sum(params(getattr(model, n)) for n in COMPONENTS[:3])
    print(f"  {'inference path':14s} {inference / 1e6:7.3f} M, whole model "
          f"{params(model) / 1e6:.3f} M")
    print(f"  checkpoint file: {checkpoint_mb(model, False):.1f} MB float32, "
          f"{checkpoint_mb(model, True):.1f} MB float16 weights")
    variants = {"float32 contiguous": (cfg, False, False),
                "float32 channels_last": (cfg, True, False)}
    if args.device == "cuda":
        variants["bf16 autocast contiguous"] = (cfg, False, True)
        variants["bf16 autocast channels_last"] = (cfg, True, True)
    result = measure(variants, args)
    print(f"predict, batch {args.batch}, {args.size}x{args.size}, median of {args.repeats}:")
    for name, sec in result.items():
        print(f"  {name:28s} {sec * 1000:8.1f} ms/batch {args.batch / sec:9.1f} frames/s")


def sweep_configs(base: ModelConfig) -> dict[str, ModelConfig]:
    """Width multipliers and depths of the encoder and keypoint head, and uplift widths."""
    def scaled(m: float, blocks: int = 1, hidden: int = 1024) -> ModelConfig:
        enc = tuple(max(4, round(c * m)) for c in base.encoder.widths)
        head = tuple(max(4, round(c * m)) for c in base.keypoints.widths)
        return dataclasses.replace(
            base,
            encoder=dataclasses.replace(base.encoder, widths=enc, blocks=blocks),
            keypoints=dataclasses.replace(base.keypoints, widths=head, blocks=blocks),
            uplift=dataclasses.replace(base.uplift, hidden=hidden),
        )

    return {
        "width x0.5": scaled(0.5),
        "width x0.75": scaled(0.75),
        "width x1 (default)": scaled(1.0),
        "width x1.5": scaled(1.5),
        "width x2": scaled(2.0),
        "width x1, 2 blocks/level": scaled(1.0, blocks=2),
        "width x1, uplift 512": scaled(1.0, hidden=512),
        "width x1, 3 levels": dataclasses.replace(
            base, encoder=dataclasses.replace(base.encoder, widths=base.encoder.widths[:3]),
            keypoints=dataclasses.replace(base.keypoints, widths=base.keypoints.widths[:3])),
    }


def report_sweep(args) -> None:
    base = sized(ModelConfig.preset(args.preset), args.size)
    configs = sweep_configs(base)
    result = measure({k: (c, True, args.device == "cuda") for k, c in configs.items()}, args)
    print(f"width / depth sweep, predict, batch {args.batch}, {args.size}x{args.size}, "
          f"channels_last{', bf16 autocast' if args.device == 'cuda' else ', float32'}:")
    print(f"  {'variant':28s} {'encoder':>9s} {'head':>9s} {'uplift':>9s} {'frames/s':>9s}")
    for name, cfg in configs.items():
        model = AbsPoseModel(cfg)
        counts = [params(getattr(model, n)) / 1e6 for n in COMPONENTS[:3]]
        print(f"  {name:28s} " + " ".join(f"{c:8.3f}M" for c in counts)
              + f" {args.batch / result[name]:9.1f}")


def report_compare(args) -> None:
    cfgs = {name: sized(ModelConfig.preset(name), args.size) for name in args.compare}
    for layout in (False, True):
        result = measure({k: (c, layout, False) for k, c in cfgs.items()}, args)
        print(f"predict, batch {args.batch}, {args.size}x{args.size}, float32 "
              f"{'channels_last' if layout else 'contiguous'}, median of {args.repeats}, "
              "interleaved:")
        for name, sec in result.items():
            enc = params(AbsPoseModel(cfgs[name]).encoder) / 1e6
            print(f"  {name:12s} encoder {enc:6.3f} M {sec * 1000:8.1f} ms/batch "
                  f"{args.batch / sec:9.1f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sweep", action="store_true", help="width / depth variants")
    parser.add_argument("--compare", nargs="+", default=None, metavar="PRESET",
                        help="these model presets side by side")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = (torch.cuda.get_device_name() if args.device == "cuda"
              else f"{platform.processor() or platform.machine()} CPU")
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads")
    if args.compare:
        report_compare(args)
    elif args.sweep:
        report_sweep(args)
    else:
        report_default(args)


if __name__ == "__main__":
    main()
