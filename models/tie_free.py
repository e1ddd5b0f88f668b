"""Quantization parameters for the INT8 detector such that no element-wise step rounds a near-tie.

onnxruntime runs a quantized element-wise step (DequantizeLinear inputs ->
Add, Mul, Erf, ... -> QuantizeLinear) with different arithmetic on each CPU:
float32 on x86, its own requantization on ARM (QLinearAdd first). Where a
step's exact result lies within ~2e-5 of a rounding tie (k + 0.5), the two
CPUs round it to neighbouring bytes, and one such byte spreads through every
layer after it: on an emulated Pi the probability maps were up to 0.42
apart from x86's, with pixels on both sides of the 0.35 threshold. The
convolutions were exact on both (integer sums, one float rescale done alike).

So each step's output scale (for a sum, also the scale of one input a
convolution makes) is chosen such that every result the step can give
lies at least MARGIN from a tie, which any arithmetic of float32 accuracy
rounds alike:
- GELU's `erf + 1`: on the calibrated grid 2/255 every result was an exact
  tie. The erf and the sum go on the grid 1/128, where the sum is the
  erf's byte plus 128: nothing is rounded.
- a product: output scale sa * sb * N / M for an odd N, so every result
  is an integer over N, at least 1/(2N) from a tie;
- a sum of two activations: sa / sc = A / N and sb / sc = B / N, N odd,
  by moving sc and the scale of one input that a convolution makes;
- any other step (erf, hard sigmoid, a constant added): its output scale
  nudged until all its 256 results clear MARGIN.
Of the fractions that keep MARGIN, each step takes the one that moves its
scales least (under 0.1 % in the shipped file; MAX_MOVE, 1 %, is only the
bound), so bytes change only where a result was near a tie. The GELU grid
is the exception: 1/128 whatever the erf's calibrated scale (there -0.4 to
+1.7 %). They still change: a quantized
network carries one changed byte on through its layers, so the maps move
about as much as they differed between x86 and ARM before.

Also the cross-CPU check: `steps` writes each element-wise step as a model
of its own, `run` feeds it every possible input on this CPU (any Python
with onnxruntime and numpy, the emulated arm64 one included), `compare`
lists the steps whose outputs differ (models/README.md).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

MARGIN = 2e-4
MAX_MOVE = 0.01
ELEMENTWISE = ("Add", "Mul", "Div", "Erf", "HardSigmoid", "Sigmoid")
# Consumers for which a tensor's scale may move: each requantizes its
# input anyway (MaxPool, Resize and Concat may copy bytes through).
MOVABLE_FOR = ("Conv", "Add", "Mul")


class Graph:
    def __init__(self, model):
        from onnx import numpy_helper

        self.model, self.g, self.nh = model, model.graph, numpy_helper
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.init = {i.name: i for i in self.g.initializer}
        self.consumers: dict[str, list] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def array(self, name: str) -> np.ndarray:
        return self.nh.to_array(self.init[name])

    def const(self, name: str, value) -> str:
        """An initializer of this name holding value (replaced in place if the name is taken)."""
        if name in self.init:
            self.init[name].CopyFrom(self.nh.from_array(value, name))
        else:
            self.g.initializer.append(self.nh.from_array(value, name))
            self.init[name] = self.g.initializer[-1]
        return name

    def params(self, dq) -> tuple[float, int]:
        return float(self.array(dq.input[1]).ravel()[0]), int(self.array(dq.input[2]).ravel()[0])

    def set_params(self, tensor: str, scale: float, zero: int) -> None:
        """New scale and zero point for a quantized activation: its QuantizeLinear and every DequantizeLinear of it."""
        s = self.const(f"{tensor}_tie_free_scale", np.array(scale, np.float32))
        z = self.const(f"{tensor}_tie_free_zero", np.array(zero, np.uint8))
        readers = [c for c in self.consumers.get(tensor, []) if c.op_type == "DequantizeLinear"]
        for n in [self.producer[tensor]] + readers:
            n.input[1], n.input[2] = s, z

    def movable(self, tensor: str) -> bool:
        if tensor in self.init or self.producer.get(tensor) is None:
            return False
        for dq in self.consumers.get(tensor, []):
            if dq.op_type != "DequantizeLinear" or any(c.op_type not in MOVABLE_FOR
                                                       for c in self.consumers.get(dq.output[0], [])):
                return False
        return True


class Step:
    """DequantizeLinear inputs -> element-wise float ops -> one QuantizeLinear."""

    def __init__(self, graph: Graph, q, nodes: list, dqs: list):
        self.graph, self.q, self.nodes, self.dqs = graph, q, nodes, dqs
        self.variables = list(dict.fromkeys(dq.input[0] for dq in dqs if dq.input[0] not in graph.init))
        self.op = "/".join(n.op_type for n in nodes)

    def results(self, out_scale: float | None = None) -> np.ndarray:
        """Every result before rounding (in output bytes) for every input the step can get; only those not clamped."""
        g, values = self.graph, {}
        nvar = len(self.variables)
        for dq in self.dqs:
            scale, zero = g.params(dq)
            if dq.input[0] in g.init:
                q = g.array(dq.input[0]).astype(np.float64).reshape([1] * nvar + [-1])
            else:
                k = self.variables.index(dq.input[0])
                q = np.arange(256.0).reshape([1] * k + [256] + [1] * (nvar - k))
            values[dq.output[0]] = (q - zero) * np.float64(np.float32(scale))
        for n in self.nodes:
            a = [values[i] if i in values else g.array(i).astype(np.float64).ravel() for i in n.input]
            values[n.output[0]] = _apply(n, a)
        scale, zero = g.params(self.q)
        v = values[self.q.input[0]] / np.float64(np.float32(out_scale or scale)) + zero
        return v[(v > -0.5) & (v < 255.5)]

    def margin(self, out_scale: float | None = None) -> float:
        v = self.results(out_scale)
        return float(np.abs(v - np.floor(v) - 0.5).min()) if v.size else 0.5


def _apply(node, a: list[np.ndarray]) -> np.ndarray:
    op = node.op_type
    if op == "Add":
        return a[0] + a[1]
    if op == "Mul":
        return a[0] * a[1]
    if op == "Div":
        return a[0] / a[1]
    if op == "Erf":
        return np.vectorize(math.erf)(a[0])
    if op == "Sigmoid":
        return 1 / (1 + np.exp(-a[0]))
    if op == "HardSigmoid":
        att = {x.name: x.f for x in node.attribute}
        return np.clip(att.get("alpha", 0.2) * a[0] + att.get("beta", 0.5), 0, 1)
    raise ValueError(op)


def steps(graph: Graph) -> list[Step]:
    out = []
    order = {id(n): i for i, n in enumerate(graph.g.node)}
    for q in graph.g.node:
        if q.op_type != "QuantizeLinear" or q.input[0] not in graph.producer:
            continue
        nodes, dqs, todo, ok = [], [], [q.input[0]], True
        while todo and ok:
            n = graph.producer.get(todo.pop())
            if n is None or n in nodes or n in dqs:
                continue
            if n.op_type == "DequantizeLinear":
                dqs.append(n)
            elif n.op_type in ELEMENTWISE:
                nodes.append(n)
                todo.extend(i for i in n.input if i and i not in graph.init)
            else:
                ok = False
        if ok and nodes and 1 <= len({d.input[0] for d in dqs if d.input[0] not in graph.init}) <= 2:
            out.append(Step(graph, q, sorted(nodes, key=lambda n: order[id(n)]), dqs))
    return out


def exact_gelu_sums(graph: Graph) -> list[str]:
    """GELU's `erf + 1` on the grid 1/128: the sum's byte is the erf's plus 128, nothing rounded.

    Returns the activations so pinned (each erf and its sum)."""
    from onnx import helper

    pinned = []
    for step in steps(graph):
        if step.op != "Add" or len(step.variables) != 1:
            continue
        var = next(d for d in step.dqs if d.input[0] not in graph.init)
        one = next(d for d in step.dqs if d.input[0] in graph.init)
        scale, zero = graph.params(one)
        erf = graph.producer.get(graph.producer[var.input[0]].input[0])  # before the erf's QuantizeLinear
        value = graph.array(one.input[0]).ravel()
        if value.size != 1 or abs((float(value[0]) - zero) * scale - 1) > 1e-5 or erf is None or erf.op_type != "Erf":
            continue
        graph.set_params(var.input[0], 1 / 128, 128)
        # The constant's own DequantizeLinear may be shared with other sums: a new one for this sum.
        name = f"{step.q.output[0]}_tie_free_one"
        dq = helper.make_node("DequantizeLinear", [graph.const(name + "_q", np.array(128, np.uint8)),
                                                   graph.const(name + "_scale", np.array(1 / 128, np.float32)),
                                                   graph.const(name + "_zero", np.array(0, np.uint8))],
                              [name], name=name + "_dq")
        add = step.nodes[0]
        add.input[list(add.input).index(one.output[0])] = name
        at = list(graph.g.node).index(add)
        graph.g.node.insert(at, dq)
        graph.producer[name] = graph.g.node[at]  # the graph's copy, not dq
        graph.consumers[name] = [add]
        graph.set_params(step.q.output[0], 1 / 128, 0)
        pinned += [var.input[0], step.q.output[0]]
    return pinned


# Odd denominators up to this keep every result of a structured step at
# least 1/(2N) = 2 MARGIN from a tie, before the scales are rounded to float32.
MAX_N = int(1 / (4 * MARGIN))


def _rational_sum(graph: Graph, step: Step, fixed: set[str]) -> bool:
    """A sum's input scales as A/N and B/N of its output's, N odd: the output's and one free input's moved least."""
    free = [t for t in step.variables if t not in fixed and graph.movable(t)]
    if not free:
        return False
    moved = free[-1]
    kept = next(t for t in step.variables if t != moved)
    sk = graph.params(graph.producer[kept])[0]
    sm, zm = graph.params(graph.producer[moved])
    sc, zc = graph.params(step.q)
    best = None
    for n in range(1, MAX_N + 1, 2):
        a = round(n * sk / sc)
        if a == 0:
            continue
        sc2 = sk * n / a
        b = round(n * sm / sc2)
        if b == 0:
            continue
        sm2 = sc2 * b / n
        move = max(abs(sc2 / sc - 1), abs(sm2 / sm - 1))
        if best is None or move < best[0]:
            best = (move, sc2, sm2)
    if best is None or best[0] > MAX_MOVE:
        return False
    graph.set_params(moved, best[2], zm)
    graph.set_params(step.q.output[0], best[1], zc)
    return True


def _odd_product(graph: Graph, step: Step) -> bool:
    """A product's output scale sa * sb * N / M, N odd, moved least: every result an integer over N."""
    (sa, _), (sb, _) = (graph.params(d) for d in step.dqs)
    sc, zc = graph.params(step.q)
    ratio = sa * sb / sc
    best = min(((abs(sa * sb * n / max(1, round(ratio * n)) / sc - 1), n, max(1, round(ratio * n)))
                for n in range(1, MAX_N + 1, 2)))
    if best[0] > MAX_MOVE:
        return False
    graph.set_params(step.q.output[0], sa * sb * best[1] / best[2], zc)
    return True


