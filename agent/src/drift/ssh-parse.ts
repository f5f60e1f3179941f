/**
 * The effective global sshd settings, from `sshd -T` output or, when sshd
 * cannot run, from sshd_config itself. File parsing follows sshd's rules that
 * matter for a baseline: keywords are case-insensitive, the first value wins,
 * `Include` (with globs, relative to /etc/ssh) is processed in place, `Match`
 * blocks are conditional and so do not change global settings, and algorithm
 * lists may be written as `+add`, `-remove` or `^prepend` to the defaults.
 */
import { readFile } from "node:fs/promises";
import { expandGlob, globToRegExp } from "./glob.js";

/** Effective values the ssh check compares, normalised to sshd -T spelling. */
export interface SshSettings {
  passwordauthentication: string;
  kbdinteractiveauthentication: string;
  permitrootlogin: string;
  ciphers: string[];
  macs: string[];
  kexalgorithms: string[];
  maxauthtries: number;
}

/** OpenSSH 9.x compiled-in defaults, used when a file leaves a keyword unset. */
const DEFAULTS = {
  passwordauthentication: "yes",
  kbdinteractiveauthentication: "yes",
  permitrootlogin: "prohibit-password",
  ciphers:
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
  macs: "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
  kexalgorithms:
    "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256",
  maxauthtries: "6",
};

const ALIASES: Record<string, string> = { challengeresponseauthentication: "kbdinteractiveauthentication" };
const MAX_INCLUDE_DEPTH = 16;

/** Applies sshd's `+`, `-` and `^` list modifiers to a default list. */
function algorithmList(value: string, defaults: string): string[] {
  const base = defaults.split(",");
  const first = value[0];
  const items = value.slice(1).split(",").filter(Boolean);
  if (first === "+") return [...base, ...items.filter((i) => !base.includes(i))];
  if (first === "^") return [...items, ...base.filter((b) => !items.includes(b))];
  if (first === "-") return base.filter((b) => !items.some((pat) => globToRegExp(pat).test(b)));
  return value.split(",").filter(Boolean);
}

/** Resolves a raw keyword map (lower-case keys) into the effective settings. */
export function effectiveSettings(raw: Map<string, string>): SshSettings {
  const get = (k: keyof typeof DEFAULTS) => raw.get(k) ?? DEFAULTS[k];
  const tries = Number.parseInt(get("maxauthtries"), 10);
  return {
    passwordauthentication: get("passwordauthentication").toLowerCase(),
    kbdinteractiveauthentication: get("kbdinteractiveauthentication").toLowerCase(),
    permitrootlogin: get("permitrootlogin").toLowerCase(),
    ciphers: algorithmList(get("ciphers"), DEFAULTS.ciphers),
    macs: algorithmList(get("macs"), DEFAULTS.macs),
    kexalgorithms: algorithmList(get("kexalgorithms"), DEFAULTS.kexalgorithms),
    maxauthtries: Number.isFinite(tries) ? tries : 6,
  };
}

/** Parses `sshd -T` output: one `keyword value` per line, already effective. */
export function parseSshdT(text: string): Map<string, string> {
  const raw = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m === null) continue;
    const key = (m[1] ?? "").toLowerCase();
    if (!raw.has(key)) raw.set(key, (m[2] ?? "").trim());
  }
  return raw;
}

/** Splits a config line into keyword and value (`Key value`, `Key=value`, quoted values). */
function splitLine(line: string): [string, string[]] | null {
  const m = /^([A-Za-z]+)(?:\s*=\s*|\s+)(.*)$/.exec(line);
  if (m === null) return null;
  const args = (m[2] ?? "").match(/"[^"]*"|\S+/g) ?? [];
  return [(m[1] ?? "").toLowerCase(), args.map((a) => a.replace(/^"(.*)"$/, "$1"))];
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
}

/** A parsed sshd_config: the first-wins keyword map and every file read, in order. */
export interface SshdConfigFiles {
  raw: Map<string, string>;
  files: string[];
}

/**
 * Reads sshd_config and its includes. `mapPath` maps host paths under the
 * agent root. Returns null when the main file does not exist; throws on an
 * unreadable include or an include loop deeper than sshd allows.
 */
export async function readSshdConfig(
  configPath: string,
  mapPath: (p: string) => string,
): Promise<SshdConfigFiles | null> {
  const raw = new Map<string, string>();
  const files: string[] = [];

  async function parse(path: string, depth: number): Promise<void> {
    if (depth > MAX_INCLUDE_DEPTH)
      throw new Error(`Include nested deeper than ${MAX_INCLUDE_DEPTH} at ${path}`);
    const text = await readFile(mapPath(path), "utf8");
    files.push(path);
    let inMatch = false;
    for (const rawLine of text.split("\n")) {
      const line = rawLine.trim();
      if (line === "" || line.startsWith("#")) continue;
      const parsed = splitLine(line);
      if (parsed === null) continue;
      const [keyword, args] = parsed;
      if (keyword === "match") {
        inMatch = !(args.length === 1 && args[0]?.toLowerCase() === "all");
        continue;
      }
      if (inMatch) continue;
      if (keyword === "include") {
        for (const arg of args) {
          const pattern = arg.startsWith("/") ? arg : `/etc/ssh/${arg}`;
          // Like sshd, an include that matches nothing is not an error.
          for (const file of await expandGlob(pattern, mapPath))
            await parse(file, depth + 1).catch(ignoreMissing);
        }
        continue;
      }
      const key = ALIASES[keyword] ?? keyword;
      if (!raw.has(key)) raw.set(key, args.join(" "));
    }
  }

  try {
    await readFile(mapPath(configPath));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  await parse(configPath, 0);
  return { raw, files };
}
