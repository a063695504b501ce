import type { StandInReply } from './stand-in.js';

/** GitHub's compare API lists at most this many changed files for a whole comparison. */
export const GITHUB_COMPARE_FILES = 300;

/**
 * GitHub's answer to `GET /repos/{owner}/{repo}/compare/{base}...{head}` over two known
 * trees of files: the fields the REST docs mark required, the changed files (added,
 * removed, modified) cut at 300 as GitHub cuts them, and 404 for a commit GitHub does not
 * have. The merge base is taken to be `base` (the stand-ins' commits have no history).
 */
export function compareReply(apiBase: string, repo: { owner: string; name: string }, basehead: string, filesOf: (sha: string) => Record<string, string | { symlink: string }> | undefined): StandInReply {
  const [base = '', head = ''] = decodeURIComponent(basehead).split('...');
  const a = filesOf(base);
  const b = filesOf(head);
  if (!a || !b) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/commits/commits#compare-two-commits', status: '404' }];
  const same = (f: string): boolean => JSON.stringify(a[f]) === JSON.stringify(b[f]);
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => !same(f)).sort();
  const web = `https://github.com/${repo.owner}/${repo.name}`;
  const files = names.slice(0, GITHUB_COMPARE_FILES).map((filename) => {
    const status = a[filename] === undefined ? 'added' : b[filename] === undefined ? 'removed' : 'modified';
    const lines = (t: unknown): number => (typeof t === 'string' ? t.split('\n').length : 1);
    const additions = status === 'removed' ? 0 : lines(b[filename]);
    const deletions = status === 'added' ? 0 : lines(a[filename]);
    return {
      sha: '0'.repeat(40),
      filename,
      status,
      additions,
      deletions,
      changes: additions + deletions,
      blob_url: `${web}/blob/${head}/${filename}`,
      raw_url: `${web}/raw/${head}/${filename}`,
      contents_url: `${apiBase}/repos/${repo.owner}/${repo.name}/contents/${filename}?ref=${head}`,
    };
  });
  const commit = (sha: string) => ({ sha, url: `${apiBase}/repos/${repo.owner}/${repo.name}/commits/${sha}`, html_url: `${web}/commit/${sha}`, parents: [] });
  return [
    200,
    {
      url: `${apiBase}/repos/${repo.owner}/${repo.name}/compare/${base}...${head}`,
      html_url: `${web}/compare/${base}...${head}`,
      permalink_url: `${web}/compare/${repo.owner}:${base}...${repo.owner}:${head}`,
      diff_url: `${web}/compare/${base}...${head}.diff`,
      patch_url: `${web}/compare/${base}...${head}.patch`,
      base_commit: commit(base),
      merge_base_commit: commit(base),
      status: names.length ? 'ahead' : 'identical',
      ahead_by: names.length ? 1 : 0,
      behind_by: 0,
      total_commits: names.length ? 1 : 0,
      commits: names.length ? [commit(head)] : [],
      files,
    },
  ];
}
