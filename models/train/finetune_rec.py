"""Fine-tune PP-OCRv6 small text recognizer on rendered plate rows; write a drop-in ONNX.

The ONNX model is converted to torch with onnx2torch, its weights (conv
weights and biases, and the float initializers used by exactly one node: the
mixer and head matrices, layer-norm scales...) are trained with CTC on samples
from render_plates.py, and the trained tensors are written back into a copy of
the ORIGINAL ONNX graph. The result has exactly the base model's graph, input
('x', Nx3x48xW in [-1, 1]), output (per-step softmax over the same
vocabulary) and metadata ('character'); only initializer values differ.

With --distill LAMBDA (v3) the loss is CTC + LAMBDA * KL(teacher || student) per
time step, the teacher being a frozen copy of the base model on the same batch.

Runs in a throw-away venv (see models/TRAINING.md), on one thread:

    taskset -c 1 python models/train/finetune_rec.py --out models/plate_rec.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_plates import render  # noqa: E402

BASE = "/work/main/.venv/lib/python3.11/site-packages/rapidocr/models/PP-OCRv6_rec_small.onnx"
BASE_SHA256 = "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
HEIGHT, MAX_WIDTH = 48, 480
PLATE_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
VAL_SEED = 50_000_000  # validation seeds: VAL_SEED .. VAL_SEED + n; training seeds start at 0


def _stub_torchvision() -> None:
    # onnx2torch imports torchvision only for its NMS/RoIAlign converters, unused here.
    tv = types.ModuleType("torchvision")
    tv.ops = types.ModuleType("torchvision.ops")
    tv.ops.roi_align = None
    sys.modules.setdefault("torchvision", tv)
    sys.modules.setdefault("torchvision.ops", tv.ops)


def load(base: str):
    """(onnx model, torch GraphModule, {torch tensor name: onnx initializer name}, vocabulary)."""
    import onnx
    _stub_torchvision()
    from onnx2torch import convert
    from onnx2torch.onnx_graph import OnnxGraph, ValueType

    digest = hashlib.sha256(Path(base).read_bytes()).hexdigest()
    if digest != BASE_SHA256:
        raise SystemExit(f"base model checksum {digest} != {BASE_SHA256}")
    om = onnx.load(base)
    patched = onnx.load(base)
    # onnx2torch lacks auto_pad=SAME_UPPER; here it is only on 2x2 stride-1 kernels,
    # which pad one pixel at the end of each axis.
    for n in patched.graph.node:
        for a in list(n.attribute):
            if a.name == "auto_pad" and a.s == b"SAME_UPPER":
                k = [x for x in n.attribute if x.name == "kernel_shape"][0].ints
                st = [x for x in n.attribute if x.name == "strides"][0].ints
                assert list(k) == [2, 2] and list(st) == [1, 1], (n.name, k, st)
                n.attribute.remove(a)
                n.attribute.append(onnx.helper.make_attribute("pads", [0, 0, 1, 1]))
    model = convert(patched, attach_onnx_mapping=True)
    model.eval()
    # onnx2torch stores every use of an initializer as its own buffer,
    # numbered in node order: rebuild that numbering to map back.
    graph = OnnxGraph(patched.graph)
    names: dict[str, str] = {}
    k = 0
    for node_name, node in graph.nodes.items():
        module = model.get_submodule(node_name)
        for value_name in module.onnx_mapping.inputs:
            if graph.value_type(value_name) == ValueType.GRAPH_INITIALIZER:
                names[f"initializers.onnx_initializer_{k}"] = value_name
                k += 1
        for pname, _ in module.named_parameters():
            leaf = pname.split(".")[-1]
            idx = {"weight": 1, "bias": 2}[leaf]
            names[f"{node_name}.{pname}"] = node.input_values[idx]
    meta = {p.key: p.value for p in om.metadata_props}
    vocab = ["<blank>"] + meta["character"].splitlines() + [" "]
    return om, model, names, vocab


def make_trainable(model, names: dict[str, str], freeze_frac: float):
    """Turn single-use float initializers into parameters; freeze the first freeze_frac of them."""
    import torch
    uses: dict[str, int] = {}
    for t, o in names.items():
        uses[o] = uses.get(o, 0) + 1
    init = model.get_submodule("initializers")
    for bname, buf in list(init.named_buffers(recurse=False)):
        full = f"initializers.{bname}"
        if buf.is_floating_point() and buf.numel() > 1 and uses[names[full]] == 1:
            del init._buffers[bname]
            init.register_parameter(bname, torch.nn.Parameter(buf.clone()))
    # Order parameters by first use in the graph (the network's depth).
    order = []
    seen = set()
    for node in model.graph.nodes:
        if node.op == "get_attr" and node.target not in seen:
            seen.add(node.target)
            order.append(node.target)
        elif node.op == "call_module":
            for pname, _ in model.get_submodule(node.target).named_parameters():
                full = f"{node.target}.{pname}"
                if full not in seen:
                    seen.add(full)
                    order.append(full)
    params = dict(model.named_parameters())
    order = [n for n in order if n in params]
    assert len(order) == len(params), (len(order), len(params))
    total = sum(params[n].numel() for n in order)
    n_freeze = int(freeze_frac * len(order))
    for n in order[:n_freeze]:
        params[n].requires_grad_(False)
    return order, order[n_freeze:], total


def preprocess(crops: list[np.ndarray]) -> np.ndarray:
    """Exactly edge_agent.vision.ocr.TextRecognizer's batching."""
    widths = [min(MAX_WIDTH, max(8, math.ceil(HEIGHT * c.shape[1] / max(1, c.shape[0])))) for c in crops]
    batch = np.zeros((len(crops), 3, HEIGHT, max(widths)), np.float32)
    for i, (crop, width) in enumerate(zip(crops, widths)):
        resized = cv2.resize(crop, (width, HEIGHT), interpolation=cv2.INTER_CUBIC)
        batch[i, :, :, :width] = (resized.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
    return batch


def decode_plate(probs: np.ndarray, keep: np.ndarray, labels: list[str]) -> str:
    """Greedy CTC over blank, space and A-Z0-9 (no probability thresholds)."""
    best = probs[:, keep].argmax(1)
    out, prev = [], -1
    for k in best:
        if k != prev and k > 1:
            out.append(labels[k])
        prev = k
    return "".join(out)


def batch_of(seeds, index) -> tuple[np.ndarray, list[list[int]], list[str]]:
    crops, targets, texts = [], [], []
    for s in seeds:
        img, label = render(int(s))
        ids = [index.get(c) for c in label]
        if not ids or None in ids:
            continue
        crops.append(img)
        targets.append(ids)
        texts.append(label)
    return preprocess(crops), targets, texts


def evaluate(model, softmax_mod, val, keep, labels, final_softmax) -> dict:
    import torch
    exact = plate_n = plate_exact = 0
    with torch.no_grad():
        for x, _, texts in val:
            logits = model(torch.from_numpy(x))
            probs = torch.softmax(logits, -1).numpy()
            for p, t in zip(probs, texts):
                got = decode_plate(p, keep, labels)
                want = t.upper().replace(" ", "")
                is_plate = all(c in PLATE_CHARSET for c in t)
                exact += got == "".join(c for c in want if c in PLATE_CHARSET)
                if is_plate:
                    plate_n += 1
                    plate_exact += got == t
    n = sum(len(v[2]) for v in val)
    return {"val_exact": round(100 * exact / n, 2), "val_plate_exact": round(100 * plate_exact / max(1, plate_n), 2)}


def export(om, model, names: dict[str, str], out: Path) -> str:
    import onnx
    from onnx import numpy_helper
    trained = {n: p.detach().numpy() for n, p in model.named_parameters()}
    by_onnx = {}
    for tname, arr in trained.items():
        by_onnx.setdefault(names[tname], []).append(arr)
    new = onnx.ModelProto()
    new.CopyFrom(om)
    changed = 0
    for init in new.graph.initializer:
        if init.name in by_onnx:
            arrs = by_onnx[init.name]
            assert len(arrs) == 1, init.name
            old = numpy_helper.to_array(init)
            arr = arrs[0].astype(old.dtype).reshape(old.shape)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            changed += 1
    assert changed == len(by_onnx), (changed, len(by_onnx))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(new, str(out))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=BASE)
    ap.add_argument("--out", type=Path, default=Path("models/plate_rec.onnx"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/plate/run"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--freeze-frac", type=float, default=0.3, help="freeze this share of the weight tensors, earliest first")
    ap.add_argument("--val", type=int, default=384)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop early (cosine schedule still set by --steps)")
    ap.add_argument("--distill", type=float, default=0.0,
                    help="lambda of KL(teacher || student) per time step (teacher: the frozen base model "
                         "on the same batch); 0 = plain CTC as in v2")
    ap.add_argument("--export-from", type=Path, help="skip training: export the weights saved in this .pt (WORK/last.pt or best.pt)")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    om, model, names, vocab = load(args.base)
    index = {ch: i for i, ch in enumerate(vocab) if i > 0}
    index[" "] = len(vocab) - 1
    keep = np.array([0, len(vocab) - 1] + [index[c] for c in PLATE_CHARSET])
    labels = ["", " "] + list(PLATE_CHARSET)
    # Train on logits: drop the graph's final softmax (the export keeps the original graph).
    out_node = [n for n in model.graph.nodes if n.op == "output"][0]
    last = out_node.args[0]
    assert last.op == "call_module" and "Softmax" in last.target, last
    softmax_mod = model.get_submodule(last.target)
    model._modules[last.target] = torch.nn.Identity()
    teacher = None
    if args.distill > 0:
        # A frozen copy of the base model (logits, softmax dropped as above), eval mode, no grad.
        import copy
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    order, trainable, total = make_trainable(model, names, args.freeze_frac)
    params = dict(model.named_parameters())
    n_train = sum(params[n].numel() for n in trainable)
    print(f"weights: {len(order)} tensors, {total} values; training {len(trainable)} tensors, {n_train} values", flush=True)
    opt = torch.optim.AdamW([params[n] for n in trainable], lr=args.lr, weight_decay=0.0)
    ctc = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)

    if args.export_from:
        saved = torch.load(args.export_from)
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(saved[n])
        args.steps = 0
    val = [batch_of(range(VAL_SEED + i, VAL_SEED + min(i + 32, args.val)), index) for i in range(0, args.val, 32)]
    log = open(args.work / "log.jsonl", "a")
    start = time.time()
    r = evaluate(model, softmax_mod, val, keep, labels, True)
    r.update(step=0, minutes=0.0)
    print(json.dumps(r), flush=True)
    log.write(json.dumps(r) + "\n")
    best = (r["val_exact"], 0)
    if not args.export_from:
        torch.save({n: p.detach().clone() for n, p in model.named_parameters()}, args.work / "best.pt")
    running, running_ctc, running_kl = [], [], []
    step = 0
    for step in range(1, args.steps + 1) if not args.export_from else ():
        lr = args.lr * min(1.0, step / args.warmup) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        seeds = range(args.seed * 10_000_000 + (step - 1) * args.batch, args.seed * 10_000_000 + step * args.batch)
        x, targets, _ = batch_of(seeds, index)
        logits = model(torch.from_numpy(x))  # N x T x V
        logp = torch.log_softmax(logits, -1).transpose(0, 1)  # T x N x V
        T = logp.shape[0]
        loss = ctc(logp, torch.tensor([i for t in targets for i in t]),
                   torch.full((len(targets),), T, dtype=torch.long),
                   torch.tensor([len(t) for t in targets]))
        running_ctc.append(loss.item())
        if teacher is not None:
            with torch.no_grad():
                t_logp = torch.log_softmax(teacher(torch.from_numpy(x)), -1).transpose(0, 1)
            # KL(teacher || student) summed over the vocabulary, mean over time steps and samples
            # (padding columns included: the teacher is fed the same padded batch).
            kl = (t_logp.exp() * (t_logp - logp)).sum(-1).mean()
            running_kl.append(float(kl))
            loss = loss + args.distill * kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n in trainable], 5.0)
        opt.step()
        running.append(float(loss))
        minutes = (time.time() - start) / 60
        stop = args.max_minutes and minutes > args.max_minutes
        if step % 25 == 0:
            kl_txt = f" kl {np.mean(running_kl[-25:]):.4f}" if running_kl else ""
            print(f"step {step} loss {np.mean(running[-25:]):.4f} ctc {np.mean(running_ctc[-25:]):.4f}{kl_txt}"
                  f" lr {lr:.2e} {minutes:.1f} min", flush=True)
        if step % args.eval_every == 0 or step == args.steps or stop:
            r = evaluate(model, softmax_mod, val, keep, labels, True)
            r.update(step=step, minutes=round(minutes, 1), loss=round(float(np.mean(running[-args.eval_every:])), 4),
                     ctc=round(float(np.mean(running_ctc[-args.eval_every:])), 4))
            if running_kl:
                r["kl"] = round(float(np.mean(running_kl[-args.eval_every:])), 4)
            print(json.dumps(r), flush=True)
            log.write(json.dumps(r) + "\n")
            log.flush()
            torch.save({n: p.detach().clone() for n, p in model.named_parameters()}, args.work / "last.pt")
            if r["val_exact"] >= best[0]:
                best = (r["val_exact"], step)
                torch.save({n: p.detach().clone() for n, p in model.named_parameters()}, args.work / "best.pt")
        if stop:
            break
    print(f"trained {step} steps in {(time.time() - start) / 60:.1f} min; best val {best}", flush=True)
    # Export the last weights (validation is synthetic; it only guards against collapse).
    sha = export(om, model, names, args.out)
    # Check: onnxruntime on the written file == torch (with the softmax) on validation batches.
    import onnxruntime as ort
    sess = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    model._modules[last.target] = softmax_mod
    diff = 0.0
    with torch.no_grad():
        for x, _, _ in val[:4]:
            a = sess.run(None, {"x": x})[0]
            b = model(torch.from_numpy(x)).numpy()
            diff = max(diff, float(np.abs(a - b).max()))
    print(json.dumps({"out": str(args.out), "sha256": sha, "steps": step, "ort_vs_torch_max_abs_diff": diff}), flush=True)
    if diff > 1e-3:
        raise SystemExit("exported model does not match torch")


if __name__ == "__main__":
    main()
