import crypto from 'node:crypto';
import fs from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import yaml from 'js-yaml';
import type { Logger } from 'pino';

/**
 * Setup mode (first `npm start`, no APP_ID): registers the GitHub App from `app.yml` with
 * GitHub's manifest flow and writes its credentials into `.env`.
 *
 * Why not Probot's own setup server: it registers the manifest's `hook_attributes.url`
 * over the proxy URL, cannot serve `/healthz`, and falls back to `<host>/` as the webhook
 * URL where mergeops listens on `/api/github/webhooks`. The flow itself is GitHub's
 * documented one: POST the manifest to /settings/apps/new, GitHub redirects back with a
 * code, POST /app-manifests/{code}/conversions returns the App's id, key and secret.
 */

export const WEBHOOK_PATH = '/api/github/webhooks';
/** Where GitHub sends the browser back with the manifest code. */
export const CALLBACK_PATH = '/setup/done';

export interface SetupOptions {
  /** app.yml's text. */
  manifest: string;
  /** The `.env` file the credentials are written to. */
  envFile: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** github.com, or GHE_HOST: where the browser registers the App and the API that converts. */
export function githubHosts(env: NodeJS.ProcessEnv): { web: string; api: string } {
  const host = env['GHE_HOST'];
  if (!host) return { web: 'https://github.com', api: 'https://api.github.com' };
  const web = `${env['GHE_PROTOCOL'] ?? 'https'}://${host}`;
  return { web, api: `${web}/api/v3` };
}

/**
 * The manifest GitHub registers: app.yml plus what only this process knows. The webhook URL
 * is the proxy channel when WEBHOOK_PROXY_URL is set (a laptop behind smee.io, Probot's
 * convention), else this server's own webhook route as the browser reached it; app.yml
 * cannot override it, since a URL written into a file is right for nobody.
 */
export function buildManifest(appYml: string, baseUrl: string, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const parsed = yaml.load(appYml);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('app.yml must be a mapping (the GitHub App manifest)');
  const fromFile = parsed as Record<string, unknown>;
  const hook = typeof fromFile['hook_attributes'] === 'object' && fromFile['hook_attributes'] !== null ? (fromFile['hook_attributes'] as Record<string, unknown>) : {};
  const proxy = env['WEBHOOK_PROXY_URL'];
  return {
    ...fromFile,
    hook_attributes: { ...hook, url: proxy || `${baseUrl}${WEBHOOK_PATH}`, active: true },
    redirect_url: `${baseUrl}${CALLBACK_PATH}`,
    public: fromFile['public'] ?? false,
  };
}

/** Sets `values` in a dotenv file, keeping every other line (comments included) as it was. */
export function updateEnvFile(file: string, values: Record<string, string>): void {
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : [];
  const left = new Map(Object.entries(values));
  const out = lines.map((line) => {
    const key = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (key === undefined || !left.has(key)) return line;
    const v = left.get(key) as string;
    left.delete(key);
    return `${key}=${v}`;
  });
  while (out.length && out[out.length - 1] === '') out.pop();
  for (const [k, v] of left) out.push(`${k}=${v}`);
  fs.writeFileSync(file, `${out.join('\n')}\n`, { mode: 0o600 });
  // It now holds the App's private key: readable by its owner only, also when it existed before.
  fs.chmodSync(file, 0o600);
}

interface Conversion {
  id: number;
  slug?: string;
  html_url: string;
  pem: string;
  webhook_secret: string | null;
  client_id?: string;
  client_secret?: string;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function baseUrlOf(headers: Record<string, string | string[] | undefined>, encrypted: boolean): string {
  const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim();
  const proto = first(headers['x-forwarded-proto']) ?? (encrypted ? 'https' : 'http');
  const host = first(headers['x-forwarded-host']) ?? first(headers['host']) ?? 'localhost';
  return `${proto}://${host}`;
}

/** The setup-mode HTTP server: the registration page, GitHub's callback, and the probes. */
export function setupServer(opts: SetupOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: opts.log as FastifyBaseLogger });
  const hosts = githubHosts(opts.env);
  // One-time states, so a callback only completes a registration this server started.
  const states = new Set<string>();
  let registered: Conversion | null = null;

  app.get('/healthz', { logLevel: 'silent' }, async () => ({ ok: true, mode: 'setup' }));
  app.get('/readyz', { logLevel: 'silent' }, async (_req, reply) =>
    reply.code(503).send({ ok: false, mode: 'setup', reason: 'the GitHub App is not registered yet: open / in a browser, then restart' }),
  );

