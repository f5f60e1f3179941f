/**
 * Compliance packets: generate one for a clinic-month (operators and admins),
 * list a clinic's packets and download their files (auditors too). Clinic
 * scope is enforced by mountRoutes; a download re-checks the file's sha256.
 */
import { CreatePacketRequest, MspError } from "@msp/shared";
import type { z } from "zod";
import { type RouteDef, route } from "../api/route.js";
import { PACKET_FILES, type PacketService } from "../packets/index.js";

const READ = ["admin", "operator", "auditor"] as const;
const WRITE = ["admin", "operator"] as const;

export interface PacketRouteDeps {
  packets: PacketService;
}

export function packetRoutes(deps: PacketRouteDeps): RouteDef[] {
  const clinic = (p: Record<string, string>) => p.clinic_id ?? "";
  return [
    route<z.output<typeof CreatePacketRequest>>({
      method: "post",
      path: "/v1/clinics/:clinic_id/packets",
      summary: "Generate a signed compliance packet for one month",
      tag: "packets",
      access: WRITE,
      body: CreatePacketRequest,
      status: 201,
      handle: async ({ params, body, principal }) => {
        // Every API call is already in the audit log (app.ts); the packet names its requester too.
        return deps.packets.generate({
          clinicId: clinic(params),
          month: body.month,
          generatedBy: principal === null ? "unknown" : `${principal.role}:${principal.name}`,
        });
      },
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/packets",
      summary: "List a clinic's compliance packets",
      tag: "packets",
      access: READ,
      handle: ({ params }) => ({ packets: deps.packets.list(clinic(params)) }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/packets/:packet_id/:file",
      summary: "Download a file of a compliance packet",
      tag: "packets",
      access: READ,
      handle: async ({ params }) => {
        const file = params.file ?? "";
        if (!Object.hasOwn(PACKET_FILES, file)) {
          throw new MspError("invalid_input", `file must be one of ${Object.keys(PACKET_FILES).join(", ")}`);
        }
        const packetId = params.packet_id ?? "";
        if (!/^CP-\d{6}-[0-9a-f]{16}$/.test(packetId))
          throw new MspError("invalid_input", "packet id must look like CP-202511-0123456789abcdef");
        const out = await deps.packets.readFile(clinic(params), packetId, file);
        return new Response(new Uint8Array(out.body), {
          status: 200,
          headers: {
            "content-type": out.contentType,
            "content-disposition": `attachment; filename="${packetId}-${file}"`,
            "x-content-sha256": out.sha256,
          },
        });
      },
    }),
  ];
}
