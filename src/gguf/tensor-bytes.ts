/** One tensor's bytes as a GGUF file stores them, and a writer spec that copies a tensor unchanged. */
import type { FileHandle } from "node:fs/promises";
import { EdgeError, toEdgeError } from "../errors.js";
import type { GgufTensorInfo } from "./gguf-reader.js";
import type { GgufTensorSpec } from "./gguf-writer.js";

/** Reads `tensor`'s encoded bytes from an open GGUF file (`where` names the file in errors: io_error, invalid_gguf when truncated). */
export async function readTensorBytes(handle: FileHandle, tensor: GgufTensorInfo, where: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(tensor.byteSize);
  const { bytesRead } = await handle.read(bytes, 0, tensor.byteSize, tensor.fileOffset).catch((error: unknown) => {
    throw toEdgeError(error, `cannot read tensor ${tensor.name} of ${where}`);
  });
  if (bytesRead !== tensor.byteSize) throw new EdgeError("invalid_gguf", `${where} is truncated: tensor ${tensor.name} ends past the end of the file`);
  return bytes;
}

/** `tensor` as writeGguf takes it, copied from the open file as stored (read when the writer reaches it). */
export function copiedTensor(handle: FileHandle, tensor: GgufTensorInfo, where: string): GgufTensorSpec {
  return {
    name: tensor.name,
    dims: tensor.dims,
    type: tensor.type,
    data: async function* () {
      yield await readTensorBytes(handle, tensor, where);
    },
  };
}
