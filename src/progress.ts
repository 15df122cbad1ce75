/**
 * How long work reports progress: libraries call a ProgressReporter with what
 * is done; only the CLI draws (cli/progress-bar.ts), and only on a terminal.
 * A library never writes progress to a stream itself.
 */

export interface ProgressEvent {
  /** What is in progress, e.g. "pulling smollm2:360m-q8_0", "verifying model.gguf". */
  label: string;
  /** Bytes (or units) done so far: absolute, not a delta. */
  done: number;
  /** Bytes expected, when known. */
  total?: number;
  /** The SHA-256 (hex) of the blob being transferred, when known (Ollama's progress lines name it). */
  digest?: string;
  /** A short note (e.g. the current tensor). */
  note?: string;
  /** True on the last event of this piece of work: the reporter clears what it drew. */
  finished?: boolean;
}

/** Receives progress; must not throw and should be cheap (it may be called per chunk). */
export type ProgressReporter = (event: ProgressEvent) => void;
