// A one-line progress display: redrawn in place on a terminal, one line every `every` updates when
// the output is a file or a pipe (logs stay readable).
export interface ProgressLine {
  update(done: number, total: number, text?: string): void;
  /** Ends the line (the next output starts on a fresh one). */
  done(text?: string): void;
}

function bar(done: number, total: number, width = 24): string {
  const filled = Math.round((Math.min(done, total) / Math.max(total, 1)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const r = Math.round(s);
  return r >= 3600 ? `${Math.floor(r / 3600)}h${String(Math.floor((r % 3600) / 60)).padStart(2, '0')}m` : r >= 60 ? `${Math.floor(r / 60)}m${String(r % 60).padStart(2, '0')}s` : `${r}s`;
}

export function progressLine(label: string, out: NodeJS.WriteStream = process.stderr, every = 50): ProgressLine {
  const tty = !!out.isTTY;
  let open = false;
  return {
    update(done, total, text = '') {
      const line = `${label} ${bar(done, total)} ${done}/${total} ${text}`;
      if (tty) {
        out.write(`\r${line.slice(0, (out.columns || 120) - 1)}\x1b[K`);
        open = true;
      } else if (done % every === 0 || done === total) out.write(line + '\n');
    },
    done(text) {
      if (open) out.write('\n');
      open = false;
      if (text) out.write(text + '\n');
    },
  };
}
