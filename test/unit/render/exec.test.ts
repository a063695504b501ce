import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_TOOL_LIMITS, cacheDir, runTool, toolPath, ToolError } from '../../../src/render/exec.js';
import { rejection } from '../../support/expect-error.js';

describe('runTool', () => {
  it('a missing renderer says who must install what, not a developer command', async () => {
    const err = await rejection(runTool('/nonexistent/bin/kustomize', ['build', '.'], '/', DEFAULT_TOOL_LIMITS), ToolError);
    expect(err.message).toContain('kustomize is not installed where mergeops runs');
    expect(err.message).toContain('the operator');
    expect(err.message).toContain('MERGEOPS_KUSTOMIZE');
    expect(err.message).not.toContain('npm run');
  });
});

describe('toolPath', () => {
  it('an empty MERGEOPS_CACHE (as copied from .env.example) means the default cache, as in the scripts', () => {
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-xdg-'));
    try {
      const helm = path.join(xdg, 'mergeops', 'bin', 'helm');
      fs.mkdirSync(path.dirname(helm), { recursive: true });
      fs.writeFileSync(helm, '#!/bin/sh\n', { mode: 0o755 });
      expect(toolPath('helm', { MERGEOPS_CACHE: '', XDG_CACHE_HOME: xdg })).toBe(helm);
      expect(toolPath('helm', { XDG_CACHE_HOME: xdg })).toBe(helm);
      // What setup-test-env.sh computes for the same settings: the same folder.
      const script = execFileSync('bash', ['-c', 'echo "${MERGEOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mergeops}"'], { env: { MERGEOPS_CACHE: '', XDG_CACHE_HOME: xdg, HOME: os.homedir() } }).toString().trim();
      expect(cacheDir({ MERGEOPS_CACHE: '', XDG_CACHE_HOME: xdg })).toBe(script);
      expect(toolPath('helm', { MERGEOPS_CACHE: path.join(xdg, 'elsewhere'), XDG_CACHE_HOME: xdg })).toBe('helm');
    } finally {
      fs.rmSync(xdg, { recursive: true, force: true });
    }
  });
});
