import { escapeMd, mdCode, mdLink } from './markdown.js';

/**
 * The deploy dashboard: one issue per repository showing every app × environment, with
 * checkboxes that act (as Renovate's Dependency Dashboard does). Pure: the flow gathers a
 * DashboardView, this renders it, and reads back which boxes a person ticked.
 */

/** Found again by this marker (and the label, and our bot as author), never by title. */
export const DASHBOARD_MARKER = '<!-- mergeops:dashboard -->';
export const DASHBOARD_LABEL = 'mergeops-dashboard';
/** GitHub refuses an issue body (and a comment) over 65,536 characters; room is left for its own counting. */
export const DASHBOARD_BODY_LIMIT = 65_000;
/** Boxes shown at most: a person scans a short list; the rest are counted. */
export const MAX_BOXES = 60;
/** Recent deploys and action lines kept and shown. */
export const RECENT_DEPLOYS = 10;
export const RECENT_ACTIONS = 10;

export type UnitState = 'healthy' | 'failed' | 'held' | 'not-started';

/** One report of one app in one environment: what the last deploy that touched it did. */
export interface UnitRecord {
  sha: string;
  pr?: number;
  /** ISO time the report was made. */
  at: string;
  state: UnitState;
  checkUrl?: string;
}

/** One app in one environment, as the dashboard shows it. */
export interface DashboardUnit {
  /** The config's app name (`web · staging` for an environment unit), what locks and commands use. */
  unit: string;
  /** The app as written in the config (`web`). */
  app: string;
  environment?: string;
  /** The branch it deploys from: a re-run applies that branch's commit. */
  branch: string;
  /** The last successful deploy (health included). */
  deployed?: UnitRecord;
  /** The last report when it did not end healthy (failed, held, not started): newer than `deployed`. */
  last?: UnitRecord;
  drift?: { objects: number; fields: string[]; checkUrl?: string; at: string };
  lock?: { key: string; by: string; reason: string; at: string };
  /** The commit waiting here for a person's promotion (an environment's approval gate). */
  pending?: { sha: string; role: string; since: string };
}

export interface DashboardDeploy {
  sha: string;
  pr?: number;
  branch: string;
  at: string;
  checkUrl?: string;
  units: { unit: string; state: UnitState }[];
}

export interface DashboardPull {
  number: number;
  title: string;
  kind: 'bump' | 'rollback';
}

export interface DashboardView {
  /** `owner/name`. */
  repo: string;
  /** `https://github.com` or a GHES host. */
  serverUrl: string;
  /** ISO time of this render. */
  at: string;
  /** Environments in rollout order; null: the config has none (one column). */
  environments: string[] | null;
  units: DashboardUnit[];
  pulls: DashboardPull[];
  deploys: DashboardDeploy[];
  /** What people did through the boxes, newest first (already Markdown). */
  actions: string[];
}

/** What a box does. `target` is a unit's cluster name (`web.staging`), `*` for a repo-wide lock, or a commit. */
export type BoxKind = 'unlock' | 'redeploy' | 'rerun' | 'approve';
const BOX_KINDS: readonly BoxKind[] = ['unlock', 'redeploy', 'rerun', 'approve'];

/**
 * A box is named by what it acts on and the state it was drawn for (`version`: the lock's
 * time, the deployed commit, the failed commit): the same box ticked twice is one action,
 * and a box drawn for an older state never acts on a newer one.
 */
export interface BoxRef {
  kind: BoxKind;
  target: string;
  version: string;
}

export function boxId(b: BoxRef): string {
  return `${b.kind} ${b.target} ${b.version}`;
}

/** Targets and versions are names, commits and numbers: no spaces, nothing that ends an HTML comment. */
const TOKEN = /^[A-Za-z0-9._*:+-]{1,100}$/;

function boxLine(b: BoxRef, text: string): string {
  return `- [ ] <!-- mergeops-box ${boxId(b)} --> ${text}`;
}

const BOX_LINE = /^\s{0,3}[-*+] \[([ xX])\] <!-- mergeops-box ([a-z]+) (\S+) (\S+) -->/;

