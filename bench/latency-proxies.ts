/**
 * API servers "over a network" for the environments benchmark, in a process of their own
 * (the benchmark's own process has nock loaded, which would slow every proxied request on
 * top of the round trip): one proxy per kubeconfig given, each holding every request
 * argv[2] ms before forwarding it. Prints the proxies' kubeconfigs as a JSON array on one
 * line, then serves until its stdin closes.
 */
import { startFaultProxy } from '../test/support/fault-proxy.js';

async function main(): Promise<void> {
  const rttMs = Number(process.argv[2]);
  const proxies = await Promise.all(process.argv.slice(3).map((kubeconfig) => startFaultProxy(kubeconfig)));
  for (const p of proxies) p.rule = () => ({ hold: new Promise((resolve) => setTimeout(resolve, rttMs)) });
  process.stdout.write(`${JSON.stringify(proxies.map((p) => p.kubeconfig))}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void Promise.all(proxies.map((p) => p.close())).then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
