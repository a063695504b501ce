import { ANNOTATIONS_PER_REQUEST, type CheckOutput } from '../report/check.js';
import type { Octokit, RepoRef } from './types.js';
import { errorText } from '../errors.js';
import type { CheckName } from '../check-names.js';

/** The web address of the GitHub the client talks to: api.github.com → github.com, GHES /api/v3 → its host. */
export function webUrl(octokit: Octokit): string {
  const api = String(octokit.request.endpoint.DEFAULTS.baseUrl).replace(/\/+$/, '');
  return api === 'https://api.github.com' ? 'https://github.com' : api.replace(/\/api\/v3$/, '');
}

/** A check run's page; GitHub's html_url has this shape, and retries only keep the id. */
export function checkRunUrl(octokit: Octokit, r: RepoRef, id: number): string {
  return `${webUrl(octokit)}/${r.owner}/${r.repo}/runs/${id}`;
}

export async function startCheck(octokit: Octokit, r: RepoRef, name: CheckName, headSha: string): Promise<{ id: number; url: string | undefined }> {
  const res = await octokit.rest.checks.create({
    ...r,
    name,
    head_sha: headSha,
    status: 'in_progress',
    started_at: new Date().toISOString(),
    output: { title: 'Rendering and diffing against the live cluster…', summary: 'mergeops is working on this commit.' },
  });
  return { id: res.data.id, url: res.data.html_url ?? undefined };
}

/**
 * Completes a check run. GitHub takes at most 50 annotations per request, so the first
 * update carries the conclusion and the first 50, and further updates append the rest.
 */
export async function finishCheck(octokit: Octokit, r: RepoRef, checkRunId: number, out: CheckOutput): Promise<void> {
  const batches: CheckOutput['annotations'][] = [];
  for (let i = 0; i < out.annotations.length; i += ANNOTATIONS_PER_REQUEST) {
    batches.push(out.annotations.slice(i, i + ANNOTATIONS_PER_REQUEST));
  }
  const output = { title: out.title, summary: out.summary, text: out.text };
  // An empty list clears buttons an earlier update put on (a promotion done, a commit replaced).
  const actions = out.actions !== undefined ? { actions: out.actions } : {};
  const complete = (o: typeof output & { annotations: CheckOutput['annotations'] }) =>
    octokit.rest.checks.update({ ...r, check_run_id: checkRunId, status: 'completed', conclusion: out.conclusion, completed_at: new Date().toISOString(), output: o, ...actions });
  try {
    await complete({ ...output, annotations: batches[0] ?? [] });
  } catch (err) {
    // 422: GitHub will not take this output (size, an annotation it rejects). The same
    // request would fail again; the conclusion must still land, so it goes with less.
    if ((err as { status?: number }).status !== 422) throw err;
    const reason = errorText(err).split('\n')[0]?.slice(0, 300) ?? '';
    const summary = `${out.summary.slice(0, 60_000)}\n\n_GitHub refused the full output (HTTP 422: ${reason}); the details and annotations are left out._`;
    await complete({ title: out.title, summary, text: '', annotations: [] });
    return;
  }
  for (const batch of batches.slice(1)) {
    await octokit.rest.checks.update({ ...r, check_run_id: checkRunId, output: { ...output, annotations: batch } });
  }
}

/**
 * Creates a check run already completed: a report written after the work is done needs one
 * request, not a start and a finish. Annotations past GitHub's 50 per request follow as
 * updates; a 422 on the output posts the conclusion with a short one, as finishCheck does.
 */
export async function reportCheck(octokit: Octokit, r: RepoRef, name: CheckName, headSha: string, out: CheckOutput): Promise<{ id: number; url: string | undefined }> {
  const output = { title: out.title, summary: out.summary, text: out.text };
  const actions = out.actions?.length ? { actions: out.actions } : {};
  const now = new Date().toISOString();
  const create = (o: typeof output & { annotations: CheckOutput['annotations'] }) =>
    octokit.rest.checks.create({ ...r, name, head_sha: headSha, status: 'completed', conclusion: out.conclusion, started_at: now, completed_at: now, output: o, ...actions });
  let res: Awaited<ReturnType<typeof create>>;
  try {
    res = await create({ ...output, annotations: out.annotations.slice(0, ANNOTATIONS_PER_REQUEST) });
  } catch (err) {
    if ((err as { status?: number }).status !== 422) throw err;
    const reason = errorText(err).split('\n')[0]?.slice(0, 300) ?? '';
    const summary = `${out.summary.slice(0, 60_000)}\n\n_GitHub refused the full output (HTTP 422: ${reason}); the details and annotations are left out._`;
    res = await create({ title: out.title, summary, text: '', annotations: [] });
    return { id: res.data.id, url: res.data.html_url ?? undefined };
  }
  for (let i = ANNOTATIONS_PER_REQUEST; i < out.annotations.length; i += ANNOTATIONS_PER_REQUEST) {
    await octokit.rest.checks.update({ ...r, check_run_id: res.data.id, output: { ...output, annotations: out.annotations.slice(i, i + ANNOTATIONS_PER_REQUEST) } });
  }
  return { id: res.data.id, url: res.data.html_url ?? undefined };
}

/**
 * A check run in progress with a full output and buttons: a deploy waiting for a soak or an
 * approval. Created (with its first 50 annotations), or `id` updated; GitHub shows the
 * buttons on a run in progress, and its click arrives as `check_run.requested_action`.
 */
export async function holdCheck(octokit: Octokit, r: RepoRef, name: CheckName, headSha: string, out: CheckOutput, id?: number): Promise<{ id: number; url: string | undefined }> {
  const output = { title: out.title, summary: out.summary, text: out.text, annotations: out.annotations.slice(0, ANNOTATIONS_PER_REQUEST) };
  const actions = { actions: out.actions ?? [] };
  if (id !== undefined) {
    const res = await octokit.rest.checks.update({ ...r, check_run_id: id, status: 'in_progress', output, ...actions });
    return { id, url: res.data.html_url ?? undefined };
  }
  const res = await octokit.rest.checks.create({ ...r, name, head_sha: headSha, status: 'in_progress', started_at: new Date().toISOString(), output, ...actions });
  return { id: res.data.id, url: res.data.html_url ?? undefined };
}

/** Completes a check run as failed after a job ran out of attempts, so it never spins forever. */
export async function failCheck(octokit: Octokit, r: RepoRef, checkRunId: number, title: string, summary: string): Promise<void> {
  await octokit.rest.checks.update({ ...r, check_run_id: checkRunId, status: 'completed', conclusion: 'failure', output: { title, summary } });
}

/** Says on a check run that is still in progress what it is doing now (a deploy retrying after a transient failure). */
export async function progressCheck(octokit: Octokit, r: RepoRef, checkRunId: number, title: string, summary: string): Promise<void> {
  await octokit.rest.checks.update({ ...r, check_run_id: checkRunId, status: 'in_progress', output: { title, summary } });
}

/** Completes a check run as cancelled: its work was called off (a merge group left the queue). */
export async function cancelCheck(octokit: Octokit, r: RepoRef, checkRunId: number, summary: string): Promise<void> {
  await octokit.rest.checks.update({ ...r, check_run_id: checkRunId, status: 'completed', conclusion: 'cancelled', completed_at: new Date().toISOString(), output: { title: 'Cancelled', summary } });
}
