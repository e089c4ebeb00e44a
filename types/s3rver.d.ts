/** The part of s3rver (no published types) that lib/storage/embedded-s3.ts uses. */
declare module "s3rver" {
	import type { IncomingMessage, ServerResponse } from "node:http";

	interface S3rverOptions {
		address: string;
		port: number;
		directory: string;
		silent: boolean;
		resetOnClose: boolean;
		allowMismatchedSignatures: boolean;
		vhostBuckets: boolean;
		configureBuckets: Array<{ name: string; configs?: Array<string | Buffer> }>;
	}

	export default class S3rver {
		constructor(options?: Partial<S3rverOptions>);
		/** Creates the configured buckets (run() does it before listening). */
		configureBuckets(): Promise<unknown>;
		/** The Koa request handler, for serving from a server of one's own. */
		callback(): (req: IncomingMessage, res: ServerResponse) => void;
		run(): Promise<{ address: string; port: number; family: string }>;
		close(): Promise<void>;
		logger: { close(): void; exceptions: { unhandle(): void } };
	}
}
