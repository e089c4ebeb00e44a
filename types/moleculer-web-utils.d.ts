/**
 * moleculer-web's internal helpers that the gateway's fast path (lib/gateway/fast-path.ts) reuses so that it
 * behaves exactly like moleculer-web's own request handling. The package ships no typings for them.
 */
declare module "moleculer-web/src/utils" {
	import type { IncomingMessage, ServerResponse } from "node:http";

	type ConnectMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

	/** Runs connect-style middlewares in order; body-parser errors come back as MoleculerErrors keeping their `type`. */
	export function composeThen(this: unknown, req: IncomingMessage, res: ServerResponse, ...middlewares: ConnectMiddleware[]): Promise<void>;
}
