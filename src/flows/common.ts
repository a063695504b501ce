import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO_CONFIG_PATH, parseRepoConfig, type RepoConfig } from '../config/repo-config.js';
import { toProblem, type Problem } from '../errors.js';

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
    return { problem: toProblem(err) };
  }
}
