import https from 'node:https';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

/** The cluster could not be reached at all (DNS, refused, TLS, timeout). */
export class ClusterUnreachableError extends Error {
  constructor(
    readonly cluster: string,
    cause: string,
  ) {
    super(`cluster "${cluster}" is unreachable: ${cause}. Check that its API server is up and that MERGEOPS_CLUSTERS points at the right kubeconfig/context.`);
    this.name = 'ClusterUnreachableError';
  }
}

/** The API server answered with an error Status; `message` is the server's own words. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
  accept?: string;
}

/**
 * A thin JSON client over one keep-alive agent. We use client-node only for what it is
 * good at — reading kubeconfigs and producing credentials — and speak REST ourselves so
 * objects stay untyped JSON (no field dropped, no Date conversion) and every request
 * shares one connection pool.
 */
export class KubeClient {
  private staticHeaders: Record<string, string> | null = null;

  private constructor(
    readonly cluster: string,
    private readonly server: URL,
    private readonly agent: https.Agent | http.Agent,
    private readonly kc: KubeConfig,
    private readonly timeoutMs: number,
  ) {}

  static async create(cluster: string, kc: KubeConfig, timeoutMs = 30_000): Promise<KubeClient> {
    const current = kc.getCurrentCluster();
    if (!current) throw new Error(`cluster "${cluster}": the kubeconfig has no current cluster`);
    const server = new URL(current.server);
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const agentOpts = {
      keepAlive: true,
      maxSockets: 32,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      servername: (opts as { servername?: string }).servername,
    };
    const agent = server.protocol === 'http:' ? new http.Agent({ keepAlive: true, maxSockets: 32 }) : new https.Agent(agentOpts);
    return new KubeClient(cluster, server, agent, kc, timeoutMs);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.requestWithStatus<T>(method, path, opts)).body;
  }

  /** The same, with the HTTP status: an apply answers 201 when it created the object. */
  async requestWithStatus<T>(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { ...(await this.authHeaders()), accept: opts.accept ?? 'application/json' };
    if (payload) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const mod = url.protocol === 'http:' ? http : https;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new ClusterUnreachableError(this.cluster, err.code ?? err.message)));
      req.end(payload);
    });
    if (status >= 200 && status < 300) return { status, body: (text === '' ? undefined : JSON.parse(text)) as T };
    let reason = 'Unknown';
    let message = `${method} ${url.pathname} failed with HTTP ${status}`;
    try {
      const s = JSON.parse(text) as { reason?: string; message?: string };
      reason = s.reason ?? reason;
      message = s.message ?? message;
    } catch {
      // not a Status object (a proxy's HTML page, say); keep the generic message
    }
    throw new KubeApiError(status, reason, message);
  }

  /**
   * Static tokens and client certs are read once; exec plugins and auth providers rotate
   * credentials, so for those client-node is asked again on every request.
   */
  private async authHeaders(): Promise<Record<string, string>> {
    if (this.staticHeaders) return this.staticHeaders;
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (opts.auth) headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const user = this.kc.getCurrentUser();
    if (!user?.exec && !user?.authProvider) this.staticHeaders = headers;
    return headers;
  }

  close(): void {
    this.agent.destroy();
  }
}
