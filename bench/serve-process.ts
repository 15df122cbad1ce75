/**
 * `edgelm serve` in its own process, as users run it, for benchmarks: serves one
 * model named "bench" and resolves once it is ready, with its URL and runner pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const CLI = join(resolve(fileURLToPath(new URL("../../", import.meta.url))), "dist/src/cli/main.js");

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** host:port of the gRPC API, when started with --grpc-port. */
  grpcAddress: string | undefined;
  runnerPid: number;
}

/**
 * Starts `edgelm serve --port 0 --model bench=<modelPath> <args...>` with EDGELM_HOME=`home`
 * (this build's CLI, or `cli`: another build's `dist/src/cli/main.js`); without `modelPath`,
 * `args` give the models (a `--config` whose server.models holds one named "bench").
 * Rejects with the output if the model fails or the process exits first.
 */
export async function startServeProcess(modelPath: string | undefined, home: string, args: string[], cli = CLI): Promise<ServeProcess> {
  const child = spawn(process.execPath, [cli, "serve", "--port", "0", ...(modelPath !== undefined ? ["--model", `bench=${modelPath}`] : []), ...args], {
    env: { ...process.env, EDGELM_HOME: home, EDGELM_LOG_LEVEL: "warn", EDGELM_POLICIES: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const url = await new Promise<string>((resolvePromise, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match && /bench {2}ready/.test(out)) resolvePromise(match[1]!);
      if (/bench {2}failed/.test(out)) reject(new Error(out));
    });
    child.on("exit", (code) => reject(new Error(`edgelm serve exited with ${code}: ${out}`)));
  });
  const ps = (await (await fetch(`${url}/api/ps`)).json()) as { models: Array<{ edgelm: { runners: Array<{ pid: number }> } }> };
  const grpcAddress = /gRPC API listening on (\S+)/.exec(out)?.[1];
  return { child, url, grpcAddress, runnerPid: ps.models[0]!.edgelm.runners[0]!.pid };
}
