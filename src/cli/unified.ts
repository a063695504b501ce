import type { ObjectDiff } from '../diff/types.js';

/** ANSI SGR codes, as `kubectl diff` piped through a colouring pager or `git diff` show them. */
const SGR = { bold: '1', red: '31', green: '32', cyan: '36', yellow: '33' } as const;

function paint(on: boolean, code: string, s: string): string {
  return on ? `\u001b[${code}m${s}\u001b[0m` : s;
}

/** The file name kubectl diff gives an object: group.version.Kind.namespace.name. */
export function objectFileName(d: ObjectDiff): string {
  const [apiVersion = '', kind = d.kind, nsName = ''] = d.ref.split(' ');
  const [ns, name] = nsName.includes('/') ? nsName.split('/') : ['', nsName];
  const gv = apiVersion.includes('/') ? apiVersion.replace('/', '.') : apiVersion;
  return [gv, kind, ns, name].filter((p) => p).join('.');
}

/**
 * What `mergeops diff` prints to a terminal: one unified diff per changed object, headed
 * like `kubectl diff` (live → merged), coloured when `color` (a TTY), plain otherwise, so it
 * pipes into `patch`-aware tools and files unchanged. Secret values are masked already.
 */
export function formatUnified(diffs: ObjectDiff[], opts: { color: boolean }): string {
  const c = opts.color;
  const out: string[] = [];
  for (const d of diffs) {
    if (d.action === 'unchanged') continue;
    const file = objectFileName(d);
    const from = d.action === 'create' ? '/dev/null' : `live/${d.renamedFrom ? objectFileName({ ...d, ref: d.renamedFrom }) : file}`;
    const to = d.action === 'delete' ? '/dev/null' : `merged/${file}`;
    out.push(paint(c, SGR.bold, `diff -u -N ${from} ${to}`));
    const notes = [d.action === 'replace' ? 'replaced: an immutable field changes, so applying deletes and re-creates it' : '', d.note ?? '', d.source ? `from ${d.source.file}:${d.source.line}` : ''].filter((n) => n);
    for (const n of notes) out.push(paint(c, SGR.yellow, `# ${n}`));
    if (d.secretKeys) {
      const k = d.secretKeys;
      const parts = [k.added.length ? `added ${k.added.join(', ')}` : '', k.changed.length ? `changed ${k.changed.join(', ')}` : '', k.removed.length ? `removed ${k.removed.join(', ')}` : ''].filter((p) => p);
      if (parts.length) out.push(paint(c, SGR.yellow, `# Secret keys ${parts.join('; ')} (values are never shown)`));
    }
    out.push(paint(c, SGR.bold, `--- ${from}`), paint(c, SGR.bold, `+++ ${to}`));
    for (const line of d.diff.replace(/\n$/, '').split('\n')) {
      if (line === '') continue;
      if (line.startsWith('@@')) out.push(paint(c, SGR.cyan, line));
      else if (line.startsWith('+')) out.push(paint(c, SGR.green, line));
      else if (line.startsWith('-')) out.push(paint(c, SGR.red, line));
      else out.push(line);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Colour on a terminal unless NO_COLOR (https://no-color.org); FORCE_COLOR turns it on anyway. */
export function wantsColor(isTTY: boolean, env: NodeJS.ProcessEnv): boolean {
  if (env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0') return true;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return isTTY && env['TERM'] !== 'dumb';
}
