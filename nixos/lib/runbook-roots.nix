# The path_roots each runbook's path parameters resolve in (`root:` in
# runbooks/RB-*.yaml), and which of them runbooks write to.
#
# The agent module refuses an offline-autonomy runbook whose roots are not
# configured (the agent would refuse every path it is given, so the
# "autonomy" would fail every time), and makes only the `writable` roots
# writable in the service's mount namespace: the others are measured
# (disk_targets), read (backup_sources) or executed (acme_clients), and an
# executable the root agent runs must not be writable by it. Kept in step
# with the runbook files by test/nixos/agent-config.test.ts.
{
  roots = {
    "RB-BACKUP-001" = [
      "backup_sources"
      "backup_targets"
    ];
    "RB-CERT-001" = [
      "acme_clients"
      "certs"
    ];
    "RB-CPU-001" = [ ];
    "RB-DISK-001" = [
      "disk_targets"
      "log"
      "tmp"
    ];
    "RB-RESTORE-001" = [ "backup_targets" ];
    "RB-SERVICE-001" = [ ];
  };
  writable = [
    "backup_targets"
    "certs"
    "log"
    "tmp"
  ];
}
