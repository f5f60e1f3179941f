# The systemd sandbox for processes that run the agent (the daemon and the
# baseline snapshot), in one place so both get the same protections.
#
# The agent remediates as root: it restarts units, stops runaway processes,
# rewrites certificates and backups, and reads firewall, audit and LUKS
# state. Each setting below is either applied because that work does not
# need what it takes away, or left off for a named reason (nixos/README.md,
# "Hardening"). Pure builtins only.
{
  # Paths the unit may write; `-` prefixed, so a root missing on a host is skipped.
  writablePaths,
  # Capabilities a site adds to the bounding set.
  extraCapabilities ? [ ],
}:
{
  User = "root";
  CapabilityBoundingSet = [
    "CAP_CHOWN" # certificates and backups keep their owners
    "CAP_DAC_OVERRIDE" # write path roots owned by service users
    "CAP_DAC_READ_SEARCH" # read backup sources and other services' certificates
    "CAP_FOWNER" # chmod files it does not own (0600 keys)
    "CAP_FSETID"
    "CAP_KILL" # RB-CPU-001 stops allowlisted processes of other users
    "CAP_NET_ADMIN" # nft list ruleset and iptables -S need it even to read
    "CAP_AUDIT_CONTROL" # auditctl -l and -s
    "CAP_AUDIT_READ"
    "CAP_SYS_PTRACE" # read /proc/PID of other users' processes
    "CAP_SETUID" # sshd -T and step drop privileges
    "CAP_SETGID"
  ]
  ++ extraCapabilities;
  NoNewPrivileges = true;
  ProtectSystem = "strict";
  ReadWritePaths = map (p: "-${p}") writablePaths;
  ProtectHome = "read-only";
  # Not PrivateTmp: RB-DISK-001 cleans the real /tmp and /var/tmp.
  PrivateTmp = false;
  # Not PrivateDevices: the disk-encryption check reads LUKS headers of block devices.
  PrivateDevices = false;
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectKernelLogs = true;
  ProtectControlGroups = true;
  ProtectClock = true;
  ProtectHostname = true;
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  LockPersonality = true;
  # Not MemoryDenyWriteExecute: V8's JIT needs writable executable memory.
  MemoryDenyWriteExecute = false;
  SystemCallArchitectures = "native";
  SystemCallFilter = [
    "@system-service"
    "~@mount"
    "~@swap"
    "~@reboot"
    "~@module"
    "~@obsolete"
    "~@cpu-emulation"
  ];
  # Netlink: nft and iptables read the rule set over it, auditctl uses the audit family.
  RestrictAddressFamilies = [
    "AF_UNIX"
    "AF_INET"
    "AF_INET6"
    "AF_NETLINK"
  ];
  UMask = "0077";
}
