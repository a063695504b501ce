import fs from 'node:fs';

/**
 * This package's version (the nearest package.json above this module: beside dist/ and src/,
 * and two folders up from the benchmarks' dist-bench/src/): `--version`, and the tag of the
 * image the reproduce commands run.
 */
export function version(): string {
  for (let up = '../'; up.length <= 9; up += '../') {
    const file = new URL(`${up}package.json`, import.meta.url);
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  throw new Error('package.json not found above src/version.ts');
}