/** Every box of a body and whether it is ticked. Lines someone wrote themselves (no marker) are not boxes. */
export function parseBoxes(body: string | null | undefined): Map<string, { box: BoxRef; ticked: boolean }> {
  const out = new Map<string, { box: BoxRef; ticked: boolean }>();
  for (const line of (body ?? '').split(/\r?\n/)) {
    const m = BOX_LINE.exec(line);
    if (!m) continue;
    const kind = m[2] as BoxKind;
    const [target, version] = [m[3] as string, m[4] as string];
    if (!BOX_KINDS.includes(kind) || !TOKEN.test(target) || !TOKEN.test(version)) continue;
    const box = { kind, target, version };
    out.set(boxId(box), { box, ticked: m[1] !== ' ' });
  }
  return out;
}

/**
 * The boxes an edit ticked: ticked now, not ticked before (GitHub's `changes.body.from`).
 * A box already ticked before was acted on (or refused) for that earlier edit.
 */
export function tickedBoxes(before: string | null | undefined, after: string | null | undefined): BoxRef[] {
  const old = parseBoxes(before);
  return [...parseBoxes(after).values()].filter((b) => b.ticked && !old.get(boxId(b.box))?.ticked).map((b) => b.box);
}

/** `web · staging` → `web.staging`: the unit name without spaces, as boxes carry it. */
export function unitToken(unit: string): string {
  return unit.replace(/ · /g, '.');
}

const short = (sha: string): string => sha.slice(0, 7);
/** A link whose text is Markdown already (a `<code>` commit, an icon): mdLink would escape it. */
const linked = (markdown: string, url: string): string => `[${markdown}](${url.replace(/[()<> ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)})`;
const time = (iso: string): string => `${iso.replace('T', ' ').slice(0, 16)} UTC`;
const STATE_ICON: Record<UnitState, string> = { healthy: '✅', failed: '❌', held: '🔒 held', 'not-started': '⛔ not started' };

function commitText(v: DashboardView, r: UnitRecord): string {
  const commit = linked(mdCode(short(r.sha)), `${v.serverUrl}/${v.repo}/commit/${r.sha}`);
  return r.pr ? `${commit} #${r.pr}` : commit;
}

/** One table cell: deployed commit (its PR), when, health, a newer failure, drift, lock, what waits. */
function cell(v: DashboardView, u: DashboardUnit | undefined): string {
  if (!u) return '—';
  const parts: string[] = [];
  if (u.deployed) parts.push(`${commitText(v, u.deployed)} · ✅${u.deployed.at ? ` ${time(u.deployed.at)}` : ''}`);
  else parts.push('not deployed yet');
  if (u.last && u.last.state !== 'healthy') {
    const what = `${STATE_ICON[u.last.state]} ${mdCode(short(u.last.sha))}`;
    parts.push(u.last.checkUrl ? linked(what, u.last.checkUrl) : what);
  }
  if (u.drift) parts.push(u.drift.checkUrl ? mdLink(`⚠️ drift (${u.drift.objects})`, u.drift.checkUrl) : `⚠️ drift (${u.drift.objects})`);
  if (u.lock) parts.push(`🔒 @${escapeMd(u.lock.by)}${u.lock.reason ? `: ${escapeMd(u.lock.reason)}` : ''}`);
  if (u.pending) parts.push(`⏳ ${mdCode(short(u.pending.sha))} waits for approval (${escapeMd(u.pending.role)})`);
  return parts.join(' · ');
}

