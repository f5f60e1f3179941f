import { FakeClock } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import type { CheckOf } from "./context.js";
import { checkSshConfig } from "./ssh.js";
import { contextFor, fixture, put, removeTempRoots, replayExec, tempRoot } from "./testkit.js";

afterAll(removeTempRoots);

const check: CheckOf<"ssh_config"> = {
  type: "ssh_config",
  id: "ssh",
  citation: ["164.312(d)", "164.312(a)(1)"],
  severity: "high",
  event_type: "ssh_config_drift",
  config_path: "/etc/ssh/sshd_config",
  password_authentication: false,
  kbd_interactive_authentication: false,
  permit_root_login: "no",
  allowed_ciphers: [
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
  ],
  max_auth_tries: 4,
};
const clock = new FakeClock();
const sshdT = fixture("sshd-T.debian12.txt");

/** The Debian 12 sshd_config as shipped (comments trimmed), which includes sshd_config.d/*.conf first. */
const DEBIAN_MAIN = `# This is the sshd server system-wide configuration file.
Include /etc/ssh/sshd_config.d/*.conf

#PermitRootLogin prohibit-password
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/lib/openssh/sftp-server

Match User backup
\tPasswordAuthentication yes
`;

describe("ssh configuration check", () => {
  it("passes the hardened sshd -T output", async () => {
    const exec = replayExec({ sshd: { stdout: sshdT } });
    const out = await checkSshConfig(check, contextFor("/", exec, clock));
    expect(out.status).toBe("pass");
    expect(out.observed).toContain("source: sshd -T");
    expect(exec.calls).toEqual(["sshd -T -f /etc/ssh/sshd_config"]);
  });

  it("accepts sshd -T's without-password spelling when prohibit-password is expected, not when no is", async () => {
    const t = sshdT.replace("permitrootlogin no", "permitrootlogin without-password");
    const lax = await checkSshConfig(
      { ...check, permit_root_login: "prohibit-password" },
      contextFor("/", replayExec({ sshd: { stdout: t } }), clock),
    );
    expect(lax.status).toBe("pass");
    const strict = await checkSshConfig(check, contextFor("/", replayExec({ sshd: { stdout: t } }), clock));
    expect(strict).toMatchObject({ status: "fail", reason: "PermitRootLogin is without-password" });
  });

  it("fails password logins and ciphers outside the allowed set", async () => {
    const t = sshdT
      .replace("passwordauthentication no", "passwordauthentication yes")
      .replace(
        "ciphers chacha20-poly1305@openssh.com,",
        "ciphers aes128-cbc,3des-cbc,chacha20-poly1305@openssh.com,",
      );
    const out = await checkSshConfig(check, contextFor("/", replayExec({ sshd: { stdout: t } }), clock));
    expect(out.status).toBe("fail");
    expect(out.reason).toBe("PasswordAuthentication is yes; Ciphers not allowed: aes128-cbc,3des-cbc");
  });

  it("without sshd, parses sshd_config with a globbed Include (first value wins, Match ignored)", async () => {
    const root = await tempRoot();
    await put(root, "/etc/ssh/sshd_config", DEBIAN_MAIN);
    await put(
      root,
      "/etc/ssh/sshd_config.d/10-hipaa.conf",
      "PasswordAuthentication no\nPermitRootLogin no\nMaxAuthTries 3\nCiphers -*cbc,3des*\n",
    );
    // Sorted after 10-: its PermitRootLogin comes second and so is ignored, like sshd does.
    await put(
      root,
      "/etc/ssh/sshd_config.d/50-cloud-init.conf",
      "PermitRootLogin yes\nPasswordAuthentication yes\n",
    );
    await put(root, "/etc/ssh/sshd_config.d/README", "PermitRootLogin yes\n");
    const out = await checkSshConfig(check, contextFor(root, replayExec({ sshd: "missing" }), clock));
    expect(out.status).toBe("pass");
    expect(out.observed).toContain(
      "source: /etc/ssh/sshd_config + /etc/ssh/sshd_config.d/10-hipaa.conf + /etc/ssh/sshd_config.d/50-cloud-init.conf",
    );
  });

  it("applies OpenSSH defaults for unset keywords, so a stock file fails", async () => {
    const root = await tempRoot();
    await put(root, "/etc/ssh/sshd_config", DEBIAN_MAIN);
    const out = await checkSshConfig(check, contextFor(root, replayExec({ sshd: "missing" }), clock));
    expect(out.status).toBe("fail");
    expect(out.reason).toBe(
      "PasswordAuthentication is yes; PermitRootLogin is prohibit-password; MaxAuthTries is 6",
    );
  });

  it("falls back to the file when sshd -T cannot run, and says so", async () => {
    const root = await tempRoot();
    await put(root, "/etc/ssh/sshd_config", "Include sshd_config.d/*.conf\n");
    await put(
      root,
      "/etc/ssh/sshd_config.d/hipaa.conf",
      "PasswordAuthentication=no\nPermitRootLogin no\nKbdInteractiveAuthentication no\nMaxAuthTries 3\n",
    );
    const exec = replayExec({
      sshd: { code: 255, stderr: "Missing privilege separation directory: /run/sshd\n" },
    });
    const out = await checkSshConfig(check, contextFor(root, exec, clock));
    expect(out.status).toBe("pass");
    expect(out.reason).toContain(
      "sshd -T failed (Missing privilege separation directory: /run/sshd (exit 255))",
    );
  });

  it("is skipped when neither sshd nor its config exists", async () => {
    const root = await tempRoot();
    const out = await checkSshConfig(check, contextFor(root, replayExec({ sshd: "missing" }), clock));
    expect(out.status).toBe("skipped");
    expect(out.reason).toContain("OpenSSH server not installed");
  });
});
