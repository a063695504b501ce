import { describe, expect, it } from '@jest/globals';
import type { Environment } from '../../../src/config/repo-config.js';
import { gateOf, withDependents, type DependencyOutcome } from '../../../src/flows/environment-gates.js';

const prod: Environment = { name: 'prod', cluster: 'p', after: ['staging'], soakMs: 600_000, approval: 'write' };
const staging = (over: Partial<DependencyOutcome> = {}): DependencyOutcome => ({ name: 'staging', state: 'deployed', applied: true, ...over });
const ctx = { role: 'write' as const, soaked: false, promoted: false, nowMs: 1000 };

describe('gateOf: one environment in one deploy job', () => {
  it('soak first (counted from a dependency applied now), then the approval, then apply', () => {
    expect(gateOf(prod, [staging()], ctx)).toEqual({ kind: 'soak', untilMs: 601_000 });
    expect(gateOf(prod, [staging()], { ...ctx, soaked: true })).toEqual({ kind: 'approval', role: 'write' });
    // Nothing applied to staging now (a push that changed only prod): no soak to wait out.
    expect(gateOf(prod, [staging({ applied: false })], ctx)).toEqual({ kind: 'approval', role: 'write' });
    expect(gateOf(prod, [staging()], { ...ctx, soaked: true, promoted: true })).toEqual({ kind: 'apply' });
    expect(gateOf({ ...prod, soakMs: 0 }, [staging()], { ...ctx, role: null })).toEqual({ kind: 'apply' });
  });

  it('a dependency that did not deploy blocks it (named); one that waits has it wait behind', () => {
    expect(gateOf(prod, [staging({ state: 'failed' })], ctx)).toEqual({ kind: 'blocked', why: 'staging failed' });
    expect(gateOf(prod, [staging({ state: 'held (locked)' }), { name: 'qa', state: 'not started', applied: false }], ctx)).toEqual({ kind: 'blocked', why: 'staging held (locked), qa not started' });
    expect(gateOf(prod, [staging({ state: 'waiting', applied: false })], ctx)).toEqual({ kind: 'behind', environment: 'staging' });
    // A failure wins over a wait: the environment does not start at all.
    expect(gateOf(prod, [staging({ state: 'waiting' }), { name: 'qa', state: 'failed', applied: true }], ctx)).toEqual({ kind: 'blocked', why: 'qa failed' });
  });
});

describe('withDependents', () => {
  it('is the environment and every one after it, directly or not, in config order', () => {
    const envs: Environment[] = [
      { name: 'staging', cluster: 's', after: [], soakMs: 0 },
      { name: 'prod-eu', cluster: 'e', after: ['staging'], soakMs: 0 },
      { name: 'prod-us', cluster: 'u', after: ['staging'], soakMs: 0 },
      { name: 'dr', cluster: 'd', after: ['prod-eu'], soakMs: 0 },
    ];
    expect(withDependents(envs, 'prod-eu')).toEqual(['prod-eu', 'dr']);
    expect(withDependents(envs, 'staging')).toEqual(['staging', 'prod-eu', 'prod-us', 'dr']);
    expect(withDependents(envs, 'prod-us')).toEqual(['prod-us']);
  });
});
