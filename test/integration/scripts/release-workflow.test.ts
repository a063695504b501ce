import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { cacheDir } from '../../../src/render/exec.js';

/**
 * The release workflow (.github/workflows/release.yml), linted with actionlint built from
 * its Go module by scripts/setup-test-env.sh (pinned, cached by version), and held to the
 * release rules actionlint does not know: actions pinned by commit SHA, both platforms,
 * the chart pushed as an OCI artifact, the Dockerfile's base images pinned by digest.
 */
const WORKFLOW = path.resolve('.github/workflows/release.yml');
const VERSION = /ACTIONLINT_VERSION:-([0-9.]+)/.exec(fs.readFileSync(path.resolve('scripts/setup-test-env.sh'), 'utf8'))?.[1];
const actionlint = process.env['MERGEOPS_ACTIONLINT'] || path.join(cacheDir(), 'bin', `actionlint-v${VERSION}`);

/** actionlint on one workflow file. */
function lint(file: string): { status: number | null; out: string } {
  // No shellcheck/pyflakes from PATH: the same checks on every machine.
  const r = spawnSync(actionlint, ['-no-color', '-shellcheck=', '-pyflakes=', file], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

describe('the release workflow', () => {
  let tmp: string;
  const text = fs.readFileSync(WORKFLOW, 'utf8');
  const steps = (): Step[] => Object.values((parse(text) as { jobs: Record<string, { steps: Step[] }> }).jobs).flatMap((j) => j.steps);

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-release-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it(`passes actionlint v${VERSION} (built by scripts/setup-test-env.sh)`, () => {
    expect(fs.existsSync(actionlint)).toBe(true);
    const r = lint(WORKFLOW);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails actionlint when broken: a copy reading an output no step sets, and granting a permission level that does not exist', () => {
    const bad = text.replace('${{ steps.meta.outputs.image }}:', '${{ steps.nope.outputs.image }}:').replace('      packages: write', '      packages: writ');
    expect(bad.match(/steps\.nope|packages: writ$/gm)).toHaveLength(2);
    const file = path.join(tmp, 'release.yml');
    fs.writeFileSync(file, bad);
    const r = lint(file);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/property "nope" is not defined/);
    expect(r.out).toMatch(/"writ" is invalid as permission of scope "packages"/);
  });

  it('pins every action by a full commit SHA, with the tag it was in a comment', () => {
    const uses = text.split('\n').filter((l) => /^\s*(-\s+)?uses:/.test(l));
    expect(uses.length).toBeGreaterThanOrEqual(6);
    for (const line of uses) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it('builds linux/amd64 and linux/arm64 with QEMU and Buildx, pushes to ghcr.io, and pushes the chart as an OCI artifact on a v* tag', () => {
    const on = (parse(text) as { on: { push: { tags: string[] } } }).on;
    expect(on.push.tags).toEqual(['v*']);
    const action = (name: string): Step | undefined => steps().find((s) => s.uses?.startsWith(`${name}@`));
    expect(action('docker/setup-qemu-action')).toBeDefined();
    expect(action('docker/setup-buildx-action')).toBeDefined();
    expect(action('docker/build-push-action')?.with).toMatchObject({ platforms: 'linux/amd64,linux/arm64', push: true });
    expect(action('docker/login-action')?.with).toMatchObject({ registry: '${{ env.REGISTRY }}' });
    expect(text).toContain('REGISTRY: ghcr.io');
    const chart = steps().find((s) => s.run?.includes('helm push'))?.run ?? '';
    expect(chart).toMatch(/helm package charts\/mergeops --version "\$VERSION"/);
    expect(chart).toMatch(/helm push "dist-chart\/mergeops-\$VERSION\.tgz" "\$CHARTS"/);
    expect(text).toContain('echo "charts=oci://$REGISTRY/$owner/charts"');
  });

  it("pins the Dockerfile's base images by digest", () => {
    const dockerfile = fs.readFileSync(path.resolve('Dockerfile'), 'utf8');
    const images = [...dockerfile.matchAll(/^ARG \w+_IMAGE=(\S+)$/gm)].map((m) => m[1] as string);
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const image of images) expect(image).toMatch(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    // Every FROM uses one of them (or an earlier stage): nothing unpinned sneaks in.
    const stages = [...dockerfile.matchAll(/^FROM .* AS (\w+)$/gm)].map((m) => m[1]);
    for (const m of dockerfile.matchAll(/^FROM (?:--platform=\S+ )?(\S+)/gm)) expect([...stages, '${NODE_IMAGE}', '${GO_IMAGE}']).toContain(m[1]);
  });
});
