/**
 * Prints every datagram arriving on fd 3 as one JSON line `{"text": ...}`.
 * Run under `systemd-socket-activate --datagram -l PATH`, which binds a real
 * AF_UNIX datagram socket and starts this on the first datagram with the
 * socket as fd 3 (Node cannot create one);
 * read(2) on it returns one datagram (ancillary fds, e.g. systemd-notify's
 * barrier, are discarded, which closes them: the barrier completes).
 */
import { read } from "node:fs";

if (process.env.LISTEN_FDS !== "1") throw new Error("expected one socket from systemd-socket-activate (LISTEN_FDS=1)");
const buffer = Buffer.alloc(64 * 1024);
const next = (): void =>
  read(3, buffer, 0, buffer.length, null, (error, bytes) => {
    if (error) throw error;
    process.stdout.write(`${JSON.stringify({ text: buffer.subarray(0, bytes).toString("utf8") })}\n`);
    next();
  });
next();
