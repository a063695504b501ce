import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { setupServer } from '../../../src/setup/app-registration.js';

const manifest = fs.readFileSync(new URL('../../../app.yml', import.meta.url), 'utf8');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-setup-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function page(env: NodeJS.ProcessEnv): Promise<string> {
  const app = setupServer({ manifest, envFile: path.join(dir, '.env'), env, log: pino({ level: 'silent' }) });
  try {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    // As reached through a public host (a reverse proxy in front of setup mode).
    const res = await fetch(url, { headers: { 'x-forwarded-host': 'mergeops.example.com', 'x-forwarded-proto': 'https' } });
    expect(res.status).toBe(200);
    return await res.text();
  } finally {
    await app.close();
  }
}

describe('the setup page', () => {
  it('registers on the account by default and says how to register on an organisation (GH_ORG)', async () => {
    const html = await page({});
    expect(html).toMatch(/<form action="https:\/\/github\.com\/settings\/apps\/new\?state=[0-9a-f]{32}"/);
    expect(html).toContain('<code>GH_ORG=&lt;organisation login&gt;</code> in .env');
  });

  it('with GH_ORG, posts to the organisation and points at its App settings', async () => {
    const html = await page({ GH_ORG: 'acme' });
    expect(html).toMatch(/<form action="https:\/\/github\.com\/organizations\/acme\/settings\/apps\/new\?state=/);
    expect(html).toContain('on the organisation <code>acme</code> (<code>GH_ORG</code>)');
    expect(html).toContain('https://github.com/organizations/acme/settings/apps/&lt;app slug&gt;');
  });

  it('says the name must be unique on GitHub and how to fix a wrong webhook URL in place', async () => {
    const html = await page({});
    expect(html).toContain('The name must be unique on GitHub');
    expect(html).toContain('<code>mergeops</code> from app.yml');
    expect(html).toContain('A wrong webhook URL is fixed in place');
    expect(html).toContain('<em>Webhook URL</em> under General');
    expect(html).toContain('Webhooks will be sent to <code>https://mergeops.example.com/api/github/webhooks</code>');
  });
});
