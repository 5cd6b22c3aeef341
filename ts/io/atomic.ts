// Atomic file writes: temp file in the same folder, fsync, rename (then fsync the folder).
import { open, rename, rm } from 'node:fs/promises';
import { openSync, writeSync, fsyncSync, closeSync, renameSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/** Writes all chunks to `path` so that readers see either the old file or the whole new one. */
export async function writeFileAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  const tmp = tempName(path);
  const fh = await open(tmp, 'w');
  try {
    for (const c of chunks) await fh.write(c);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  try {
    const dir = await open(dirname(path), 'r');
    await dir.sync();
    await dir.close();
  } catch {
    /* some filesystems cannot fsync a directory; the rename is still atomic */
  }
}

export function writeFileAtomicSync(path: string, chunks: Uint8Array[]): void {
  const tmp = tempName(path);
  const fd = openSync(tmp, 'w');
  try {
    for (const c of chunks) writeSync(fd, c);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
