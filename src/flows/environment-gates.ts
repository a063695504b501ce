import type { Permission } from '../config/command-permissions.js';
import type { Environment } from '../config/repo-config.js';

/** How an environment's deploy ended in this job, as its dependents see it. */
export type EnvironmentState = 'deployed' | 'failed' | 'held (locked)' | 'not started' | 'waiting' | 'waits for its promotion pull request';

export interface DependencyOutcome {
  name: string;
  state: EnvironmentState;
  /** Something was applied to it in this job (its health was just reached: a soak counts from now). */
  applied: boolean;
}

/** What happens to an environment once the ones it comes after have settled. */
export type Gate =
  | { kind: 'apply' }
  /** An environment before it did not deploy: `why` names them (`staging failed`). */
  | { kind: 'blocked'; why: string }
  /** An environment before it waits (soak or approval): this one waits behind it, and goes on with it. */
  | { kind: 'behind'; environment: string }
  /** The soak runs: a delayed job goes on at `untilMs`; the job does not sleep (nor hold the branch's lease). */
  | { kind: 'soak'; untilMs: number }
  /** A person with `role` promotes it; until then the commit waits (durably, in Redis). */
  | { kind: 'approval'; role: Permission };

/**
 * The state machine of one environment in one deploy job, pure: blocked when a dependency
 * failed (or was held or not started), behind when one waits; then the soak (counted from a
 * dependency applied in this job; a continuation job has waited it out); then the approval
 * (unless this job is its promotion); else apply.
 */
export function gateOf(env: Environment, deps: DependencyOutcome[], ctx: { role: Permission | null; soaked: boolean; promoted: boolean; nowMs: number }): Gate {
  const blocked = deps.filter((d) => d.state !== 'deployed' && d.state !== 'waiting');
  if (blocked.length > 0) return { kind: 'blocked', why: blocked.map((d) => `${d.name} ${d.state}`).join(', ') };
  const waiting = deps.find((d) => d.state === 'waiting');
  if (waiting) return { kind: 'behind', environment: waiting.name };
  if (!ctx.soaked && env.soakMs > 0 && deps.some((d) => d.applied)) return { kind: 'soak', untilMs: ctx.nowMs + env.soakMs };
  if (ctx.role !== null && !ctx.promoted) return { kind: 'approval', role: ctx.role };
  return { kind: 'apply' };
}

/** `env` and every environment that comes after it, directly or not, in config order: what a continuation of `env` deploys. */
export function withDependents(environments: Environment[], env: string): string[] {
  const out = new Set([env]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of environments) {
      if (!out.has(e.name) && e.after.some((a) => out.has(a))) {
        out.add(e.name);
        grew = true;
      }
    }
  }
  return environments.map((e) => e.name).filter((n) => out.has(n));
}
