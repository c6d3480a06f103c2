// Builds a one-node ONNX model, y(m,n) = x(m,k) · wt(k,n), with the weight as a constant initializer,
// so onnxruntime can pre-pack it exactly as it would for a real model's Linear layer.
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** @param wt the weight already transposed to (k, n), the layout ONNX MatMul takes. */
export function matmulModel(m: number, k: number, n: number, wt: Float32Array): Uint8Array {
  const valueInfo = (name: string, dims: number[]) => onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "bltedge-bench",
    graph: {
      name: "matmul",
      node: [{ opType: "MatMul", input: ["x", "wt"], output: ["y"], name: "mm" }],
      initializer: [{ name: "wt", dataType: onnx.TensorProto.DataType.FLOAT, dims: [k, n], rawData: new Uint8Array(wt.buffer, wt.byteOffset, wt.byteLength) }],
      input: [valueInfo("x", [m, k])],
      output: [valueInfo("y", [m, n])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** W(n,k) → Wᵀ(k,n). */
export function transpose(w: Float32Array, n: number, k: number): Float32Array {
  const t = new Float32Array(k * n);
  for (let j = 0; j < n; j++) for (let kk = 0; kk < k; kk++) t[kk * n + j] = w[j * k + kk];
  return t;
}
