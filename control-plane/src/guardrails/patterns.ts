/**
 * Content checks shared by every string the validator looks at: control
 * characters, shell metacharacters, path traversal and the seeds' "dangerous
 * pattern" list (commands that destroy data, fetch and run code, open shells
 * or take a host down).
 *
 * Strings are checked as given AND after NFKC normalisation, so a full-width
 * semicolon or a ligature cannot slip past a check its plain form would fail.
 * Every pattern looks a bounded distance ahead of where it starts (at most 8
 * words or 256 characters), so a check is linear in the input, whose length
 * the validator caps before scanning: no input can make a check slow.
 */

/** Why a string was refused; the validator reports it as a finding code. */
export type ContentProblem =
  | "control_character"
  | "shell_metacharacter"
  | "path_traversal"
  | "dangerous_pattern";

/**
 * How strict to be. `param` is for values that reach a root script's
 * environment: any shell metacharacter is refused, as on the agent. `text` is
 * for incident details, which are descriptions: quotes, parentheses and
 * newlines are normal there, but chaining, substitution and redirection are not.
 */
export type ScanPolicy = "param" | "text";

/** Control characters; `text` allows tab, line feed and carriage return. */
const CONTROL_PARAM = /\p{Cc}/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_TEXT = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;
/** The agent's set (agent/src/runbook/params.ts), so both sides refuse the same values. */
const SHELL_PARAM = /[;&|`$<>\\'"*?!{}[\]()]/;
/**
 * Shell syntax in descriptive text: backticks, `$` expansion, `&&`/`||`
 * chaining, a pipe into a shell, redirection to or from an absolute path.
 * Plain `;`, `<=` or `>=` are ordinary prose in a drift finding
 * ("/var used <= 80%; 3 files"), and refusing them silently dropped agents'
 * real incidents; commands they might introduce are caught by the dangerous
 * patterns below, and details never reach a shell.
 */
const SHELL_TEXT = /`|\$[A-Za-z_{(]|&&|\|\||\|\s*(?:ba|z|da|k)?sh\b|[<>]>?\s*\//;
/** A `..` path segment, with either separator, percent-encoded or not. */
const TRAVERSAL = /(?:^|[/\\])\.\.(?:[/\\]|$)/;

/** One entry of the dangerous-pattern list: a name a reader can act on, and the pattern. */
export interface DangerousPattern {
  name: string;
  pattern: RegExp;
}

/**
 * Commands no incident or parameter has a reason to contain. The seed names
 * "10+ regex patterns" without listing them; these cover its examples and the
 * usual destructive, download-and-run and remote-shell idioms. Each needs the
 * command's shape (a flag, a target), not just a word, so that an incident
 * saying "the service shut down" is not refused.
 */
export const DANGEROUS_PATTERNS: readonly DangerousPattern[] = [
  {
    name: "recursive or forced delete (rm -rf)",
    pattern:
      /\brm\s+(?:[^\s;|&]+\s+){0,8}?(?:-[a-zA-Z]*[rRf][a-zA-Z]*|--recursive|--force|--no-preserve-root)(?=\s|$)/,
  },
  { name: "filesystem format (mkfs)", pattern: /\bmkfs(?:\.[a-z0-9]+)?\b/i },
  { name: "raw disk copy (dd)", pattern: /\bdd\s+(?:[^\s;|&]+\s+){0,8}?(?:if|of)=/ },
  {
    name: "download piped to a shell (curl | sh)",
    pattern: /\b(?:curl|wget|fetch)\b[^\n]{0,256}?\|\s*(?:sudo\s+)?(?:ba|da|k|z|c|tc|fi)?sh\b/i,
  },
  {
    name: "decoded payload piped to a shell",
    pattern: /\bbase64\s+(?:-d|--decode)\b[^\n]{0,256}?\|\s*(?:sudo\s+)?(?:ba|da|k|z)?sh\b/i,
  },
  { name: "fork bomb", pattern: /:\s*\(\s*\)\s*\{[^}]{0,64}:\s*\|\s*:/ },
  { name: "write to a block device", pattern: />\s*\/dev\/(?:sd|hd|vd|xvd|nvme|mmcblk|dm-)/i },
  { name: "world-writable permissions (chmod 777)", pattern: /\bchmod\s+(?:-[a-zA-Z]+\s+)*0?777\b/ },
  {
    name: "power off or reboot",
    pattern:
      /\b(?:shutdown|reboot|halt|poweroff)\s+(?:-[a-zA-Z]+|now|\+\d+)|\binit\s+[06]\b|\bsystemctl\s+(?:poweroff|reboot|halt)\b/i,
  },
  { name: "shell eval", pattern: /\beval\s/ },
  {
    name: "inline interpreter code",
    pattern: /\b(?:python[0-9.]*|perl|ruby|php|node|lua)\s+-[a-zA-Z]*[ce]\b/,
  },
  {
    name: "reverse shell",
    pattern:
      /\/dev\/(?:tcp|udp)\/|\b(?:nc|ncat|netcat)\b[^\n]{0,256}?\s-[a-zA-Z]*[ec]\b|\bsocat\b[^\n]{0,256}?\bexec:/i,
  },
  {
    name: "credential file access",
    pattern: /\/etc\/(?:shadow|gshadow|passwd|sudoers)\b|\/\.ssh\/(?:id_[a-z0-9]+|authorized_keys)\b/i,
  },
  {
    name: "firewall flush",
    pattern: /\b(?:iptables|ip6tables)\s+(?:-F|--flush)\b|\bnft\s+flush\s+ruleset\b/i,
  },
  { name: "history or log wiping", pattern: /\bhistory\s+-c\b|\bshred\s|>\s*\/var\/log\//i },
  { name: "crontab removal", pattern: /\bcrontab\s+-r\b/ },
];

/** One problem found in a string. */
export interface ContentFinding {
  problem: ContentProblem;
  reason: string;
}

/**
 * Every content problem of `value` under `policy`, at most one per kind.
 * The caller caps the length first.
 */
export function scanString(value: string, policy: ScanPolicy): ContentFinding[] {
  const forms = formsOf(value);
  const found: ContentFinding[] = [];
  const control = policy === "param" ? CONTROL_PARAM : CONTROL_TEXT;
  const shell = policy === "param" ? SHELL_PARAM : SHELL_TEXT;
  const hit = (re: RegExp) => forms.some((f) => re.test(f));
  if (hit(control)) {
    found.push({
      problem: "control_character",
      reason: value.includes("\0") ? "contains a null byte" : "contains a control character",
    });
  }
  if (hit(shell)) {
    found.push({
      problem: "shell_metacharacter",
      reason:
        policy === "param"
          ? "contains a shell metacharacter (; & | ` $ < > \\ quotes * ? ! braces, brackets or parentheses)"
          : "contains shell chaining, piping, redirection, backticks or $ expansion",
    });
  }
  if (hit(TRAVERSAL)) found.push({ problem: "path_traversal", reason: 'contains a ".." path segment' });
  const danger = DANGEROUS_PATTERNS.find((d) => hit(d.pattern));
  if (danger !== undefined) found.push({ problem: "dangerous_pattern", reason: `looks like ${danger.name}` });
  return found;
}

/**
 * The forms a string is checked in: as given, NFKC-normalised, and with
 * percent-encoded dots and separators decoded (once, leniently: a malformed
 * escape stays as it is rather than failing the check).
 */
function formsOf(value: string): string[] {
  const nfkc = value.normalize("NFKC");
  const decoded = nfkc.replace(/%(2e|2f|5c|00|3b|7c|26|60|24)/gi, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  return [...new Set([value, nfkc, decoded])];
}
