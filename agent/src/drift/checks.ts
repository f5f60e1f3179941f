/**
 * Dispatch from a baseline entry to its check. The switch is exhaustive, so a
 * new check type in the shared schema does not compile until it is handled.
 */
import type { BaselineCheck } from "@msp/shared";
import { checkAuditd } from "./auditd.js";
import { checkBackupFreshness } from "./backup.js";
import { checkCertExpiry } from "./cert.js";
import type { CheckContext, CheckOutcome } from "./context.js";
import { checkDiskEncryption } from "./encryption.js";
import { checkFirewall } from "./firewall.js";
import { checkCpuLoad, checkDiskUsage } from "./headroom.js";
import { checkServices } from "./services.js";
import { checkSshConfig } from "./ssh.js";
import { checkTimeSync } from "./time.js";

/** Runs one check. May throw on a bug; the runner turns that into an `error` result. */
export function runCheck(check: BaselineCheck, ctx: CheckContext): Promise<CheckOutcome> {
  switch (check.type) {
    case "firewall":
      return checkFirewall(check, ctx);
    case "ssh_config":
      return checkSshConfig(check, ctx);
    case "time_sync":
      return checkTimeSync(check, ctx);
    case "auditd":
      return checkAuditd(check, ctx);
    case "disk_encryption":
      return checkDiskEncryption(check, ctx);
    case "services":
      return checkServices(check, ctx);
    case "backup_freshness":
      return checkBackupFreshness(check, ctx);
    case "cert_expiry":
      return checkCertExpiry(check, ctx);
    case "disk_usage":
      return checkDiskUsage(check, ctx);
    case "cpu_load":
      return checkCpuLoad(check, ctx);
    default: {
      const unknown: never = check;
      throw new Error(`unhandled check type ${(unknown as { type: string }).type}`);
    }
  }
}
