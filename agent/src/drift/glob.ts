/**
 * Minimal file-name globbing (`*`, `?`, `[...]`) for sshd `Include` lines and
 * backup patterns. Only the last path component may hold wildcards, which is
 * how both are written in practice; no shell is involved.
 */
import { readdir } from "node:fs/promises";
import { basename, dirname } from "node:path";

/** Compiles a one-component glob to an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === "*") out += "[^/]*";
    else if (ch === "?") out += "[^/]";
    else if (ch === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end === -1) out += "\\[";
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        out += `[${body}]`;
        i = end;
      }
    } else out += ch.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** True when a path has glob characters. */
export function hasGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

/**
 * Expands a pattern whose last component may hold wildcards, returning
 * sorted matches (as sshd does). `mapPath` maps host paths under the root;
 * returned paths are host paths. A missing directory matches nothing.
 */
export async function expandGlob(pattern: string, mapPath: (p: string) => string): Promise<string[]> {
  if (!hasGlob(pattern)) return [pattern];
  const dir = dirname(pattern);
  const re = globToRegExp(basename(pattern));
  let names: string[];
  try {
    names = await readdir(mapPath(dir));
  } catch {
    return [];
  }
  return names
    .filter((n) => re.test(n) && !n.startsWith("."))
    .sort()
    .map((n) => (dir === "/" ? `/${n}` : `${dir}/${n}`));
}
