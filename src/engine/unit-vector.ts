/** `vector` scaled to length 1 (L2); a zero vector stays zero. What both backends return as an embedding. */
export function unitVector(vector: readonly number[]): number[] {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum) || 1;
  return vector.map((v) => v / norm);
}
