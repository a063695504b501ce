import fs from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import type https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
// client-node's own kubeconfig parsing and credential plugins, imported one by one: its
// KubeConfig class loads every generated API model with it (~70 MiB a process at rest, half
// the worker's heap), none of which mergeops uses (it sends its own requests).
import { newClusters, newContexts, newUsers, type Cluster, type Context, type User } from '@kubernetes/client-node/dist/config_types.js';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import { FileAuth } from '@kubernetes/client-node/dist/file_auth.js';
import { parseYamlDocuments } from './yaml.js';

const SERVICEACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** What a KubeClient needs of a kubeconfig: the server, and the TLS options and credentials of each request. */
export interface KubeconfigSource {
  getCurrentCluster(): Cluster | null;
  getCurrentUser(): User | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

interface Loaded {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  current: string | undefined;
}

/**
 * A kubeconfig as kubectl reads it: a file (paths in it relative to the file), KUBECONFIG's
 * files merged (the first file's current context, the first definition of each name), the
 * default ~/.kube/config, or the pod's service account. Credentials: client certificates,
 * bearer tokens, token files, basic auth and exec plugins (each request asks the plugin, which
 * caches until the credential expires). The legacy in-tree `auth-provider`s (gcp, azure,
 * oidc; kubectl dropped the first two) are refused with what to use instead.
 */
export class Kubeconfig implements KubeconfigSource {
  private loaded: Loaded = { clusters: [], users: [], contexts: [], current: undefined };
  private readonly exec = new ExecAuth();
  private readonly tokenFile = new FileAuth();

  loadFromFile(file: string): void {
    this.loaded = readFile(file);
  }

  /** KUBECONFIG (its files merged), else ~/.kube/config, else the pod's service account. */
  loadFromDefault(env: NodeJS.ProcessEnv = process.env): void {
    const files = (env['KUBECONFIG'] ?? '').split(path.delimiter).filter((f) => f !== '');
    if (files.length > 0) {
      this.loaded = files.map(readFile).reduce(merge);
      return;
    }
    const home = path.join(env['HOME'] || os.homedir(), '.kube', 'config');
    if (fs.existsSync(home)) this.loadFromFile(home);
    else this.loadFromCluster(env);
  }

  /** The pod's service account: its token file (re-read as the kubelet rotates it) and CA. */
  loadFromCluster(env: NodeJS.ProcessEnv = process.env): void {
    const host = env['KUBERNETES_SERVICE_HOST'];
    const port = env['KUBERNETES_SERVICE_PORT'];
    if (!host || !port) throw new Error('not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset');
    const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
    this.loaded = {
      clusters: [{ name: 'inCluster', caFile: `${SERVICEACCOUNT}/ca.crt`, server: `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`, skipTLSVerify: false }],
      users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: `${SERVICEACCOUNT}/token` } } }],
      contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
      current: 'inClusterContext',
    };
  }

  getContexts(): Context[] {
    return this.loaded.contexts;
  }

  getCurrentContext(): string | undefined {
    return this.loaded.current;
  }

  setCurrentContext(name: string): void {
    this.loaded.current = name;
  }

  getContextObject(name: string): Context | null {
    return this.loaded.contexts.find((c) => c.name === name) ?? null;
  }

  getCurrentCluster(): Cluster | null {
    const ctx = this.current();
    return ctx ? (this.loaded.clusters.find((c) => c.name === ctx.cluster) ?? null) : null;
  }

  getCurrentUser(): User | null {
    const ctx = this.current();
    return ctx ? (this.loaded.users.find((u) => u.name === ctx.user) ?? null) : null;
  }

  /** TLS options and the Authorization header of a request, as client-node's KubeConfig sets them. */
  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (!user) return;
    if (cluster?.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
    const ca = cluster ? fileOrData(cluster.caFile, cluster.caData) : null;
    if (ca) opts.ca = ca;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert) opts.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key) opts.key = key;
    const headers: OutgoingHttpHeaders = { ...(opts.headers as OutgoingHttpHeaders | undefined) };
    opts.headers = headers;
    if (user.impersonateUser) headers['Impersonate-User'] = user.impersonateUser;
    // The plugins set opts.headers.Authorization.
    if (this.exec.isAuthProvider(user)) await this.exec.applyAuthentication(user, opts);
    else if (this.tokenFile.isAuthProvider(user)) await this.tokenFile.applyAuthentication(user, opts);
    else if (user.authProvider) throw new Error(authProviderRefusal(user));
    if (user.token) headers['Authorization'] = `Bearer ${user.token}`;
    if (user.username) opts.auth = `${user.username}:${user.password ?? ''}`;
  }

  private current(): Context | null {
    return this.loaded.current === undefined ? null : this.getContextObject(this.loaded.current);
  }
}

function readFile(file: string): Loaded {
  const doc = (parseYamlDocuments(fs.readFileSync(file, 'utf8'), file)[0]?.value ?? {}) as { clusters?: unknown; users?: unknown; contexts?: unknown; 'current-context'?: unknown };
  const dir = path.dirname(file);
  const near = (p: string | undefined): string | undefined => (p === undefined || path.isAbsolute(p) ? p : path.join(dir, p));
  const clusters = newClusters(doc.clusters).map((c) => ({ ...c, caFile: near(c.caFile) }));
  const users = newUsers(doc.users).map((u) => ({ ...u, certFile: near(u.certFile), keyFile: near(u.keyFile) }));
  return { clusters, users, contexts: newContexts(doc.contexts), current: typeof doc['current-context'] === 'string' ? doc['current-context'] : undefined };
}

/** kubectl's merge of KUBECONFIG's files: the first current context set, and the first definition of each name. */
function merge(a: Loaded, b: Loaded): Loaded {
  const add = <T extends { name: string }>(x: T[], y: T[]): T[] => [...x, ...y.filter((e) => !x.some((f) => f.name === e.name))];
  return { clusters: add(a.clusters, b.clusters), users: add(a.users, b.users), contexts: add(a.contexts, b.contexts), current: a.current ?? b.current };
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | null {
  if (file) return fs.readFileSync(file);
  return data ? Buffer.from(data, 'base64') : null;
}

function authProviderRefusal(user: User): string {
  const name = String((user.authProvider as { name?: unknown }).name ?? 'unnamed');
  const instead: Record<string, string> = {
    gcp: 'gke-gcloud-auth-plugin',
    azure: 'kubelogin (Azure/kubelogin)',
    oidc: 'an OIDC exec plugin such as kubelogin (int128/kubelogin)',
  };
  return `user "${user.name}" authenticates with the auth-provider "${name}", which mergeops does not run; use an exec credential plugin instead (${instead[name] ?? 'the one your cluster documents'}): kubectl itself moved to them`;
}
