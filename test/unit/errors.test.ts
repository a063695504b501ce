import { describe, expect, it } from '@jest/globals';
import { ClusterUnreachableError, KubeApiError } from '../../src/cluster/client.js';
import { UnknownClusterError } from '../../src/cluster/connect.js';
import { ConfigError } from '../../src/config/validate.js';
import { RenderError, TransientError, UserError, errorText, isTransient, isUserError, objectVerdict, publicFailure, toProblem } from '../../src/errors.js';
import { ToolError } from '../../src/render/exec.js';
import { ArchiveTooLargeError } from '../../src/source/extract.js';
import { UnsafePathError } from '../../src/source/paths.js';

describe('the error taxonomy: the user\'s or ours', () => {
  it.each([
    ['a config error', new ConfigError('is required', 'apps[0].name')],
    ['a render error', new RenderError('bad YAML', 'k8s/a.yaml', 3)],
    ['an unsafe archive entry', new UnsafePathError('entry has an absolute path', '/etc/passwd')],
    ['a too large archive', new ArchiveTooLargeError('repository archive is larger than 1 MiB')],
    ['an unknown cluster', new UnknownClusterError('prod', ['default'])],
  ])('%s is the user\'s: it becomes a problem', (_label, err) => {
    expect(isUserError(err)).toBe(true);
    expect(toProblem(err).message).toContain(err.message);
  });

  it.each([
    ['a plain Error', new Error('socket hang up')],
    ['a failed tool run (not worded for the user yet)', new ToolError('helm crashed', '')],
    ['an API error outside one object', new KubeApiError(403, 'Forbidden', 'forbidden')],
    ['a thrown string', 'boom'],
  ])('%s is ours: toProblem rethrows it', (_label, err) => {
    expect(isUserError(err)).toBe(false);
    expect(() => toProblem(err)).toThrow();
  });

  it.each([
    ['an unreachable cluster (refused, reset, timed out)', new ClusterUnreachableError('prod', 'ECONNRESET (after 4 attempts)')],
    ['a 503 the client\'s retries did not outlast', new KubeApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request (HTTP 503, still after 4 attempts)')],
    ['a 429', new KubeApiError(429, 'TooManyRequests', 'too many requests')],
    ['a 500', new KubeApiError(500, 'InternalError', 'etcdserver: request timed out')],
  ])('%s is transient: ours (toProblem rethrows, the job is retried), and its text may be shown once retries ran out', (_label, err) => {
    expect(isTransient(err)).toBe(true);
    expect(isUserError(err)).toBe(false);
    expect(() => toProblem(err)).toThrow(err);
    if (err instanceof TransientError) expect(publicFailure(err, () => undefined)).toBe(err.message);
  });

  it.each([
    ['a validation error', new KubeApiError(422, 'Invalid', 'spec.replicas: Invalid value')],
    ['a conflict', new KubeApiError(409, 'Conflict', 'Apply failed with 1 conflict')],
    ['forbidden', new KubeApiError(403, 'Forbidden', 'forbidden')],
    ['a plain Error', new Error('boom')],
  ])('%s is not transient', (_label, err) => {
    expect(isTransient(err)).toBe(false);
  });

  it('keeps file, line and ref on the problem', () => {
    expect(toProblem(new RenderError('x', 'a.yaml', 4))).toEqual({ message: 'x', file: 'a.yaml', line: 4 });
    expect(toProblem(new UserError('y', { ref: 'v1 ConfigMap a/b' }))).toEqual({ message: 'y', ref: 'v1 ConfigMap a/b' });
  });

  it('words an unsafe archive entry for the report and names the entry', () => {
    expect(toProblem(new UnsafePathError('entry path contains ".."', 'r/../x')).message).toBe('the repository archive was refused: entry path contains ".." (entry "r/../x")');
  });

  it('says "invalid config" and points a repo config error at its file', () => {
    const e = new ConfigError('is required', 'apps[0].name').inFile('.github/mergeops.yml');
    expect(e.message).toBe('apps[0].name: is required');
    expect(toProblem(e)).toEqual({ message: 'invalid config: apps[0].name: is required', file: '.github/mergeops.yml', line: 1 });
  });

  it('objectVerdict passes the server\'s verdict on and rethrows everything else', () => {
    const verdict = new KubeApiError(422, 'Invalid', 'spec.replicas: Invalid value');
    expect(objectVerdict(verdict)).toBe(verdict);
    expect(() => objectVerdict(new ClusterUnreachableError('c', 'ETIMEDOUT'))).toThrow(ClusterUnreachableError);
    expect(() => objectVerdict(new TypeError('bug'))).toThrow(TypeError);
  });
});

describe('errorText', () => {
  it('always redacts', () => {
    expect(errorText(new Error('GET https://x-access-token:ghs_abcdefghijklmnop@github.com failed'))).toBe('GET https://***@github.com failed');
    expect(errorText('token ghp_abcdefghijklmnopqrstuvwxyz')).toBe('token ghp_***');
  });

  it('reads the message of errors from another realm and of non-errors', () => {
    expect(errorText({ message: 'from a VM' })).toBe('from a VM');
    expect(errorText(42)).toBe('42');
    expect(errorText(null)).toBe('null');
  });
});

describe('publicFailure: what a public check run may say', () => {
  it("ours: neither the Redis address nor a stack fragment, only an id the log line carries with the detail", () => {
    const logged: [string, string][] = [];
    const err = new Error('connect ECONNREFUSED 10.0.3.7:6379\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1606:16)');
    const text = publicFailure(err, (id, detail) => logged.push([id, detail]));
    expect(text).toMatch(/^mergeops hit an internal error; the operator can find the details in its logs under id [0-9a-f]{12}$/);
    expect(text).not.toMatch(/6379|10\.0\.3\.7|TCPConnectWrap|node:net/);
    expect(logged).toHaveLength(1);
    expect(text.endsWith(logged[0]?.[0] ?? '-')).toBe(true);
    expect(logged[0]?.[1]).toContain('ECONNREFUSED 10.0.3.7:6379');
  });

  it('the detail it logs is redacted, and ids differ per failure', () => {
    const ids: string[] = [];
    const logged: string[] = [];
    for (let i = 0; i < 2; i++) publicFailure(new Error('redis://:hunter2hunter2@redis:6379 refused'), (id, d) => (ids.push(id), logged.push(d)));
    expect(logged[0]).not.toContain('hunter2');
    expect(new Set(ids).size).toBe(2);
  });

  it("a user's error is theirs to read, unchanged, and logs nothing", () => {
    const logged: string[] = [];
    expect(publicFailure(new RenderError('kustomize build failed: no kustomization.yaml', 'apps/web'), (id) => logged.push(id))).toBe('kustomize build failed: no kustomization.yaml');
    expect(logged).toEqual([]);
  });
});
