import fs from 'node:fs';
import { z } from 'zod';
import { ConfigError, anyMapping, check, duration, fail, list, mapping, str, unset } from '../config/validate.js';
import { errorText } from '../errors.js';
import { parseYamlDocuments } from '../yaml.js';
import { NOTIFY_EVENTS, type NotifyEventKind } from './events.js';

export const NOTIFICATIONS_SETTING = 'MERGEOPS_NOTIFICATIONS';
export const RECEIVER_TYPES = ['slack', 'teams', 'webhook'] as const;
export type ReceiverType = (typeof RECEIVER_TYPES)[number];

/** Receiver names go into job ids and Redis keys. */
const RECEIVER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** `owner/name` or a glob of it (`acme/*`), an app name or a glob (`api-*`). */
const PATTERN = /^[A-Za-z0-9._*/-]+$/;

const rateLimitSchema = mapping({
  max: z.number({ error: 'expected a whole number' }).int().min(1, { error: 'expected at least 1' }).describe('Messages per window.'),
  per: duration().describe('The window, e.g. "60s" or "1h".'),
});

const receiverSchema = mapping({
  type: z.enum(RECEIVER_TYPES, { error: `expected one of ${RECEIVER_TYPES.join(', ')}` }).describe('slack: a Slack incoming webhook; teams: a Microsoft Teams (Workflows) webhook; webhook: JSON signed with HMAC-SHA256.'),
  url: unset(str(/^https?:\/\/\S+$/, 'expected an http(s) URL')).describe('Where to POST. Webhook URLs of Slack and Teams are secrets: prefer urlFile.'),
  urlFile: unset(str()).describe('A file holding the URL.'),
  secret: unset(str()).describe('webhook: the HMAC-SHA256 key (prefer secretFile).'),
  secretFile: unset(str()).describe('webhook: a file holding the HMAC-SHA256 key.'),
  events: unset(list(z.enum(NOTIFY_EVENTS, { error: `expected one of ${NOTIFY_EVENTS.join(', ')}` }))).describe('Events to send (default: all).'),
  repos: unset(list(str(PATTERN, 'expected owner/name or a glob such as acme/*'))).describe('Only these repositories (globs; default: all).'),
  apps: unset(list(str(PATTERN, 'expected an app name or a glob such as api-*'))).describe('Only these apps (globs; default: all).'),
  rateLimit: unset(rateLimitSchema).describe('At most max messages in any span of per (a sliding window); more wait for a free slot (default 30 per 60s).'),
});

/** MERGEOPS_NOTIFICATIONS: where deploy and drift events go. */
export const notificationsFileSchema = mapping({
  receivers: anyMapping(receiverSchema).describe('Receivers by name (lowercase letters, digits, -).'),
}).superRefine((f, ctx) => {
  for (const [name, r] of Object.entries(f.receivers)) {
    if (!RECEIVER_NAME.test(name)) fail(ctx, 'expected a name of lowercase letters, digits and -', ['receivers', name]);
    if ((r.url === undefined) === (r.urlFile === undefined)) fail(ctx, 'set exactly one of url and urlFile', ['receivers', name]);
    const secret = r.secret !== undefined || r.secretFile !== undefined;
    if (r.type === 'webhook' && !secret) fail(ctx, 'a webhook receiver signs every message: set secretFile (or secret)', ['receivers', name]);
    if (r.type !== 'webhook' && secret) fail(ctx, `${r.type} does not take a signing secret (only type: webhook does)`, ['receivers', name]);
    if (r.secret !== undefined && r.secretFile !== undefined) fail(ctx, 'set one of secret and secretFile', ['receivers', name]);
  }
});

export interface RateLimit {
  max: number;
  windowMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { max: 30, windowMs: 60_000 };

export interface Receiver {
  name: string;
  type: ReceiverType;
  url: string;
  secret?: string;
  events: ReadonlySet<NotifyEventKind>;
  repos: RegExp[];
  apps: RegExp[];
  rateLimit: RateLimit;
}

function glob(p: string): RegExp {
  return new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

/** Whether an event about `repo`/`app` of this kind goes to `r`: per-repo and per-app routing. */
export function routes(r: Receiver, kind: NotifyEventKind, repo: string, app: string): boolean {
  return r.events.has(kind) && (r.repos.length === 0 || r.repos.some((g) => g.test(repo))) && (r.apps.length === 0 || r.apps.some((g) => g.test(app)));
}

function readSecretFile(file: string, path: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${errorText(err)}`, path);
  }
}

export function parseNotifications(value: unknown): Receiver[] {
  const parsed = check(notificationsFileSchema, value, NOTIFICATIONS_SETTING);
  return Object.entries(parsed.receivers).map(([name, r]) => {
    const path = `${NOTIFICATIONS_SETTING}.receivers.${name}`;
    const url = r.url ?? readSecretFile(r.urlFile as string, `${path}.urlFile`);
    if (!/^https?:\/\/\S+$/.test(url)) throw new ConfigError(`the file ${r.urlFile} does not hold an http(s) URL`, `${path}.urlFile`);
    const out: Receiver = {
      name,
      type: r.type,
      url,
      events: new Set(r.events ?? NOTIFY_EVENTS),
      repos: (r.repos ?? []).map(glob),
      apps: (r.apps ?? []).map(glob),
      rateLimit: r.rateLimit ? { max: r.rateLimit.max, windowMs: Math.max(r.rateLimit.per, 1000) } : DEFAULT_RATE_LIMIT,
    };
    const secret = r.secret ?? (r.secretFile !== undefined ? readSecretFile(r.secretFile, `${path}.secretFile`) : undefined);
    if (secret !== undefined) out.secret = secret;
    return out;
  });
}

/** Reads the MERGEOPS_NOTIFICATIONS file; none set means no receivers. */
export function loadNotifications(file: string | undefined): Receiver[] {
  if (!file) return [];
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the notifications file ${file}: ${errorText(err)}`, NOTIFICATIONS_SETTING);
  }
  return parseNotifications(parseYamlDocuments(text, file)[0]?.value);
}
