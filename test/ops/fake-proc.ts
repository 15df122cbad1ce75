/** A fake /proc tree for sampler tests: write the files a test needs, read them through the real samplers. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), "edgelm-proc-"));

  write(path: string, text: string): this {
    const full = join(this.root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
    return this;
  }

  /** /proc/stat with the aggregate line from (user, system, idle) ticks. */
  stat(user: number, system: number, idle: number): this {
    return this.write("stat", `cpu  ${user} 0 ${system} ${idle} 0 0 0 0 0 0\ncpu0 ${user} 0 ${system} ${idle} 0 0 0 0 0 0\nintr 1\n`);
  }

  meminfo(totalKb: number, availableKb: number): this {
    return this.write("meminfo", `MemTotal:       ${totalKb} kB\nMemFree:        1000 kB\nMemAvailable:   ${availableKb} kB\n`);
  }

  pressure(someAvg10: number, fullAvg10: number): this {
    return this.write(
      "pressure/memory",
      `some avg10=${someAvg10.toFixed(2)} avg60=1.50 avg300=0.25 total=123456\nfull avg10=${fullAvg10.toFixed(2)} avg60=0.50 avg300=0.05 total=6543\n`,
    );
  }

  /** /proc/<pid>/status and /proc/<pid>/stat with a resident size and CPU ticks. */
  process(pid: number, rssKb: number, utime: number, stime: number, name = "edgelm runner"): this {
    this.write(`${pid}/status`, `Name:\t${name}\nVmRSS:\t  ${rssKb} kB\nThreads:\t3\n`);
    const fields = ["S", "1", "1", "1", "0", "-1", "4194304", "0", "0", "0", "0", String(utime), String(stime), "0", "0", "20", "0", "3"];
    return this.write(`${pid}/stat`, `${pid} (${name}) ${fields.join(" ")} 0 100 0\n`);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
