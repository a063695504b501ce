import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatComment } from '../../../src/report/comment.js';
import type { PreviewReport } from '../../../src/report/types.js';
import { formatDeployComment } from '../../../src/report/deploy.js';
import { allRendered, deletions, failedAndQuiet, failedDeploy, hostile, monorepo, noOp, threeApps } from './cases.js';
import { renderGfm, visibleText } from './cmark.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');

/** Compares with golden/<name>.md; MERGEOPS_UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, r: PreviewReport): { md: string; html: string } {
  const [md = '', ...rest] = formatComment(r);
  expect(rest).toHaveLength(0);
  const file = join(GOLDEN, `${name}.md`);
  if (process.env['MERGEOPS_UPDATE_GOLDEN'] === '1') writeFileSync(file, md);
  expect(md).toBe(readFileSync(file, 'utf8'));
  return { md, html: renderGfm(md) };
}

/** What GitHub shows of a comment: no Markdown syntax may survive rendering as text. */
function expectNoLiteralMarkdown(html: string, typed: string[] = []): void {
  // What the input itself contains may show, as typed.
  const text = typed.reduce((t, s) => t.split(s).join(''), visibleText(html));
  expect(text).not.toMatch(/^#{1,6} /m);
  expect(text).not.toContain('`');
  expect(text).not.toContain('\\');
  // Every details block closed, and every summary is inside one.
  expect(html.match(/<details>/g)?.length ?? 0).toBe(html.match(/<\/details>/g)?.length ?? 0);
}

describe('preview comment through cmark-gfm', () => {
  it('the three-app PR: risk alert first, one row per app, drift first, fields named, renames, footer', () => {
    const { html } = golden('three-apps', threeApps());
    expectNoLiteralMarkdown(html);
    // Risk line first: an alert blockquote before the table.
    expect(html.indexOf('<blockquote>\n<p>[!WARNING]')).toBeGreaterThan(-1);
    expect(html.indexOf('[!WARNING]')).toBeLessThan(html.indexOf('<table>'));
    const alert = visibleText(/<blockquote>([\s\S]*?)<\/blockquote>/.exec(html)?.[1] ?? '');
    expect(alert).toContain('1 object deleted: Service shop/web-legacy');
    expect(alert).toContain('1 Secret changed: Secret shop/web-secrets');
    expect(alert).toContain('1 hand edit in the cluster the merge reverts: ConfigMap shop/web-config');
    expect(alert).toContain('replicas of Deployment shop/web 2 → 5');
    // One row per app, with the status icon and counts.
    const rows = [...html.matchAll(/<tr>\n([\s\S]*?)<\/tr>/g)].map((m) => visibleText(m[1] ?? '').split('\n').filter(Boolean));
    expect(rows).toHaveLength(4);
    expect(rows[1]).toEqual(['⚠️', 'web', 'default / shop', '1', '3', '1', '🗑️ Service web-legacy · 🔒 Secret web-secrets · replicas 2 → 5 · 🔄 drift (1 object)']);
    expect(rows[2]).toEqual(['✅', 'api-prod', 'default / shop-prod', '0', '2', '0', '↪️ ConfigMap prod-api-settings renamed']);
    expect(rows[3]).toEqual(['✅', 'worker', 'default / shop', '0', '1', '0', 'containers[worker].args']);
    // Every app heading is a real <h4>.
    expect(html.match(/<h4>/g)).toHaveLength(3);
    const web = html.slice(html.indexOf('<h4>'), html.indexOf('<h4>', html.indexOf('<h4>') + 1));
    // Drift comes first in its app, before any object.
    expect(web.indexOf('Drift:')).toBeGreaterThan(-1);
    expect(web.indexOf('Drift:')).toBeLessThan(web.indexOf('<details>'));
    expect(visibleText(web)).toContain('the merge reverts .data.THEME: live blue (set by kubectl-edit) → Git light; keeps .data.EXTRA (set by kubectl-edit)');
    // One line per object naming the changed fields, links to blob/<sha>/<path>#L<n>.
    expect(web).toContain('<summary>✏️ <b>change</b> <code>apps/v1 Deployment shop/web</code>: <code>spec.replicas</code> <code>2</code> → <code>5</code> · <a href="https://github.com/acme/deploys/blob/cccccccccccccccccccccccccccccccccccccccc/apps/web/deploy.yaml#L2">apps/web/deploy.yaml#L2</a></summary>');
    expect(web).toContain('<code>data.THEME</code> <code>light</code> → <code>dark</code>');
    // Secrets: key names only.
    expect(web).toContain('🔒 <b>change</b> <code>v1 Secret shop/web-secrets</code>: key changed <code>STRIPE_KEY</code> (values hidden)');
    // Deleted objects are short: kind/name and why, not the live object's fields.
    expect(visibleText(web)).toContain('🗑️ delete v1 Service shop/web-legacy: no longer in Git; prune: true, so the merge deletes it');
    expect(web).not.toContain('clusterIP');
    // The generated-name change reads as a rename with the field that changed.
    expect(visibleText(html)).toContain('↪️ rename v1 ConfigMap shop-prod/prod-api-settings-9kd7ch2tgh → …-84h459494f: data.POOL 10 → 20 (kustomize configMapGenerator hash; the old one is pruned)');
    expect(visibleText(html)).toContain('containers[api].envFrom[0].configMapRef.name follows the rename');
    // The full diff stays collapsed below each object line.
    expect(html).toContain('<pre><code class="language-diff">@@ -5,7 +5,7 @@');
    // No "+0 created" noise anywhere.
    expect(visibleText(html)).not.toMatch(/\b0 (created|changed|deleted)/);
    // Footer: base and head, time, what merging does, check-run link, reproduce command.
    const foot = visibleText(html.slice(html.lastIndexOf('<hr />')));
    expect(foot).toContain('Merging into main will, for web, api-prod, worker: apply, prune what Git dropped, take over fields Git declares that others changed (Git wins), wait up to 5m for health.');
    expect(foot).toContain('docker run --rm -u "$(id -u)" --network host -v "$HOME/.kube/config:/kube/config:ro" -e KUBECONFIG=/kube/config -v "$PWD:/repo" ghcr.io/mergeops/mergeops:0.1.0 node dist/cli.js diff web --dir /repo --repo acme/deploys --repo-id 1296269; the same with api-prod, worker in place of web');
    expect(foot).not.toContain('npx');
    expect(foot).toContain('git checkout ccccccc');
    expect(foot).toContain('at 2026-12-01 21:12 UTC');
    expect(foot).toContain('base aaaaaaa');
    expect(foot).toContain('head ccccccc');
    expect(html).toContain('<a href="https://github.com/acme/deploys/runs/4242">full diff in the check run</a>');
  });

  it('a failed app says failed (not "+0 ~0 -0") with the server\'s words; unchanged apps are one line', () => {
    const { html } = golden('failed-and-quiet', failedAndQuiet());
    expectNoLiteralMarkdown(html);
    expect(html).toContain('<blockquote>\n<p>[!CAUTION]');
    const headings = [...html.matchAll(/<h4>([\s\S]*?)<\/h4>/g)].map((m) => visibleText(m[1] ?? ''));
    expect(headings).toEqual(['❌ web → default / shop · failed (1 problem)']);
    expect(visibleText(html)).toContain('Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    expect(html).toContain('<a href="https://github.com/acme/deploys/blob/cccccccccccccccccccccccccccccccccccccccc/apps/web/deploy.yaml#L7">apps/web/deploy.yaml#L7</a>');
    expect(visibleText(html)).toContain('Next: fix the problem above and push');
    expect(visibleText(html)).toContain('➖ No changes: worker → default / shop, cron → default / shop');
    expect(visibleText(html)).not.toMatch(/[+~-]0 /);
  });

  it('a no-op PR: no alert, no heading, one line', () => {
    const { html } = golden('no-op', noOp());
    expectNoLiteralMarkdown(html);
    expect(html).not.toContain('<blockquote>');
    expect(html).not.toContain('<h4>');
    expect(visibleText(html)).toContain('mergeops preview · ccccccc into main · no changes');
    expect(visibleText(html)).toContain('Merging into main changes nothing in the cluster.');
  });

  it('a monorepo PR: the one planned app has its row; the 39 others are one line that says their drift was not checked', () => {
    const { html } = golden('monorepo', monorepo());
    expectNoLiteralMarkdown(html);
    const text = visibleText(html);
    expect(text).toContain('mergeops preview · ccccccc into main · 1 of 40 apps change');
    // One table row for the planned app (plus the header row), none for the unchanged ones.
    expect([...html.matchAll(/<tr>/g)]).toHaveLength(2);
    expect(text).toContain('➖ 39 apps unchanged: no file their render reads changed (37) or they render the same as on main (2); not planned, so drift in them is not checked here.');
    expect(text).toContain('app-02, app-03');
    expect(text).toContain('and 29 more');
    expect(text).not.toContain('app-40');
  });

  it('a PR whose file list could not be trusted: every app rendered, the footer says why', () => {
    const { html } = golden('all-rendered', allRendered());
    expect(visibleText(html)).toContain("every app rendered (the changed files were not trusted): 320 or more files changed: GitHub's compare API lists at most 300");
    expect(visibleText(html)).not.toContain('unchanged:');
  });

  it('escapes server-provided strings: Secret key names and messages render as text, not Markdown or HTML', () => {
    const { html } = golden('hostile', hostile());
    expectNoLiteralMarkdown(html, ['`tick`', '`x`']);
    // No raw tags from the input survive; they show as text.
    expect(html).not.toMatch(/<script>|<b>y<\/b>/);
    expect(visibleText(html)).toContain('<script>alert(1)</script>');
    expect(visibleText(html)).toContain('x_<b>y</b>_z');
    expect(visibleText(html)).toContain('`tick`');
    // The message's "# …" and "**no**" are text: no heading, no bold.
    expect(html).not.toMatch(/<h1>|<strong>no<\/strong>/);
    expect(visibleText(html)).toContain('# admission webhook "deny.example.com" denied: **no**');
    // The pipe did not split the table row: still 7 cells.
    const rows = [...html.matchAll(/<tr>\n([\s\S]*?)<\/tr>/g)].map((m) => (m[1] ?? '').match(/<t[dh]/g)?.length);
    expect(rows.every((n) => n === 7)).toBe(true);
    // @mentions in server text cannot notify anyone: GitHub links only @ followed by a word character.
    expect(visibleText(html.replace(/&#8203;|\u200b/g, '\u0000'))).not.toMatch(/@acme/);
    // The file path with a space and <> is percent-encoded in the link.
    expect(html).toContain('blob/cccccccccccccccccccccccccccccccccccccccc/apps/web/secret%20%3C1%3E.yaml#L3');
  });

  it('deletions: prune false leaves the object (not counted deleted); Namespace/PVC deletes are a caution; images are named', () => {
    const { html } = golden('deletions', deletions());
    expectNoLiteralMarkdown(html);
    expect(html).toContain('<blockquote>\n<p>[!CAUTION]');
    const text = visibleText(html);
    expect(text).toContain('2 objects deleted: PersistentVolumeClaim shop/db-data, Namespace shop-old');
    expect(text).toContain('keep → default / shop (1 object no longer in Git left in the cluster: prune: false)');
    expect(text).toContain('image (web) ghcr.io/acme/web:1.4.0 → 1.5.0');
  });
});

describe('deploy comment through cmark-gfm', () => {
  it('a failed deploy names each failing object with the server\'s words, the fix, the check run and the next step', () => {
    const md = formatDeployComment(failedDeploy(), 'https://github.com/acme/deploys/runs/77');
    const file = join(GOLDEN, 'deploy-failed.md');
    if (process.env['MERGEOPS_UPDATE_GOLDEN'] === '1') writeFileSync(file, md);
    expect(md).toBe(readFileSync(file, 'utf8'));
    const html = renderGfm(md);
    expectNoLiteralMarkdown(html);
    const text = visibleText(html);
    expect(text).toContain('mergeops deploy of ccccccc from main: ❌ failed');
    expect(html).toContain('<blockquote>\n<p>[!CAUTION]');
    expect(text).toContain('2 of 3 apps failed.');
    // web: the object, the reason, the fix with the commands to look.
    expect(text).toContain('❌ apps/v1 Deployment shop/web: not healthy after 300 s: 1 of 5 replicas available');
    expect(text).toContain("Fix: it did not become healthy within the app's wait (300 s): look at its pods and events (kubectl -n shop describe deployment web, and kubectl -n shop get events)");
    // api: the conflict in the server's words, the file link and the fix.
    expect(text).toContain('❌ v1 ConfigMap shop/api-settings: Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.POOL');
    expect(html).toContain('<a href="https://github.com/acme/deploys/blob/cccccccccccccccccccccccccccccccccccccccc/apps/api/settings.yaml#L1">apps/api/settings.yaml#L1</a>');
    expect(text).toContain('Fix: another field manager (a hand edit, another controller) owns these fields and the app sets conflicts: fail: undo that change in the cluster, or drop conflicts: fail to let Git take them over.');
    expect(text).toContain('After the failure: nothing was applied for it, so the cluster still runs the previous deploy.');
    expect(text).toContain('After the failure: 1 object was applied, nothing pruned');
    // The next step and the check-run link.
    expect(text).toContain('Next: fix it in a new pull request');
    expect(text).toContain('git revert ccccccc');
    expect(html).toContain('<a href="https://github.com/acme/deploys/runs/77">the mergeops / deploy check run</a>');
    // The app that succeeded is a row, not a section.
    expect(html.match(/<h4>/g)).toHaveLength(2);
  });

  it('a successful deploy is short', () => {
    const r = failedDeploy();
    r.apps = r.apps.slice(2);
    const md = formatDeployComment(r, 'https://github.com/acme/deploys/runs/78');
    const html = renderGfm(md);
    expect(visibleText(html)).toContain('mergeops deploy of ccccccc from main: ✅ succeeded');
    expect(html).not.toContain('<blockquote>');
    expect(html).not.toContain('<h4>');
    expect(visibleText(html)).not.toContain('Next:');
  });
});

describe('the README example', () => {
  it('is the golden comment, verbatim: real output, not a drawing', () => {
    const readme = readFileSync(join(GOLDEN, '..', '..', '..', '..', 'README.md'), 'utf8');
    const golden = readFileSync(join(GOLDEN, 'three-apps.md'), 'utf8');
    expect(readme).toContain(`\`\`\`\`\`markdown\n${golden.trimEnd()}\n\`\`\`\`\``);
    // And it renders on GitHub as a collapsed block holding the Markdown as text.
    const html = renderGfm(readme.slice(readme.indexOf('<details><summary>Example preview comment'), readme.indexOf('</details>', readme.indexOf('<details><summary>Example preview comment')) + 10));
    expect(html).toContain('<pre><code class="language-markdown">');
  });
});
