/**
 * The wire protocol version. Agent and control plane exchange it in the
 * WebSocket handshake; a peer speaking another version is refused with
 * `protocol_mismatch`. Bump it on any incompatible change to a schema in this
 * folder and add a line below.
 *
 * Changelog:
 * - 1 (2026-11-21): first version: hello/welcome, bundle, incident, ack receipts,
 *   execute_runbook commands, command_status, error frames.
 */
export const PROTOCOL_VERSION = 1;