/** The boxes of the view, most urgent first: approvals, unlocks, re-runs of failures, re-deploys of drift. */
export function boxesOf(v: DashboardView): { box: BoxRef; text: string }[] {
  const out: { box: BoxRef; text: string }[] = [];
  const where = (u: DashboardUnit): string => `${mdCode(u.app)}${u.environment ? ` in **${escapeMd(u.environment)}**` : ''}`;
  // One box per environment and waiting commit: it promotes every unit of that commit waiting there.
  const waiting = new Map<string, DashboardUnit[]>();
  for (const u of v.units) if (u.pending && u.environment) waiting.set(`${u.environment} ${u.pending.sha}`, [...(waiting.get(`${u.environment} ${u.pending.sha}`) ?? []), u]);
  for (const us of waiting.values()) {
    const first = us[0] as DashboardUnit;
    const p = first.pending as NonNullable<DashboardUnit['pending']>;
    out.push({ box: { kind: 'approve', target: first.environment as string, version: p.sha }, text: `Promote ${mdCode(short(p.sha))} to **${escapeMd(first.environment as string)}** for ${us.map((u) => mdCode(u.app)).join(', ')} (waiting since ${time(p.since)}; needs ${escapeMd(p.role)})` });
  }
  const locks = new Map<string, DashboardUnit>();
  for (const u of v.units) if (u.lock && !locks.has(u.lock.key)) locks.set(u.lock.key, u);
  for (const [key, u] of locks) {
    const l = u.lock as NonNullable<DashboardUnit['lock']>;
    const what = key === '*' ? 'every app of this repository' : where(u);
    out.push({ box: { kind: 'unlock', target: unitToken(key), version: String(Date.parse(l.at)) }, text: `Unlock ${what} (locked by @${escapeMd(l.by)} ${time(l.at)}${l.reason ? `: ${escapeMd(l.reason)}` : ''}) and apply what was merged meanwhile` });
  }
  // A failed deploy: re-run that commit's deploy of the units it failed.
  const failed = new Map<string, DashboardUnit[]>();
  for (const u of v.units) if (u.last?.state === 'failed' && !u.lock) failed.set(u.last.sha, [...(failed.get(u.last.sha) ?? []), u]);
  for (const [s, us] of failed) out.push({ box: { kind: 'rerun', target: s, version: unitToken(us.map((u) => u.unit).sort().join('+')).slice(0, 100) }, text: `Re-run the failed deploy of ${mdCode(short(s))} for ${us.map(where).join(', ')}` });
  for (const u of v.units) {
    if (!u.drift || !u.deployed || u.lock) continue;
    out.push({ box: { kind: 'redeploy', target: unitToken(u.unit), version: u.deployed.sha }, text: `Re-deploy ${where(u)} at ${mdCode(short(u.deployed.sha))} (${u.drift.objects} object${u.drift.objects === 1 ? '' : 's'} drifted${u.drift.fields.length ? `: ${u.drift.fields.slice(0, 3).map(mdCode).join(', ')}` : ''})` });
  }
  return out;
}

/** The table's rows: one per app, one column per environment (or a single one). */
function tableLines(v: DashboardView): { head: string[]; rows: string[] } {
  const envs = v.environments ?? [];
  const apps = [...new Set(v.units.map((u) => u.app))];
  if (envs.length === 0) {
    return { head: ['| App | Deployed |', '|---|---|'], rows: apps.map((a) => `| ${mdCode(a)} | ${cell(v, v.units.find((u) => u.app === a))} |`) };
  }
  return {
    head: [`| App | ${envs.map(escapeMd).join(' | ')} |`, `|---|${envs.map(() => '---').join('|')}|`],
    rows: apps.map((a) => `| ${mdCode(a)} | ${envs.map((e) => cell(v, v.units.find((u) => u.app === a && u.environment === e))).join(' | ')} |`),
  };
}

function deployLine(v: DashboardView, d: DashboardDeploy): string {
  const counts = (['healthy', 'failed', 'held', 'not-started'] as UnitState[]).flatMap((s) => {
    const n = d.units.filter((u) => u.state === s).length;
    return n ? [`${STATE_ICON[s]} ${n}`] : [];
  });
  const failed = d.units.filter((u) => u.state === 'failed').map((u) => mdCode(u.unit));
  const check = d.checkUrl ? ` — ${mdLink('check', d.checkUrl)}` : '';
  return `- ${time(d.at)} ${commitText(v, { sha: d.sha, at: d.at, state: 'healthy', ...(d.pr ? { pr: d.pr } : {}) })} on ${mdCode(d.branch)}: ${counts.join(', ') || 'nothing applied'}${failed.length ? ` (failed: ${failed.slice(0, 10).join(', ')}${failed.length > 10 ? ', …' : ''})` : ''}${check}`;
}

