# services.msp.sshCertificates: SSH with short-lived certificates from the
# MSP's step-ca instead of permanent keys.
#
# - sshd trusts the CA's user key; a certificate logs in as a local user only
#   with a principal mapped to that user, and only if its validity window is
#   no longer than `certificateLifetime` (8 h: one working day). sshd has no
#   such limit itself, so msp-ssh-principals (the AuthorizedPrincipalsCommand)
#   checks it and refuses longer certificates, whatever the CA issued.
# - the host's own certificate is renewed by step when less than
#   `renewAtPercent` of its lifetime is left (25 %), checked often enough to
#   see that window four times.
# - password and keyboard-interactive logins are off; plain keys work only for
#   the break-glass account, for when the CA is unreachable.
# - sshd logs at VERBOSE (certificate key id and serial of every login) and
#   auditd watches the SSH trust files.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.msp.sshCertificates;
  duration = import ../lib/duration.nix;
  inherit (lib) mkOption types;

  lifetimeSeconds = duration.toSeconds cfg.certificateLifetime;
  renewWindowSeconds = lifetimeSeconds * cfg.renewAtPercent / 100;
  # Four looks inside the renewal window, never more often than once a minute.
  renewCheckSeconds = lib.max 60 (renewWindowSeconds / 4);

  userCaPath = "/etc/ssh/msp_user_ca.pub";
  principalsDir = "/etc/ssh/msp_principals";
  hostKey = "/etc/ssh/ssh_host_ed25519_key";
  hostCert = "${hostKey}-cert.pub";

  # Seconds between "Valid: from A to B" of an OpenSSH certificate (ssh-keygen -L).
  validityFunctions = ''
    validity() {
      ssh-keygen -L -f "$1" | sed -n 's/^[[:space:]]*Valid: from \([^ ]*\) to \([^ ]*\)$/\1 \2/p'
    }
  '';

  # AuthorizedPrincipalsCommand %u %t %k: prints the user's principals, or
  # nothing (refusing the certificate) when it is valid for too long.
  principalsCommand = pkgs.writeShellScript "msp-ssh-principals" ''
    set -euo pipefail
    export PATH=${
      lib.makeBinPath [
        pkgs.openssh
        pkgs.coreutils
        pkgs.gnused
      ]
    }
    user="$1" type="$2" blob="$3"
    ${validityFunctions}
    cert=$(mktemp)
    trap 'rm -f "$cert"' EXIT
    printf '%s %s\n' "$type" "$blob" > "$cert"
    read -r from to < <(validity "$cert") || { echo "msp-ssh-principals: refused $user: certificate has no bounded validity" >&2; exit 0; }
    span=$(( $(date -d "$to" +%s) - $(date -d "$from" +%s) ))
    if [ "$span" -gt ${toString lifetimeSeconds} ]; then
      echo "msp-ssh-principals: refused $user: certificate valid for $span s, more than ${cfg.certificateLifetime}" >&2
      exit 0
    fi
    file="${principalsDir}/$user"
    [ -r "$file" ] && cat "$file"
    exit 0
  '';

  renewScript = pkgs.writeShellScript "msp-ssh-host-cert-renew" ''
    set -euo pipefail
    ${validityFunctions}
    if [ ! -s "$HOST_CERT" ]; then
      echo "no host certificate at $HOST_CERT: issue the first one with step ssh certificate --host (nixos/README.md)" >&2
      exit 1
    fi
    read -r from to < <(validity "$HOST_CERT")
    now=$(date +%s) start=$(date -d "$from" +%s) end=$(date -d "$to" +%s)
    left=$(( end - now )) total=$(( end - start ))
    if [ $(( left * 100 )) -ge $(( total * RENEW_AT_PERCENT )) ]; then
      echo "host certificate has $left of $total s left; renewal starts under $RENEW_AT_PERCENT %"
      exit 0
    fi
    step ssh renew --force --ca-url "$CA_URL" --root "$CA_ROOT" "$HOST_CERT" "$HOST_KEY"
    systemctl reload sshd.service
    echo "renewed the host certificate ($left of $total s were left)"
  '';
