import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { migratedEntries } from '../../src/cluster/field-managers.js';
import { leafPaths, ownsPath, unionFieldSets, type FieldSet, type ManagedFieldsEntry } from '../../src/managed-fields.js';

/** Field sets as the API server writes them: `f:`/`k:`/`i:` keys, `.` self markers, `{}` leaves. */
const segment = fc.oneof(
  fc.constantFrom('f:data', 'f:spec', 'f:metadata', 'f:labels', 'f:a', 'f:b', 'f:THEME'),
  fc.constantFrom('k:{"name":"web"}', 'k:{"name":"api"}', 'i:0', 'i:1', 'v:"x"'),
);
const fieldSet: fc.Arbitrary<FieldSet> = fc.letrec<{ set: FieldSet }>((tie) => ({
  set: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constant({}), fc.dictionary(segment, tie('set'), { maxKeys: 3 })),
})).set;

describe('managed field sets (property)', () => {
  it('a union owns exactly what either side owns, and is commutative and idempotent', () => {
    fc.assert(
      fc.property(fieldSet, fieldSet, (a, b) => {
        const u = unionFieldSets(a, b);
        for (const p of [...leafPaths(a), ...leafPaths(b)]) expect(ownsPath(u, p)).toBe(true);
        for (const p of leafPaths(u)) expect(ownsPath(a, p) || ownsPath(b, p)).toBe(true);
        expect(unionFieldSets(b, a)).toEqual(u);
        expect(unionFieldSets(u, u)).toEqual(u);
      }),
    );
  });

  it('migration loses no field and leaves no entry of the old shared manager', () => {
    const entry = (manager: string, fieldsV1: FieldSet, operation = 'Apply'): ManagedFieldsEntry => ({ manager, operation, apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1 });
    fc.assert(
      fc.property(fieldSet, fc.option(fieldSet), fieldSet, (legacy, own, other) => {
        const entries = [entry('mergeops', legacy), ...(own ? [entry('mergeops/1/web', own)] : []), entry('kubectl-edit', other, 'Update')];
        const out = migratedEntries(entries, 'mergeops/1/web') as ManagedFieldsEntry[];
        expect(out.map((e) => e.manager).sort()).toEqual(['kubectl-edit', 'mergeops/1/web']);
        const mine = out.find((e) => e.manager === 'mergeops/1/web')?.fieldsV1;
        for (const p of [...leafPaths(legacy), ...leafPaths(own ?? {})]) expect(ownsPath(mine, p)).toBe(true);
        expect(out.find((e) => e.manager === 'kubectl-edit')?.fieldsV1).toEqual(other);
      }),
    );
  });
});
