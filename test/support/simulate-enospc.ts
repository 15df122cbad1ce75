/**
 * Makes file writes fail with ENOSPC once `afterBytes` bytes have been written
 * through FileHandle.write, as a full disk would. Returns a function that undoes it.
 * Also a preload: `node --import .../simulate-enospc.js` with EDGELM_TEST_ENOSPC_AFTER=<bytes>.
 */
import { open } from "node:fs/promises";

type WriteFn = (...args: unknown[]) => Promise<unknown>;

export async function simulateEnospc(afterBytes: number): Promise<() => void> {
  const probe = await open("/dev/null", "r");
  const proto = Object.getPrototypeOf(probe) as { write: WriteFn };
  await probe.close();
  const original = proto.write;
  let written = 0;
  proto.write = async function (this: unknown, ...args: unknown[]) {
    const data = args[0] as Uint8Array;
    const length = typeof args[2] === "number" ? args[2] : data.byteLength;
    if (written + length > afterBytes) {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
    }
    written += length;
    return original.apply(this, args);
  };
  return () => {
    proto.write = original;
  };
}

const limit = process.env.EDGELM_TEST_ENOSPC_AFTER;
if (limit !== undefined) await simulateEnospc(Number(limit));
