/**
 * The platform domain's public face: what other domains may import from it (and nothing else). Each API
 * answer is a TypeBox schema (the OpenAPI document's) and its Static type (the DTO).
 */
import { DateTime, Type, type Static } from "../../lib/schema";

/** `status.ping`. */
export const PingResponseSchema = Type.Object({ pong: Type.Literal(true), nodeID: Type.String(), time: DateTime });
export type PingResponse = Static<typeof PingResponseSchema>;

/** One node of `status.nodes`. */
export const ClusterNodeSchema = Type.Object({
	id: Type.String(),
	available: Type.Boolean(),
	local: Type.Boolean(),
	hostname: Type.Optional(Type.String()),
	domains: Type.Array(Type.String()),
	services: Type.Array(Type.String()),
});
export type ClusterNode = Static<typeof ClusterNodeSchema>;
