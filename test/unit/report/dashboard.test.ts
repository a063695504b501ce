import { describe, expect, it } from '@jest/globals';
import { DASHBOARD_MARKER, boxesOf, formatDashboard, parseBoxes, tickedBoxes, unitToken, type DashboardUnit, type DashboardView } from '../../../src/report/dashboard.js';
import { renderGfm, visibleText } from './cmark.js';

const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);

function view(units: DashboardUnit[], more: Partial<DashboardView> = {}): DashboardView {
  return { repo: 'acme/shop', serverUrl: 'https://github.com', at: '2026-12-07T02:00:00.000Z', environments: null, units, pulls: [], deploys: [], actions: [], ...more };
}

const web: DashboardUnit = { unit: 'web', app: 'web', branch: 'main', deployed: { sha: SHA_A, pr: 231, at: '2026-12-07T01:00:00.000Z', state: 'healthy', checkUrl: 'https://github.com/acme/shop/runs/1' } };

describe('dashboard boxes', () => {
  it('reads which boxes an edit ticked: ticked now and not before, ours only', () => {
    const before = [
      '- [ ] <!-- mergeops-box unlock web 1733533200000 --> Unlock `web`',
      '- [x] <!-- mergeops-box redeploy api ' + SHA_A + ' --> Re-deploy `api`',
      '- [ ] <!-- mergeops-box rerun ' + SHA_B + ' web+api --> Re-run',
      '- [ ] a box someone wrote themselves',
    ].join('\n');
    const after = before.replace('- [ ] <!-- mergeops-box unlock', '- [x] <!-- mergeops-box unlock').replace('- [ ] a box', '- [x] a box');
    expect(tickedBoxes(before, after)).toEqual([{ kind: 'unlock', target: 'web', version: '1733533200000' }]);
    // The one ticked before stays ticked: it was that earlier edit's request, not this one's.
    expect(tickedBoxes(after, after)).toEqual([]);
    // GitHub writes `[X]` too when a body is edited by hand; a box new in the body counts as ticked.
    expect(tickedBoxes('', after.replace('[x] <!-- mergeops-box unlock', '[X] <!-- mergeops-box unlock'))).toEqual([
      { kind: 'unlock', target: 'web', version: '1733533200000' },
      { kind: 'redeploy', target: 'api', version: SHA_A },
    ]);
  });

  it('ignores marker lines that are not boxes of a known kind or carry unsafe tokens', () => {
    const body = ['- [x] <!-- mergeops-box delete web 1 -->', '- [x] <!-- mergeops-box unlock we<b> 1 -->', '  - [x] <!-- mergeops-box unlock web 1 --> indented twice is still a list item', '[x] <!-- mergeops-box unlock web 2 --> no list'].join('\n');
    expect([...parseBoxes(body).values()].map((b) => b.box)).toEqual([{ kind: 'unlock', target: 'web', version: '1' }]);
  });

  it('draws each box unticked, and what it draws is what it reads back', () => {
    const v = view([
      { ...web, lock: { key: 'web', by: 'alice', reason: 'db migration', at: '2026-12-07T01:30:00.000Z' } },
      { unit: 'api', app: 'api', branch: 'main', deployed: { sha: SHA_A, at: '2026-12-07T01:00:00.000Z', state: 'healthy' }, drift: { objects: 1, fields: ['ConfigMap shop/api .data.POOL'], at: '2026-12-07T01:40:00.000Z' } },
      { unit: 'worker', app: 'worker', branch: 'main', last: { sha: SHA_B, at: '2026-12-07T01:50:00.000Z', state: 'failed', checkUrl: 'https://github.com/acme/shop/runs/2' } },
    ]);
    const [body] = formatDashboard(v);
    const boxes = [...parseBoxes(body).values()];
    expect(boxes.map((b) => [b.box.kind, b.box.target, b.ticked])).toEqual([
      ['unlock', 'web', false],
      ['rerun', SHA_B, false],
      ['redeploy', 'api', false],
    ]);
    expect(boxes.map((b) => b.box)).toEqual(boxesOf(v).map((b) => b.box));
    expect(boxes[0]?.box.version).toBe(String(Date.parse('2026-12-07T01:30:00.000Z')));
  });
});

