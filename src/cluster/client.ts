import https from 'node:https';
import http from 'node:http';
import type { KubeconfigSource } from '../kubeconfig.js';
import type { ActingIdentity } from '../config/clusters.js';
import { ServerVerdictError, TransientError } from '../errors.js';

/**
 * The cluster could not be reached at all (DNS, refused, reset, TLS, timeout), even after
 * the client's own retries: transient, so the job is retried with backoff before the
 * check run reports it.
 */
export class ClusterUnreachableError extends TransientError {
  constructor(
    readonly cluster: string,
    cause: string,
  ) {
    super(`cluster "${cluster}" is unreachable: ${cause}. Check that its API server is up and that MERGEOPS_CLUSTERS points at the right kubeconfig/context.`);
    this.name = 'ClusterUnreachableError';
  }
}

/** One cause of a failed Status: which field and why (conflicts name the other manager here). */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** What the Status says the error is about: `namespaces "shop" not found` has kind namespaces, name shop. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/** The API server answered with an error Status; `message` is the server's own words. */
export class KubeApiError extends ServerVerdictError {
  constructor(
    status: number,
    readonly reason: string,
    message: string,
    readonly details: StatusDetails = {},
  ) {
    super(status, message);
    this.name = 'KubeApiError';
  }
}

/** A response that succeeded, with the API server's `Warning` headers (deprecations, policy warnings). */
export interface KubeResponse<T> {
  status: number;
  body: T;
  warnings: string[];
}

/**
 * The text of RFC 7234 `Warning` header values as the API server sends them:
 * `299 - "the message"`, with `\"` and `\\` escaped inside the quotes. Several warnings
 * arrive as several headers or comma-separated in one.
 */
export function parseWarnings(values: string[]): string[] {
  const out: string[] = [];
  const re = /\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"/g;
  for (const v of values) {
    for (const m of v.matchAll(re)) out.push((m[1] ?? '').replace(/\\(.)/g, '$1'));
  }
  return out;
}

