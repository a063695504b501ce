import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MAX_COMMAND_LINE, MAX_REASON, bindCommand, parseComment, type CommandLine } from '../../../src/commands/parse.js';

const APPS = ['web', 'api', 'store'];
const line = (body: string): CommandLine => {
  const p = parseComment(body);
  if (!p?.ok) throw new Error(`not parsed: ${JSON.stringify(p)}`);
  return p.value;
};
const bind = (body: string) => bindCommand(line(body), APPS);

describe('parseComment', () => {
  it('ignores comments that are not addressed to mergeops, quoted ones and look-alike words', () => {
    expect(parseComment('LGTM')).toBeNull();
    expect(parseComment('> /mergeops deploy')).toBeNull();
    expect(parseComment('please run /mergeops preview')).toBeNull();
    expect(parseComment('/mergeopsx preview')).toBeNull();
    expect(parseComment('')).toBeNull();
  });

  it('reads only the first non-empty line, trims it, and lowercases the command word', () => {
    expect(line('\n\n  /mergeops   PREVIEW web  \nsecond line /mergeops deploy')).toEqual({ name: 'preview', word: 'PREVIEW', args: ['web'], rest: 'web' });
  });

  it('a bare /mergeops is help; an unknown word is kept for the reply', () => {
    expect(line('/mergeops')).toMatchObject({ name: 'help', args: [] });
    expect(line('/mergeops frobnicate now')).toMatchObject({ name: null, word: 'frobnicate' });
  });

  it('refuses an overlong line with a reason instead of reading it', () => {
    const p = parseComment(`/mergeops lock web ${'x'.repeat(MAX_COMMAND_LINE)}`);
    expect(p).toEqual({ ok: false, error: expect.stringContaining(`at most ${MAX_COMMAND_LINE}`) });
  });

  it('replaces control characters so they never reach replies or logs', () => {
    expect(line('/mergeops lock web bad\u0007reason').rest).toBe('web bad reason');
  });

  it('never throws, whatever the comment holds', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.boolean(), (s, prefixed) => {
        const p = parseComment(prefixed ? `/mergeops ${s}` : s);
        if (p?.ok) bindCommand(p.value, APPS);
      }),
    );
  });
});

describe('bindCommand', () => {
  it('help, and unknown commands answered with help that names the word', () => {
    expect(bind('/mergeops help')).toEqual({ ok: true, value: { name: 'help' } });
    expect(bind('/mergeops destroy')).toEqual({ ok: true, value: { name: 'help', unknown: 'destroy' } });
  });

  it('preview and deploy take configured app names only, deduplicated', () => {
    expect(bind('/mergeops preview')).toEqual({ ok: true, value: { name: 'preview', apps: [] } });
    expect(bind('/mergeops deploy web api web')).toEqual({ ok: true, value: { name: 'deploy', apps: ['web', 'api'] } });
    expect(bind('/mergeops deploy wbe')).toEqual({ ok: false, usage: 'deploy', error: expect.stringContaining('no app named `wbe`') });
    expect(bind('/mergeops deploy Web!')).toEqual({ ok: false, usage: 'deploy', error: expect.stringContaining('is not an app name') });
  });

  it('lock splits leading app names from the reason, keeps the reason as typed, and knows all', () => {
    expect(bind('/mergeops lock web api incident 4711: db migration')).toEqual({ ok: true, value: { name: 'lock', apps: ['web', 'api'], reason: 'incident 4711: db migration' } });
    expect(bind('/mergeops lock all release freeze')).toEqual({ ok: true, value: { name: 'lock', apps: 'all', reason: 'release freeze' } });
    expect(bind('/mergeops lock web')).toEqual({ ok: true, value: { name: 'lock', apps: ['web'], reason: '' } });
    expect(bind('/mergeops lock')).toMatchObject({ ok: false, usage: 'lock' });
    expect(bind('/mergeops lock freeze everything')).toMatchObject({ ok: false, error: expect.stringContaining('no app named `freeze`') });
    expect(bind(`/mergeops lock web ${'r'.repeat(MAX_REASON + 1)}`)).toMatchObject({ ok: false, error: expect.stringContaining(`under ${MAX_REASON}`) });
  });

  it('an app literally named "all" is locked by name', () => {
    const p = parseComment('/mergeops lock all now');
    expect(p?.ok && bindCommand(p.value, ['all'])).toEqual({ ok: true, value: { name: 'lock', apps: ['all'], reason: 'now' } });
  });

  it('unlock takes apps or all, nothing else', () => {
    expect(bind('/mergeops unlock all')).toEqual({ ok: true, value: { name: 'unlock', apps: 'all' } });
    expect(bind('/mergeops unlock web')).toEqual({ ok: true, value: { name: 'unlock', apps: ['web'] } });
    expect(bind('/mergeops unlock')).toMatchObject({ ok: false, usage: 'unlock' });
    expect(bind('/mergeops unlock web because')).toMatchObject({ ok: false, error: expect.stringContaining('`because`') });
  });

  it('rollback takes one app and an optional `to <sha>`', () => {
    expect(bind('/mergeops rollback web')).toEqual({ ok: true, value: { name: 'rollback', app: 'web' } });
    expect(bind('/mergeops rollback web to ABCDEF1')).toEqual({ ok: true, value: { name: 'rollback', app: 'web', to: 'abcdef1' } });
    expect(bind('/mergeops rollback')).toMatchObject({ ok: false, usage: 'rollback' });
    expect(bind('/mergeops rollback web to main')).toMatchObject({ ok: false, error: expect.stringContaining('not a commit SHA') });
    expect(bind('/mergeops rollback web from abcdef1')).toMatchObject({ ok: false, error: expect.stringContaining('only `to <sha>`') });
    expect(bind('/mergeops rollback web api')).toMatchObject({ ok: false });
    expect(bind('/mergeops rollback nope')).toMatchObject({ ok: false, error: expect.stringContaining('no app named `nope`') });
  });
});

