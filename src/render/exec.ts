import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CAPS } from '../config/caps.js';

export interface ToolLimits {
  timeoutMs: number;
  maxOutputBytes: number;
  /**
   * The child's data segment limit (RLIMIT_DATA, set with `ulimit -d` just before exec), 0
   * for none. A template can build a gigabyte string without printing a byte, so the
   * output cap alone does not bound memory. RLIMIT_AS would not do: Go reserves far more
   * address space than it uses, so helm fails at any useful RLIMIT_AS.
   */
  maxMemoryBytes?: number;
}

export const DEFAULT_TOOL_LIMITS: ToolLimits = { timeoutMs: 90_000, maxOutputBytes: 64 * 1024 * 1024, maxMemoryBytes: DEFAULT_CAPS.renderMemoryBytes };

/** `sh` sets the limit on itself and then becomes the tool, so only the tool is limited. */
const WITH_DATA_LIMIT = 'ulimit -d "$MERGEOPS_DATA_LIMIT_KB" && exec "$0" "$@"';

export class ToolError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/**
 * Where setup-test-env caches the pinned binaries. An empty setting counts as unset, as the
 * scripts read it (`${MERGEOPS_CACHE:-…}`): `MERGEOPS_CACHE=` copied from .env.example must
 * not turn the cache into a relative `bin/` folder here while the scripts fill the default.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['MERGEOPS_CACHE'] || path.join(env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'mergeops');
}

/**
 * The pinned binary: MERGEOPS_<TOOL> wins, then the cache setup-test-env fills, then PATH.
 * Using the cache before PATH keeps output identical to what the tests pinned.
 */
export function toolPath(tool: 'kustomize' | 'helm', env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[`MERGEOPS_${tool.toUpperCase()}`];
  if (explicit) return explicit;
  const cached = path.join(cacheDir(env), 'bin', tool);
  return fs.existsSync(cached) ? cached : tool;
}

/**
 * The reader of this message is often a PR author looking at a failed check, who cannot fix
 * it: it names who can (whoever runs mergeops) and what they must do.
 */
export function missingTool(bin: string): string {
  const tool = path.basename(bin);
  const setting = `MERGEOPS_${tool.toUpperCase()}`;
  return `${tool} is not installed where mergeops runs (looked for ${bin}): whoever runs mergeops (the operator, for the GitHub App) must install ${tool} (the mergeops container image ships it) or set ${setting} to its path`;
}

/**
 * Runs a renderer with a deadline and an output cap, in a scratch HOME that is always
 * removed, with a minimal environment so no operator credential leaks into a template.
 */
export async function runTool(bin: string, args: string[], cwd: string, limits: ToolLimits, extraEnv: Record<string, string> = {}): Promise<string> {
  const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'mergeops-tool-'));
  try {
    const memory = limits.maxMemoryBytes ?? 0;
    const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: scratch, TMPDIR: scratch, ...extraEnv };
    if (memory > 0) {
      env['MERGEOPS_DATA_LIMIT_KB'] = String(Math.floor(memory / 1024));
      // Go tools collect harder as they near this, instead of dying at the hard limit.
      env['GOMEMLIMIT'] = String(Math.floor(memory * 0.8));
    }
    const name = path.basename(bin);
    return await new Promise<string>((resolve, reject) => {
      const child = memory > 0 ? spawn('/bin/sh', ['-c', WITH_DATA_LIMIT, bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(bin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = '';
      let failure: ToolError | null = null;
      const kill = (why: string): void => {
        failure ??= new ToolError(why, err);
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => kill(`${path.basename(bin)} did not finish within ${limits.timeoutMs / 1000} s`), limits.timeoutMs);
      child.stdout.on('data', (c: Buffer) => {
        outBytes += c.length;
        if (outBytes > limits.maxOutputBytes) kill(`${path.basename(bin)} produced more than ${limits.maxOutputBytes} bytes of output`);
        else out.push(c);
      });
      child.stderr.on('data', (c: Buffer) => {
        if (err.length < 64 * 1024) err += c.toString('utf8');
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ToolError(e.code === 'ENOENT' ? missingTool(bin) : e.message, ''));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (failure) reject(failure);
        // Go: "fatal error: runtime: out of memory" / "out of memory allocating heap arena map".
        else if (code !== 0 && memory > 0 && /fatal error: (runtime: )?out of memory/.test(err)) {
          reject(new ToolError(`${name} ran out of memory: a render may use at most ${Math.round(memory / 1024 / 1024)} MiB (the operator's MERGEOPS_RENDER_MEMORY_BYTES); render less at once, for example split the app`, err));
        } else if (code === 127 && memory > 0) {
          // sh could not exec the tool: what a direct spawn reports as ENOENT.
          reject(new ToolError(missingTool(bin), ''));
        } else if (code !== 0) reject(new ToolError(err.trim() || `${name} exited with code ${code}`, err));
        else resolve(Buffer.concat(out).toString('utf8'));
      });
    });
  } finally {
    await fs.promises.rm(scratch, { recursive: true, force: true });
  }
}