  app.get('/', async (req, reply) => {
    const baseUrl = baseUrlOf(req.headers, req.protocol === 'https');
    const manifest = buildManifest(opts.manifest, baseUrl, opts.env);
    const state = crypto.randomBytes(16).toString('hex');
    states.add(state);
    const org = opts.env['GH_ORG'];
    const action = `${hosts.web}${org ? `/organizations/${encodeURIComponent(org)}` : ''}/settings/apps/new?state=${state}`;
    const hook = (manifest['hook_attributes'] as { url: string }).url;
    const appName = typeof manifest['name'] === 'string' ? manifest['name'] : 'mergeops';
    const settings = `${hosts.web}${org ? `/organizations/${encodeURIComponent(org)}` : ''}/settings/apps/<app slug>`;
    const warn = opts.env['WEBHOOK_PROXY_URL']
      ? ''
      : /^https?:\/\/(localhost|127\.|\[::1\])/.test(baseUrl)
        ? `<p><strong>GitHub cannot reach ${escapeHtml(hook)}.</strong> Create a channel at <a href="https://smee.io/new">smee.io</a>, put <code>WEBHOOK_PROXY_URL=&lt;its URL&gt;</code> in .env, restart and reload this page; or open this page through your public host.</p>`
        : '';
    return reply.type('text/html; charset=utf-8').send(`<!doctype html>
<html><head><meta charset="utf-8"><title>Register mergeops</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>Register the mergeops GitHub App</h1>
<p>This creates a GitHub App from <code>app.yml</code> on ${org ? `the organisation <code>${escapeHtml(org)}</code>` : 'your account'} and writes its
<code>APP_ID</code>, <code>PRIVATE_KEY</code> and <code>WEBHOOK_SECRET</code> into <code>${escapeHtml(opts.envFile)}</code>.</p>
<p>Webhooks will be sent to <code>${escapeHtml(hook)}</code>.</p>
${warn}
<form action="${escapeHtml(action)}" method="post">
<input type="hidden" name="manifest" value="${escapeHtml(JSON.stringify(manifest))}">
<button type="submit">Register the GitHub App</button>
</form>
<h2>Before you click</h2>
<ul>
<li><strong>Account or organisation.</strong> ${org ? `The App is registered on the organisation <code>${escapeHtml(org)}</code> (<code>GH_ORG</code>); you must be one of its owners or App managers.` : 'The App is registered on your own account. To register it on an organisation (so its owners manage it), put <code>GH_ORG=&lt;organisation login&gt;</code> in .env, restart and reload this page.'}</li>
<li><strong>The name must be unique on GitHub.</strong> No other App, user or organisation may have it (<code>${escapeHtml(appName)}</code> from app.yml is likely taken): if GitHub says so, change the name on GitHub's form, for example to <code>${escapeHtml(appName)}-&lt;your organisation&gt;</code>.</li>
<li><strong>A wrong webhook URL is fixed in place</strong>, not by registering again: open the App's settings (${escapeHtml(settings)}), set <em>Webhook URL</em> under General to the right one (ending in <code>${WEBHOOK_PATH}</code>) and save; deliveries that failed meanwhile can be sent again from Advanced → Recent Deliveries → Redeliver.</li>
</ul>
</body></html>
`);
  });

  app.get<{ Querystring: { code?: string; state?: string } }>(CALLBACK_PATH, async (req, reply) => {
    const { code, state } = req.query;
    if (!code || !/^[A-Za-z0-9_-]+$/.test(code)) return reply.code(400).type('text/plain').send('GitHub sent no manifest code; start again at /');
    if (!state || !states.delete(state)) return reply.code(400).type('text/plain').send('unknown or used state: this registration was not started here; start again at /');
    const res = await fetch(`${hosts.api}/app-manifests/${code}/conversions`, {
      method: 'POST',
      headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'mergeops-setup' },
    });
    if (res.status !== 201) {
      const text = await res.text();
      opts.log.error({ status: res.status }, 'GitHub refused the manifest conversion');
      return reply.code(502).type('text/plain').send(`GitHub answered ${res.status} converting the manifest code (codes expire after an hour and work once): ${text.slice(0, 500)}\nStart again at /`);
    }
    const app = (await res.json()) as Conversion;
    registered = app;
    updateEnvFile(opts.envFile, {
      APP_ID: String(app.id),
      // One line: settings turn `\n` back into newlines (as Probot's .env does).
      PRIVATE_KEY: app.pem.trim().replace(/\r?\n/g, '\\n'),
      WEBHOOK_SECRET: app.webhook_secret ?? '',
    });
    opts.log.info({ appId: app.id, slug: app.slug, envFile: opts.envFile }, 'GitHub App registered; credentials written. Restart `npm start` to run mergeops');
    return reply.redirect(`${app.html_url}/installations/new`, 302);
  });

  app.addHook('onClose', async () => {
    if (registered) opts.log.info({ appId: registered.id }, 'setup mode stopped');
  });
  return app;
}
