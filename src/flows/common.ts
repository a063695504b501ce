import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO_CONFIG_PATH, parseRepoConfig, type RepoConfig } from '../config/repo-config.js';
import { ConfigError } from '../config/validate.js';
import { ClusterUnreachableError } from '../cluster/client.js';
import { UnknownClusterError } from '../cluster/connect.js';
import { RenderError } from '../render/types.js';
import { ArchiveTooLargeError } from '../source/extract.js';
import { UnsafePathError } from '../source/paths.js';
import type { Problem } from '../report/types.js';

/** Reads and validates `.github/mergeops.yml` from a checkout; a bad one is a problem, not a crash. */
export async function readConfig(dir: string, defaultBranch: string): Promise<RepoConfig | { problem: Problem }> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, REPO_CONFIG_PATH), 'utf8');
  } catch {
    return { problem: { message: `no ${REPO_CONFIG_PATH} in this revision; add one that lists your apps (see the mergeops README)` } };
  }
  try {
    return parseRepoConfig(text, defaultBranch);
  } catch (err) {
    if (err instanceof ConfigError) return { problem: { message: `invalid config: ${err.message}`, file: REPO_CONFIG_PATH, line: 1 } };
    throw err;
  }
}

/** Turns the failures a user can act on into problems; anything else is ours and is retried. */
export function toProblem(err: unknown): Problem {
  if (err instanceof RenderError) {
    const p: Problem = { message: err.message };
    if (err.file) p.file = err.file;
    if (err.line) p.line = err.line;
    return p;
  }
  if (err instanceof ClusterUnreachableError || err instanceof UnknownClusterError) return { message: err.message };
  throw err;
}

/** A refused repository archive is the repo's problem; any other fetch failure is ours. */
export function archiveProblem(err: unknown): Problem | null {
  if (err instanceof UnsafePathError) return { message: `the repository archive was refused: ${err.message} (entry "${err.entry}")` };
  if (err instanceof ArchiveTooLargeError) return { message: err.message };
  return null;
}
