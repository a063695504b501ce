import { describe, expect, it } from '@jest/globals';
import { ClusterUnreachableError, KubeApiError } from '../../src/cluster/client.js';
import { UnknownClusterError } from '../../src/cluster/connect.js';
import { ConfigError } from '../../src/config/validate.js';
import { RenderError, UserError, errorText, isUserError, objectVerdict, toProblem } from '../../src/errors.js';
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
    ['an unreachable cluster', new ClusterUnreachableError('prod', 'ECONNREFUSED')],
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
