/** A model reference turned into files on this machine: what resolveModel returns and the trust path checks. */
import type { ProgressReporter } from "../progress.js";
import type { FileRole, Manifest } from "./manifest.js";

/** One file of a store entry: its manifest digest and where its bytes are on this machine. */
export interface ResolvedFile {
  /** Name relative to the model root, as in the manifest (and in a signature). */
  name: string;
  role: FileRole;
  sha256: string;
  size: number;
  /** Local path (a blob, for store entries). */
  path: string;
}

export interface ResolvedModel {
  /** Name to show and serve under (`name:tag` for store entries). */
  name: string;
  path: string;
  /** The kind of the source that resolved it (a ModelSource's kind: "demo", "path", "store", "hf", "catalog", ...). */
  source: string;
  /** The SHA-256 the file must have, when something vouches for it (a pin or a manifest). */
  expectedSha256?: string;
  /** Store entries: the manifest that vouches for the files. */
  manifest?: Manifest;
  /** Store entries: every file (the model among them) with its manifest digest, checked on every load. */
  files?: ResolvedFile[];
  /** Store entries: the path of the entry's model.sig, when it has one. */
  signaturePath?: string;
}

export interface ResolveOptions {
  /** May the resolver download? Default true. */
  allowDownload?: boolean;
  /** Told how downloads progress; quiet when absent. */
  progress?: ProgressReporter;
}
