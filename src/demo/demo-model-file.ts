/** Where the built-in demo model lives in the package, and the hash it must have. */
import { fileURLToPath } from "node:url";

/** assets/demo-model.gguf at the package root (this file is dist/src/demo/ once built). */
export const DEMO_MODEL_PATH = fileURLToPath(new URL("../../../assets/demo-model.gguf", import.meta.url));

/** SHA-256 of assets/demo-model.gguf; the demo model is trusted by this pin. */
export const DEMO_MODEL_SHA256 = "1140e0cf2a8bfe919e53aaad9fe54c14562d53dc509d9a93de9d2395a2365ed1";
