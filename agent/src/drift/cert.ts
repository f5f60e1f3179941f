/**
 * Certificate expiry check (164.312(e)(1) transmission security): every
 * configured certificate has at least `min_days` left, read with
 * `openssl x509 -enddate` and compared with the injected clock.
 */
import { access } from "node:fs/promises";
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped } from "./context.js";
import { isMissing } from "./exec.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Parses `notAfter=Nov  1 12:00:00 2026 GMT` (OpenSSL's fixed format) into a Date. */
export function parseEnddate(text: string): Date | null {
  const m = /notAfter=(\w{3})\s+(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) GMT/.exec(text);
  if (m === null) return null;
  const month = MONTHS.indexOf(m[1] ?? "");
  if (month === -1) return null;
  return new Date(Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])));
}

/** Runs the certificate expiry check. */
export async function checkCertExpiry(
  check: CheckOf<"cert_expiry">,
  ctx: CheckContext,
): Promise<CheckOutcome> {
  const expected = `each of ${check.files.join(", ")} valid for at least ${check.min_days} days`;
  const now = ctx.clock.now().getTime();
  const observed: string[] = [];
  const problems: string[] = [];
  for (const file of check.files) {
    const path = ctx.path(file);
    try {
      await access(path);
    } catch {
      observed.push(`${file}: missing`);
      problems.push(`${file} does not exist`);
      continue;
    }
    const r = await ctx.exec.run("openssl", ["x509", "-enddate", "-noout", "-in", path]);
    if (isMissing(r)) return skipped(expected, "openssl is not installed");
    const end = r.code === 0 ? parseEnddate(r.stdout) : null;
    if (end === null)
      return errored(expected, `cannot read ${file} as a certificate: ${firstLine(r)}`, observed.join(", "));
    const days = Math.floor((end.getTime() - now) / 86_400_000);
    observed.push(`${file}: ${days} days left (notAfter ${end.toISOString()})`);
    if (days < 0) problems.push(`${file} expired ${-days} days ago`);
    else if (days < check.min_days) problems.push(`${file} expires in ${days} days`);
  }
  const seen = observed.join(", ");
  return problems.length === 0 ? pass(seen, expected) : fail(seen, expected, problems);
}
