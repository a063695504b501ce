export default async function globalTeardown(): Promise<void> {
  const stop = (globalThis as Record<string, unknown>)['__mergeopsStop'] as (() => Promise<void>) | undefined;
  await stop?.();
}
