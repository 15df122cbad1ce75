import { loadedModelContract } from "./loaded-model-contract.js";
import { toolCallingContract } from "./tool-calling-contract.js";
import { LlamaServerRunner } from "../../src/engine/llama-server/llama-server-runner.js";
import { testLlamaServer, TEST_MODEL } from "../helpers.js";
import { assertConfined, testSandbox } from "./sandbox/test-sandbox.js";

const options = { path: TEST_MODEL, parallel: 4, contextSize: 256, threads: { decode: 1, prompt: 1 } };

loadedModelContract("llama-server runner process", async () => {
  const runner = new LlamaServerRunner({ ...options, name: "stories" }, { binary: await testLlamaServer() });
  await runner.start();
  return runner;
});

toolCallingContract("llama-server runner process", async (path) => {
  const runner = new LlamaServerRunner({ ...options, path, parallel: 2, contextSize: 1024, name: "stories-hermes" }, { binary: await testLlamaServer() });
  await runner.start();
  return runner;
});

loadedModelContract("llama-server runner process, sandboxed", async () => {
  const runner = new LlamaServerRunner({ ...options, name: "stories" }, { binary: await testLlamaServer(), sandbox: testSandbox() });
  await runner.start();
  assertConfined(runner.pid);
  return runner;
});
