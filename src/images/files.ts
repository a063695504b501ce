import fs from 'node:fs/promises';
import path from 'node:path';
import type { App, ImageRule } from '../config/repo-config.js';
import { detectKind } from '../render/index.js';
import { KUSTOMIZATION_FILES } from '../render/kustomize.js';
import { DEFAULT_HELM_KEYS, findImageUses } from './edit.js';
import type { ImageFile } from './plan.js';

const MAX_FILE_BYTES = 1024 * 1024;
const MAX_FILES = 5000;

/**
 * The files of `apps` (under each app's path) that can name an image: Helm values files
 * for charts, kustomizations and manifests for kustomize apps, manifests for plain apps.
 * When a kustomization sets the image (`images:`), that is the one place edited for the
 * app: the manifests' own tags are overridden anyway, and a bump PR should be one line.
 */
export async function collectImageFiles(checkout: string, apps: App[], rule: Pick<ImageRule, 'repository' | 'helmKeys'>): Promise<ImageFile[]> {
  const byPath = new Map<string, ImageFile>();
  for (const app of apps) {
    const kind = await detectKind(checkout, app);
    let files: ImageFile[];
    if (kind === 'helm') {
      const names = ['values.yaml', ...(app.helm?.valuesFiles ?? [])];
      files = (await Promise.all(names.map((n) => readFile(checkout, path.posix.join(app.path, n), 'helm-values')))).filter((f): f is ImageFile => f !== null);
    } else {
      files = [];
      for (const rel of await walkYaml(checkout, app.path)) {
        const isKustomization = kind === 'kustomize' && (KUSTOMIZATION_FILES as readonly string[]).includes(path.posix.basename(rel));
        const f = await readFile(checkout, rel, isKustomization ? 'kustomization' : 'manifests');
        if (f) files.push(f);
      }
      const keys = rule.helmKeys ?? DEFAULT_HELM_KEYS;
      const setByKustomize = files.some((f) => f.kind === 'kustomization' && findImageUses(f.kind, f.text, rule.repository, keys).length > 0);
      if (setByKustomize) files = files.filter((f) => f.kind === 'kustomization');
    }
    for (const f of files) byPath.set(f.path, f);
  }
  return [...byPath.values()];
}

/** A repo-relative file as UTF-8 text; null when missing, a symlink, too big or not UTF-8. */
async function readFile(checkout: string, rel: string, kind: ImageFile['kind']): Promise<ImageFile | null> {
  const abs = path.join(checkout, rel);
  const st = await fs.lstat(abs).catch(() => null);
  // Writing through the Git Data API would turn a symlink into a regular file: never edit one.
  if (!st?.isFile() || st.size > MAX_FILE_BYTES) return null;
  const bytes = await fs.readFile(abs);
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return null;
  return { path: rel, kind, text };
}

async function walkYaml(checkout: string, appPath: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(checkout, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (out.length >= MAX_FILES) return;
      const child = rel === '.' ? e.name : path.posix.join(rel, e.name);
      if (e.isDirectory()) await walk(child);
      else if (e.isFile() && (/\.ya?ml$/.test(e.name) || e.name === 'Kustomization')) out.push(child);
    }
  };
  await walk(appPath);
  return out;
}
