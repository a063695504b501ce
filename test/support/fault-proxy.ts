import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * What the proxy does with one request: answer it with an error, cut the connection, or
 * hold it until something the test does has happened (then forward it).
 */
export type ProxyFault = { status: number; retryAfter?: number } | 'drop' | { hold: Promise<unknown> };

export interface ProxiedRequest {
  method: string;
  path: string;
  /** Path and query, decoded: label selectors name the app a LIST is for. */
  url: string;
  /** A real write: PATCH/POST/PUT/DELETE without dryRun. */
  write: boolean;
  injected?: number | 'drop';
  /** When the proxy received it (ms since the epoch): resend gaps are measured on the wire. */
  at: number;
}

/** The proxy itself, in front of any HTTP(S) server. */
export interface HttpFaultProxy {
  /** `127.0.0.1:<port>`: what clients connect to instead of the upstream. */
  host: string;
  requests: ProxiedRequest[];
  rule: ((r: ProxiedRequest) => ProxyFault | undefined) | null;
  /** The upstream goes away: open connections cut, new ones refused, until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A small fault-injecting HTTP proxy: every request is forwarded to `upstream` (http or
 * https) unless `rule` returns a fault, answered with `faultBody`, the error body the
 * upstream itself would send (a Kubernetes Status, a registry's `errors` list).
 */
export async function startHttpFaultProxy(upstream: URL, opts: { faultBody: (status: number) => string }): Promise<HttpFaultProxy> {
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true });
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const r: ProxiedRequest = { method: req.method ?? 'GET', path: url.pathname, url: decodeURIComponent(`${url.pathname}${url.search}`), write: req.method !== 'GET' && req.method !== 'HEAD' && !url.searchParams.has('dryRun'), at: Date.now() };
    proxy.requests.push(r);
    const fault = proxy.rule?.(r);
    if (fault === 'drop') {
      r.injected = 'drop';
      req.socket.destroy();
      return;
    }
    if (fault && 'hold' in fault) {
      req.pause();
      // Piping resumes it: resuming first would let a bodiless request end before the pipe,
      // and the upstream request would never be ended.
      void fault.hold.then(forward, () => req.socket.destroy());
      return;
    }
    if (fault) {
      r.injected = fault.status;
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}) });
      res.end(req.method === 'HEAD' ? undefined : opts.faultBody(fault.status));
      return;
    }
    forward();
    function forward(): void {
      const up = (secure ? https : http).request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const proxy: HttpFaultProxy = {
    host: `127.0.0.1:${port}`,
    requests: [],
    rule: null,
    stop: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
    },
    start: async () => {
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    },
    close: async () => {
      if (server.listening) await proxy.stop();
      agent.destroy();
    },
  };
  return proxy;
}

/**
 * The fault proxy in front of the real API server, with a kubeconfig that points at it:
 * `stop()` makes the "API server" go away until `start()`.
 */
export interface FaultProxy extends HttpFaultProxy {
  kubeconfig: string;
}

export async function startFaultProxy(upstreamKubeconfig: string): Promise<FaultProxy> {
  const text = fs.readFileSync(upstreamKubeconfig, 'utf8');
  const upstream = new URL(/server: (\S+)/.exec(text)?.[1] ?? '');
  const token = /token: (\S+)/.exec(text)?.[1] ?? '';
  const inner = await startHttpFaultProxy(upstream, {
    faultBody: (status) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', message: `injected ${status}`, code: status }),
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-proxy-'));
  const kubeconfig = path.join(dir, 'kubeconfig.yaml');
  fs.writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: flaky\n  cluster: {server: "http://${inner.host}", insecure-skip-tls-verify: true}\nusers:\n- name: admin\n  user: {token: ${token}}\ncontexts:\n- name: flaky\n  context: {cluster: flaky, user: admin}\ncurrent-context: flaky\n`,
  );
  const closeProxy = inner.close;
  return Object.assign(inner, {
    kubeconfig,
    close: async () => {
      await closeProxy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}
