/**
 * SSH server configuration check: no password logins, root login as strict as
 * the baseline asks, and only approved ciphers, MACs and key exchanges.
 * `sshd -T` (the daemon's own view, includes and defaults resolved) is
 * preferred; when it is absent or cannot run, sshd_config is parsed.
 */
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped } from "./context.js";
import { isMissing } from "./exec.js";
import { effectiveSettings, parseSshdT, readSshdConfig, type SshSettings } from "./ssh-parse.js";

/** Root-login values each expectation accepts; sshd -T prints prohibit-password as without-password. */
const ROOT_LOGIN_OK: Record<"no" | "prohibit-password", string[]> = {
  no: ["no"],
  "prohibit-password": ["no", "prohibit-password", "without-password", "forced-commands-only"],
};

const yesNo = (b: boolean) => (b ? "yes" : "no");

function describeExpected(check: CheckOf<"ssh_config">): string {
  const parts = [`PasswordAuthentication ${yesNo(check.password_authentication)}`];
  if (check.kbd_interactive_authentication !== undefined) {
    parts.push(`KbdInteractiveAuthentication ${yesNo(check.kbd_interactive_authentication)}`);
  }
  parts.push(`PermitRootLogin ${ROOT_LOGIN_OK[check.permit_root_login].join("|")}`);
  if (check.allowed_ciphers) parts.push(`Ciphers within {${check.allowed_ciphers.join(",")}}`);
  if (check.allowed_macs) parts.push(`MACs within {${check.allowed_macs.join(",")}}`);
  if (check.allowed_kex_algorithms)
    parts.push(`KexAlgorithms within {${check.allowed_kex_algorithms.join(",")}}`);
  if (check.max_auth_tries !== undefined) parts.push(`MaxAuthTries <= ${check.max_auth_tries}`);
  return parts.join("; ");
}

function compare(check: CheckOf<"ssh_config">, s: SshSettings): string[] {
  const problems: string[] = [];
  if (s.passwordauthentication !== yesNo(check.password_authentication)) {
    problems.push(`PasswordAuthentication is ${s.passwordauthentication}`);
  }
  if (
    check.kbd_interactive_authentication !== undefined &&
    s.kbdinteractiveauthentication !== yesNo(check.kbd_interactive_authentication)
  ) {
    problems.push(`KbdInteractiveAuthentication is ${s.kbdinteractiveauthentication}`);
  }
  if (!ROOT_LOGIN_OK[check.permit_root_login].includes(s.permitrootlogin)) {
    problems.push(`PermitRootLogin is ${s.permitrootlogin}`);
  }
  const outside = (name: string, actual: string[], allowed: string[] | undefined) => {
    const extra = allowed === undefined ? [] : actual.filter((a) => !allowed.includes(a));
    if (extra.length > 0) problems.push(`${name} not allowed: ${extra.join(",")}`);
  };
  outside("Ciphers", s.ciphers, check.allowed_ciphers);
  outside("MACs", s.macs, check.allowed_macs);
  outside("KexAlgorithms", s.kexalgorithms, check.allowed_kex_algorithms);
  if (check.max_auth_tries !== undefined && s.maxauthtries > check.max_auth_tries) {
    problems.push(`MaxAuthTries is ${s.maxauthtries}`);
  }
  return problems;
}

function describeObserved(source: string, s: SshSettings): string {
  return [
    `source: ${source}`,
    `PasswordAuthentication ${s.passwordauthentication}`,
    `KbdInteractiveAuthentication ${s.kbdinteractiveauthentication}`,
    `PermitRootLogin ${s.permitrootlogin}`,
    `Ciphers ${s.ciphers.join(",")}`,
    `MACs ${s.macs.join(",")}`,
    `KexAlgorithms ${s.kexalgorithms.join(",")}`,
    `MaxAuthTries ${s.maxauthtries}`,
  ].join("; ");
}

/** Runs the SSH configuration check. */
export async function checkSshConfig(check: CheckOf<"ssh_config">, ctx: CheckContext): Promise<CheckOutcome> {
  const expected = describeExpected(check);
  const configFile = ctx.path(check.config_path);
  const r = await ctx.exec.run("sshd", ["-T", "-f", configFile]);
  let note: string | null = null;
  if (!isMissing(r) && r.code === 0) {
    const settings = effectiveSettings(parseSshdT(r.stdout));
    const problems = compare(check, settings);
    const observed = describeObserved("sshd -T", settings);
    return problems.length === 0 ? pass(observed, expected) : fail(observed, expected, problems);
  }
  if (!isMissing(r)) note = `sshd -T failed (${firstLine(r)}), parsed ${check.config_path} instead`;

  let files: Awaited<ReturnType<typeof readSshdConfig>>;
  try {
    files = await readSshdConfig(check.config_path, ctx.path);
  } catch (e) {
    return errored(expected, `cannot read ${check.config_path}: ${(e as Error).message}`);
  }
  if (files === null) {
    if (isMissing(r))
      return skipped(expected, `OpenSSH server not installed: no sshd and no ${check.config_path}`);
    return errored(expected, `${note ?? "sshd -T failed"}, but ${check.config_path} does not exist`);
  }
  const settings = effectiveSettings(files.raw);
  const problems = compare(check, settings);
  const observed = describeObserved(files.files.join(" + "), settings);
  if (problems.length === 0) return pass(observed, expected, note);
  return fail(observed, expected, note === null ? problems : [...problems, note]);
}
