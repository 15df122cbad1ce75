/**
 * The store's seam for model references: one `ModelSource` per kind (a path,
 * `hf:`, a store name, a catalog name, the built-in demo; later `oci://`),
 * listed in order in model-sources.ts. Adding a kind is one module that
 * implements this interface plus one line in that list.
 */
import type { Config } from "../config/schema.js";
import type { PullOptions, PullResult } from "./pull.js";
import type { ResolvedModel, ResolveOptions } from "./resolved-model.js";

export interface ModelSource<Ref = unknown> {
  /** The kind's name ("path", "hf", "store", "catalog", "demo", ...). */
  readonly kind: string;
  /**
   * The reference parsed, when `text` is this kind's (no disk, no network);
   * undefined when it is not. A malformed reference of this kind (hf:x) throws `usage`.
   */
  parse(text: string): Ref | undefined;
  /** Does the reference name a model of this source, without downloading (for `run`: model or prompt)? */
  recognizes(ref: Ref, config: Config): boolean;
  /**
   * The model as a file on this machine (downloading it when the source does
   * and options.allowDownload is not false), or undefined when this source does
   * not have it (the next source in the list is asked).
   */
  resolve(ref: Ref, config: Config, options: ResolveOptions): Promise<ResolvedModel | undefined>;
  /**
   * Brings the model into the store (`edgelm pull`), or undefined when this
   * source does not have it. Absent for sources that never pull (a store name);
   * a path throws, naming `edgelm add`.
   */
  pull?(ref: Ref, config: Config, options: PullOptions): Promise<PullResult | undefined>;
  /** Names this source knows (for "did you mean" suggestions). Default none. */
  names?(config: Config): string[];
}
