import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The checkout: the nearest folder up holding tsconfig.build.json (the benchmark runs this compiled, from dist-bench/). */
function checkout(): string {
  for (let dir = fileURLToPath(new URL('.', import.meta.url)); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'tsconfig.build.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('no tsconfig.build.json above test/support/build: run from a checkout of mergeops');
  }
}
export const ROOT = checkout();
/**
 * Compiled once per run (incrementally), outside dist/ so a developer's build is not touched,
 * laid out as an install is: `dist/` beside `package.json` (the CLI's version and the
 * reproduce line's image tag read it from there).
 */
const INSTALL = path.join(ROOT, '.cache', 'reliability');
export const OUT = path.join(INSTALL, 'dist');

/** `tsc -p tsconfig.build.json` into OUT; returns the path of main.js, as `node dist/main.js` runs. */
export async function compiledMain(): Promise<string> {
  fs.mkdirSync(INSTALL, { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(INSTALL, 'package.json'));
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', OUT, '--incremental', '--tsBuildInfoFile', path.join(OUT, '.tsbuildinfo')]);
  return path.join(OUT, 'main.js');
}
