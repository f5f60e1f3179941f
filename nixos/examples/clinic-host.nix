# An example clinic server: the agent enrolling on first boot, the HIPAA
# baseline enforced hourly, the data disk on LUKS2 unlocked by two Tang
# servers or the TPM2, and SSH by step-ca certificates. nixos/README.md shows
# what this evaluates to. Import it beside nixos/default.nix (or the flake's
# nixosModules.default) and the host's hardware configuration.
{ ... }:
{
  services.msp.agent = {
    enable = true;
    agentId = "clinic-a-srv-01";
    clientId = "clinic-a";
    controlPlane = {
      url = "wss://cp.msp.example:8443/v1/agent";
      caFile = "/etc/msp/ca.pem";
      publicKey = "Hx8s1Q3p7G0sM4m2Q0b2mX6f5a9v8n1c3d7e2f4g6hE=";
    };
    enrollment.tokenFile = "/var/lib/msp-bootstrap/enrollment-token";
    pathRoots = {
      backup_sources = [ "/srv/ehr" ];
      backup_targets = [ "/var/backups/msp" ];
      certs = [ "/etc/ssl/msp" ];
    };
    serviceAllowlist = [
      "sshd.service"
      "auditd.service"
      "nftables.service"
      "chronyd.service"
      "postgresql.service"
    ];
  };

  services.msp.baselineEnforcement = {
    enable = true;
    checkInterval = "hourly";
    autoRemediate = true;
    webhook = {
      url = "https://psa.msp.example/hooks/drift";
      tokenFile = "/var/lib/msp-bootstrap/webhook-token";
    };
  };

  services.msp.encryption = {
    enable = true;
    device = "/dev/disk/by-uuid/3f6b0024-3a44-4fde-a43a-767b872abe5d";
    name = "cryptdata";
    tang.servers = [
      {
        url = "http://tang1.clinic-a.lan";
        thumbprint = "x7-yLBtE2XFwoRyk7Wx0Lq9Z3sQ";
      }
      {
        url = "http://tang2.clinic-a.lan";
        thumbprint = "Qm2Vd0b8S9xw1c4N5PpzVqk3LrE";
      }
    ];
    tpm2.enable = true;
    keyRotation.days = 90;
  };
  boot.initrd.network.enable = true;

  services.msp.sshCertificates = {
    enable = true;
    caUrl = "https://ca.msp.example";
    userCaKeys = [
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBExampleUserCaKeyOnly= step-ca user CA"
    ];
    principals = {
      admin = [ "msp-admin" ];
      backup = [ "msp-backup" ];
    };
    breakGlass.publicKeys = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleBreakGlassKeyKeptOffline msp-breakglass"
    ];
  };
  users.users.admin = {
    isNormalUser = true;
    extraGroups = [ "wheel" ];
  };
  users.users.backup.isNormalUser = true;
}
