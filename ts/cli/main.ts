#!/usr/bin/env node
// The `langevin` command. The only module that reads process.argv, prints, or handles signals.
import { parseArgs } from 'node:util';
import { buildInfo } from '../tensor/index.js';
import { runDemo } from './demo.js';
import { modelInfo } from './model.js';
import { runDdpm } from './ddpm.js';
import { runJem } from './jem.js';
import { runMetrics } from './metrics.js';

const usage = `langevin <command> [options]

Commands:
  demo [--threads N] [--out DIR]
                  samples clothing from the shipped pretrained DDPM (DDIM) and trains it live
                  for 50 steps; writes DIR/samples.png (default ./langevin-demo)
  ddpm <train|sample|bpd> [options]
                  train a DDPM, sample a PNG grid, or compute bits/dim (langevin ddpm --help)
  jem <train|eval|sample> [options]
                  train JEM (or its CE baseline), evaluate accuracy/ECE/OOD/PGD, sample with SGLD
  metrics <fd|kid|is|stats> [options]
                  FD-FMNIST / KID / IS-FMNIST of samples against data, with the data floor
  info [--json]   libtorch / CUDA / cuDNN versions, threads and CPU features of this build
  model info <preset|weights.safetensors> [--json]
                  parameter count, MACs per sample and config (presets: ddpmCifar10, ddpm256,
                  ddpmSmall, ddpmTiny, wrn28-10, wrn10-2)

Options:
  -h, --help      this text`;

async function main(argv: string[]): Promise<number> {
  const runners = { ddpm: runDdpm, jem: runJem, metrics: runMetrics } as const;
  if (argv[0] in runners) {
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    return runners[argv[0] as keyof typeof runners](argv.slice(1), (s) => process.stdout.write(s), ac.signal);
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, threads: { type: 'string' }, out: { type: 'string' } },
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
    case 'model': {
      if (positionals[1] !== 'info') {
        console.error(`langevin: unknown model command '${positionals[1] ?? ''}' (try: langevin model info ddpmCifar10)`);
        return 1;
      }
      return modelInfo(positionals[2], !!values.json, (s) => process.stdout.write(s));
    }
    case 'demo': {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      const threads = values.threads === undefined ? undefined : Number(values.threads);
      if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`--threads must be a positive integer, got '${values.threads}'`);
      return runDemo({ signal: ac.signal, threads, out: values.out, log: (s) => process.stdout.write(s) });
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
