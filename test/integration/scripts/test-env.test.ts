import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * `npm test` runs scripts/test-env.sh first. These run it in a throwaway copy of the
 * project whose PATH is a folder of shims: only the tools each case allows are there, so a
 * "fresh machine" is whatever the case leaves out. Nothing here touches the real cache.
 */
const REPO = path.resolve('.');
const isRoot = process.getuid?.() === 0;

function which(cmd: string): string {
  const r = spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is needed by this test`);
  return r.stdout.trim();
}

let tmp: string;
let copy: string;
let shims: string;

/** A shim that logs its arguments to <name>.calls and runs `body` (bash). */
function fakeTool(name: string, body = 'exit 0'): void {
  const file = path.join(shims, name);
  fs.writeFileSync(file, `#!${which('bash')}\necho "$*" >> "${path.join(tmp, `${name}.calls`)}"\n${body}\n`, { mode: 0o755 });
}

function realTool(name: string): void {
  fs.symlinkSync(which(name), path.join(shims, name));
}

function calls(name: string): string[] {
  const f = path.join(tmp, `${name}.calls`);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [];
}

function run(opts: { asNobody: boolean; env?: Record<string, string> }): { status: number | null; stderr: string; ms: number } {
  const env = { PATH: shims, HOME: tmp, MERGEOPS_CACHE: path.join(tmp, 'cache'), ...opts.env };
  const argv = [which('bash'), path.join(copy, 'scripts/test-env.sh')];
  // As root, drop to nobody the way a developer's own account would run it.
  const cmd = opts.asNobody && isRoot ? [which('setpriv'), '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv] : argv;
  const start = Date.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: copy, env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - start };
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-test-env-'));
  fs.chmodSync(tmp, 0o777);
  copy = path.join(tmp, 'clone');
  shims = path.join(tmp, 'shims');
  fs.mkdirSync(path.join(copy, 'scripts'), { recursive: true });
  fs.mkdirSync(shims);
  for (const f of ['package.json', 'package-lock.json', 'scripts/test-env.sh', 'scripts/setup-test-env.sh']) fs.copyFileSync(path.join(REPO, f), path.join(copy, f));
  for (const t of ['bash', 'node', 'id', 'dirname', 'mkdir', 'cat', 'sort', 'head']) realTool(t);
  // The machine has these; docker-registry and cmark-gfm are "not installed".
  for (const t of ['redis-server', 'redis-sentinel', 'redis-cli', 'git', 'openssl']) fakeTool(t);
  fakeTool('npm', `mkdir -p node_modules && echo '{}' > node_modules/.package-lock.json`);
  // Binaries "already built": the envtest pair from KUBEBUILDER_ASSETS, tools by setting.
  const assets = path.join(tmp, 'assets');
  fs.mkdirSync(assets);
  for (const b of ['kube-apiserver', 'etcd', 'kustomize', 'helm', 'actionlint']) fs.writeFileSync(path.join(assets, b), '#!/bin/sh\n', { mode: 0o755 });
  fs.chmodSync(copy, 0o777);
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const binaries = (): Record<string, string> => ({
  KUBEBUILDER_ASSETS: path.join(tmp, 'assets'),
  MERGEOPS_KUSTOMIZE: path.join(tmp, 'assets/kustomize'),
  MERGEOPS_HELM: path.join(tmp, 'assets/helm'),
  MERGEOPS_ACTIONLINT: path.join(tmp, 'assets/actionlint'),
});

describe('scripts/test-env.sh (the set-up `npm test` does first)', () => {
  it('as a non-root user missing docker-registry and cmark-gfm, stops within seconds naming the exact command, before npm ci', () => {
    fakeTool('apt-get', 'exit 99');
    const r = run({ asNobody: true, env: binaries() });
    expect(r.status).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stderr).toContain('sudo apt-get install -y docker-registry cmark-gfm');
    expect(r.stderr).toContain('then npm test again');
    // It stopped at once: it neither tried apt-get itself nor went on to install Node deps.
    expect(calls('apt-get')).toEqual([]);
    expect(calls('npm')).toEqual([]);
  });

  it('without apt-get, names the packages to install with the local package manager', () => {
    const r = run({ asNobody: true, env: binaries() });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no apt-get');
    expect(r.stderr).toMatch(/Debian\/Ubuntu names: docker-registry cmark-gfm/);
  });

  (isRoot ? it : it.skip)('as root with apt, installs the missing packages, runs npm ci for a clone without node_modules, and finishes', () => {
    // The fake apt-get "installs" by putting the two commands on PATH.
    fakeTool('apt-get', `if [ "$1" = install ]; then for t in docker-registry cmark-gfm; do printf '#!/bin/sh\\n' > "${shims}/$t"; ${which('chmod')} +x "${shims}/$t"; done; fi`);
    const r = run({ asNobody: false, env: binaries() });
    expect(r.stderr).toContain('binaries ready');
    expect(r.status).toBe(0);
    expect(calls('apt-get')).toEqual(['update -qq', 'install -y -qq docker-registry cmark-gfm']);
    expect(calls('npm')).toEqual(['ci --no-audit --no-fund']);

    // A second run finds everything in place and installs nothing.
    const again = run({ asNobody: false, env: binaries() });
    expect(again.status).toBe(0);
    expect(calls('apt-get')).toHaveLength(2);
    expect(calls('npm')).toHaveLength(1);
  });

  (isRoot ? it : it.skip)('re-runs npm ci when package-lock.json is newer than the installed tree', () => {
    for (const t of ['docker-registry', 'cmark-gfm']) fakeTool(t);
    fs.mkdirSync(path.join(copy, 'node_modules'));
    fs.writeFileSync(path.join(copy, 'node_modules/.package-lock.json'), '{}');
    const old = new Date(Date.now() - 3600_000);
    fs.utimesSync(path.join(copy, 'node_modules/.package-lock.json'), old, old);
    const r = run({ asNobody: false, env: binaries() });
    expect(r.status).toBe(0);
    expect(calls('npm')).toEqual(['ci --no-audit --no-fund']);
  });

  it('with binaries to build and no Go on PATH, says what to install', () => {
    for (const t of ['docker-registry', 'cmark-gfm']) fakeTool(t);
    fs.mkdirSync(path.join(copy, 'node_modules'));
    fs.writeFileSync(path.join(copy, 'node_modules/.package-lock.json'), '{}');
    const r = run({ asNobody: true });
    expect(r.status).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.stderr).toMatch(/needs Go >= 1\.26, and go is not on PATH/);
    expect(r.stderr).toContain('KUBEBUILDER_ASSETS');
  });
});