describe('bindCommand with environments (the apps are units: `web · prod-eu`)', () => {
  const UNITS = ['web · staging', 'web · prod-eu', 'web · prod-us', 'api · staging', 'api · prod-eu'];
  const bindUnits = (body: string) => bindCommand(line(body), UNITS);

  it('lock takes an app and its environment, an app alone (every environment of it), all of one environment, or all', () => {
    expect(bindUnits('/mergeops lock web prod-eu db migration')).toEqual({ ok: true, value: { name: 'lock', apps: ['web · prod-eu'], reason: 'db migration' } });
    expect(bindUnits('/mergeops lock web prod-eu api staging')).toEqual({ ok: true, value: { name: 'lock', apps: ['web · prod-eu', 'api · staging'], reason: '' } });
    expect(bindUnits('/mergeops lock web freeze')).toEqual({ ok: true, value: { name: 'lock', apps: ['web · staging', 'web · prod-eu', 'web · prod-us'], reason: 'freeze' } });
    expect(bindUnits('/mergeops lock all prod-eu incident')).toEqual({ ok: true, value: { name: 'lock', apps: ['web · prod-eu', 'api · prod-eu'], reason: 'incident' } });
    expect(bindUnits('/mergeops lock all release freeze')).toEqual({ ok: true, value: { name: 'lock', apps: 'all', reason: 'release freeze' } });
  });

  it('refuses an environment the app does not deploy to, and names the ones it does', () => {
    expect(bindUnits('/mergeops lock api prod-us')).toEqual({ ok: false, usage: 'lock', error: '`api` does not deploy to `prod-us` (its environments: `staging`, `prod-eu`)' });
    expect(bindUnits('/mergeops lock nope prod-eu')).toMatchObject({ ok: false, error: expect.stringContaining('no app named `nope` in this repository\'s .github/mergeops.yml (apps: `web`, `api`; environments: `staging`, `prod-eu`, `prod-us`)') });
  });

  it('unlock takes the same targets and nothing after them', () => {
    expect(bindUnits('/mergeops unlock web prod-eu')).toEqual({ ok: true, value: { name: 'unlock', apps: ['web · prod-eu'] } });
    expect(bindUnits('/mergeops unlock all prod-eu')).toEqual({ ok: true, value: { name: 'unlock', apps: ['web · prod-eu', 'api · prod-eu'] } });
    expect(bindUnits('/mergeops unlock all')).toEqual({ ok: true, value: { name: 'unlock', apps: 'all' } });
    expect(bindUnits('/mergeops unlock web')).toEqual({ ok: true, value: { name: 'unlock', apps: ['web · staging', 'web · prod-eu', 'web · prod-us'] } });
    expect(bindUnits('/mergeops unlock web prod-eu because')).toMatchObject({ ok: false, error: expect.stringContaining('`because`') });
  });

  it('rollback takes one app in one environment, with an optional `to <sha>`, and asks for the environment when it is missing', () => {
    expect(bindUnits('/mergeops rollback web prod-eu')).toEqual({ ok: true, value: { name: 'rollback', app: 'web · prod-eu' } });
    expect(bindUnits('/mergeops rollback web prod-eu to ABCDEF1')).toEqual({ ok: true, value: { name: 'rollback', app: 'web · prod-eu', to: 'abcdef1' } });
    expect(bindUnits('/mergeops rollback web')).toEqual({
      ok: false,
      usage: 'rollback',
      error: 'name the environment to roll back `web` in: `/mergeops rollback web staging` or `/mergeops rollback web prod-eu` or `/mergeops rollback web prod-us`',
    });
    expect(bindUnits('/mergeops rollback web prod-eu to main')).toMatchObject({ ok: false, error: expect.stringContaining('not a commit SHA') });
    expect(bindUnits('/mergeops rollback all prod-eu')).toMatchObject({ ok: false, error: 'roll back one app in one environment at a time' });
  });

  it('leaves the other commands and configs without environments as they were', () => {
    expect(bindCommand(line('/mergeops lock web prod-eu'), APPS)).toEqual({ ok: true, value: { name: 'lock', apps: ['web'], reason: 'prod-eu' } });
    expect(bindUnits('/mergeops deploy web · prod-eu')).toMatchObject({ ok: false });
  });
});
