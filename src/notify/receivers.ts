import { createHmac } from 'node:crypto';
import type { ReceiverType } from './config.js';
import type { NotifyEvent } from './events.js';

/** The HTTP request one receiver type wants for an event. */
export interface OutgoingMessage {
  body: string;
  headers: Record<string, string>;
}

/** Header of the generic webhook's signature: `sha256=<hex HMAC-SHA256 of the raw body>`, as GitHub signs. */
export const SIGNATURE_HEADER = 'x-mergeops-signature-256';
export const EVENT_HEADER = 'x-mergeops-event';
export const DELIVERY_HEADER = 'x-mergeops-delivery';

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

const ICON: Record<NotifyEvent['kind'], string> = { 'deploy.failed': '❌', 'deploy.succeeded': '✅', 'drift.detected': '🔄', 'drift.healed': '🩹' };

/** Slack mrkdwn: only &, < and > are special (they start links and mentions). */
function slackText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function slack(e: NotifyEvent): OutgoingMessage {
  const where = `*${slackText(e.repo)}* · app \`${slackText(e.app)}\` → cluster \`${slackText(e.cluster)}\` · commit \`${e.sha.slice(0, 7)}\``;
  const objects = e.objects.map((o) => `• \`${slackText(o.ref)}\`: ${slackText(o.message)}`).join('\n');
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${ICON[e.kind]} ${slackText(e.title)}\n${where}` } },
  ];
  // Section text is capped at 3,000 characters by Slack.
  if (objects) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: objects.slice(0, 2900) } });
  if (e.url) blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Details' }, url: e.url }] });
  return { body: JSON.stringify({ text: `${ICON[e.kind]} ${e.title} (${e.repo})`, blocks }), headers: { 'content-type': 'application/json' } };
}

/** Teams Workflows webhooks take an Adaptive Card in a message envelope (the old O365 connectors are retired). */
function teams(e: NotifyEvent): OutgoingMessage {
  const facts = [
    { title: 'Repository', value: e.repo },
    { title: 'App', value: e.app },
    { title: 'Cluster', value: e.cluster },
    { title: 'Commit', value: e.sha.slice(0, 7) },
    ...e.objects.map((o) => ({ title: o.ref, value: o.message })),
  ];
  const card = {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: '1.4',
    body: [
      { type: 'TextBlock', text: `${ICON[e.kind]} ${e.title}`, weight: 'Bolder', size: 'Medium', wrap: true },
      { type: 'FactSet', facts },
    ],
    ...(e.url ? { actions: [{ type: 'Action.OpenUrl', title: 'Details', url: e.url }] } : {}),
  };
  return {
    body: JSON.stringify({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] }),
    headers: { 'content-type': 'application/json' },
  };
}

/** The generic receiver: the event as JSON (`version` for receivers that check it), signed. */
function webhook(e: NotifyEvent, delivery: string, secret: string | undefined): OutgoingMessage {
  const body = JSON.stringify({ version: 1, delivery, event: e.kind, ...eventBody(e) });
  const headers: Record<string, string> = { 'content-type': 'application/json', [EVENT_HEADER]: e.kind, [DELIVERY_HEADER]: delivery };
  if (secret !== undefined) headers[SIGNATURE_HEADER] = sign(secret, body);
  return { body, headers };
}

function eventBody(e: NotifyEvent): Omit<NotifyEvent, 'kind'> {
  const { kind: _kind, ...rest } = e;
  return rest;
}

/** One formatter per receiver type: adding a receiver is adding an entry here. */
export function formatMessage(type: ReceiverType, e: NotifyEvent, delivery: string, secret: string | undefined): OutgoingMessage {
  switch (type) {
    case 'slack':
      return slack(e);
    case 'teams':
      return teams(e);
    case 'webhook':
      return webhook(e, delivery, secret);
  }
}
