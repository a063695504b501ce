import { marker, parseMarker } from '../report/comment.js';
import { CHECK_NAMES } from '../check-names.js';
import type { CommentIdStore } from '../flows/host.js';
import type { Octokit, RepoRef } from './types.js';
import { errorText } from '../errors.js';

/**
 * Makes the PR's mergeops comments equal `bodies`: edits the existing parts in place,
 * posts missing ones and deletes parts no longer needed. The ids are remembered so a
 * push normally costs one PATCH and no listing; when the memory is missing or stale the
 * comments are found by their hidden marker, and only among comments of this app's own
 * bot account (`botLogin`, asked only then), so nobody — no person, no other app's bot —
 * can hijack the preview by posting the marker.
 */
export async function upsertComments(octokit: Octokit, r: RepoRef, pr: number, bodies: string[], store: CommentIdStore, botLogin: () => Promise<string>): Promise<number[]> {
  let ids = await store.get();
  if (ids && ids.length === bodies.length) {
    try {
      for (let i = 0; i < bodies.length; i++) {
        await writeComment(octokit, r, pr, bodies[i] as string, ids[i]);
      }
      return ids;
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
  }
  ids = await findComments(octokit, r, pr, await botLogin());
  const out: number[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i] as string;
    const existing = ids[i];
    out.push(await writeComment(octokit, r, pr, body, existing));
  }
  for (const extra of ids.slice(bodies.length)) await octokit.rest.issues.deleteComment({ ...r, comment_id: extra });
  await store.set(out);
  return out;
}

/**
 * Edits comment `id` (or posts a new one) with `body`. GitHub answers 422 when it will not
 * take a body (its length rules count differently from ours, say); sending the same body
 * again would fail the same way, so the part is replaced by a short pointer to the check
 * run, which holds the full preview, and keeps its marker so the next push edits it.
 */
async function writeComment(octokit: Octokit, r: RepoRef, pr: number, body: string, id: number | undefined): Promise<number> {
  const write = async (text: string): Promise<number> => {
    if (id !== undefined) {
      await octokit.rest.issues.updateComment({ ...r, comment_id: id, body: text });
      return id;
    }
    return (await octokit.rest.issues.createComment({ ...r, issue_number: pr, body: text })).data.id;
  };
  try {
    return await write(body);
  } catch (err) {
    if ((err as { status?: number }).status !== 422) throw err;
    const part = parseMarker(body) ?? 1;
    const reason = errorText(err).split('\n')[0]?.slice(0, 300) ?? '';
    // The heading names the commit, so the pointer still says which push it is about.
    const heading = body.split('\n').find((l) => l.startsWith('### '));
    return write(`${marker(part)}\n${heading ? `${heading}\n\n` : ''}**mergeops preview, part ${part}**: GitHub refused this comment (HTTP 422: ${reason}). The full preview is in the \`${CHECK_NAMES.preview}\` check run of this commit.\n`);
  }
}

async function findComments(octokit: Octokit, r: RepoRef, pr: number, botLogin: string): Promise<number[]> {
  const comments = await octokit.paginate(octokit.rest.issues.listComments, { ...r, issue_number: pr, per_page: 100 });
  return comments
    .filter((c) => c.user?.type === 'Bot' && c.user.login === botLogin)
    .map((c) => ({ id: c.id, part: parseMarker(c.body) }))
    .filter((c): c is { id: number; part: number } => c.part !== null)
    .sort((a, b) => a.part - b.part)
    .map((c) => c.id);
}

/**
 * The login GitHub gives this app's comments, `<app slug>[bot]`, from `GET /app` (an
 * App-JWT call: `appOctokit` must be the app's client, not an installation's).
 */
export async function appBotLogin(appOctokit: Octokit): Promise<string> {
  const { data } = await appOctokit.rest.apps.getAuthenticated();
  if (!data?.slug) throw new Error('GET /app answered without the app\'s slug');
  return `${data.slug}[bot]`;
}
