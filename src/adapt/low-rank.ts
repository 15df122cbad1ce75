/**
 * Low-rank approximation of a matrix M (rows × cols, row-major) as L·R with
 * L (rows × r) and R (r × cols): a randomized range finder (Halko, Martinsson
 * and Tropp's scheme: a Gaussian sketch, power iterations re-orthonormalized
 * by modified Gram–Schmidt, then an exact SVD of the small projection by
 * one-sided Jacobi rotations). With a sketch as wide as min(rows, cols) the
 * range is the whole column space and the factorization is exact to rounding;
 * below that it is the truncated SVD up to the sketch's error. All arithmetic
 * in float64.
 */

export interface LowRankFactors {
  rank: number;
  rows: number;
  cols: number;
  /** rows × rank, row-major: the left singular vectors scaled by the singular values. */
  left: Float64Array;
  /** rank × cols, row-major: the right singular vectors. */
  right: Float64Array;
  /** The singular values found (the sketch's width of them, largest first). */
  singularValues: number[];
  /** ‖M‖²_F. */
  energy: number;
  /** Share (0–1) of ‖M‖²_F the rank-r factors keep: Σ_{i≤r} σᵢ² / ‖M‖²_F (1 for a zero matrix). */
  retained: number;
}

export interface LowRankOptions {
  /** Extra sketch columns beyond the rank (default 8). */
  oversampling?: number;
  /** Power iterations (default 2): each sharpens the spectrum's decay, at one more pass over M. */
  powerIterations?: number;
  /** Seed of the Gaussian sketch (default 1): same matrix and seed, same factors. */
  seed?: number;
}

/** A small seeded generator (xorshift128+) and Box–Muller normals. */
function gaussian(seed: number): () => number {
  let s0 = (seed >>> 0) ^ 0x9e3779b9;
  let s1 = Math.imul(seed >>> 0, 0x85ebca6b) ^ 0xc2b2ae35;
  const next = (): number => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  return () => {
    const u = Math.max(next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
}

/** Y = M · X for M rows×cols and X cols×k (row-major). */
function multiply(m: Float64Array, rows: number, cols: number, x: Float64Array, k: number): Float64Array {
  const y = new Float64Array(rows * k);
  for (let i = 0; i < rows; i++) {
    const yi = i * k;
    for (let j = 0; j < cols; j++) {
      const v = m[i * cols + j]!;
      if (v === 0) continue;
      const xj = j * k;
      for (let c = 0; c < k; c++) y[yi + c]! += v * x[xj + c]!;
    }
  }
  return y;
}

/** Z = Mᵀ · Y for M rows×cols and Y rows×k. */
function multiplyTransposed(m: Float64Array, rows: number, cols: number, y: Float64Array, k: number): Float64Array {
  const z = new Float64Array(cols * k);
  for (let i = 0; i < rows; i++) {
    const yi = i * k;
    for (let j = 0; j < cols; j++) {
      const v = m[i * cols + j]!;
      if (v === 0) continue;
      const zj = j * k;
      for (let c = 0; c < k; c++) z[zj + c]! += v * y[yi + c]!;
    }
  }
  return z;
}

/** Orthonormalizes the k columns of Y (n×k) in place by modified Gram–Schmidt, twice; a dependent column becomes zero. */
function orthonormalize(y: Float64Array, n: number, k: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let c = 0; c < k; c++) {
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += y[i * k + c]! * y[i * k + p]!;
        for (let i = 0; i < n; i++) y[i * k + c]! -= dot * y[i * k + p]!;
      }
      let norm = 0;
      for (let i = 0; i < n; i++) norm += y[i * k + c]! ** 2;
      norm = Math.sqrt(norm);
      for (let i = 0; i < n; i++) y[i * k + c] = norm > 1e-300 ? y[i * k + c]! / norm : 0;
    }
  }
}

/**
 * One-sided Jacobi SVD of C (n×k, row-major, n ≥ 1): rotates column pairs until all are orthogonal.
 * Returns the rotation J (k×k, row-major) with C·J = W, W's columns orthogonal, and their norms σ.
 */
