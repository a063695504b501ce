import fs from 'node:fs';
import path from 'node:path';
import { expect } from '@jest/globals';

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** Runs fn, expects it to throw an instance of `cls` and returns that error. */
export function thrown<E>(fn: () => unknown, cls: ErrorClass<E>): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(cls);
    return err as E;
  }
  throw new Error(`expected a ${cls.name}, nothing was thrown`);
}

/** Awaits p, expects it to reject with an instance of `cls` and returns that error. */
export async function rejection<E>(p: Promise<unknown>, cls: ErrorClass<E>): Promise<E> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  return err as E;
}

/** Writes a file below `root`, creating its folders. */
export function writeFile(root: string, rel: string, text: string): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, text);
}
