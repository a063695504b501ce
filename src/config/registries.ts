import fs from 'node:fs';
import { parseYamlDocuments } from '../yaml.js';
import { ConfigError, expectObj, optBool, optString } from './validate.js';

/** How mergeops reaches one registry host. Credentials stay with the operator, never a repo. */
export interface RegistryAccess {
  username?: string;
  password?: string;
  /** Plain HTTP. Loopback hosts (localhost, 127.0.0.1, [::1]) get it without asking, as Docker does. */
  insecure: boolean;
}

export type RegistryAccessMap = Map<string, RegistryAccess>;

/**
 * Reads MERGEOPS_REGISTRIES: `registries: { <host[:port]>: { username, passwordFile | password, insecure } }`.
 * Public images need no entry: anonymous bearer tokens work on Docker Hub, GHCR, Quay.
 */
export function loadRegistryAccess(file: string | undefined): RegistryAccessMap {
  const out: RegistryAccessMap = new Map();
  if (!file) return out;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the registries file ${file}: ${(err as Error).message}`, 'MERGEOPS_REGISTRIES');
  }
  const root = expectObj(parseYamlDocuments(text, file)[0]?.value, 'MERGEOPS_REGISTRIES', ['registries']);
  const hosts = expectObj(root['registries'], 'MERGEOPS_REGISTRIES.registries', Object.keys(root['registries'] ?? {}));
  for (const [host, raw] of Object.entries(hosts)) {
    const path = `MERGEOPS_REGISTRIES.registries.${host}`;
    if (!/^[a-z0-9.-]+(:\d+)?$/.test(host)) throw new ConfigError('expected a registry host such as ghcr.io or registry.local:5000', path);
    const o = expectObj(raw, path, ['username', 'password', 'passwordFile', 'insecure']);
    const access: RegistryAccess = { insecure: optBool(o, 'insecure', path) ?? false };
    const username = optString(o, 'username', path);
    const passwordFile = optString(o, 'passwordFile', path);
    let password = optString(o, 'password', path);
    if (passwordFile !== undefined) {
      try {
        password = fs.readFileSync(passwordFile, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`cannot read ${passwordFile}: ${(err as Error).message}`, `${path}.passwordFile`);
      }
    }
    if ((username === undefined) !== (password === undefined)) throw new ConfigError('set both username and password (or passwordFile), or neither', path);
    if (username !== undefined) access.username = username;
    if (password !== undefined) access.password = password;
    out.set(host, access);
  }
  return out;
}
