import fs from 'node:fs/promises';
import path from 'node:path';
import { dumpYaml } from '../yaml.js';

/** One deployable folder found in a repository without a config. */
export interface DetectedApp {
  name: string;
  path: string;
  kind: 'kustomize' | 'helm' | 'plain';
}

const SKIP = new Set(['.git', '.github', 'node_modules', 'vendor', 'test', 'tests', 'testdata', 'examples', 'docs']);
const MAX_APPS = 20;
const MAX_DEPTH = 6;
const MANIFEST = /^\s*apiVersion:\s*\S+/m;
const KIND = /^\s*kind:\s*[A-Z]\w*/m;

/**
 * Folders mergeops could deploy, as Renovate's onboarding detects package files: a
 * kustomization (the top one of an overlay tree: `overlays/prod`, not its bases, which it
 * includes), a Helm chart (not its `charts/` subcharts), else folders of Kubernetes manifests
 * (YAML with apiVersion and kind). A folder inside a found app is not another app.
 */
export async function detectApps(root: string): Promise<DetectedApp[]> {
  const found: DetectedApp[] = [];
  const bases = new Set<string>();
  async function walk(rel: string, depth: number): Promise<void> {
    if (depth > MAX_DEPTH || found.length >= MAX_APPS * 4) return;
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
    const names = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    if (names.has('Chart.yaml')) {
      found.push({ name: '', path: rel, kind: 'helm' });
      return;
    }
    const kz = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].find((n) => names.has(n));
    if (kz) {
      found.push({ name: '', path: rel, kind: 'kustomize' });
      // What it includes from elsewhere is a base, not an app of its own.
      const text = await fs.readFile(path.join(root, rel, kz), 'utf8').catch(() => '');
      for (const m of text.matchAll(/^\s*-\s*(\.\.?\/[^\s#]+)/gm)) bases.add(path.posix.normalize(path.posix.join(rel, m[1] ?? '')));
    } else {
      const yamls = [...names].filter((n) => /\.ya?ml$/.test(n));
      for (const y of yamls) {
        const text = await fs.readFile(path.join(root, rel, y), 'utf8').catch(() => '');
        if (MANIFEST.test(text) && KIND.test(text)) {
          found.push({ name: '', path: rel, kind: 'plain' });
          break;
        }
      }
    }
    for (const e of entries) if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.')) await walk(rel ? `${rel}/${e.name}` : e.name, depth + 1);
  }
  await walk('', 0);
  const apps = found
    .filter((a) => a.path !== '' && !bases.has(a.path))
    .filter((a) => !found.some((b) => b !== a && b.kind !== 'plain' && a.path.startsWith(`${b.path}/`)))
    .sort((a, b) => a.path.localeCompare(b.path))
    .slice(0, MAX_APPS);
  const used = new Set<string>();
  for (const a of apps) a.name = uniqueName(a.path, used);
  return apps;
}

/** `apps/web/overlays/prod` → `web-prod`: short, DNS-1123, unique in the file. */
function uniqueName(p: string, used: Set<string>): string {
  const parts = p.split('/').filter((s) => !['apps', 'deploy', 'k8s', 'kubernetes', 'manifests', 'overlays', 'charts', 'clusters'].includes(s));
  const base = (parts.slice(-2).join('-') || p.replace(/\//g, '-')).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'app';
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
  used.add(name);
  return name;
}

export const ONBOARDING_BRANCH = 'mergeops/onboarding';
export const ONBOARDING_TITLE = 'Set up mergeops';

/** The proposed `.github/mergeops.yml`: what was detected, with the keys a reviewer should decide on. */
export function onboardingConfig(apps: DetectedApp[]): string {
  const header = [
    '# mergeops: every app below previews on pull requests and deploys when merged.',
    '# Detected from this repository; check each path and add namespace/cluster where needed.',
    '# Reference: the mergeops README, "Configuration reference". Delete an app to leave it alone.',
  ].join('\n');
  const body = dumpYaml({ apps: apps.map((a) => ({ name: a.name, path: a.path, prune: true, wait: '5m' })) });
  return `${header}\n${body}`;
}

export function onboardingBody(apps: DetectedApp[], defaultBranch: string): string {
  const rows = apps.map((a) => `| \`${a.name}\` | \`${a.path}\` | ${a.kind} |`);
  return [
    '<!-- mergeops:onboarding -->',
    'This repository has no `.github/mergeops.yml`, so mergeops ignores it. This pull request proposes one with the folders mergeops found:',
    '',
    '| App | Path | Rendered with |',
    '|---|---|---|',
    ...rows,
    '',
    `**Merging** turns mergeops on: pull requests into \`${defaultBranch}\` get a preview of what they change in the cluster, and merges deploy (with \`prune: true\`, objects later removed from Git are deleted). The clusters and namespaces each app may reach are the operator's grant, not this file.`,
    '',
    'Edit the file on this branch first if a path is wrong, or add `namespace:` and `cluster:`; this PR gets a preview of its own once the file is here. **Closing** it without merging is a "no": mergeops will not ask again.',
  ].join('\n');
}