in
{
  options.services.msp.sshCertificates = {
    enable = lib.mkEnableOption "SSH certificates from step-ca instead of permanent keys";

    caUrl = mkOption {
      type = types.strMatching "https://[^[:space:]]+";
      example = "https://ca.msp.example:443";
      description = "The step-ca URL used to renew the host certificate.";
    };

    caRootFile = mkOption {
      type = types.strMatching "/[^\n]*";
      default = "/etc/msp/step-ca-root.pem";
      description = "step-ca's root certificate (TLS trust for renewals).";
    };

    userCaKeys = mkOption {
      type = types.nonEmptyListOf (types.strMatching "(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]+( .*)?");
      example = [ "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBB... step-ca user CA" ];
      description = "Public key(s) of the CA that signs user certificates (`step ssh config --roots`).";
    };

    certificateLifetime = mkOption {
      type = types.strMatching duration.pattern;
      default = "8h";
      description = ''
        Longest validity a user certificate may have to log in (a working
        day). Configure step-ca's provisioner to issue no longer; this host
        refuses longer ones regardless.
      '';
    };

    renewAtPercent = mkOption {
      type = types.ints.between 1 99;
      default = 25;
      description = "Renew the host certificate when less than this share of its lifetime is left.";
    };

    hostCertificate = mkOption {
      type = types.bool;
      default = true;
      description = "Present a CA-signed host certificate (${hostCert}) and keep it renewed.";
    };

    principals = mkOption {
      type = types.attrsOf (types.nonEmptyListOf (types.strMatching "[A-Za-z0-9@._-]{1,64}"));
      default = { };
      example = {
        admin = [ "msp-admin" ];
        deploy = [ "msp-deploy" ];
        backup = [ "msp-backup" ];
      };
      description = "For each local user, the certificate principals that may log in as that user.";
    };

    disablePasswordAuth = mkOption {
      type = types.bool;
      default = true;
      description = "Turn password and keyboard-interactive SSH logins off.";
    };

    breakGlass = {
      user = mkOption {
        type = types.strMatching "[a-z_][a-z0-9_-]{0,31}";
        default = "msp-breakglass";
        description = "Account that logs in with a plain key when the CA is unreachable.";
      };
      publicKeys = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Its public keys (kept offline by the MSP, used only in an emergency).";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.principals != { } || cfg.breakGlass.publicKeys != [ ];
        message = "services.msp.sshCertificates has no principals and no break-glass key: nobody could log in over SSH.";
      }
      {
        assertion = renewWindowSeconds >= 60;
        message = "services.msp.sshCertificates: ${toString cfg.renewAtPercent} % of ${cfg.certificateLifetime} is under a minute; renewal could never run in time.";
      }
      {
        assertion = !(cfg.principals ? ${cfg.breakGlass.user});
        message = "services.msp.sshCertificates.breakGlass.user (${cfg.breakGlass.user}) is also in principals: the break-glass account must not depend on the CA.";
      }
      {
        assertion = lib.all (k: builtins.match ".*-cert-v01@openssh.com.*" k == null) cfg.breakGlass.publicKeys;
        message = "services.msp.sshCertificates.breakGlass.publicKeys must be plain keys, not certificates: they are for when the CA is down.";
      }
    ]
    ++ map (u: {
      assertion = config.users.users ? ${u};
      message = "services.msp.sshCertificates.principals maps principals to user ${u}, who is not declared in users.users.";
    }) (lib.attrNames cfg.principals);

    environment.etc =
      {
        "ssh/msp_user_ca.pub".text = lib.concatStringsSep "\n" cfg.userCaKeys + "\n";
      }
      // lib.mapAttrs' (
        user: ps: lib.nameValuePair "ssh/msp_principals/${user}" { text = lib.concatStringsSep "\n" ps + "\n"; }
      ) cfg.principals;

    services.openssh = {
      enable = true;
      settings = {
        LogLevel = "VERBOSE";
      }
      // lib.optionalAttrs cfg.disablePasswordAuth {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "no";
      };
      extraConfig = lib.mkAfter ''
        TrustedUserCAKeys ${userCaPath}
        AuthorizedPrincipalsCommand ${principalsCommand} %u %t %k
        AuthorizedPrincipalsCommandUser nobody
        ${lib.optionalString cfg.hostCertificate "HostCertificate ${hostCert}"}
        # Plain keys only for the break-glass account; everyone else needs a certificate.
        Match User *,!${cfg.breakGlass.user}
          AuthorizedKeysFile none
        Match all
      '';
    };

    users.users.${cfg.breakGlass.user} = lib.mkIf (cfg.breakGlass.publicKeys != [ ]) {
      isNormalUser = true;
      description = "MSP break-glass access (CA unreachable)";
      extraGroups = [ "wheel" ];
      hashedPassword = "!";
      openssh.authorizedKeys.keys = cfg.breakGlass.publicKeys;
    };

    systemd.services.msp-ssh-host-cert-renew = lib.mkIf cfg.hostCertificate {
      description = "Renew the SSH host certificate when under ${toString cfg.renewAtPercent} % of its lifetime is left";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      path = [
        pkgs.step-cli
        pkgs.openssh
        pkgs.coreutils
        pkgs.gnused
        pkgs.systemd
      ];
      environment = {
        CA_URL = cfg.caUrl;
        CA_ROOT = cfg.caRootFile;
        HOST_KEY = hostKey;
        HOST_CERT = hostCert;
        RENEW_AT_PERCENT = toString cfg.renewAtPercent;
      };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = renewScript;
        ProtectSystem = "strict";
        ReadWritePaths = [ "/etc/ssh" ];
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
      };
    };
    systemd.timers.msp-ssh-host-cert-renew = lib.mkIf cfg.hostCertificate {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "2min";
        OnUnitActiveSec = duration.fromSeconds renewCheckSeconds;
      };
    };

    security.auditd.enable = lib.mkDefault true;
    security.audit.enable = lib.mkDefault true;
    security.audit.rules = [
      "-w /etc/ssh/sshd_config -p wa -k msp-ssh"
      "-w ${userCaPath} -p wa -k msp-ssh"
      "-w ${principalsDir} -p wa -k msp-ssh"
    ];
  };
}
