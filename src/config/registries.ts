import fs from 'node:fs';
import { errorText } from '../errors.js';
import { parseYamlDocuments } from '../yaml.js';
import { ConfigError, anyMapping, bool, check, fail, mapping, str, unset } from './validate.js';

const REGISTRY_HOST = /^[a-z0-9.-]+(:\d+)?$/;

const registrySchema = mapping({
  username: unset(str()).describe('User name for the registry.'),
  password: unset(str()).describe('Password or token (prefer passwordFile).'),
  passwordFile: unset(str()).describe('File holding the password or token.'),
  insecure: unset(bool()).describe('Plain HTTP (loopback hosts get it without asking).'),
  webhookSecret: unset(str()).describe("Secret of this registry's notifications to POST /registry/webhook (prefer webhookSecretFile)."),
  webhookSecretFile: unset(str()).describe("File holding this registry's notification secret."),
});

/** MERGEOPS_REGISTRIES: credentials and TLS per registry host. */
export const registriesFileSchema = mapping({
  registries: anyMapping(registrySchema).describe('Registries by host[:port], e.g. ghcr.io or registry.local:5000.'),
}).superRefine((f, ctx) => {
  for (const host of Object.keys(f.registries)) {
    if (!REGISTRY_HOST.test(host)) fail(ctx, 'expected a registry host such as ghcr.io or registry.local:5000', ['registries', host]);
  }
});

/** How mergeops reaches one registry host. Credentials stay with the operator, never a repo. */
export interface RegistryAccess {
  username?: string;
  password?: string;
  /** Plain HTTP. Loopback hosts (localhost, 127.0.0.1, [::1]) get it without asking, as Docker does. */
  insecure: boolean;
  /**
   * The secret this registry's notifications carry. A notification authorized by it may
   * announce images of this host only; MERGEOPS_REGISTRY_WEBHOOK_SECRET then serves only
   * hosts without a secret of their own.
   */
  webhookSecret?: string;
}

export type RegistryAccessMap = Map<string, RegistryAccess>;

/**
 * Reads MERGEOPS_REGISTRIES: `registries: { <host[:port]>: { username, passwordFile | password, insecure, webhookSecretFile | webhookSecret } }`.
 * Public images need no entry: anonymous bearer tokens work on Docker Hub, GHCR, Quay.
 */
export function loadRegistryAccess(file: string | undefined): RegistryAccessMap {
  const out: RegistryAccessMap = new Map();
  if (!file) return out;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the registries file ${file}: ${errorText(err)}`, 'MERGEOPS_REGISTRIES');
  }
  const parsed = check(registriesFileSchema, parseYamlDocuments(text, file)[0]?.value, 'MERGEOPS_REGISTRIES');
  for (const [host, r] of Object.entries(parsed.registries)) {
    const path = `MERGEOPS_REGISTRIES.registries.${host}`;
    const access: RegistryAccess = { insecure: r.insecure ?? false };
    let password = r.password;
    if (r.passwordFile !== undefined) {
      try {
        password = fs.readFileSync(r.passwordFile, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`cannot read ${r.passwordFile}: ${errorText(err)}`, `${path}.passwordFile`);
      }
    }
    if ((r.username === undefined) !== (password === undefined)) throw new ConfigError('set both username and password (or passwordFile), or neither', path);
    let webhookSecret = r.webhookSecret;
    if (r.webhookSecretFile !== undefined) {
      try {
        webhookSecret = fs.readFileSync(r.webhookSecretFile, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`cannot read ${r.webhookSecretFile}: ${errorText(err)}`, `${path}.webhookSecretFile`);
      }
    }
    if (webhookSecret !== undefined && webhookSecret.length < 16) throw new ConfigError('a webhook secret needs at least 16 characters', `${path}.webhookSecret`);
    if (webhookSecret !== undefined) access.webhookSecret = webhookSecret;
    if (r.username !== undefined) access.username = r.username;
    if (password !== undefined) access.password = password;
    out.set(host, access);
  }
  return out;
}
