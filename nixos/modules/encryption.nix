# services.msp.encryption: the ePHI disk on LUKS2, unlocked at boot without a
# person by Clevis (Tang servers on the clinic network and/or the TPM2), with
# a human emergency passphrase in its own key slot, the Clevis key rotated
# every N days, a daily health check and audit records of every use.
#
# The LUKS2 volume itself is made at install time (the NixOS installer or
# `cryptsetup luksFormat --type luks2`), with the emergency passphrase in
# `emergencyKeySlot`; the Clevis key is bound once by hand (nixos/README.md,
# "Encryption") and from then on rotated by msp-luks-key-rotation.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.msp.encryption;
  inherit (lib) mkOption types;
  absPath = types.strMatching "/[^\n]*";

  pins =
    lib.optionalAttrs (cfg.tang.servers != [ ]) {
      tang = map (s: { inherit (s) url; } // lib.optionalAttrs (s.thumbprint != null) { thp = s.thumbprint; }) cfg.tang.servers;
    }
    // lib.optionalAttrs cfg.tpm2.enable {
      tpm2 = {
        pcr_bank = "sha256";
        pcr_ids = lib.concatMapStringsSep "," toString cfg.tpm2.pcrIds;
      };
    };
  pinCount = lib.length cfg.tang.servers + (if cfg.tpm2.enable then 1 else 0);
  useClevis = pinCount > 0;
  # Shamir secret sharing over the pins: any `threshold` of them unlock.
  sssConfig = {
    t = cfg.threshold;
    inherit pins;
  };
  sssConfigPath = "/etc/msp/luks/${cfg.name}-sss.json";
  initrdNetwork =
    (config.boot.initrd.network.enable or false) || (config.boot.initrd.systemd.network.enable or false);

  env = {
    DEVICE = cfg.device;
    NAME = cfg.name;
    JWE = cfg.clevisSecretFile;
    SSS_CONFIG = sssConfigPath;
    EMERGENCY_SLOT = toString cfg.emergencyKeySlot;
    ROTATE_DAYS = toString cfg.keyRotation.days;
    TANG_URLS = lib.concatMapStringsSep " " (s: s.url) cfg.tang.servers;
  };
  tools = [
    pkgs.cryptsetup
    pkgs.clevis
    pkgs.coreutils
    pkgs.gnugrep
    pkgs.curl
  ];

  healthScript = pkgs.writeShellScript "msp-luks-health" ''
    set -uo pipefail
    failed=0
    ok() { echo "ok: $*"; }
    bad() { echo "FAIL: $*" >&2; failed=1; }
    if cryptsetup isLuks --type luks2 "$DEVICE"; then ok "$DEVICE has a LUKS2 header"; else bad "$DEVICE is not LUKS2"; fi
    if cryptsetup status "$NAME" >/dev/null; then ok "$NAME is open"; else bad "$NAME is not open"; fi
    if cryptsetup luksDump "$DEVICE" | grep -Eq "^  $EMERGENCY_SLOT: luks2"; then
      ok "emergency passphrase slot $EMERGENCY_SLOT is populated"
    else
      bad "emergency passphrase slot $EMERGENCY_SLOT is empty: the disk has no human fallback"
    fi
    if [ -n "$JWE" ]; then
      if [ ! -s "$JWE" ]; then
        bad "Clevis secret $JWE is missing"
      elif clevis decrypt < "$JWE" | cryptsetup open --test-passphrase --key-file - "$DEVICE"; then
        ok "Clevis unlocks $DEVICE with $JWE"
      else
        bad "Clevis could not unlock $DEVICE with $JWE"
      fi
    fi
    for url in $TANG_URLS; do
      if curl --fail --silent --show-error --max-time 10 --output /dev/null "$url/adv"; then ok "Tang $url answers"; else bad "Tang $url does not answer"; fi
    done
    exit "$failed"
  '';

  # Rotation order keeps the disk unlockable at every step: the new key is
  # added and proven, the new JWE written and appended to the initrd, and only
  # then is the old key removed. The emergency slot is never touched.
  rotationScript = pkgs.writeShellScript "msp-luks-key-rotation" ''
    set -euo pipefail
    if [ -s "$JWE" ] && [ -z "$(find "$JWE" -mtime +"$((ROTATE_DAYS - 1))")" ]; then
      echo "Clevis key of $DEVICE is younger than $ROTATE_DAYS days; nothing to do"
      exit 0
    fi
    work="$RUNTIME_DIRECTORY"
    trap 'rm -f "$work/old" "$work/new" "$work/new.jwe"' EXIT
    clevis decrypt < "$JWE" > "$work/old"
    head -c 64 /dev/urandom > "$work/new"
    cryptsetup luksAddKey --batch-mode --key-file "$work/old" "$DEVICE" "$work/new"
    clevis encrypt sss "$(cat "$SSS_CONFIG")" -y < "$work/new" > "$work/new.jwe"
    clevis decrypt < "$work/new.jwe" | cmp -s - "$work/new"
    cryptsetup open --test-passphrase --key-file "$work/new" "$DEVICE"
    install -m 0600 "$work/new.jwe" "$JWE.new"
    mv "$JWE.new" "$JWE"
    # The initrd carries the JWE as a boot secret; re-append it before the old key goes.
    /run/current-system/bin/switch-to-configuration boot
    cryptsetup luksRemoveKey --batch-mode "$DEVICE" "$work/old"
    echo "rotated the Clevis key of $DEVICE"
  '';
