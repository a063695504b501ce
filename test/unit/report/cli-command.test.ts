import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';
import { IMAGE_REPOSITORY, cliCommand } from '../../../src/report/cli-command.js';
import { version } from '../../../src/version.js';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}

describe('the commands reports tell people to run', () => {
  it("run this project's CLI from the image the chart installs, at this version", () => {
    const values = yaml.load(fs.readFileSync('charts/mergeops/values.yaml', 'utf8')) as { image: { repository: string } };
    const chart = yaml.load(fs.readFileSync('charts/mergeops/Chart.yaml', 'utf8')) as { appVersion: string };
    expect(IMAGE_REPOSITORY).toBe(values.image.repository);
    expect(version()).toBe(String(chart.appVersion));
    expect(cliCommand('render web', '', { cluster: false })).toBe(`docker run --rm -u "$(id -u)" -v "$PWD:/repo" ${IMAGE_REPOSITORY}:${version()} node dist/cli.js render web --dir /repo`);
    // The image's CLI is at that path (the Dockerfile copies dist/ into its WORKDIR /app).
    const dockerfile = fs.readFileSync('Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(fs.existsSync('src/cli.ts')).toBe(true);
  });

  it('never name an npm package this project does not publish (npx mergeops)', () => {
    const offenders = [...sources('src'), 'README.md', 'charts/mergeops/README.md', 'docs/architecture.md', '.env.example'].filter((f) => /\bnpx mergeops\b/.test(fs.readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
