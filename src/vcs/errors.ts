/**
 * What the go command's failure means for a GOPROXY client: not found (404,
 * so the client may fall back), authentication failed (403 with a hint
 * naming the route), or a failure (502). The go command's own text is kept,
 * scrubbed of secrets, URL userinfo and modgate's private folders.
 */
import { ModgateError } from '../errors.js';

export type Failure =
  { kind: 'not_found'; message: string } | { kind: 'error'; error: ModgateError };

const AUTH = [
  /authentication failed/i,
  /terminal prompts disabled/i,
  /could not read (username|password)/i,
  /access denied/i,
  /permission denied \(publickey/i,
  /host key verification failed/i,
  /returned error: 40[13]\b/i,
  /invalid username or password/i,
  /401 unauthorized|403 forbidden/i,
];

const NOT_FOUND = [
  /repository '[^']*' not found/i,
  /repository not found/i,
  /returned error: 404\b/i,
  /unknown revision/i,
  /no matching versions/i,
  /disallowed version string/i,
  /invalid pseudo-version/i,
  /go\.mod has (post-v\d+ )?module path/i,
  /should be v\d|must match major version/i,
  /not a valid|malformed module path|does not contain package/i,
];

const NETWORK = [
  /unable to access/i,
  /could not resolve host/i,
  /connection (refused|reset|timed out)/i,
  /ssl|certificate|tls/i,
];

/** Classifies the go command's error text (its JSON Error field or stderr). */
export function classify(text: string, route: string, scrub: (s: string) => string): Failure {
  const shown = firstLines(scrub(text));
  if (AUTH.some((r) => r.test(text)))
    return {
      kind: 'error',
      error: new ModgateError(
        'VCS_AUTH_FAILED',
        `route ${route}: git authentication failed\n${shown}\ncheck the route's git.credentials (and that they may read this repository)`,
        { route },
      ),
    };
  if (NOT_FOUND.some((r) => r.test(text))) return { kind: 'not_found', message: shown };
  if (!NETWORK.some((r) => r.test(text)) && /invalid version|not found/i.test(text))
    return { kind: 'not_found', message: shown };
  return {
    kind: 'error',
    error: new ModgateError('VCS_FAILED', `route ${route}: ${shown}`, { route }),
  };
}

/** A scrubber for the given secrets and private folders. */
export function scrubber(
  secrets: string[],
  folders: Record<string, string>,
): (s: string) => string {
  const long = secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return (text) => {
    let t = text;
    for (const s of long) t = t.split(s).join('***');
    for (const s of long) t = t.split(encodeURIComponent(s)).join('***');
    // userinfo in any URL: scheme://user:pass@host -> scheme://host
    t = t.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
    for (const [dir, name] of Object.entries(folders)) t = t.split(dir).join(name);
    return t;
  };
}

/** The go command's text as the go client prints it: a few short lines, no controls. */
function firstLines(text: string): string {
  return text
    .replace(/[^\P{Cc}\n\t]/gu, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(0, 4)
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}...` : l))
    .join('\n');
}
