import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Kubeconfig } from '../../src/kubeconfig.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-kubeconfig-'));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o700 });
  return file;
}

const config = (cluster: string, user: string, current?: string): string =>
  `apiVersion: v1\nkind: Config\n${current ? `current-context: ${current}\n` : ''}clusters:\n${cluster}users:\n${user}contexts:\n- name: main\n  context: {cluster: c1, user: u1}\n`;

async function requestOptions(kc: Kubeconfig): Promise<https.RequestOptions> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return opts;
}

describe('Kubeconfig', () => {
  it('reads certificate, key and CA files relative to the kubeconfig\'s own folder, and a bearer token', async () => {
    write('certs/ca.crt', 'CA');
    write('certs/client.crt', 'CERT');
    write('certs/client.key', 'KEY');
    const file = write('conf/a.yaml', config('- name: c1\n  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ../certs/ca.crt, tls-server-name: api.internal}\n', '- name: u1\n  user: {client-certificate: ../certs/client.crt, client-key: ../certs/client.key, token: abc}\n', 'main'));
    const kc = new Kubeconfig();
    kc.loadFromFile(file);
    expect(kc.getCurrentContext()).toBe('main');
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    const opts = await requestOptions(kc);
    expect(String(opts.ca)).toBe('CA');
    expect(String(opts.cert)).toBe('CERT');
    expect(String(opts.key)).toBe('KEY');
    expect(opts.servername).toBe('api.internal');
    expect(opts.rejectUnauthorized).toBeUndefined();
    expect(opts.headers).toEqual({ Authorization: 'Bearer abc' });
  });

  it('takes inline base64 data, insecure-skip-tls-verify, impersonation and basic auth', async () => {
    const file = write('b.yaml', config(`- name: c1\n  cluster: {server: "https://k", certificate-authority-data: ${Buffer.from('CA2').toString('base64')}, insecure-skip-tls-verify: true}\n`, '- name: u1\n  user: {username: ann, password: pw, as: someone}\n', 'main'));
    const kc = new Kubeconfig();
    kc.loadFromFile(file);
    const opts = await requestOptions(kc);
    expect(String(opts.ca)).toBe('CA2');
    expect(opts.rejectUnauthorized).toBe(false);
    expect(opts.auth).toBe('ann:pw');
    expect(opts.headers).toEqual({ 'Impersonate-User': 'someone' });
  });

  it('runs an exec credential plugin for the token, with its arguments and env', async () => {
    const plugin = write('plugin.sh', '#!/bin/sh\nprintf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}\' "$1" "$PLUGIN_SUFFIX"\n');
    const file = write('exec.yaml', config('- name: c1\n  cluster: {server: "https://k"}\n', `- name: u1\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      args: [from-plugin]\n      env: [{name: PLUGIN_SUFFIX, value: ok}]\n      interactiveMode: Never\n`, 'main'));
    const kc = new Kubeconfig();
    kc.loadFromFile(file);
    expect((await requestOptions(kc)).headers).toEqual({ Authorization: 'Bearer from-plugin-ok' });
  });

  it('merges KUBECONFIG\'s files as kubectl does: the first file\'s current context, the first definition of each name', () => {
    const first = write('m1.yaml', config('- name: c1\n  cluster: {server: "https://first"}\n', '- name: u1\n  user: {token: one}\n'));
    const second = write('m2.yaml', `current-context: other\nclusters:\n- name: c1\n  cluster: {server: "https://second"}\n- name: c2\n  cluster: {server: "https://c2"}\nusers:\n- name: u2\n  user: {token: two}\ncontexts:\n- name: other\n  context: {cluster: c2, user: u2}\n`);
    const kc = new Kubeconfig();
    kc.loadFromDefault({ KUBECONFIG: [first, second].join(path.delimiter) });
    expect(kc.getCurrentContext()).toBe('other');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['main', 'other']);
    expect(kc.getCurrentCluster()?.server).toBe('https://c2');
    kc.setCurrentContext('main');
    expect(kc.getCurrentCluster()?.server).toBe('https://first');
  });

  it('inside a pod: the service account\'s API server address (IPv6 in brackets) and token file', () => {
    const kc = new Kubeconfig();
    kc.loadFromCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' });
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://[fd00::1]:443', caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' });
    expect(kc.getCurrentUser()?.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } });
    expect(() => new Kubeconfig().loadFromCluster({})).toThrow(/not running in a pod/);
  });

  it('refuses a legacy auth-provider with the exec plugin to use instead, rather than sending no credentials', async () => {
    const file = write('gcp.yaml', config('- name: c1\n  cluster: {server: "https://k"}\n', '- name: u1\n  user:\n    auth-provider: {name: gcp, config: {}}\n', 'main'));
    const kc = new Kubeconfig();
    kc.loadFromFile(file);
    await expect(requestOptions(kc)).rejects.toThrow(/auth-provider "gcp".*gke-gcloud-auth-plugin/);
  });

  it('a cluster without a server is refused when read, naming the entry', () => {
    const file = write('bad.yaml', config('- name: c1\n  cluster: {certificate-authority-data: eA==}\n', '- name: u1\n  user: {token: t}\n', 'main'));
    expect(() => new Kubeconfig().loadFromFile(file)).toThrow(/clusters\[0\]\.cluster\.server is missing/);
  });
});
