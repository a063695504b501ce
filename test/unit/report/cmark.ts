import { execFileSync } from 'node:child_process';

/**
 * Renders Markdown the way GitHub does: cmark-gfm (Debian package `cmark-gfm`) with
 * GitHub's extensions, raw HTML allowed and the tag filter on. GitHub's alert blocks
 * (`> [!WARNING]`) are a post-processing step of github.com, so here they stay a
 * blockquote whose first line is the marker.
 */
export function renderGfm(markdown: string): string {
  try {
    return execFileSync('cmark-gfm', ['--unsafe', '-e', 'table', '-e', 'autolink', '-e', 'strikethrough', '-e', 'tagfilter', '-e', 'tasklist'], {
      input: markdown,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('cmark-gfm is not installed: apt-get install -y cmark-gfm (scripts/setup-test-env.sh installs it)');
    }
    throw err;
  }
}

/** The visible text of rendered HTML: tags dropped, entities decoded. */
export function visibleText(html: string): string {
  return html
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#8203;|\u200b/g, '')
    .replace(/&amp;/g, '&');
}
