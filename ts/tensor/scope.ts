// Deterministic release of native memory: tidy() frees every tensor created inside it except
// those it returns (or keep()s). The garbage collector still frees forgotten tensors, but late.

/** Anything with a dispose() that scopes can track. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

/** Called by every Tensor on creation. */
export function track(t: Disposable): void {
  const top = stack[stack.length - 1];
  if (top && !kept.has(t)) top.add(t);
}

/** Exempts a tensor from every enclosing tidy() scope; the caller disposes it. */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (typeof (value as Disposable).dispose === 'function' && 'isDisposed' in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype || value instanceof Map) {
    for (const v of value instanceof Map ? value.values() : Object.values(value)) collect(v, out, depth + 1);
  }
}

/**
 * Runs `fn` and disposes every tensor created during it, except tensors reachable from its
 * result (directly, in arrays, or in plain objects) and tensors passed to keep(). Returned tensors
 * move to the enclosing scope. `fn` must be synchronous: an async scope would capture tensors of
 * unrelated work that runs while it awaits.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy: the function returned a Promise; tidy scopes must be synchronous (dispose async results yourself)');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  const parent = stack[stack.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Disposes tensors (and arrays/objects of them). */
export function dispose(...values: unknown[]): void {
  const all = new Set<Disposable>();
  for (const v of values) collect(v, all);
  for (const t of all) t.dispose();
}
