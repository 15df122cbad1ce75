/**
 * Child process for the native half of the GGUF fuzz: loads each file named on
 * the command line into llama.cpp (node-llama-cpp), generates two tokens and
 * unloads it. Progress goes to stdout line by line (written synchronously), so
 * when llama.cpp aborts the process the parent knows which file did it.
 *   BEGIN <i>           before file i
 *   END <i> ok          loaded and generated
 *   END <i> <code>      refused with an EdgeError (load failed cleanly)
 */
import { writeSync } from "node:fs";
import { NodeLlamaCppBackend } from "../../src/engine/node-llama-cpp-backend.js";
import { isEdgeError } from "../../src/errors.js";

const backend = new NodeLlamaCppBackend({ gpu: false });
const files = process.argv.slice(2);
for (let i = 0; i < files.length; i++) {
  writeSync(1, `BEGIN ${i}\n`);
  let status = "ok";
  try {
    const model = await backend.load({ path: files[i]!, contextSize: 64, threads: { prompt: 1, decode: 1 } });
    try {
      const stream = await model.generate({ prompt: "Once upon a time", maxTokens: 2, temperature: 0 });
      for await (const _ of stream) void _;
    } finally {
      await model.dispose();
    }
  } catch (error) {
    status = isEdgeError(error) ? error.code : `thrown:${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
  }
  writeSync(1, `END ${i} ${status}\n`);
}
writeSync(1, "DONE\n");
process.exit(0);
