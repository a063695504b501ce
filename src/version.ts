import fs from 'node:fs';

/**
 * This package's version (package.json, beside dist/ and src/ alike): `--version`, and the tag
 * of the image the reproduce commands run.
 */
export function version(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
