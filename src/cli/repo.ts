import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CliError, REPO_NAME } from './arguments.js';

/** `owner/name` from any usual Git remote URL (https, ssh, scp-like); null when it has none. */
export function repoFromRemote(url: string): string | null {
  const u = url.trim();
  // A local path or file:// remote names no GitHub repository.
  if (/^(file:|\/|\.|~)/.test(u)) return null;
  const parts = u
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .split(/[/:]/)
    .filter((p) => p !== '');
  const name = parts.slice(-2).join('/');
  return parts.length >= 3 && REPO_NAME.test(name) ? name : null;
}

function git(dir: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['-C', dir, ...args], { timeout: 5000, env }, (err, stdout) => resolve(err ? null : stdout.trim()));
  });
}

/** --repo, else owner/name of the `origin` remote, else local/local (a checkout never pushed). */
export async function repoName(explicit: string | undefined, dir: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (explicit !== undefined) return explicit;
  const url = await git(dir, ['config', '--get', 'remote.origin.url'], env);
  return (url && repoFromRemote(url)) ?? 'local/local';
}

/** Where a checkout remembers its repository's id: inside .git, never committed. */
async function cacheFile(dir: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  const gitDir = await git(dir, ['rev-parse', '--absolute-git-dir'], env);
  return gitDir ? path.join(gitDir, 'mergeops-repo-id') : null;
}

/**
 * The GitHub repository id the inventory labels carry. The GitHub API is not needed (nor
 * reachable offline): --repo-id once, remembered per repository name in .git; without
 * either this stops and says how to get it, rather than diffing under id 0, where the
 * deletions the app would make are invisible.
 */
export async function resolveRepoId(explicit: number | undefined, repo: string, dir: string, env: NodeJS.ProcessEnv): Promise<number> {
  const file = await cacheFile(dir, env);
  const cached = file ? ((): Record<string, number> => {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  })() : {};
  if (explicit !== undefined) {
    if (file && cached[repo] !== explicit) fs.writeFileSync(file, `${JSON.stringify({ ...cached, [repo]: explicit })}\n`);
    return explicit;
  }
  const remembered = cached[repo];
  if (typeof remembered === 'number') return remembered;
  const gh = repo === 'local/local' ? 'OWNER/NAME' : repo;
  throw new CliError(
    `which GitHub repository id do ${repo}'s objects carry? mergeops finds what the GitHub App deployed (and would delete) by the label mergeops.dev/repo-id; ` +
      `pass --repo-id $(gh api repos/${gh} --jq .id) once${file ? ' (remembered in .git/mergeops-repo-id)' : ''}, or --repo-id 0 for objects only this CLI applied`,
  );
}