in
{
  options.services.msp.encryption = {
    enable = lib.mkEnableOption "LUKS2 disk encryption with Clevis (Tang, TPM2) unlock and key rotation";

    device = mkOption {
      type = absPath;
      example = "/dev/disk/by-uuid/3f6b0024-3a44-4fde-a43a-767b872abe5d";
      description = "The LUKS2 block device (a stable /dev/disk/by-* path).";
    };

    name = mkOption {
      type = types.strMatching "[A-Za-z0-9_-]{1,64}";
      default = "cryptroot";
      description = "Device-mapper name the volume opens as (/dev/mapper/NAME).";
    };

    allowDiscards = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Pass TRIM through to the disk. Off by default: discards reveal which
        blocks hold data, a (small) leak the threat model of a stolen disk
        does not need to accept.
      '';
    };

    tang.servers = mkOption {
      type = types.listOf (
        types.submodule {
          options = {
            url = mkOption {
              type = types.strMatching "https?://[^[:space:]/]+(/[^[:space:]]*)?";
              example = "http://tang1.clinic.lan";
              description = "Tang server URL (Tang's protocol is its own encryption, so http is usual).";
            };
            thumbprint = mkOption {
              type = types.nullOr (types.strMatching "[A-Za-z0-9_-]{20,128}");
              default = null;
              example = "x7-yLBtE2XFwoRyk7Wx0Lq9Z3sQ";
              description = "Thumbprint of the Tang signing key (`tang-show-keys`); required for unattended key rotation.";
            };
          };
        }
      );
      default = [ ];
      description = "Tang servers: the disk unlocks only while the host is on the clinic network.";
    };

    tpm2 = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Also bind the key to this machine's TPM2 (unlocks when Tang is unreachable).";
      };
      pcrIds = mkOption {
        type = types.listOf (types.ints.between 0 23);
        default = [ 7 ];
        description = "PCRs the TPM2 binding seals to (7: the Secure Boot state).";
      };
    };

    threshold = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "How many of the pins (each Tang server, the TPM2) must agree to unlock.";
    };

    clevisSecretFile = mkOption {
      type = absPath;
      default = "/etc/msp/luks/${cfg.name}.jwe";
      defaultText = lib.literalExpression ''"/etc/msp/luks/''${config.services.msp.encryption.name}.jwe"'';
      description = "Clevis JWE holding the unlock key; appended to the initrd as a boot secret.";
    };

    emergencyKeySlot = mkOption {
      type = types.ints.between 0 31;
      default = 0;
      description = ''
        LUKS key slot of the human emergency passphrase (kept sealed by the
        clinic's security officer). Rotation never touches it; the health
        check fails when it is empty.
      '';
    };

    keyRotation = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Replace the Clevis key every `days` days.";
      };
      days = mkOption {
        type = types.ints.between 1 3650;
        default = 90;
        description = "Largest age of the Clevis key in days.";
      };
    };

    healthCheck.calendar = mkOption {
      type = types.str;
      default = "daily";
      description = "When msp-luks-health runs (systemd OnCalendar).";
    };

    audit = mkOption {
      type = types.bool;
      default = true;
      description = "Audit every read or change of the Clevis secret and every cryptsetup run (key msp-luks).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !cfg.keyRotation.enable || useClevis;
        message = "services.msp.encryption.keyRotation needs a Clevis pin (tang.servers or tpm2.enable): there is no automatic key to rotate.";
      }
      {
        assertion = !useClevis || cfg.threshold <= pinCount;
        message = "services.msp.encryption.threshold (${toString cfg.threshold}) is more than the ${toString pinCount} pin(s) configured: the disk could never unlock unattended.";
      }
      {
        assertion = cfg.tang.servers == [ ] || initrdNetwork;
        message = "services.msp.encryption.tang.servers needs network in the initrd: set boot.initrd.network.enable (or boot.initrd.systemd.network.enable) and the NIC's driver in boot.initrd.availableKernelModules.";
      }
      {
        assertion = !cfg.keyRotation.enable || lib.all (s: s.thumbprint != null) cfg.tang.servers;
        message = "services.msp.encryption.keyRotation re-binds to Tang unattended, so every tang.servers entry needs its thumbprint; without it a forged advertisement on the LAN would be trusted.";
      }
      {
        assertion = !cfg.audit || config.security.auditd.enable;
        message = "services.msp.encryption.audit is on but security.auditd.enable is false: the msp-luks audit records would go nowhere.";
      }
      {
        assertion = !lib.hasPrefix builtins.storeDir cfg.clevisSecretFile;
        message = "services.msp.encryption.clevisSecretFile must not be in the Nix store: rotation rewrites it.";
      }
    ];

    boot.initrd.luks.devices.${cfg.name} = {
      inherit (cfg) device allowDiscards;
    };
    boot.initrd.clevis = lib.mkIf useClevis {
      enable = true;
      useTang = cfg.tang.servers != [ ];
      devices.${cfg.name}.secretFile = cfg.clevisSecretFile;
    };
    security.tpm2.enable = lib.mkIf cfg.tpm2.enable true;

    environment.etc."msp/luks/${cfg.name}-sss.json".text = builtins.toJSON sssConfig;
    environment.systemPackages = [
      pkgs.cryptsetup
      pkgs.clevis
    ];

    systemd.services.msp-luks-health = {
      description = "LUKS2 health check of ${cfg.name}: header, emergency slot, Clevis unlock, Tang reachability";
      path = tools;
      environment = env // lib.optionalAttrs (!useClevis) { JWE = ""; };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = healthScript;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
        # Reading the LUKS header and test-opening need the device and the dm control node.
        CapabilityBoundingSet = [
          "CAP_SYS_ADMIN"
          "CAP_DAC_READ_SEARCH"
        ];
        ReadWritePaths = [ "-/run/cryptsetup" ];
      };
    };
    systemd.timers.msp-luks-health = {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.healthCheck.calendar;
        Persistent = true;
      };
    };

    systemd.services.msp-luks-key-rotation = lib.mkIf cfg.keyRotation.enable {
      description = "Rotate the Clevis key of ${cfg.name} when older than ${toString cfg.keyRotation.days} days";
      path = tools ++ [
        pkgs.findutils
        pkgs.diffutils
      ];
      environment = env;
      # Not sandboxed: it rewrites the LUKS header and reinstalls the boot loader's initrd secrets.
      serviceConfig = {
        Type = "oneshot";
        ExecStart = rotationScript;
        RuntimeDirectory = "msp-luks-key-rotation";
        RuntimeDirectoryMode = "0700";
        UMask = "0077";
      };
    };
    # Runs daily; the script rotates only when the key is `days` old, so a host
    # that was off on the due day rotates on the next boot's run.
    systemd.timers.msp-luks-key-rotation = lib.mkIf cfg.keyRotation.enable {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = "daily";
        Persistent = true;
        RandomizedDelaySec = "1h";
      };
    };

    security.auditd.enable = lib.mkIf cfg.audit (lib.mkDefault true);
    security.audit.enable = lib.mkIf cfg.audit (lib.mkDefault true);
    security.audit.rules = lib.mkIf cfg.audit [
      "-w ${cfg.clevisSecretFile} -p rwa -k msp-luks"
      "-w /etc/msp/luks -p wa -k msp-luks"
      "-a always,exit -F path=${pkgs.cryptsetup}/bin/cryptsetup -F perm=x -k msp-luks"
    ];
  };
}
