/**
 * Cluster status for clients and operators: a cheap public ping that proves the request crossed the
 * gateway to a service node, and the list of nodes with what each one runs.
 */
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";
import { ClusterNodeSchema, PingResponseSchema, type ClusterNode, type PingResponse } from "./contracts";
import { Type } from "../../lib/schema";

export type { ClusterNode, PingResponse } from "./contracts";

const StatusService: ServiceSchema<ServiceSettingSchema> = {
	name: "status",

	actions: {
		ping: {
			rest: "GET /ping",
			responses: { 200: { description: "The node that answered, and when", body: PingResponseSchema } },
			auth: "public",
			summary: "Answer from a service node",
			params: {},
			handler(): PingResponse {
				return { pong: true, nodeID: this.broker.nodeID, time: new Date().toISOString() };
			},
		},

		nodes: {
			rest: "GET /nodes",
			responses: { 200: { description: "Every node the registry knows", body: Type.Array(ClusterNodeSchema) } },
			permissions: ["super_admin"],
			summary: "Nodes of the cluster and the services each runs",
			params: {},
			handler(): ClusterNode[] {
				const nodes = this.broker.registry.getNodeList({ onlyAvailable: false, withServices: true });
				return nodes.map((node) => ({
					id: node.id,
					available: node.available,
					local: node.local,
					hostname: node.hostname ?? undefined,
					domains: (node.metadata as { domains?: string[] } | undefined)?.domains ?? [],
					services: (node.services ?? []).map((service) => String(service.name)).filter((name) => !name.startsWith("$")),
				}));
			},
		},
	},
};

export default StatusService;
