/**
 * The platform domain's public face: what other domains may import from it (and nothing else).
 */

/** `status.ping`. */
export interface PingResponse {
	pong: true;
	nodeID: string;
	time: string;
}

/** One node of `status.nodes`. */
export interface ClusterNode {
	id: string;
	available: boolean;
	local: boolean;
	hostname?: string;
	domains: string[];
	services: string[];
}