/**
 * How hard a request tries. The API server sheds load with 429 (priority and fairness) and
 * 503, and restarts drop connections; every call mergeops makes (GET, server-side apply,
 * DELETE) is idempotent, so all of them may be sent again.
 */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  /** Cap on any one wait, the server's Retry-After included. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 10_000 };

const RETRY_STATUS = new Set([429, 502, 503, 504]);
const RETRY_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH']);

interface RawResponse {
  status: number;
  text: string;
  retryAfter: string | undefined;
  warnings: string[];
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
    /** Watches hold their connection for minutes: their own pool, so they never starve requests of sockets. */
    private readonly streamAgent: https.Agent | http.Agent,
    private readonly kc: KubeconfigSource,
    private readonly timeoutMs: number,
    private readonly retry: RetryPolicy,
    /** Who this client's requests act as, when not mergeops' own credentials (impersonation). */
    readonly actingAs: ActingIdentity | null = null,
  ) {}

  /**
   * The same credentials and connection pool, every request impersonating `who`
   * (`Impersonate-User`, one `Impersonate-Group` per group): the API server authorizes each
   * request as that identity, after checking that mergeops may impersonate it. The pools are
   * this client's: close this one, not the impersonating one.
   */
  impersonating(who: ActingIdentity): KubeClient {
    return new KubeClient(this.cluster, this.server, this.agent, this.streamAgent, this.kc, this.timeoutMs, this.retry, who);
  }

  static async create(cluster: string, kc: KubeconfigSource, timeoutMs = 30_000, retry: RetryPolicy = DEFAULT_RETRY): Promise<KubeClient> {
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
    const streamAgent = server.protocol === 'http:' ? new http.Agent({ keepAlive: false }) : new https.Agent({ ...agentOpts, keepAlive: false, maxSockets: Infinity });
    return new KubeClient(cluster, server, agent, streamAgent, kc, timeoutMs, retry);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.requestWithStatus<T>(method, path, opts)).body;
  }

  /**
   * The same, with the HTTP status (an apply answers 201 when it created the object) and the
   * server's warnings, which a dry-run is the only place to see before they matter.
   */
  async requestWithStatus<T>(method: string, path: string, opts: RequestOptions = {}): Promise<KubeResponse<T>> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers = await this.headers(opts.accept ?? 'application/json');
    if (payload) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    for (let attempt = 1; ; attempt++) {
      let res: RawResponse;
      try {
        res = await this.send(url, method, headers, payload);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (RETRY_ERRNO.has(code) && attempt < this.retry.attempts) {
          await this.pause(attempt, undefined);
          continue;
        }
        const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new ClusterUnreachableError(this.cluster, attempt > 1 ? `${why} (after ${attempt} attempts)` : why);
      }
      const { status, text } = res;
      if (status >= 200 && status < 300) return { status, body: (text === '' ? undefined : JSON.parse(text)) as T, warnings: parseWarnings(res.warnings) };
      if (RETRY_STATUS.has(status) && attempt < this.retry.attempts) {
        await this.pause(attempt, res.retryAfter);
        continue;
      }
      let reason = 'Unknown';
      let message = `${method} ${url.pathname} failed with HTTP ${status}`;
      let details: StatusDetails = {};
      try {
        const s = JSON.parse(text) as { reason?: string; message?: string; details?: StatusDetails };
        reason = s.reason ?? reason;
        message = s.message ?? message;
        details = s.details ?? {};
      } catch {
        // not a Status object (a proxy's HTML page, say); keep the generic message
      }
      if (RETRY_STATUS.has(status)) message += ` (HTTP ${status}, still after ${attempt} attempts)`;
      throw new KubeApiError(status, reason, message, details);
    }
  }

  /**
   * A watch (`?watch=true`): each line the server streams is handed to `onLine` as parsed
   * JSON until the server ends the stream (its `timeoutSeconds`), the connection breaks
   * (rejects with ClusterUnreachableError) or `signal` aborts (resolves). An error status
   * before the stream starts rejects with KubeApiError, as `request` does (410: too old).
   * A stream silent for `idleMs` (no event, no bookmark) is cut as broken: a half-open
   * connection (a node or proxy gone without a FIN) would otherwise hang the watch for good.
   */
  async watch(path: string, query: Record<string, string | undefined>, onLine: (line: unknown) => void, signal: AbortSignal, idleMs?: number): Promise<void> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries({ ...query, watch: 'true' })) if (v !== undefined) url.searchParams.set(k, v);
    const headers = await this.headers('application/json');
    const mod = url.protocol === 'http:' ? http : https;
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      // What `onLine` threw: the stream is cut and the watch fails with it, not as a broken connection.
      let thrown: unknown;
      const broke = (err: NodeJS.ErrnoException): void => {
        if (thrown !== undefined) reject(thrown);
        else if (signal.aborted) resolve();
        else reject(new ClusterUnreachableError(this.cluster, err.code ?? err.message));
      };
      const req = mod.request(url, { method: 'GET', headers, agent: this.streamAgent, signal }, (res) => {
        const status = res.statusCode ?? 0;
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          if (status < 200 || status >= 300) return;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line === '') continue;
            try {
              onLine(JSON.parse(line));
            } catch (err) {
              thrown = err;
              req.destroy();
              return;
            }
          }
        });
        res.on('end', () => {
          if (status >= 200 && status < 300) return resolve();
          let reason = 'Unknown';
          let message = `watch ${url.pathname} failed with HTTP ${status}`;
          try {
            const s = JSON.parse(buffered) as { reason?: string; message?: string };
            reason = s.reason ?? reason;
            message = s.message ?? message;
          } catch {
            // not a Status object; keep the generic message
          }
          reject(new KubeApiError(status, reason, message));
        });
        res.on('error', broke);
        // A cut stream may end without an error on the response: `close` before `end`.
        res.on('close', () => {
          if (!res.complete) broke(Object.assign(new Error('the watch connection was cut'), { code: 'ECONNRESET' }));
        });
      });
      if (idleMs !== undefined) req.setTimeout(idleMs, () => req.destroy(Object.assign(new Error(`the watch was silent for ${idleMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', broke);
      req.end();
    });
  }

  private send(url: URL, method: string, headers: Record<string, string | string[]>, payload: Buffer | undefined): Promise<RawResponse> {
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ra = res.headers['retry-after'];
          // rawHeaders keeps repeated Warning headers apart; node would join them with ", ".
          const warnings: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]?.toLowerCase() === 'warning') warnings.push(res.rawHeaders[i + 1] ?? '');
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: Array.isArray(ra) ? ra[0] : ra, warnings });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Exponential backoff with jitter, or the server's Retry-After (seconds) when it sent one. */
  private async pause(attempt: number, retryAfter: string | undefined): Promise<void> {
    const asked = Number(retryAfter) * 1000;
    const backoff = this.retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
    const ms = Math.min(Number.isFinite(asked) && asked > 0 ? asked : backoff, this.retry.maxDelayMs);
    await new Promise((r) => setTimeout(r, ms));
  }

  /** Credentials, and who the request acts as: every request and watch of an impersonating client says so. */
  private async headers(accept: string): Promise<Record<string, string | string[]>> {
    // An array value is sent as one header line per value, as Impersonate-Group must be.
    const headers: Record<string, string | string[]> = { ...(await this.authHeaders()), accept };
    if (this.actingAs) {
      headers['impersonate-user'] = this.actingAs.user;
      if (this.actingAs.groups.length > 0) headers['impersonate-group'] = this.actingAs.groups;
    }
    return headers;
  }

  /**
   * Static tokens and client certs are read once; exec plugins and auth providers rotate
   * credentials, so for those the kubeconfig is asked again on every request.
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
    this.streamAgent.destroy();
  }
}