def _nudge(graph: Graph, step: Step) -> bool:
    """The output scale moved least (within MAX_MOVE, in steps of 1e-5) whose results all clear MARGIN."""
    sc, zc = graph.params(step.q)
    for move in sorted(np.linspace(-MAX_MOVE, MAX_MOVE, 2001), key=abs):
        if step.margin(sc * (1 + move)) >= MARGIN:
            graph.set_params(step.q.output[0], sc * (1 + move), zc)
            return True
    return False


def without_ties(src: Path, dst: Path) -> list[str]:
    """Write src with every element-wise step's results at least MARGIN from a tie; a line per step changed."""
    import onnx

    graph = Graph(onnx.load(str(src)))
    pinned = exact_gelu_sums(graph)
    report = [f"GELU erf + 1 made exact: {len(pinned) // 2}"]
    fixed = set(pinned)
    for step in steps(graph):
        before, out = step.margin(), step.q.output[0]
        scale = graph.params(step.q)[0]
        if before < MARGIN:
            if out in fixed:
                raise SystemExit(f"{src}: {out}: pinned, and {before:.2g} from a tie ({step.op})")
            # The structured scales first (a margin of 1/(2N) for every
            # input), else the output scale alone.
            if step.op == "Add" and len(step.variables) == 2:
                how = "A/N, B/N" if _rational_sum(graph, step, fixed) else ""
            elif step.op == "Mul" and len(step.dqs) == 2:
                how = "1/N" if _odd_product(graph, step) else ""
            else:
                how = ""
            if not how or step.margin() < MARGIN:
                how = "nudged" if _nudge(graph, step) else ""
            if not how:
                raise SystemExit(f"{src}: {out}: no scale within {MAX_MOVE:.0%} clears a margin of {MARGIN} "
                                 f"({step.op}, {step.margin():.2g})")
            move = graph.params(step.q)[0] / scale - 1
            report.append(f"{out} ({step.op}): {before:.2g} -> {step.margin():.2g} from a tie "
                          f"({how}; scale {move:+.3%})")
        fixed.update(step.variables)
        fixed.add(out)
    used = {t for n in graph.g.node for t in n.input}
    unused = [t for t in graph.g.initializer if t.name not in used]
    for t in unused:
        graph.g.initializer.remove(t)
    onnx.save(graph.model, str(dst))
    return report


