import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../../src/config/validate.js';
import { DEFAULT_RATE_LIMIT, parseNotifications, routes } from '../../../src/notify/config.js';
import { deployEvents, driftEvent, type NotifyEvent } from '../../../src/notify/events.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, formatMessage, sign } from '../../../src/notify/receivers.js';
import { notifyJobId } from '../../../src/notify/worker.js';
import { failedDeploy } from '../report/cases.js';

const event: NotifyEvent = {
  kind: 'deploy.failed',
  repo: 'acme/deploys',
  app: 'web',
  cluster: 'prod',
  sha: 'cccccccccccccccccccccccccccccccccccccccc',
  branch: 'main',
  title: 'deploy of web failed: 1 problem',
  objects: [{ ref: 'apps/v1 Deployment shop/web', message: 'not healthy after 300 s: <b>1</b> of 5 & more' }],
  url: 'https://github.com/acme/deploys/runs/1',
  at: '2026-12-01T00:00:00.000Z',
};

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('MERGEOPS_NOTIFICATIONS', () => {
  it('reads receivers with defaults: every event, every repo and app, 30 per minute', () => {
    const [r] = parseNotifications({ receivers: { ops: { type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' } } });
    expect(r).toMatchObject({ name: 'ops', type: 'slack', url: 'https://hooks.slack.com/services/T/B/x', rateLimit: DEFAULT_RATE_LIMIT });
    expect([...(r?.events ?? [])]).toEqual(['deploy.failed', 'deploy.succeeded', 'drift.detected', 'drift.healed']);
  });

  it.each([
    [{ receivers: { ops: { type: 'email', url: 'https://x' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops.type: expected one of slack, teams, webhook'],
    [{ receivers: { ops: { type: 'slack' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops: set exactly one of url and urlFile'],
    [{ receivers: { ops: { type: 'webhook', url: 'https://x' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops: a webhook receiver signs every message: set secretFile (or secret)'],
    [{ receivers: { ops: { type: 'slack', url: 'https://x', secret: 's' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops: slack does not take a signing secret (only type: webhook does)'],
    [{ receivers: { Ops: { type: 'slack', url: 'https://x' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.Ops: expected a name of lowercase letters, digits and -'],
    [{ receivers: { ops: { type: 'slack', url: 'https://x', events: ['deploy.done'] } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops.events[0]: expected one of deploy.failed, deploy.succeeded, drift.detected, drift.healed'],
    [{ receivers: { ops: { type: 'slack', url: 'https://x', chanel: '#ops' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops: unknown key "chanel"'],
    [{ receivers: { ops: { type: 'slack', url: 'ftp://x' } } }, 'MERGEOPS_NOTIFICATIONS.receivers.ops.url: "ftp://x" is not valid: expected an http(s) URL'],
  ])('names the key and what to write: %j', (value, message) => {
    expect(errorOf(() => parseNotifications(value))).toContain(message);
  });

  it('routes per repository and per app with globs, and per event', () => {
    const [r] = parseNotifications({ receivers: { ops: { type: 'slack', url: 'https://x', events: ['deploy.failed'], repos: ['acme/*'], apps: ['api-*', 'web'], rateLimit: { max: 5, per: '10m' } } } });
    if (!r) throw new Error('no receiver');
    expect(r.rateLimit).toEqual({ max: 5, windowMs: 600_000 });
    expect(routes(r, 'deploy.failed', 'acme/deploys', 'web')).toBe(true);
    expect(routes(r, 'deploy.failed', 'acme/deploys', 'api-eu')).toBe(true);
    expect(routes(r, 'deploy.failed', 'acme/deploys', 'worker')).toBe(false);
    expect(routes(r, 'deploy.failed', 'other/deploys', 'web')).toBe(false);
    expect(routes(r, 'deploy.succeeded', 'acme/deploys', 'web')).toBe(false);
    // A glob is a glob, not a regex: "." is literal.
    const [dot] = parseNotifications({ receivers: { d: { type: 'slack', url: 'https://x', repos: ['acme/a.b'] } } });
    if (!dot) throw new Error('no receiver');
    expect(routes(dot, 'deploy.failed', 'acme/aXb', 'web')).toBe(false);
  });
});

describe('events', () => {
  it('one per app of a deploy, with the failing objects in the server words; held apps none', () => {
    const events = deployEvents(failedDeploy(), { url: 'https://github.com/acme/deploys/runs/77', pullRequest: 12, at: new Date(0) });
    expect(events.map((e) => [e.app, e.kind])).toEqual([
      ['web', 'deploy.failed'],
      ['api', 'deploy.failed'],
      ['worker', 'deploy.succeeded'],
    ]);
    expect(events[0]).toMatchObject({ repo: 'acme/deploys', branch: 'main', pullRequest: 12, url: 'https://github.com/acme/deploys/runs/77', objects: [{ ref: 'apps/v1 Deployment shop/web', message: 'not healthy after 300 s: 1 of 5 replicas available' }] });
    const healed = deployEvents({ ...failedDeploy(), apps: failedDeploy().apps.slice(2) }, { healing: true });
    expect(healed.map((e) => e.kind)).toEqual(['drift.healed']);
  });

  it('drift names fields and values, never Secret data (detectDrift leaves those out)', () => {
    const e = driftEvent({ repo: 'acme/deploys', app: 'web', cluster: 'prod', sha: 'c'.repeat(40), healing: false, drift: [{ ref: 'v1 Secret shop/s', fields: [{ path: 'data.PASSWORD' }] }, { ref: 'apps/v1 Deployment shop/web', fields: [{ path: 'spec.replicas', live: '5', git: '2' }] }] });
    expect(e.objects).toEqual([
      { ref: 'v1 Secret shop/s', message: 'data.PASSWORD' },
      { ref: 'apps/v1 Deployment shop/web', message: 'spec.replicas: live 5, Git 2' },
    ]);
  });

  it('the same event is the same job whenever it is seen; another event or receiver is another job', () => {
    expect(notifyJobId('ops', event)).toBe(notifyJobId('ops', { ...event, at: new Date().toISOString() }));
    // Each drift scan links its own check run: the same drift is still the same news.
    expect(notifyJobId('ops', { ...event, url: 'https://github.com/acme/shop/runs/1' })).toBe(notifyJobId('ops', { ...event, url: 'https://github.com/acme/shop/runs/2' }));
    expect(notifyJobId('ops', event)).not.toBe(notifyJobId('audit', event));
    expect(notifyJobId('ops', event)).not.toBe(notifyJobId('ops', { ...event, sha: 'd'.repeat(40) }));
    expect(notifyJobId('ops', event)).not.toContain(':');
  });
});

describe('messages', () => {
  it('webhook: the event as JSON, signed with HMAC-SHA256 of the raw body', () => {
    const m = formatMessage('webhook', event, 'notify-ops-1', 'k3y');
    const body = JSON.parse(m.body) as Record<string, unknown>;
    expect(body).toEqual({ version: 1, delivery: 'notify-ops-1', event: 'deploy.failed', repo: 'acme/deploys', app: 'web', cluster: 'prod', sha: event.sha, branch: 'main', title: event.title, objects: event.objects, url: event.url, at: event.at });
    expect(m.headers[SIGNATURE_HEADER]).toBe(`sha256=${createHmac('sha256', 'k3y').update(m.body).digest('hex')}`);
    expect(m.headers[SIGNATURE_HEADER]).toBe(sign('k3y', m.body));
    expect(m.headers[EVENT_HEADER]).toBe('deploy.failed');
    expect(m.headers[DELIVERY_HEADER]).toBe('notify-ops-1');
  });

  it('slack: fallback text and blocks, with &, < and > escaped so a message cannot make links or mentions', () => {
    const m = JSON.parse(formatMessage('slack', event, 'd', undefined).body) as { text: string; blocks: { type: string; text?: { type: string; text: string }; elements?: { url: string }[] }[] };
    expect(m.text).toBe('❌ deploy of web failed: 1 problem (acme/deploys)');
    expect(m.blocks.map((b) => b.type)).toEqual(['section', 'section', 'actions']);
    expect(m.blocks[1]?.text?.text).toBe('• `apps/v1 Deployment shop/web`: not healthy after 300 s: &lt;b&gt;1&lt;/b&gt; of 5 &amp; more');
    expect(m.blocks[2]?.elements?.[0]?.url).toBe(event.url);
  });

  it('teams: an Adaptive Card in a message envelope', () => {
    const m = JSON.parse(formatMessage('teams', event, 'd', undefined).body) as { type: string; attachments: { contentType: string; content: { type: string; version: string; body: { type: string; facts?: { title: string; value: string }[] }[]; actions: { url: string }[] } }[] };
    expect(m.type).toBe('message');
    const card = m.attachments[0];
    expect(card?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card?.content).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    expect(card?.content.body[1]?.facts).toContainEqual({ title: 'apps/v1 Deployment shop/web', value: 'not healthy after 300 s: <b>1</b> of 5 & more' });
    expect(card?.content.actions[0]?.url).toBe(event.url);
  });
});
