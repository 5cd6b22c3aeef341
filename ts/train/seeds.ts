// Derived seeds: one run seed gives an independent, reproducible stream per purpose and index.

/** A 53-bit seed from (seed, purpose, index) via a splitmix-style hash. */
export function streamSeed(seed: number, purpose: string, index = 0): number {
  let h = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n);
  for (const ch of `${purpose}#${index}`) {
    h = BigInt.asUintN(64, (h ^ BigInt(ch.codePointAt(0)!)) * 0xbf58476d1ce4e5b9n);
    h ^= h >> 31n;
  }
  h = BigInt.asUintN(64, h * 0x94d049bb133111ebn);
  h ^= h >> 29n;
  return Number(h & ((1n << 53n) - 1n));
}