function jacobi(c: Float64Array, n: number, k: number): { w: Float64Array; j: Float64Array; sigma: Float64Array } {
  const w = c;
  const j = new Float64Array(k * k);
  for (let i = 0; i < k; i++) j[i * k + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < k - 1; p++) {
      for (let q = p + 1; q < k; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < n; i++) {
          const a = w[i * k + p]!;
          const b = w[i * k + q]!;
          alpha += a * a;
          beta += b * b;
          gamma += a * b;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < n; i++) {
          const a = w[i * k + p]!;
          const b = w[i * k + q]!;
          w[i * k + p] = cs * a - sn * b;
          w[i * k + q] = sn * a + cs * b;
        }
        for (let i = 0; i < k; i++) {
          const a = j[i * k + p]!;
          const b = j[i * k + q]!;
          j[i * k + p] = cs * a - sn * b;
          j[i * k + q] = sn * a + cs * b;
        }
      }
    }
    if (!rotated) break;
  }
  const sigma = new Float64Array(k);
  for (let col = 0; col < k; col++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += w[i * k + col]! ** 2;
    sigma[col] = Math.sqrt(s);
  }
  return { w, j, sigma };
}

/**
 * Factors `m` (rows × cols, row-major) at rank `rank` (1 ≤ rank ≤ min(rows, cols)).
 * M ≈ Q·(Qᵀ·M); with B = Qᵀ·M (k×cols) and Bᵀ = V·Σ·Jᵀ by Jacobi, M ≈ (Q·J)·Σ·Vᵀ.
 */
export function lowRankFactors(m: Float64Array | Float32Array, rows: number, cols: number, rank: number, options: LowRankOptions = {}): LowRankFactors {
  const full = Math.min(rows, cols);
  if (!Number.isInteger(rank) || rank < 1 || rank > full) throw new RangeError(`rank must be an integer from 1 to ${full}, got ${rank}`);
  const matrix = m instanceof Float64Array ? m : Float64Array.from(m);
  let energy = 0;
  for (let i = 0; i < matrix.length; i++) energy += matrix[i]! ** 2;
  const k = Math.min(full, rank + (options.oversampling ?? 8));
  let q: Float64Array;
  if (k === rows) {
    // The sketch would span every row direction: the identity is an exact range.
    q = new Float64Array(rows * k);
    for (let i = 0; i < rows; i++) q[i * k + i] = 1;
  } else {
    const normal = gaussian(options.seed ?? 1);
    const omega = new Float64Array(cols * k);
    for (let i = 0; i < omega.length; i++) omega[i] = normal();
    q = multiply(matrix, rows, cols, omega, k);
    orthonormalize(q, rows, k);
    for (let it = 0; it < (options.powerIterations ?? 2); it++) {
      const z = multiplyTransposed(matrix, rows, cols, q, k);
      orthonormalize(z, cols, k);
      q = multiply(matrix, rows, cols, z, k);
      orthonormalize(q, rows, k);
    }
  }
  // Bᵀ = Mᵀ·Q (cols × k); Jacobi on it: Bᵀ·J = W = V·Σ.
  const bt = multiplyTransposed(matrix, rows, cols, q, k);
  const { w, j, sigma } = jacobi(bt, cols, k);
  const order = [...sigma.keys()].sort((a, b) => sigma[b]! - sigma[a]!);
  const left = new Float64Array(rows * rank);
  const right = new Float64Array(rank * cols);
  let kept = 0;
  for (let r = 0; r < rank; r++) {
    const col = order[r]!;
    const s = sigma[col]!;
    kept += s * s;
    // Left column r = Q·J[:, col] · σ (σ folded into the left factor); right row r = W[:, col] / σ.
    for (let i = 0; i < rows; i++) {
      let v = 0;
      for (let c = 0; c < k; c++) v += q[i * k + c]! * j[c * k + col]!;
      left[i * rank + r] = v * s;
    }
    for (let x = 0; x < cols; x++) right[r * cols + x] = s > 0 ? w[x * k + col]! / s : 0;
  }
  return {
    rank,
    rows,
    cols,
    left,
    right,
    singularValues: order.map((i) => sigma[i]!),
    energy,
    retained: energy > 0 ? Math.min(1, kept / energy) : 1,
  };
}