def write_steps(src: str, outdir: str) -> None:
    """Each element-wise step of src as a model of its own (inputs: its quantized activations, 1-D)."""
    import onnx
    from onnx import TensorProto, helper

    graph = Graph(onnx.load(src))
    Path(outdir).mkdir(parents=True, exist_ok=True)
    manifest = []
    for i, step in enumerate(steps(graph)):
        nodes = step.dqs + step.nodes + [step.q]
        used = {t for n in nodes for t in n.input}
        model = helper.make_model(helper.make_graph(
            nodes, "step", [helper.make_tensor_value_info(t, TensorProto.UINT8, [None]) for t in step.variables],
            [helper.make_tensor_value_info(step.q.output[0], TensorProto.UINT8, [None])],
            [graph.init[t] for t in used if t in graph.init]), opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, f"{outdir}/{i:03d}.onnx")
        manifest.append({"file": f"{i:03d}", "out": step.q.output[0], "op": step.op, "inputs": step.variables})
    Path(outdir, "manifest.json").write_text(json.dumps(manifest, indent=0))
    print(f"{len(manifest)} element-wise steps in {outdir}")


def run_steps(outdir: str, tag: str) -> None:
    """Every step fed every possible input on this CPU; written to OUTDIR/TAG.npz."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.log_severity_level = 1, 3
    results = {}
    for s in json.loads(Path(outdir, "manifest.json").read_text()):
        session = ort.InferenceSession(f"{outdir}/{s['file']}.onnx", opts, providers=["CPUExecutionProvider"])
        grids = np.meshgrid(*[np.arange(256, dtype=np.uint8)] * len(s["inputs"]), indexing="ij")
        results[s["file"]] = session.run(None, {t: g.ravel() for t, g in zip(s["inputs"], grids)})[0]
    np.savez(f"{outdir}/{tag}.npz", **results)


def compare_steps(outdir: str, a: str, b: str) -> int:
    x, y = np.load(f"{outdir}/{a}.npz"), np.load(f"{outdir}/{b}.npz")
    manifest = json.loads(Path(outdir, "manifest.json").read_text())
    differ = 0
    for s in manifest:
        n = int((x[s["file"]] != y[s["file"]]).sum())
        if n:
            differ += 1
            print(f"  {s['out']} ({s['op']}): {n} of {x[s['file']].size} inputs give another byte")
    print(f"{a} vs {b}: {differ} of {len(manifest)} element-wise steps differ")
    return 1 if differ else 0


if __name__ == "__main__":
    usage = "tie_free.py steps MODEL DIR | run DIR TAG | compare DIR TAG TAG | fix SRC DST"
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "steps" and len(args) == 2:
        write_steps(*args)
    elif cmd == "run" and len(args) == 2:
        run_steps(*args)
    elif cmd == "compare" and len(args) == 3:
        raise SystemExit(compare_steps(*args))
    elif cmd == "fix" and len(args) == 2:
        print("\n".join(without_ties(Path(args[0]), Path(args[1]))))
    else:
        raise SystemExit(f"usage: {usage}")
