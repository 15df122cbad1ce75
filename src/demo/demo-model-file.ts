/** Where the built-in demo model lives in the package, and the hash it must have. */
import { fileURLToPath } from "node:url";

/** assets/demo-model.gguf at the package root (this file is dist/src/demo/ once built). */
export const DEMO_MODEL_PATH = fileURLToPath(new URL("../../../assets/demo-model.gguf", import.meta.url));

/** SHA-256 of assets/demo-model.gguf; the demo model is trusted by this pin. */
export const DEMO_MODEL_SHA256 = "3371a05dbb5bc3c4a4f420f9f69c66ea60be6d28ce9fcc9186f32845d2a3b8df";