/**
 * The issue body, and continuation pages when the table does not fit GitHub's limit (posted
 * as comments on the issue, each starting with `continuation(n)`). Nothing is dropped
 * silently: boxes beyond MAX_BOXES are counted, table rows go on the next page.
 */
export function formatDashboard(v: DashboardView, limit = DASHBOARD_BODY_LIMIT): string[] {
  const boxes = boxesOf(v);
  const shown = boxes.slice(0, MAX_BOXES);
  const last = v.deploys[0];
  const head = [
    DASHBOARD_MARKER,
    `## mergeops dashboard — ${escapeMd(v.repo)}`,
    '',
    `Updated ${time(v.at)}${last ? ` after the deploy of ${commitText(v, { sha: last.sha, at: last.at, state: 'healthy', ...(last.pr ? { pr: last.pr } : {}) })}` : ''}. Tick a box to act: mergeops checks your access first (the same rules as the \`/mergeops\` commands) and unticks it with a line below saying what happened.`,
    '',
    '### Waiting for you',
    ...(shown.length ? shown.map((b) => boxLine(b.box, b.text)) : ['Nothing: no lock, failure, drift or approval.']),
    ...(boxes.length > shown.length ? ['', `…and ${boxes.length - shown.length} more; they appear here as these are done.`] : []),
    '',
  ];
  const actions = v.actions.length ? ['### Done here', ...v.actions.slice(0, RECENT_ACTIONS).map((a) => `- ${a}`), ''] : [];
  const pulls = v.pulls.length ? ['### Open pull requests from mergeops', ...v.pulls.map((p) => `- #${p.number} ${escapeMd(p.title)}${p.kind === 'rollback' ? ' (rollback)' : ''}`), ''] : [];
  const deploys = v.deploys.length ? ['### Recent deploys', ...v.deploys.slice(0, RECENT_DEPLOYS).map((d) => deployLine(v, d)), ''] : [];
  const table = tableLines(v);
  const tail = [...pulls, ...deploys, ...actions];
  const size = (ls: string[]): number => ls.reduce((n, l) => n + l.length + 1, 0);
  const note = (n: number): string => `_The table goes on in ${n === 1 ? 'the comment' : `${n} comments`} below (GitHub's size limit for one issue)._`;
  // Everything in one body when it fits (the usual case).
  const whole = [...head, '### Apps', ...table.head, ...table.rows, '', ...tail];
  if (size(whole) <= limit) return [whole.join('\n')];
  // Otherwise the body keeps the boxes, what happened and as many rows as fit; the rest of
  // the table continues in comments, its header repeated on each.
  const reserve = 200;
  const pages: string[][] = [];
  let page = [...head, ...tail, '### Apps', ...table.head];
  for (const row of table.rows) {
    if (size(page) + row.length + 1 + reserve > limit) {
      pages.push(page);
      page = [`### Apps (continued)`, ...table.head];
    }
    page.push(row);
  }
  pages.push(page);
  const more = pages.length - 1;
  return pages.map((p, i) => (i === 0 ? [...p, '', note(more)] : [continuation(i + 1), ...p]).join('\n'));
}

/** The hidden first line of continuation page `n` (2, 3, …); the comment upsert finds the parts by it. */
export function continuation(n: number): string {
  return `<!-- mergeops:preview:part=${n} -->`;
}

/** One line for "Done here": who did what, and what came of it. */
export function actionLine(at: string, actor: string, box: BoxRef, ok: boolean, text: string): string {
  const what = box.kind === 'rerun' ? `re-run the deploy of ${mdCode(short(box.target))}` : box.kind === 'approve' ? `promote ${mdCode(short(box.version))} to ${mdCode(box.target)}` : `${box.kind} ${mdCode(box.target)}`;
  const said = text.split('\n').filter((l) => l.trim()).slice(0, 3).join(' ');
  return `${time(at)} @${escapeMd(actor)} ticked ${what}: ${ok ? '✅' : '❌'} ${said.length > 600 ? `${said.slice(0, 600)}…` : said}`;
}
