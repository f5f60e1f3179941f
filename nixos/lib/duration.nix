# Durations written the way step-ca and systemd write them ("90s", "15m",
# "8h", "30d"), converted to seconds so modules can compare and derive them
# (a renewal point from a lifetime, a timer period from a rotation age).
# Pure builtins only, like the other files in nixos/lib.
let
  units = {
    s = 1;
    m = 60;
    h = 3600;
    d = 86400;
  };
in
rec {
  # The pattern a duration option accepts: a positive integer and one unit.
  pattern = "[1-9][0-9]{0,6}(s|m|h|d)";
  # Seconds in `d`; throws on anything `pattern` rejects.
  toSeconds =
    d:
    let
      m = builtins.match "([1-9][0-9]{0,6})(s|m|h|d)" d;
    in
    if m == null then
      throw "not a duration like 8h: ${builtins.toJSON d}"
    else
      builtins.fromJSON (builtins.elemAt m 0) * units.${builtins.elemAt m 1};
  # A number of seconds in the largest unit that divides it, for unit files.
  fromSeconds =
    s:
    if s != 0 && s / 86400 * 86400 == s then
      "${toString (s / 86400)}d"
    else if s != 0 && s / 3600 * 3600 == s then
      "${toString (s / 3600)}h"
    else if s != 0 && s / 60 * 60 == s then
      "${toString (s / 60)}m"
    else
      "${toString s}s";
}
