import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { loadClusterTargets } from '../../../src/config/clusters.js';
import type { KubeObject } from '../../../src/objects.js';
import { DEFAULT_TOOL_LIMITS, runTool, toolPath } from '../../../src/render/exec.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = path.join(ROOT, 'charts/mergeops');

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
type RoleObject = KubeObject & { rules: Rule[] };
type Binding = KubeObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace?: string }[] };

async function template(values: string[], ns = 'ops'): Promise<KubeObject[]> {
  const out = await runTool(toolPath('helm'), ['template', 'rel', CHART, '--namespace', ns, ...values.flatMap((v) => ['--set', v])], ROOT, DEFAULT_TOOL_LIMITS);
  return (yaml.loadAll(out, undefined, { schema: yaml.CORE_SCHEMA }) as (KubeObject | null)[]).filter((d): d is KubeObject => d !== null);
}
async function templateError(values: string[]): Promise<string | null> {
  return template(values).then(
    () => null,
    (e: unknown) => (e as Error).message,
  );
}

/** Every rule bound to the subject (`kind/namespace/name`), with where it is granted (`*` cluster-wide). */
function rulesOf(objs: KubeObject[], subject: string): { where: string; rule: Rule }[] {
  const roles = new Map(objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').map((r) => [`${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`, r as RoleObject]));
  const out: { where: string; rule: Rule }[] = [];
  for (const b of objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') as Binding[]) {
    if (!b.subjects.some((s) => `${s.kind}/${s.namespace ?? ''}/${s.name}` === subject)) continue;
    const role = roles.get(`${b.roleRef.kind}/${b.roleRef.kind === 'Role' ? (b.metadata.namespace ?? '') : ''}/${b.roleRef.name}`);
    expect(role).toBeDefined();
    for (const rule of role?.rules ?? []) out.push({ where: b.kind === 'ClusterRoleBinding' ? '*' : (b.metadata.namespace as string), rule });
  }
  return out;
}

/**
 * What a security review asks of mergeops' own rights: no wildcard anywhere, nothing on
 * Secrets, pods/exec or tokens, no RBAC escalation or binding, and impersonation only of
 * named identities. Returns the rules that break one of these, explained.
 */
function broadRules(rules: { where: string; rule: Rule }[]): string[] {
  const bad: string[] = [];
  for (const { where, rule } of rules) {
    const text = `${where}: ${JSON.stringify(rule)}`;
    if ([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs].includes('*')) bad.push(`wildcard in ${text}`);
    if ((rule.resources ?? []).some((r) => ['secrets', 'pods/exec', 'serviceaccounts/token', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'].includes(r))) bad.push(`sensitive resource in ${text}`);
    if (rule.verbs.some((v) => ['escalate', 'bind'].includes(v))) bad.push(`escalation verb in ${text}`);
    if (rule.verbs.includes('impersonate') && !rule.resourceNames?.length) bad.push(`impersonation of anyone in ${text}`);
    if (rule.nonResourceURLs && rule.verbs.some((v) => v !== 'get')) bad.push(`non-resource write in ${text}`);
  }
  return bad;
}

describe('charts/mergeops RBAC: impersonation, the recommended mode', () => {
  const mergeops = 'ServiceAccount/ops/rel-mergeops';

  it("gives mergeops' own ServiceAccount discovery, its inventories and impersonation of named identities only", async () => {
    const objs = await template(['rbac.teams[0].namespace=shop', 'rbac.teams[1].namespace=web', 'rbac.teams[1].serviceAccount=deployer', 'rbac.impersonate.serviceAccounts={shop/ci-bot}', 'rbac.impersonate.users={alice}', 'rbac.impersonate.groups={web-team}']);
    const rules = rulesOf(objs, mergeops);
    expect(broadRules(rules)).toEqual([]);
    // Everything it may do, where: the whole list, so a new right shows up here.
    expect(rules.map(({ where, rule }) => `${where} ${rule.verbs.join(',')} ${(rule.resources ?? rule.nonResourceURLs ?? []).join(',')} ${(rule.resourceNames ?? []).join(',')}`.trim()).sort()).toEqual(
      [
        '* get /api,/api/*,/apis,/apis/*',
        '* impersonate groups web-team',
        '* impersonate users alice',
        // The per-(repo, app, cluster) deploy Lease, beside the inventories, as mergeops itself.
        'mergeops-system get,create,update,delete leases',
        'mergeops-system get,list,watch,create,patch configmaps',
        'shop impersonate serviceaccounts ci-bot,mergeops-deployer',
        'web impersonate serviceaccounts deployer',
      ].sort(),
    );
  });

  it('makes a ServiceAccount, Role and RoleBinding per team namespace, from teamRules unless the team names its own rules', async () => {
    const objs = await template(['rbac.teams[0].namespace=shop', 'rbac.teams[1].namespace=web', 'rbac.teams[1].rules[0].apiGroups={apps}', 'rbac.teams[1].rules[0].resources={deployments}', 'rbac.teams[1].rules[0].verbs={get,patch}']);
    const sas = objs.filter((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'mergeops-deployer');
    expect(sas.map((s) => s.metadata.namespace)).toEqual(['shop', 'web']);
    for (const sa of sas) expect(sa['automountServiceAccountToken']).toBe(false);
    const shop = rulesOf(objs, 'ServiceAccount/shop/mergeops-deployer');
    // Bound in its own namespace only, with the everyday kinds and nothing sensitive.
    expect(new Set(shop.map((r) => r.where))).toEqual(new Set(['shop']));
    expect(broadRules(shop)).toEqual([]);
    expect(shop.flatMap((r) => r.rule.resources ?? [])).toEqual(expect.arrayContaining(['configmaps', 'services', 'deployments']));
    expect(rulesOf(objs, 'ServiceAccount/web/mergeops-deployer')).toEqual([{ where: 'web', rule: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] } }]);
    // No team identity may touch the inventory namespace.
    for (const s of ['ServiceAccount/shop/mergeops-deployer', 'ServiceAccount/web/mergeops-deployer']) expect(rulesOf(objs, s).filter((r) => r.where === 'mergeops-system')).toEqual([]);
  });

  it('keeps the old broad mode as a value, and it is as broad as the README says', async () => {
    const objs = await template(['rbac.scope=cluster']);
    const rules = rulesOf(objs, mergeops);
    expect(rules).toEqual([{ where: '*', rule: { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] } }]);
    expect(broadRules(rules)).toContain(`wildcard in *: ${JSON.stringify(rules[0]?.rule)}`);
    const readme = fs.readFileSync(path.join(CHART, 'README.md'), 'utf8');
    expect(readme).toContain('**every resource of every API group in every namespace** — every Secret, `pods/exec`, `serviceaccounts/token`');
  });

  it("renders a grant's serviceAccount into the clusters file as mergeops reads it, and refuses identities it cannot impersonate", async () => {
    const objs = await template(['clusters.default.grants[0].repos={acme/*}', 'clusters.default.grants[0].namespaces={shop}', 'clusters.default.grants[0].serviceAccount=shop/mergeops-deployer', 'rbac.teams[0].namespace=shop']);
    const cm = objs.find((o) => o.kind === 'ConfigMap') as KubeObject & { data: Record<string, string> };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-chart-rbac-'));
    try {
      fs.writeFileSync(path.join(dir, 'clusters.yaml'), cm.data['clusters.yaml'] ?? '');
      expect(loadClusterTargets(path.join(dir, 'clusters.yaml')).get('default')?.grants?.[0]?.identity).toEqual({ user: 'system:serviceaccount:shop:mergeops-deployer', groups: [], named: 'serviceAccount shop/mergeops-deployer' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(await templateError(['rbac.impersonate.serviceAccounts={deployer}'])).toMatch(/serviceAccounts/);
    expect(await templateError(['rbac.teams[0].serviceAccount=x'])).toMatch(/namespace/);
    expect(await templateError(['rbac.scope=everywhere'])).toMatch(/rbac\/scope|rbac.scope/);
  });
});