describe('the dashboard as GitHub renders it (cmark-gfm)', () => {
  it('shows boxes as task list checkboxes, the marker hidden, and one table row per app and environment', () => {
    const v = view(
      [
        { ...web, unit: 'web · staging', environment: 'staging' },
        { ...web, unit: 'web · prod', environment: 'prod', lock: { key: 'web · prod', by: 'alice', reason: 'freeze | @team <b>now</b>', at: '2026-12-07T01:30:00.000Z' } },
        { unit: 'api · staging', app: 'api', environment: 'staging', branch: 'main' },
      ],
      { environments: ['staging', 'prod'], pulls: [{ number: 233, title: 'Bump ghcr.io/acme/web to 2.3.0', kind: 'bump' }], deploys: [{ sha: SHA_A, pr: 231, branch: 'main', at: '2026-12-07T01:00:00.000Z', checkUrl: 'https://github.com/acme/shop/runs/1', units: [{ unit: 'web · staging', state: 'healthy' }, { unit: 'web · prod', state: 'failed' }] }], actions: ['2026-12-07 01:10 UTC @bob ticked unlock <code>web</code>: ✅ Unlocked'] },
    );
    const [body] = formatDashboard(v);
    expect(body?.startsWith(DASHBOARD_MARKER)).toBe(true);
    const html = renderGfm(body as string);
    expect(html).toContain('<input type="checkbox" disabled="" /> ');
    expect((html.match(/<input type="checkbox"/g) ?? []).length).toBe(1);
    const text = visibleText(html);
    expect(text).not.toContain('mergeops-box');
    expect(text).toContain('Unlock web in prod (locked by @alice 2026-12-07 01:30 UTC: freeze | @team <b>now</b>)');
    // The table: a header with both environments, a row per app; the reason's pipe and tag stay text.
    const rows = html.match(/<tr>/g) ?? [];
    expect(rows.length).toBe(3);
    expect(html).toMatch(/<th>App<\/th>\s*<th>staging<\/th>\s*<th>prod<\/th>/);
    expect(html).not.toContain('<b>now</b>');
    expect(html).not.toMatch(/@team(?!&#8203;)/);
    expect(text).toContain('not deployed yet');
    // The deployed commit is a link to it, shown as code, with its PR.
    expect(html).toContain(`<a href="https://github.com/acme/shop/commit/${SHA_A}"><code>aaaaaaa</code></a> #231 · ✅ 2026-12-07 01:00 UTC`);
    expect(text).toContain('#233 Bump ghcr.io/acme/web to 2.3.0');
    expect(html).toContain('href="https://github.com/acme/shop/runs/1"');
    expect(text).toContain('✅ 1, ❌ 1 (failed: web · prod)');
  });

  it('splits a table too long for one issue into continuation pages, each under the limit, no row lost', () => {
    const units: DashboardUnit[] = Array.from({ length: 400 }, (_, i) => ({ ...web, unit: `app-${i}`, app: `app-${i}`, lock: { key: `app-${i}`, by: 'alice', reason: 'x'.repeat(150), at: '2026-12-07T01:30:00.000Z' } }));
    const limit = 20_000;
    const pages = formatDashboard(view(units), limit);
    expect(pages.length).toBeGreaterThan(2);
    for (const p of pages) expect(p.length).toBeLessThanOrEqual(limit);
    const all = pages.join('\n');
    for (let i = 0; i < 400; i++) expect(all).toContain(`| <code>app-${i}</code> |`);
    // The boxes stay in the issue body (the first page), counted beyond what is shown.
    expect(pages[0]).toContain('…and 340 more');
    expect(pages.slice(1).every((p) => !p.includes('mergeops-box'))).toBe(true);
    expect(pages[0]).toContain(`continues in ${pages.length - 1} comments below`.replace('continues', 'goes on'));
    // Every continuation renders as a table of its own.
    for (const p of pages.slice(1)) expect(renderGfm(p)).toContain('<table>');
  });

  it('offers one Promote box per environment and waiting commit, naming the apps and the role', () => {
    const pending = { sha: SHA_B, role: 'write', since: '2026-12-07T01:45:00.000Z' };
    const v = view(
      [
        { ...web, unit: 'web · prod', environment: 'prod', pending },
        { ...web, unit: 'api · prod', app: 'api', environment: 'prod', pending },
      ],
      { environments: ['prod'] },
    );
    const [body] = formatDashboard(v);
    const boxes = [...parseBoxes(body).values()].map((b) => b.box);
    expect(boxes).toEqual([{ kind: 'approve', target: 'prod', version: SHA_B }]);
    expect(visibleText(renderGfm(body as string))).toContain('Promote bbbbbbb to prod for web, api (waiting since 2026-12-07 01:45 UTC; needs write)');
    expect(body).toContain('⏳ <code>bbbbbbb</code> waits for approval (write)');
  });

  it('names an environment unit in boxes without spaces', () => {
    expect(unitToken('web · staging')).toBe('web.staging');
  });
});
