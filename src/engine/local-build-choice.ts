/**
 * Whether engine.node_llama_cpp_build: auto takes edgelm's on-device
 * node-llama-cpp build: only when it passes the smoke test on this CPU. A build
 * copied from another machine, or made before builds were probed and
 * smoke-tested (a `-march=native` build that compiled in AMX kernels), is
 * tested when first used here — each smoke model in a child `edgelm run`
 * pinned to the local build — and the result is cached per addon and CPU. A
 * build that fails is passed over for the prebuilt binaries, with a warning
 * naming what crashed.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { logger } from "../log.js";
import type { NodeLlamaCppOptions } from "./node-llama-cpp-backend.js";
import { cachedSmokeResult, describeSmokeFailure, edgelmRunSmokeLoad, smokeTest, type SmokeLoad } from "./engine-smoke-test.js";
import { findLocalNodeLlamaCppBuild, type LocalNodeLlamaCppBuild } from "./local-build-profile.js";

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** EDGELM_HOME as the CLI resolves it (the smoke-test cache lives there). */
export function edgelmHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.EDGELM_HOME && env.EDGELM_HOME !== "" ? env.EDGELM_HOME : join(homedir(), ".edgelm");
}

/** The local build auto may use here, or undefined (none, or it fails its smoke test on this CPU). */
export async function localBuildForAuto(
  home = edgelmHome(),
  find: () => LocalNodeLlamaCppBuild | undefined = findLocalNodeLlamaCppBuild,
  load: SmokeLoad = edgelmRunSmokeLoad(CLI, { ...process.env, EDGELM_NODE_LLAMA_CPP_BUILD: "local", EDGELM_HOME: home }),
): Promise<LocalNodeLlamaCppBuild | undefined> {
  const build = find();
  if (!build) return undefined;
  let result = cachedSmokeResult(build.addon, home);
  if (!result) {
    logger.info(`the on-device node-llama-cpp build was not smoke-tested on this CPU yet: testing it once (${build.folder})`);
    result = await smokeTest(build.addon, load, { home });
  }
  if (result.ok) return build;
  logger.warn(`the on-device node-llama-cpp build does not run on this CPU (${describeSmokeFailure(result.failure!)}); using the prebuilt binaries`);
  return undefined;
}

/**
 * Which node-llama-cpp binaries runner processes load, decided once by the
 * gateway (which sees the config, its EDGELM_HOME and the smoke-test cache;
 * a sandboxed runner sees none of them) from engine.node_llama_cpp_build:
 * prebuilt, the local build by its CMake options, or, for "local" without a
 * finished build, "local" (each load then fails saying how to make one).
 */
export async function pinNodeLlamaCppBuild(
  preference: "auto" | "prebuilt" | "local",
  home: string,
  find: () => LocalNodeLlamaCppBuild | undefined = findLocalNodeLlamaCppBuild,
  forAuto: (home: string) => Promise<LocalNodeLlamaCppBuild | undefined> = (h) => localBuildForAuto(h, find),
): Promise<Pick<NodeLlamaCppOptions, "build" | "cmakeOptions">> {
  if (preference === "prebuilt") return { build: "prebuilt" };
  const local = preference === "local" ? find() : await forAuto(home);
  if (local) return { cmakeOptions: { ...local.cmakeOptions } };
  return { build: preference === "local" ? "local" : "prebuilt" };
}
