#!/usr/bin/env python3
"""Regenerates atelier-vton's equality fixtures from the FASHN VTON v1.5 reference (PyTorch, CPU).

The reference is NOT part of this repository: point the script at a checkout of the public
repository fashn-AI/fashn-vton-1.5 (a work tree, its `src/` folder, or a bare git directory, which
is then exported to a temporary folder with `git archive`):

    FASHN_VTON_SRC=/path/to/fashn-vton-1.5 python vton/tests/reference/make_fixtures.py

Needs: torch (CPU is enough), safetensors, einops, numpy, and for the preprocessing fixture
Pillow and opencv-python-headless. torchvision is not needed: the names the reference's utility
modules import from it are stubbed, because only the model (`tryon_mmdit.py`), the schedule
(`utils/sampling.py`) and the resizing (`preprocessing/transforms.py`) are exercised here.

Writes into vton/tests/fixtures/:
  small_config.json       the small configuration the fixtures are built with
  model.safetensors       its random weights (fixed seed), under the checkpoint's own names
  embed.safetensors       timestep/category embedding, patch embeddings, RoPE table
  double.safetensors      one double-stream block: inputs and outputs
  single.safetensors      one single-stream block: inputs and outputs
  forward.safetensors     the full forward pass (with a conditional-dropout mask) at 24x16
  step.safetensors        one Euler sampler step with classifier-free guidance, and the schedule
  preprocess.safetensors  the resizing of ../shared/fixtures' photos (summarised; see below)
  published_tensors.json  names, shapes of the model built with the PUBLISHED configuration (meta)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"

SMALL = dict(
    input_shape=(24, 16),
    hidden_size=32,
    n_heads=2,
    double_blocks_depth=2,
    single_blocks_depth=2,
    mlp_ratio=4,
    channels_in=3,
    patch_size=4,
    theta=10000,
    axes_dim=(4, 6, 6),
    qkv_bias=True,
    guidance_embed=False,
    n_classes=3,
    use_patch_mixer=True,
    patch_mixer_depth=1,
)


def locate_reference(arg: str) -> Path:
    """Returns the folder that holds the `fashn_vton` package."""
    p = Path(arg).resolve()
    for cand in (p, p / "src"):
        if (cand / "fashn_vton" / "tryon_mmdit.py").is_file():
            return cand
    # A bare git directory (e.g. a mirror): export src/ at HEAD.
    if (p / "HEAD").is_file() and (p / "objects").is_dir():
        out = Path(tempfile.mkdtemp(prefix="fashn-vton-src-"))
        tar = subprocess.run(
            ["git", "--git-dir", str(p), "archive", "HEAD", "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=tar, check=True)
        return out / "src"
    sys.exit(f"no fashn_vton package under {p}")


def import_reference(src: Path):
    """Imports fashn_vton.tryon_mmdit and utils.sampling without the package's pipeline
    (which needs OpenCV, the human parser and ONNX Runtime)."""
    for name in ("PIL", "torchvision"):
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            sys.modules[name] = stub
            if name == "PIL":
                for sub in ("Image", "ImageOps"):
                    m = types.ModuleType(f"PIL.{sub}")
                    m.Image = object
                    setattr(stub, sub, m)
                    sys.modules[f"PIL.{sub}"] = m
            else:
                tr = types.ModuleType("torchvision.transforms")
                fn = types.ModuleType("torchvision.transforms.functional")
                fn.to_pil_image = None
                tr.functional = fn
                sys.modules["torchvision.transforms"] = tr
                sys.modules["torchvision.transforms.functional"] = fn
    pkg = types.ModuleType("fashn_vton")
    pkg.__path__ = [str(src / "fashn_vton")]
    sys.modules["fashn_vton"] = pkg
    import fashn_vton.tryon_mmdit as mmdit  # noqa: E402
    import fashn_vton.utils.sampling as sampling  # noqa: E402

    return mmdit, sampling


def import_transforms(src: Path):
    """fashn_vton.preprocessing.transforms without the package's __init__ (which needs the
    human parser). Needs Pillow and OpenCV (opencv-python-headless)."""
    pre = types.ModuleType("fashn_vton.preprocessing")
    pre.__path__ = [str(src / "fashn_vton" / "preprocessing")]
    sys.modules["fashn_vton.preprocessing"] = pre
    import fashn_vton.preprocessing.transforms as transforms  # noqa: E402

    return transforms


def preprocessing_fixtures(src: Path, shared: Path, out: Path):
    """The pipeline's resizing of the shared fixture photos (pre-resize with PIL LANCZOS into
    an 864 square without upsampling, then fit + pad to 576x864 with OpenCV), summarised:
    row and column sums of the decoded photo and of both stages, and every 4th pixel of the
    model input (the full images would not be small)."""
    import numpy as np
    from PIL import Image

    transforms = import_transforms(src)
    pre_resize = transforms.AspectPreserveResize(target_size=(864, 864), mode="fit", backend="pil")
    tensors = {}
    for name in ("model-photo", "garment-on-model"):
        path = shared / f"{name}.webp"
        if not path.is_file():
            print(f"skipping preprocessing fixture: {path} missing")
            return
        img = Image.open(path).convert("RGB")
        resize_pad = transforms.ResizePad((576, 864), backend="opencv")
        decoded = np.array(img)
        pre = np.array(pre_resize(img, allow_upsampling=False))
        final = resize_pad(pre, mem_padding=True)
        key = name.replace("-", "_")

        def sums(a):
            a = a.astype(np.int64)
            return torch.from_numpy(a.sum(axis=(1, 2))), torch.from_numpy(a.sum(axis=(0, 2)))

        for stage, arr in (("decoded", decoded), ("pre", pre), ("final", final)):
            rows, cols = sums(arr)
            tensors[f"{key}.{stage}.rows"] = rows
            tensors[f"{key}.{stage}.cols"] = cols
        tensors[f"{key}.final.sub4"] = torch.from_numpy(np.ascontiguousarray(final[::4, ::4]))
        tensors[f"{key}.padding"] = torch.tensor(resize_pad.pad_fn.padding_mem, dtype=torch.int64)
    save_file(tensors, str(out / "preprocess.safetensors"))


def randomize(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Default init leaves norms at 1 and patch-embedding biases at 0: perturb every tensor so
    that a wrongly wired scale or bias cannot hide."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".scale"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias") or "y_embedder" in name:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))


def contiguous(d):
    return {k: v.detach().contiguous().clone() for k, v in d.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default=os.environ.get("FASHN_VTON_SRC"))
    ap.add_argument("--out", default=str(FIXTURES))
    ap.add_argument(
        "--shared-fixtures",
        default=str(HERE.parents[3] / "shared" / "fixtures"),
        help="the steering repository's shared/fixtures (photos for the preprocessing fixture)",
    )
    args = ap.parse_args()
    if not args.reference:
        sys.exit("give --reference or FASHN_VTON_SRC")
    src = locate_reference(args.reference)
    mmdit, sampling = import_reference(src)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # ---- the published configuration: names and shapes only (meta device, no memory) ----
    with torch.device("meta"):
        published = mmdit.TryOnModel()
    table = [
        {"name": k, "shape": list(v.shape)} for k, v in sorted(published.state_dict().items())
    ]
    n_params = sum(p.numel() for p in published.parameters())
    rows = ",\n".join("  " + json.dumps(t) for t in table)
    (out / "published_tensors.json").write_text(
        f'{{"parameters": {n_params},\n "tensors": [\n{rows}\n]}}\n'
    )

    # ---- the small configuration with random weights ----
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(1234)
    model = mmdit.TryOnModel(**SMALL).eval()
    randomize(model, gen)
    cfg = dict(SMALL)
    cfg["input_shape"] = list(cfg["input_shape"])
    cfg["axes_dim"] = list(cfg["axes_dim"])
    (out / "small_config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    save_file(contiguous(model.state_dict()), str(out / "model.safetensors"))

    h, w = SMALL["input_shape"]
    c = SMALL["channels_in"]
    b = 2

    def rn(*shape):
        return torch.randn(shape, generator=gen)

    def ru(*shape):
        return torch.rand(shape, generator=gen) * 2 - 1

    x = rn(b, c, h, w)
    ca = ru(b, c, h, w)
    garment = ru(b, c, h, w)
    ppose = ru(b, 1, h, w)
    gpose = ru(b, 1, h, w)
    times = torch.tensor([0.2, 0.85])
    cats = torch.tensor([1, 3], dtype=torch.int64)
    mask = torch.tensor([True, False])

    with torch.no_grad():
        # ---- embeddings ----
        t_emb = model.t_embedder(times)
        y_emb = model.y_embedder(cats)
        vec = t_emb + y_emb
        x_in = torch.cat([x, ca, ppose], dim=1)
        x_tok, x_ids = mmdit.prepare(model.x_embedder(x_in))
        g_in = torch.cat([garment, gpose], dim=1)
        g_tok, g_ids = mmdit.prepare(model.garment_embedder(g_in))
        x_pe = model.pe_embedder(x_ids)
        g_pe = model.pe_embedder(g_ids)
        save_file(
            contiguous(
                dict(
                    times=times, categories=cats, t_emb=t_emb, vec=vec, x=x, ca=ca,
                    person_pose=ppose, garment=garment, garment_pose=gpose,
                    x_tokens=x_tok, garment_tokens=g_tok, x_pe=x_pe, garment_pe=g_pe,
                )
            ),
            str(out / "embed.safetensors"),
        )

        # ---- one double-stream block (the second, so that indices are exercised) ----
        pe = torch.cat([x_pe, g_pe], dim=2)
        img_in = rn(b, x_tok.shape[1], SMALL["hidden_size"])
        txt_in = rn(b, g_tok.shape[1], SMALL["hidden_size"])
        img_out, txt_out = model.double_blocks[1](img=img_in, txt=txt_in, vec=vec, pe=pe)
        save_file(
            contiguous(dict(img=img_in, txt=txt_in, vec=vec, pe=pe, img_out=img_out, txt_out=txt_out)),
            str(out / "double.safetensors"),
        )

        # ---- one single-stream block (joint sequence) and one patch-mixer block ----
        joint = rn(b, x_tok.shape[1] + g_tok.shape[1], SMALL["hidden_size"])
        joint_out = model.single_blocks[1](joint, vec=vec, pe=pe)
        mix_out = model.x_patch_mixer[0](img_in, vec=vec, pe=x_pe)
        fin_out = model.final_layer(img_in, vec)
        save_file(
            contiguous(
                dict(x=joint, vec=vec, pe=pe, out=joint_out, mixer_in=img_in, mixer_pe=x_pe,
                     mixer_out=mix_out, final_out=fin_out)
            ),
            str(out / "single.safetensors"),
        )

        # ---- the full forward pass, conditional dropout on the second sample ----
        fwd = model(x, times, ca, garment, ppose, gpose, mask=mask, garment_categories=cats)["x"]
        # The same pass in bf16 (as GPU nodes run it: weights, inputs and times in bf16).
        import copy

        m16 = copy.deepcopy(model).to(torch.bfloat16)
        b16 = lambda t: t.to(torch.bfloat16)  # noqa: E731
        fwd16 = m16(b16(x), b16(times), b16(ca), b16(garment), b16(ppose), b16(gpose),
                    mask=mask, garment_categories=cats)["x"].float()
        print(f"reference bf16 vs f32 forward: {(fwd16 - fwd).abs().max().item():.3e}")
        save_file(
            contiguous(
                dict(x=x, times=times, ca=ca, garment=garment, person_pose=ppose,
                     garment_pose=gpose, categories=cats, mask=mask.to(torch.uint8), out=fwd,
                     out_bf16=fwd16)
            ),
            str(out / "forward.safetensors"),
        )

        # ---- one sampler step (the pipeline's Euler step with CFG), batch 1 ----
        steps, mu, guidance = 30, 1.5, 1.5
        schedule = sampling.get_rf_schedule(num_steps=steps, mu=mu)
        k = 7
        t_curr, t_prev = schedule[k], schedule[k + 1]
        imgs = rn(1, c, h, w)
        kw = dict(
            person_poses=ppose[:1], garment_poses=gpose[:1], ca_images=ca[:1],
            garment_images=garment[:1], garment_categories=cats[:1],
        )
        t_vec = torch.full((1,), t_curr, dtype=torch.float32)
        pred = model.forward_for_cfg(imgs, t_vec, **kw)
        v_guided = pred["v_u"] + guidance * (pred["v_c"] - pred["v_u"])
        stepped = imgs + (t_prev - t_curr) * v_guided
        save_file(
            contiguous(
                dict(images=imgs, ca=ca[:1], garment=garment[:1], person_pose=ppose[:1],
                     garment_pose=gpose[:1], categories=cats[:1],
                     t=torch.tensor([t_curr, t_prev], dtype=torch.float64),
                     schedule=torch.tensor(schedule, dtype=torch.float64),
                     v_c=pred["v_c"], v_u=pred["v_u"], out=stepped)
            ),
            str(out / "step.safetensors"),
            metadata={"step": str(k), "steps": str(steps), "mu": str(mu), "guidance": str(guidance)},
        )

    preprocessing_fixtures(src, Path(args.shared_fixtures), out)

    total = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"fixtures in {out}: {total} bytes; published parameters: {n_params}")


if __name__ == "__main__":
    main()
