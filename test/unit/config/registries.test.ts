import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadRegistryAccess } from '../../../src/config/registries.js';
import { ConfigError } from '../../../src/config/validate.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-reg-'));
const passwordFile = path.join(dir, 'pw');
fs.writeFileSync(passwordFile, 's3cret\n');

function file(text: string): string {
  const f = path.join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(f, text);
  return f;
}

describe('loadRegistryAccess', () => {
  it('is empty without a file (anonymous access to public images)', () => {
    expect(loadRegistryAccess(undefined).size).toBe(0);
  });

  it('reads credentials from a password file and insecure hosts', () => {
    const f = file(`registries:\n  ghcr.io: { username: bot, passwordFile: ${passwordFile} }\n  reg.local:5000: { insecure: true }\n`);
    const access = loadRegistryAccess(f);
    expect(access.get('ghcr.io')).toEqual({ username: 'bot', password: 's3cret', insecure: false });
    expect(access.get('reg.local:5000')).toEqual({ insecure: true });
  });

  it('reads a per-host webhook secret, inline or from a file, and refuses short ones', () => {
    const secretFile = path.join(dir, 'hook');
    fs.writeFileSync(secretFile, 'registry-a-webhook-secret\n');
    const access = loadRegistryAccess(file(`registries:\n  a.example: { webhookSecretFile: ${secretFile} }\n  b.example: { webhookSecret: b-webhook-secret-0123 }\n`));
    expect(access.get('a.example')).toEqual({ insecure: false, webhookSecret: 'registry-a-webhook-secret' });
    expect(access.get('b.example')?.webhookSecret).toBe('b-webhook-secret-0123');
    expect(() => loadRegistryAccess(file('registries:\n  a.example: { webhookSecret: short }\n'))).toThrow('MERGEOPS_REGISTRIES.registries.a.example.webhookSecret: a webhook secret needs at least 16 characters');
  });

  it('names the key that is wrong', () => {
    const err = (() => {
      try {
        loadRegistryAccess(file('registries:\n  ghcr.io: { username: bot }\n'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('set both username and password');
    expect(() => loadRegistryAccess(file('registries:\n  "https://ghcr.io": {}\n'))).toThrow('registry host');
    expect(() => loadRegistryAccess(file('registries:\n  ghcr.io: { token: x }\n'))).toThrow(ConfigError);
  });
});
