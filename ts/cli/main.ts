#!/usr/bin/env node
// The `langevin` command. The only module that reads process.argv, prints, or handles signals.
import { parseArgs } from 'node:util';
import { buildInfo } from '../tensor/index.js';
import { runDemo } from './demo.js';

const usage = `langevin <command> [options]

Commands:
  demo            a short end-to-end run on this machine (smoke test until the DDPM demo lands)
  info [--json]   libtorch / CUDA / cuDNN versions, threads and CPU features of this build

Options:
  -h, --help      this text`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, threads: { type: 'string' } },
  });
  const [command] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return command || values.help ? 0 : 1;
  }
  switch (command) {
    case 'info': {
      const info = buildInfo();
      if (values.json) console.log(JSON.stringify(info, null, 2));
      else {
        console.log(`libtorch ${info.libtorch}, CUDA ${info.cudaAvailable ? `yes (${info.gpus} GPU, cuDNN ${info.cudnn})` : info.cudaCompiled ? 'compiled, no GPU visible' : 'no'}`);
        console.log(`threads ${info.threads}, CPU: ${Object.entries(info.cpu).filter(([, v]) => v === true).map(([k]) => k).join(', ')}, cores ${info.cpu.cores}`);
      }
      return 0;
    }
    case 'demo': {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      return runDemo({ signal: ac.signal, threads: values.threads ? Number(values.threads) : undefined, log: (s) => process.stdout.write(s) });
    }
    default:
      console.error(`langevin: unknown command '${command}' (see langevin --help)`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`langevin: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
