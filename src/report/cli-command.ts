import { version } from '../version.js';

/**
 * The image mergeops is published as (the chart's default `image.repository`). Reports tell
 * people to run the CLI from it: no npm package named mergeops is published, and a bare
 * `npx` of that name would run whatever someone else publishes under it.
 */
export const IMAGE_REPOSITORY = 'ghcr.io/mergeops/mergeops';

/**
 * A command running `mergeops <command> <args>` from the image of mergeops `tag` (default:
 * this version) on the checkout in the current folder, mounted at /repo; with `cluster`, also
 * with the caller's kubeconfig and network, as a diff needs. The same runs from a mergeops
 * clone as `node dist/cli.js <command> <args>` (README, "CLI").
 */
export function cliCommand(command: string, args: string, opts: { cluster: boolean; tag?: string | undefined }): string {
  const kube = opts.cluster ? ' --network host -v "$HOME/.kube/config:/kube/config:ro" -e KUBECONFIG=/kube/config' : '';
  return `docker run --rm -u "$(id -u)"${kube} -v "$PWD:/repo" ${IMAGE_REPOSITORY}:${opts.tag ?? version()} node dist/cli.js ${command} --dir /repo${args}`;
}
