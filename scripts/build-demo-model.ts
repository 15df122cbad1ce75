/**
 * Rebuilds assets/demo-model.gguf from the corpus in src/demo/corpus.ts,
 * byte for byte, and prints its SHA-256 (pinned in src/demo/demo-model-file.ts).
 *   npm run build:demo-model
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { buildDemoModelDocument } from "../src/demo/demo-model.js";
import { DEMO_MODEL_PATH, DEMO_MODEL_SHA256 } from "../src/demo/demo-model-file.js";
import { writeGguf } from "../src/gguf/gguf-writer.js";

const size = await writeGguf(DEMO_MODEL_PATH, buildDemoModelDocument());
const sha = createHash("sha256").update(readFileSync(DEMO_MODEL_PATH)).digest("hex");
console.log(`${DEMO_MODEL_PATH}: ${size} bytes, sha256 ${sha}`);
if (sha !== DEMO_MODEL_SHA256) {
  console.log(`the pinned hash differs (${DEMO_MODEL_SHA256}): update DEMO_MODEL_SHA256 in src/demo/demo-model-file.ts`);
}
