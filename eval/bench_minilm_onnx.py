"""all-MiniLM-L6-v2 through onnxruntime, against promptrec's numpy encoder: equality and titles per second.

    python eval/bench_minilm_onnx.py [--texts 2000] [--threads 2] [--rounds 2]

The ONNX graph is built with ``onnx.helper`` from the same safetensors weights the numpy encoder loads (no
torch, no export): BERT's 6 layers written out as ONNX operators (opset 18: LayerNormalization, Erf-GELU,
Softmax), mean pooling over the real tokens and L2 normalisation. Both encoders embed the same texts (the
semantic retriever's ``title: ...; genres: ...; year: ...`` text of synthetic items), in the same
length-sorted batches, alternating round by round so that other jobs' load hits both alike; the report gives
wall titles/s, CPU seconds and the largest difference between the two encoders' vectors.
Needs ``onnx`` and ``onnxruntime`` (not promptrec dependencies: this is a measurement).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))



def build_graph(m: Any) -> Any:
    """The ONNX model of ``m`` (a :class:`promptrec.retrieval.minilm.MiniLM`): ids, mask -> unit embeddings."""
    from onnx import TensorProto, helper, numpy_helper

    dim, heads, head = 384, 12, 32
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, array: Any) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def f32(value: float) -> np.ndarray:
        return np.array(value, dtype=np.float32)

    def i64(*values: int) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    for name, array in (("words", m.words), ("positions", m.positions), ("token_type", m.token_type),
                        ("zero", i64(0)), ("one", i64(1)), ("ax12", i64(1, 2)), ("last", i64(-1)),
                        ("shape5", i64(0, 0, 3, heads, head)), ("shape3", i64(0, 0, dim)),
                        ("scale", f32(1.0 / np.sqrt(head))), ("neg", f32(-10000.0)), ("onef", f32(1.0)),
                        ("half", f32(0.5)), ("rsqrt2", f32(0.7071067811865476)), ("tiny9", f32(1e-9)),
                        ("tiny12", f32(1e-12))):
        const(name, array)

    def layer_norm(x: str, weights: tuple[Any, Any], name: str) -> str:
        return node("LayerNormalization", [x, const(name + "_w", weights[0]), const(name + "_b", weights[1])], name,
                    axis=-1, epsilon=1e-12)

    def dense(x: str, weight: Any, bias: Any, name: str) -> str:
        return node("Add", [node("MatMul", [x, const(name + "_w", weight)], name + "_mm"), const(name + "_b", bias)],
                    name)

    length = node("Gather", [node("Shape", ["ids"], "shape"), "one"], "length", axis=0)
    x = node("Add", [node("Gather", ["words", "ids"], "tokens", axis=0),
                     node("Slice", ["positions", "zero", length, "zero"], "pos")], "x_pos")
    x = layer_norm(node("Add", [x, "token_type"], "x_type"), m.ln0, "ln0")
    maskf = node("Cast", ["mask"], "maskf", to=TensorProto.FLOAT)
    bias = node("Unsqueeze", [node("Mul", [node("Sub", ["onef", maskf], "inv"), "neg"], "bias2"), "ax12"], "bias")
    for number, layer in enumerate(m.layers):
        p = f"l{number}_"
        qkv = node("Reshape", [dense(x, layer.qkv, layer.qkv_bias, p + "qkv"), "shape5"], p + "qkv5")
        qkv = node("Transpose", [qkv], p + "qkvT", perm=[2, 0, 3, 1, 4])  # 3 x B x H x L x d
        nodes.append(helper.make_node("Split", [qkv], [p + "q1", p + "k1", p + "v1"], name=p + "split", axis=0,
                                      num_outputs=3))
        q = node("Mul", [node("Squeeze", [p + "q1", "zero"], p + "q"), "scale"], p + "qs")
        k = node("Transpose", [node("Squeeze", [p + "k1", "zero"], p + "k")], p + "kT", perm=[0, 1, 3, 2])
        v = node("Squeeze", [p + "v1", "zero"], p + "v")
        probs = node("Softmax", [node("Add", [node("MatMul", [q, k], p + "s"), bias], p + "sb")], p + "probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], p + "ctx")], p + "ctxT", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "shape3"], p + "ctx3")
        attended = node("Add", [dense(context, layer.out, layer.out_bias, p + "out"), x], p + "res1")
        x = layer_norm(attended, layer.ln1, p + "ln1")
        hidden = dense(x, layer.up, layer.up_bias, p + "up")
        gate = node("Add", [node("Erf", [node("Mul", [hidden, "rsqrt2"], p + "g1")], p + "g2"), "onef"], p + "g3")
        hidden = node("Mul", [hidden, node("Mul", [gate, "half"], p + "g4")], p + "gelu")
        x = layer_norm(node("Add", [dense(hidden, layer.down, layer.down_bias, p + "down"), x], p + "res2"),
                       layer.ln2, p + "ln2")
    masked = node("Mul", [x, node("Unsqueeze", [maskf, "last"], "mask3")], "masked")
    summed = node("ReduceSum", [masked, "one"], "summed", keepdims=0)
    count = node("Max", [node("ReduceSum", [maskf, "one"], "count", keepdims=1), "tiny9"], "count_")
    pooled = node("Div", [summed, count], "pooled")
    norm = node("Max", [node("ReduceL2", [pooled, "last"], "norm", keepdims=1), "tiny12"], "norm_")
    node("Div", [pooled, norm], "embedding")
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "length"]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="promptrec")
    model.ir_version = 9
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime's intra-op threads")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import onnxruntime as ort
    from bench_retrieval import synthetic

    from promptrec.retrieval.embedders import keyed_text
    from promptrec.retrieval.minilm import load_minilm

    model = load_minilm()
    started = time.perf_counter()
    graph = build_graph(model).SerializeToString()
    print(f"graph built from the safetensors in {time.perf_counter() - started:.1f}s ({len(graph) >> 20} MB)")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    catalog, _, _ = synthetic(max(args.texts, 1000))
    texts = [keyed_text(item) for item in list(catalog.values())[: args.texts]]
    ids = [e.ids for e in model.tokenizer.encode_batch(texts)]
    lengths = [len(i) for i in ids]

    def onnx_embed() -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        for group in model.batches(lengths):
            longest = max(lengths[i] for i in group)
            batch = np.zeros((len(group), longest), np.int64)
            mask = np.zeros_like(batch)
            for row, i in enumerate(group):
                batch[row, : lengths[i]] = ids[i]
                mask[row, : lengths[i]] = 1
            out[group] = session.run(None, {"ids": batch, "mask": mask})[0]
        return out

    print(f"{len(texts)} texts, {np.mean(lengths):.1f} tokens each; load average {os.getloadavg()[0]:.1f}")
    for number in range(args.rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        reference = model.embed(texts)
        numpy_wall, numpy_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        vectors = onnx_embed()
        onnx_wall, onnx_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"round {number + 1}: numpy {len(texts) / numpy_wall:.0f} titles/s ({numpy_cpu:.1f} CPU s), "
              f"onnxruntime {len(texts) / onnx_wall:.0f} titles/s ({onnx_cpu:.1f} CPU s), "
              f"largest difference {np.abs(reference - vectors).max():.1e}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
